"""Each cell's forward and backward, side by side: one step of RNN, LSTM or GRU for the whole batch.

The forward of a step keeps what its backward needs (a ``cache``); the backward undoes it line
by line from the bottom up, with the equations' own names (design section 2): ``a_*`` are
pre-activations (``a_i = W_ii x + b_ii + W_hi h + b_hi``), ``d*`` the loss's gradient with
respect to the quantity after the ``d`` (``da_i``, ``dc``, ``dh``). These forwards compute gate
by gate, to read like the equations; rnn_ref.oracle.forward has the fast stacked form the
reference's ``forward`` runs, and tests hold BPTT's forward pass to it.

Shapes of one step (N samples, H hidden, R = P (projection) or H, G the spec's gates):
``x_gates`` {gate: (N, H)} holds the input side ``W_ig x + b_ig``, computed for all steps by the
layer (rnn_ref.oracle.backward); h (N, R); c (N, H); weights per gate in ``UnitWeights``.
``cell_forward`` and ``cell_backward`` pick the spec's cell.

The options (design section 2a) are in the equations: the activations f (σ-gates, or a plain
RNN's one), g (candidate) and h (cell output) are the spec's; with a cell clip, every
pre-activation ``a`` is clipped first, and its gradient passes only where it was not clipped
(``inside``); peepholes add ``p_i ⊙ c`` and ``p_f ⊙ c`` to ``a_i``, ``a_f`` and ``p_o ⊙ c'``
to ``a_o``; coupled gates set f = 1 - i, so the gradient of f goes to i with its sign turned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_ref.core.activations import Activation
from rnn_ref.core.params import Params
from rnn_ref.core.spec import PEEPHOLE_GATES, RNNSpec

Blocks = dict[str, np.ndarray]


@dataclass
class UnitWeights:
    """The blocks of one (layer, direction), missing biases as zeros, and the spec's options;
    gradients use the same shape (``acts``, ``clip`` and ``input_forget`` copied)."""

    w_ih: Blocks
    w_hh: Blocks
    b_ih: Blocks
    b_hh: Blocks
    w_proj: np.ndarray | None
    #: the spec's activations, ONNX order: LSTM (f, g, h), GRU (f, g), RNN (f,)
    acts: tuple[Activation, ...] = ()
    clip: float | None = None
    #: peepholes {i, f, o: (H,)} (LSTM with peepholes), else None
    w_peep: Blocks | None = None
    input_forget: bool = False

    @classmethod
    def of(cls, spec: RNNSpec, params: Params, layer: int, direction: str, dtype: np.dtype) -> UnitWeights:
        blocks = {k: v.astype(dtype, copy=False) for k, v in params.unit(layer, direction).items()}
        zeros = np.zeros(spec.hidden_size, dtype)
        return cls(
            w_ih={g: blocks[f"w_ih.{g}"] for g in spec.gates},
            w_hh={g: blocks[f"w_hh.{g}"] for g in spec.gates},
            b_ih={g: blocks.get(f"b_ih.{g}", zeros) for g in spec.gates},
            b_hh={g: blocks.get(f"b_hh.{g}", zeros) for g in spec.gates},
            w_proj=blocks.get("w_proj"),
            acts=spec.resolved_activations,
            clip=spec.clip,
            w_peep={g: blocks[f"w_peep.{g}"] for g in PEEPHOLE_GATES} if spec.peepholes else None,
            input_forget=spec.input_forget,
        )

    @classmethod
    def zeros_like(cls, other: UnitWeights) -> UnitWeights:
        def zero(blocks: Blocks) -> Blocks:
            return {g: np.zeros_like(v) for g, v in blocks.items()}

        w_proj = None if other.w_proj is None else np.zeros_like(other.w_proj)
        w_peep = None if other.w_peep is None else zero(other.w_peep)
        return cls(zero(other.w_ih), zero(other.w_hh), zero(other.b_ih), zero(other.b_hh), w_proj,
                   other.acts, other.clip, w_peep, other.input_forget)


@dataclass
class CellGrads:
    """What one cell step's backward returns.

    da:   {gate: (N, H)} gradient of each gate's pre-activation from the input side
          (W_ig x + b_ig), from which the layer computes dx, dW_ih and db_ih
    dh:   (N, R) gradient of the incoming h;  dc: (N, H) of the incoming c (LSTM), else None
    dw_hh, db_hh: {gate: …} this step's share of the recurrent weights' gradients
    dw_proj: (P, H) this step's share of the projection's gradient (LSTM projection), else None
    dw_peep: {i, f, o: (H,)} this step's share of the peepholes' gradients (LSTM peepholes), else None
    """

    da: Blocks
    dh: np.ndarray
    dc: np.ndarray | None
    dw_hh: Blocks
    db_hh: Blocks
    dw_proj: np.ndarray | None = None
    dw_peep: Blocks | None = None


def _clipped(a: np.ndarray, clip: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(a clipped to [-clip, clip], where it was not clipped) — (a, None) without a clip."""
    if clip is None:
        return a, None
    return np.clip(a, -clip, clip), np.abs(a) < clip


def _activate(act: Activation, a: np.ndarray, clip: float | None) -> tuple[np.ndarray, dict]:
    """y = act(clip(a)), and what its backward needs: y; the clipped pre-activation ``a`` only
    where act' needs it (not σ, tanh: their derivatives are y's); where the clip cut, ``inside``.
    ``raw`` (the pre-activation before the clip, kept with a clip or a kinked activation) and
    ``act``/``clip`` (references) let tests measure how far a step was from a kink."""
    raw = a
    a, inside = _clipped(a, clip)
    y = act(a)
    kept = None if act.from_output else a
    return y, dict(a=kept, y=y, inside=inside, act=act, clip=clip,
                   raw=raw if clip is not None or act.kinks else None)


def _activation_backward(act: Activation, dy: np.ndarray, saved: dict) -> np.ndarray:
    """da from dy: dy ⊙ act'(clip(a)), zero where the clip cut ``a``."""
    da = dy * act.derivative(saved["a"], saved["y"])
    return da if saved["inside"] is None else da * saved["inside"]


# --------------------------------------------------------------------------- RNN cell
def rnn_cell_forward(x_gates: Blocks, h: np.ndarray, w: UnitWeights, mode: str) -> tuple[np.ndarray, dict]:
    """h' = f(a), a = W_ih x + b_ih + W_hh h + b_hh; ``x_gates['h']`` holds W_ih x + b_ih
    (f is tanh or relu by mode, unless the spec names another)."""
    h_next, saved = _activate(w.acts[0], x_gates["h"] + h @ w.w_hh["h"].T + w.b_hh["h"], w.clip)
    return h_next, dict(h=h, act=saved)


def rnn_cell_backward(cache: dict, dh_next: np.ndarray, w: UnitWeights, mode: str) -> CellGrads:
    """da = dh' ⊙ f'(a): tanh'(a) = 1 - h'², relu'(a) = 1 where a > 0, else 0."""
    h = cache["h"]
    da = _activation_backward(w.acts[0], dh_next, cache["act"])
    dh = da @ w.w_hh["h"]
    return CellGrads(da={"h": da}, dh=dh, dc=None, dw_hh={"h": da.T @ h}, db_hh={"h": da.sum(0)})


# --------------------------------------------------------------------------- LSTM cell
def lstm_cell_forward(
    x_gates: Blocks, h: np.ndarray, c: np.ndarray, w: UnitWeights
) -> tuple[np.ndarray, np.ndarray, dict]:
    """i,f,o = σ(a_·), g = tanh(a_g); c' = f⊙c + i⊙g; h' = o⊙tanh(c') (then W_proj h').

    With options: σ, tanh, tanh are the spec's f, g, h; a_i, a_f gain p_i⊙c, p_f⊙c and a_o
    gains p_o⊙c' (peepholes); f = 1 - i (coupled gates); every a is clipped first (cell clip).
    """
    f_act, g_act, h_act = w.acts
    a = {k: x_gates[k] + h @ w.w_hh[k].T + w.b_hh[k] for k in "ifgo"}
    if w.w_peep is not None:
        a["i"] = a["i"] + w.w_peep["i"] * c
        a["f"] = a["f"] + w.w_peep["f"] * c
    i, saved_i = _activate(f_act, a["i"], w.clip)
    if w.input_forget:
        f, saved_f = 1.0 - i, None
    else:
        f, saved_f = _activate(f_act, a["f"], w.clip)
    g, saved_g = _activate(g_act, a["g"], w.clip)
    c_next = f * c + i * g
    if w.w_peep is not None:
        a["o"] = a["o"] + w.w_peep["o"] * c_next
    o, saved_o = _activate(f_act, a["o"], w.clip)
    tanh_c = h_act(c_next)
    h_cell = o * tanh_c
    h_next = h_cell @ w.w_proj.T if w.w_proj is not None else h_cell
    cache = dict(h=h, c=c, i=i, f=f, g=g, o=o, tanh_c=tanh_c, h_cell=h_cell,
                 saved=dict(i=saved_i, f=saved_f, g=saved_g, o=saved_o))
    if w.w_peep is not None or not h_act.from_output:  # p_o's gradient and h' read c' itself
        cache["c_next"] = c_next
    return h_next, c_next, cache


def lstm_cell_backward(cache: dict, dh_next: np.ndarray, dc_next: np.ndarray, w: UnitWeights) -> CellGrads:
    """From the bottom of the forward up; σ' = σ(1-σ), tanh' = 1 - tanh² (the spec's f', g', h')."""
    f_act, g_act, h_act = w.acts
    h, c, i, f, g, o = (cache[k] for k in ("h", "c", "i", "f", "g", "o"))
    tanh_c, h_cell, saved = cache["tanh_c"], cache["h_cell"], cache["saved"]
    dw_proj = None
    dh_cell = dh_next
    if w.w_proj is not None:                          # h' = W_proj h_cell
        dw_proj = dh_next.T @ h_cell
        dh_cell = dh_next @ w.w_proj
    do = dh_cell * tanh_c                             # h_cell = o ⊙ h(c')
    # c' reaches the loss directly and through h
    dc = dc_next + dh_cell * o * h_act.derivative(cache.get("c_next"), tanh_c)
    da = {"o": _activation_backward(f_act, do, saved["o"])}
    if w.w_peep is not None:                          # a_o = … + p_o ⊙ c'
        dc = dc + da["o"] * w.w_peep["o"]
    df, dc_prev = dc * c, dc * f                      # c' = f ⊙ c + i ⊙ g
    di, dg = dc * g, dc * i
    if w.input_forget:                                # f = 1 - i: f's gradient reaches i, its sign turned
        di = di - df
        da["f"] = np.zeros_like(df)
    else:
        da["f"] = _activation_backward(f_act, df, saved["f"])
    da["i"] = _activation_backward(f_act, di, saved["i"])
    da["g"] = _activation_backward(g_act, dg, saved["g"])
    dw_peep = None
    if w.w_peep is not None:                          # a_i, a_f = … + p_i ⊙ c, p_f ⊙ c
        dc_prev = dc_prev + da["i"] * w.w_peep["i"] + da["f"] * w.w_peep["f"]
        dw_peep = {"i": (da["i"] * c).sum(0), "f": (da["f"] * c).sum(0), "o": (da["o"] * cache["c_next"]).sum(0)}
    da = {k: da[k] for k in "ifgo"}
    dh = sum((da[k] @ w.w_hh[k] for k in "fgo"), da["i"] @ w.w_hh["i"])
    return CellGrads(
        da=da, dh=dh, dc=dc_prev,
        dw_hh={k: da[k].T @ h for k in "ifgo"}, db_hh={k: da[k].sum(0) for k in "ifgo"}, dw_proj=dw_proj,
        dw_peep=dw_peep,
    )


# --------------------------------------------------------------------------- GRU cell
def gru_cell_forward(x_gates: Blocks, h: np.ndarray, w: UnitWeights, variant: str) -> tuple[np.ndarray, dict]:
    """r,z = σ(a_·); reset_after:  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
    reset_before: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn);  h' = (1-z) ⊙ n + z ⊙ h.
    (σ and tanh are the spec's f and g; every a is clipped first with a cell clip.)"""
    f_act, g_act = w.acts
    r, saved_r = _activate(f_act, x_gates["r"] + h @ w.w_hh["r"].T + w.b_hh["r"], w.clip)
    z, saved_z = _activate(f_act, x_gates["z"] + h @ w.w_hh["z"].T + w.b_hh["z"], w.clip)
    if variant == "reset_after":
        hn = h @ w.w_hh["n"].T + w.b_hh["n"]
        n, saved_n = _activate(g_act, x_gates["n"] + r * hn, w.clip)
        cache = dict(h=h, r=r, z=z, n=n, hn=hn)
    else:
        rh = r * h
        n, saved_n = _activate(g_act, x_gates["n"] + rh @ w.w_hh["n"].T + w.b_hh["n"], w.clip)
        cache = dict(h=h, r=r, z=z, n=n, rh=rh)
    cache["saved"] = dict(r=saved_r, z=saved_z, n=saved_n)
    return (1.0 - z) * n + z * h, cache


def gru_cell_backward(cache: dict, dh_next: np.ndarray, w: UnitWeights, variant: str) -> CellGrads:
    f_act, g_act = w.acts
    h, r, z, n, saved = cache["h"], cache["r"], cache["z"], cache["n"], cache["saved"]
    dn = dh_next * (1.0 - z)                          # h' = (1-z) ⊙ n + z ⊙ h
    dz = dh_next * (h - n)
    dh = dh_next * z
    da_n = _activation_backward(g_act, dn, saved["n"])  # n = g(a_n)
    if variant == "reset_after":                      # a_n = W_in x + b_in + r ⊙ hn, hn = W_hn h + b_hn
        dr = da_n * cache["hn"]
        dhn = da_n * r
        dw_hn, db_hn = dhn.T @ h, dhn.sum(0)
        dh = dh + dhn @ w.w_hh["n"]
    else:                                             # a_n = W_in x + b_in + W_hn rh + b_hn, rh = r ⊙ h
        drh = da_n @ w.w_hh["n"]
        dr = drh * h
        dh = dh + drh * r
        dw_hn, db_hn = da_n.T @ cache["rh"], da_n.sum(0)
    da = {"r": _activation_backward(f_act, dr, saved["r"]), "z": _activation_backward(f_act, dz, saved["z"]),
          "n": da_n}
    dh = dh + da["r"] @ w.w_hh["r"] + da["z"] @ w.w_hh["z"]
    return CellGrads(
        da=da, dh=dh, dc=None,
        dw_hh={"r": da["r"].T @ h, "z": da["z"].T @ h, "n": dw_hn},
        db_hh={"r": da["r"].sum(0), "z": da["z"].sum(0), "n": db_hn},
    )


def cell_forward(spec: RNNSpec, x_t: Blocks, h: np.ndarray, c: np.ndarray | None,
                 w: UnitWeights) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """One step of the spec's cell: (h', c' or None, cache)."""
    if spec.mode == "lstm":
        assert c is not None  # an LSTM step always gets its cell state
        return lstm_cell_forward(x_t, h, c, w)
    if spec.mode == "gru":
        assert spec.gru_variant is not None  # RNNSpec sets it for every GRU
        h_next, cache = gru_cell_forward(x_t, h, w, spec.gru_variant)
    else:
        h_next, cache = rnn_cell_forward(x_t, h, w, spec.mode)
    return h_next, None, cache


def cell_backward(spec: RNNSpec, cache: dict, dh_next: np.ndarray, dc_next: np.ndarray | None,
                  w: UnitWeights) -> CellGrads:
    """The backward of ``cell_forward``'s step, from the gradients of h' and c'."""
    if spec.mode == "lstm":
        assert dc_next is not None  # an LSTM step always gets the gradient of its cell state
        return lstm_cell_backward(cache, dh_next, dc_next, w)
    if spec.mode == "gru":
        assert spec.gru_variant is not None  # RNNSpec sets it for every GRU
        return gru_cell_backward(cache, dh_next, w, spec.gru_variant)
    return rnn_cell_backward(cache, dh_next, w, spec.mode)

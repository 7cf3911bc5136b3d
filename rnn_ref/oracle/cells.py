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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.oracle.forward import relu, sigmoid

Blocks = dict[str, np.ndarray]


@dataclass
class UnitWeights:
    """The blocks of one (layer, direction), missing biases as zeros; gradients use the same shape."""

    w_ih: Blocks
    w_hh: Blocks
    b_ih: Blocks
    b_hh: Blocks
    w_proj: np.ndarray | None

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
        )

    @classmethod
    def zeros_like(cls, other: UnitWeights) -> UnitWeights:
        def zero(blocks: Blocks) -> Blocks:
            return {g: np.zeros_like(v) for g, v in blocks.items()}

        w_proj = None if other.w_proj is None else np.zeros_like(other.w_proj)
        return cls(zero(other.w_ih), zero(other.w_hh), zero(other.b_ih), zero(other.b_hh), w_proj)


@dataclass
class CellGrads:
    """What one cell step's backward returns.

    da:   {gate: (N, H)} gradient of each gate's pre-activation from the input side
          (W_ig x + b_ig), from which the layer computes dx, dW_ih and db_ih
    dh:   (N, R) gradient of the incoming h;  dc: (N, H) of the incoming c (LSTM), else None
    dw_hh, db_hh: {gate: …} this step's share of the recurrent weights' gradients
    dw_proj: (P, H) this step's share of the projection's gradient (LSTM projection), else None
    """

    da: Blocks
    dh: np.ndarray
    dc: np.ndarray | None
    dw_hh: Blocks
    db_hh: Blocks
    dw_proj: np.ndarray | None = None


# --------------------------------------------------------------------------- RNN cell
def rnn_cell_forward(x_gates: Blocks, h: np.ndarray, w: UnitWeights, mode: str) -> tuple[np.ndarray, dict]:
    """h' = act(a), a = W_ih x + b_ih + W_hh h + b_hh; ``x_gates['h']`` holds W_ih x + b_ih."""
    a = x_gates["h"] + h @ w.w_hh["h"].T + w.b_hh["h"]
    h_next = np.tanh(a) if mode == "rnn_tanh" else relu(a)
    return h_next, dict(h=h, a=a, h_next=h_next)


def rnn_cell_backward(cache: dict, dh_next: np.ndarray, w: UnitWeights, mode: str) -> CellGrads:
    """tanh'(a) = 1 - h'²; relu'(a) = 1 where a > 0, else 0."""
    h, a, h_next = cache["h"], cache["a"], cache["h_next"]
    da = dh_next * (1.0 - h_next**2) if mode == "rnn_tanh" else dh_next * (a > 0)
    dh = da @ w.w_hh["h"]
    return CellGrads(da={"h": da}, dh=dh, dc=None, dw_hh={"h": da.T @ h}, db_hh={"h": da.sum(0)})


# --------------------------------------------------------------------------- LSTM cell
def lstm_cell_forward(
    x_gates: Blocks, h: np.ndarray, c: np.ndarray, w: UnitWeights
) -> tuple[np.ndarray, np.ndarray, dict]:
    """i,f,o = σ(a_·), g = tanh(a_g); c' = f⊙c + i⊙g; h' = o⊙tanh(c') (then W_proj h')."""
    i = sigmoid(x_gates["i"] + h @ w.w_hh["i"].T + w.b_hh["i"])
    f = sigmoid(x_gates["f"] + h @ w.w_hh["f"].T + w.b_hh["f"])
    g = np.tanh(x_gates["g"] + h @ w.w_hh["g"].T + w.b_hh["g"])
    o = sigmoid(x_gates["o"] + h @ w.w_hh["o"].T + w.b_hh["o"])
    c_next = f * c + i * g
    tanh_c = np.tanh(c_next)
    h_cell = o * tanh_c
    h_next = h_cell @ w.w_proj.T if w.w_proj is not None else h_cell
    return h_next, c_next, dict(h=h, c=c, i=i, f=f, g=g, o=o, tanh_c=tanh_c, h_cell=h_cell)


def lstm_cell_backward(cache: dict, dh_next: np.ndarray, dc_next: np.ndarray, w: UnitWeights) -> CellGrads:
    """From the bottom of the forward up; σ' = σ(1-σ), tanh' = 1 - tanh²."""
    h, c, i, f, g, o = (cache[k] for k in ("h", "c", "i", "f", "g", "o"))
    tanh_c, h_cell = cache["tanh_c"], cache["h_cell"]
    dw_proj = None
    dh_cell = dh_next
    if w.w_proj is not None:                          # h' = W_proj h_cell
        dw_proj = dh_next.T @ h_cell
        dh_cell = dh_next @ w.w_proj
    do = dh_cell * tanh_c                             # h_cell = o ⊙ tanh(c')
    dc = dc_next + dh_cell * o * (1.0 - tanh_c**2)    # c' reaches the loss directly and through h
    df, dc_prev = dc * c, dc * f                      # c' = f ⊙ c + i ⊙ g
    di, dg = dc * g, dc * i
    da = {
        "i": di * i * (1.0 - i),
        "f": df * f * (1.0 - f),
        "g": dg * (1.0 - g**2),
        "o": do * o * (1.0 - o),
    }
    dh = sum(da[k] @ w.w_hh[k] for k in "ifgo")
    return CellGrads(
        da=da, dh=dh, dc=dc_prev,
        dw_hh={k: da[k].T @ h for k in "ifgo"}, db_hh={k: da[k].sum(0) for k in "ifgo"}, dw_proj=dw_proj,
    )


# --------------------------------------------------------------------------- GRU cell
def gru_cell_forward(x_gates: Blocks, h: np.ndarray, w: UnitWeights, variant: str) -> tuple[np.ndarray, dict]:
    """r,z = σ(a_·); reset_after:  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));
    reset_before: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn);  h' = (1-z) ⊙ n + z ⊙ h."""
    r = sigmoid(x_gates["r"] + h @ w.w_hh["r"].T + w.b_hh["r"])
    z = sigmoid(x_gates["z"] + h @ w.w_hh["z"].T + w.b_hh["z"])
    if variant == "reset_after":
        hn = h @ w.w_hh["n"].T + w.b_hh["n"]
        n = np.tanh(x_gates["n"] + r * hn)
        cache = dict(h=h, r=r, z=z, n=n, hn=hn)
    else:
        rh = r * h
        n = np.tanh(x_gates["n"] + rh @ w.w_hh["n"].T + w.b_hh["n"])
        cache = dict(h=h, r=r, z=z, n=n, rh=rh)
    return (1.0 - z) * n + z * h, cache


def gru_cell_backward(cache: dict, dh_next: np.ndarray, w: UnitWeights, variant: str) -> CellGrads:
    h, r, z, n = cache["h"], cache["r"], cache["z"], cache["n"]
    dn = dh_next * (1.0 - z)                          # h' = (1-z) ⊙ n + z ⊙ h
    dz = dh_next * (h - n)
    dh = dh_next * z
    da_n = dn * (1.0 - n**2)                          # n = tanh(a_n)
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
    da = {"r": dr * r * (1.0 - r), "z": dz * z * (1.0 - z), "n": da_n}
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

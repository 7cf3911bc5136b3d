"""The NumPy reference: RNN (tanh/relu), LSTM (with projection) and GRU (both variants).

The cell functions below are the equations of design section 2, written with the
equations' own names. ``forward`` adds what layers add around a cell: stacking, two
directions, both layouts, initial states and per-sample lengths.

Written for speed without hiding the equations: the gates of a unit are stacked in one
matrix, so each step is one matmul for all gates; the input projection W_ih x + b_ih of every
step is one matmul before the time loop; cells compute in place in buffers reused across
steps; samples are sorted by length, so a step computes only the samples that exist then
(no masking). tests/test_reference_speedup.py holds this to the earlier per-gate form.

Shapes (T steps, N samples, L layers, D directions, H hidden, R = P or H, I_l layer input)::

    x       (T, N, I) for TNC, (N, T, I) for NTC
    output  (T, N, D*R) for TNC, (N, T, D*R) for NTC; forward features first
            (R features for a bidirectional layer whose merge_mode is not concat)
    h       (L*D, N, R), ordered l0.fwd, l0.bwd, l1.fwd, ...
    c       (L*D, N, H)  (LSTM only)

Padded steps (t >= lengths[n]) do not exist for sample n: neither direction consumes them,
the backward direction starts at lengths[n] - 1, and the reference writes zeros there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnn_ref.core.activations import Activation, relu, sigmoid
from rnn_ref.core.params import Params
from rnn_ref.core.spec import PEEPHOLE_GATES, RNNSpec
from rnn_ref.core.state import RNNOutput
from rnn_ref.oracle.checks import LengthsLike, ParamsLike, StateLike, checked_inputs

# --------------------------------------------------------------------------- cells
# Each cell computes one step for the whole batch and writes into buffers it is given, so the
# time loop allocates nothing: ``pre`` is a scratch (N, G*H) for the stacked pre-activations of
# the G gates, ``c`` is updated in place, and h' is written to ``out``. The gates of a unit are
# stacked in one matrix (rows in STACK_ORDER), so W_hh h is one matmul for all gates.
# σ-gates come first, so one σ call covers them all.
STACK_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "o", "g"), "gru": ("r", "z", "n")}




@dataclass(frozen=True)
class _UnitWeights:
    """The blocks of one (layer, direction), the gates stacked in STACK_ORDER.

    ``w_ih`` (G*H, I_l), ``w_hh_t`` (R, G*H): W_hh transposed, so that W_hh h is ``h @ w_hh_t``
    (the faster BLAS layout); ``b_ih`` and ``b_hh`` (G*H,) or None for a layer
    without biases, ``w_proj`` (P, H) or None. The spec's options: ``gate`` is f, the
    activation of the σ-gates (``sigmoid`` by default), ``candidate`` g (LSTM and GRU, ``tanh``),
    ``cell_output`` h (LSTM, ``tanh``); for a plain RNN ``gate`` is its one activation. ``clip``
    bounds every pre-activation, ``peep`` holds the peepholes (p_i, p_f, p_o), each (H,), and
    ``input_forget`` couples f = 1 - i.
    """

    w_ih: np.ndarray
    w_hh_t: np.ndarray
    b_ih: np.ndarray | None
    b_hh: np.ndarray | None
    w_proj: np.ndarray | None
    gate: Callable[..., np.ndarray]
    candidate: Callable[..., np.ndarray] | None = None
    cell_output: Callable[..., np.ndarray] | None = None
    clip: float | None = None
    peep: tuple[np.ndarray, ...] | None = None
    input_forget: bool = False

    @classmethod
    def of(cls, spec: RNNSpec, params: Params, layer: int, direction: str, dtype: np.dtype,
           gate: Callable[..., np.ndarray] | None = None) -> _UnitWeights:
        blocks = params.unit(layer, direction)

        def stacked(kind: str) -> np.ndarray | None:
            if f"{kind}.{spec.gates[0]}" not in blocks:
                return None
            return np.concatenate([blocks[f"{kind}.{g}"] for g in STACK_ORDER[spec.mode]], dtype=dtype)

        def stacked_transposed(kind: str) -> np.ndarray:
            """W^T of the stacked W, C-ordered: each block's transpose written into its columns (a
            tenth of the time of transposing the stacked matrix, which reads across its rows)."""
            parts = [blocks[f"{kind}.{g}"] for g in STACK_ORDER[spec.mode]]
            rows = parts[0].shape[0]
            out = np.empty((parts[0].shape[1], rows * len(parts)), dtype)
            for index, part in enumerate(parts):
                out[:, index * rows:(index + 1) * rows] = part.T
            return out

        w_proj = blocks.get("w_proj")
        w_ih = stacked("w_ih")
        assert w_ih is not None  # Params holds every unit's weights; only biases are optional
        acts: list[Callable[..., np.ndarray] | None] = list(_fast(spec.resolved_activations))
        if gate is not None and spec.mode in ("lstm", "gru"):
            acts[0] = gate
        acts += [None] * (3 - len(acts))
        peep = None
        if spec.peepholes:
            peep = tuple(blocks[f"w_peep.{g}"].astype(dtype, copy=False) for g in PEEPHOLE_GATES)
        return cls(w_ih, stacked_transposed("w_hh"), stacked("b_ih"), stacked("b_hh"),
                   None if w_proj is None else w_proj.astype(dtype, copy=False), acts[0], acts[1], acts[2],  # type: ignore[arg-type]
                   spec.clip, peep, spec.input_forget)

    def input_projection(self, seq: np.ndarray) -> np.ndarray:
        """W_ih x_t + b_ih for every step and gate, as one matmul: (T, N, I_l) -> (T, N, G*H)."""
        steps, batch, features = seq.shape
        projected = seq.reshape(steps * batch, features) @ self.w_ih.T
        if self.b_ih is not None:
            projected += self.b_ih
        return projected.reshape(steps, batch, -1)


def _fast(activations: tuple[Activation, ...]) -> tuple[Callable[..., np.ndarray], ...]:
    """Each activation as ``f(x, out=None)``: this module's plain function where it takes no
    parameters (looked up at each call, so a test can put a sloppy σ in its place)."""
    plain: dict[str, Callable[..., np.ndarray]] = {"Sigmoid": sigmoid, "Tanh": np.tanh, "Relu": relu}
    return tuple(plain.get(a.name, a) for a in activations)


def _clipped(pre: np.ndarray, clip: float | None) -> np.ndarray:
    """``pre`` clipped to [-clip, clip] in place (ONNX's cell clip); unchanged for None."""
    return pre if clip is None else np.clip(pre, -clip, clip, out=pre)


def _recurrent(pre: np.ndarray, x_gates: np.ndarray, h: np.ndarray, w_hh_t: np.ndarray, b_hh: np.ndarray | None):
    """pre = W_ih x + b_ih + W_hh h + b_hh for the gates of ``w_hh_t``; ``x_gates`` holds W_ih x + b_ih."""
    np.matmul(h, w_hh_t, out=pre)
    pre += x_gates
    if b_hh is not None:
        pre += b_hh


def rnn_cell(x_gates: np.ndarray, h: np.ndarray, w: _UnitWeights, pre: np.ndarray, out: np.ndarray) -> None:
    """h' = f(W_ih x + b_ih + W_hh h + b_hh), written to ``out`` (N, H)."""
    _recurrent(pre, x_gates, h, w.w_hh_t, w.b_hh)
    w.gate(_clipped(pre, w.clip), out=out)


def lstm_cell(x_gates: np.ndarray, h: np.ndarray, c: np.ndarray, w: _UnitWeights, pre: np.ndarray,
              out: np.ndarray) -> None:
    """One LSTM step: c (N, H) becomes c' in place, h' (N, R) is written to ``out``.

    i, f = f(a_i + p_i ⊙ c), f(a_f + p_f ⊙ c) (f = 1 - i when coupled); g = g(a_g);
    c' = f ⊙ c + i ⊙ g; o = f(a_o + p_o ⊙ c'); h' = o ⊙ h(c'): every a clipped first, when clipping.
    """
    H = c.shape[1]
    _recurrent(pre, x_gates, h, w.w_hh_t, w.b_hh)
    i, f, o, g = pre[:, :H], pre[:, H:2 * H], pre[:, 2 * H:3 * H], pre[:, 3 * H:]
    if w.peep is None:
        w.gate(_clipped(pre[:, :3 * H], w.clip), out=pre[:, :3 * H])  # i, f, o = σ(·)
    else:  # i and f see c_{t-1}; o sees c_t, below
        i += w.peep[0] * c
        f += w.peep[1] * c
        w.gate(_clipped(pre[:, :2 * H], w.clip), out=pre[:, :2 * H])
    if w.input_forget:
        np.subtract(1.0, i, out=f)
    assert w.candidate is not None and w.cell_output is not None  # an LSTM unit has all three
    w.candidate(_clipped(g, w.clip), out=g)  # g = tanh(·)
    c *= f  # c' = f ⊙ c + i ⊙ g
    c += np.multiply(i, g, out=i)
    if w.peep is not None:
        o += w.peep[2] * c
        w.gate(_clipped(o, w.clip), out=o)
    tanh_c = w.cell_output(c, out=f)  # f and i are spent: their rows hold tanh(c') and h' before projection
    if w.w_proj is None:
        np.multiply(o, tanh_c, out=out)  # h' = o ⊙ tanh(c')
    else:
        np.matmul(np.multiply(o, tanh_c, out=i), w.w_proj.T, out=out)  # h' = W_proj (o ⊙ tanh(c'))


def gru_cell(x_gates: np.ndarray, h: np.ndarray, w: _UnitWeights, variant: str, pre: np.ndarray,
             out: np.ndarray) -> None:
    """One GRU step, h' (N, H) written to ``out``.

    reset_after:  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))   (PyTorch, Gluon, cuDNN)
    reset_before: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)   (Keras reset_after=False)
    """
    H = h.shape[1]
    r, z, n = pre[:, :H], pre[:, H:2 * H], pre[:, 2 * H:]
    if variant == "reset_after":  # one matmul: W_hr h, W_hz h, W_hn h
        np.matmul(h, w.w_hh_t, out=pre)
        pre[:, :2 * H] += x_gates[:, :2 * H]
        if w.b_hh is not None:
            pre += w.b_hh  # n holds W_hn h + b_hn
        w.gate(_clipped(pre[:, :2 * H], w.clip), out=pre[:, :2 * H])  # r, z = σ(·)
        n *= r
        n += x_gates[:, 2 * H:]
    else:
        b_hh = (None, None) if w.b_hh is None else (w.b_hh[:2 * H], w.b_hh[2 * H:])
        _recurrent(pre[:, :2 * H], x_gates[:, :2 * H], h, w.w_hh_t[:, :2 * H], b_hh[0])
        w.gate(_clipped(pre[:, :2 * H], w.clip), out=pre[:, :2 * H])  # r, z = σ(·)
        _recurrent(n, x_gates[:, 2 * H:], np.multiply(r, h, out=r), w.w_hh_t[:, 2 * H:], b_hh[1])
    assert w.candidate is not None  # a GRU unit has f and g
    w.candidate(_clipped(n, w.clip), out=n)  # n = tanh(·)
    np.subtract(h, n, out=out)  # h' = (1 − z) ⊙ n + z ⊙ h, computed as n + z ⊙ (h − n)
    out *= z
    out += n


# --------------------------------------------------------------------------- one unit
def _run_unit(
    spec: RNNSpec,
    weights: _UnitWeights,
    seq: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None,
    active: np.ndarray,
    reverse: bool,
    out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run one direction of one layer over ``seq`` (T, N, I_l), writing step t's h' to ``out[t]``.

    Samples are sorted longest first, so the samples that exist at step t are the first
    ``active[t]`` rows: only those are computed; the other rows of ``out[t]`` are zero and
    their state is carried (the forward direction has finished with them, the backward one
    has not reached them yet). ``out`` is (T, N, R), possibly a view into a wider buffer.
    Returns (h_n (N, R), c_n (N, H) or None).
    """
    x_gates = weights.input_projection(seq)
    pre = np.empty(x_gates.shape[1:], dtype=x_gates.dtype)
    c = None if c0 is None else c0.copy()
    h = h0  # the state of rows [:len(h)]: h0, then a prefix of the previous step's output
    last_step = np.zeros(len(h0), dtype=np.intp)
    for t in reversed(range(len(seq))) if reverse else range(len(seq)):
        n = active[t]
        if len(h) < n:  # backward direction: samples whose last step this is join with h0
            h = np.concatenate([h, h0[len(h):n]])
        if spec.mode == "lstm":
            assert c is not None  # an LSTM unit always gets c_init (spec.has_cell_state)
            lstm_cell(x_gates[t, :n], h[:n], c[:n], weights, pre[:n], out[t, :n])
        elif spec.mode == "gru":
            assert spec.gru_variant is not None  # RNNSpec sets it for every GRU
            gru_cell(x_gates[t, :n], h[:n], weights, spec.gru_variant, pre[:n], out[t, :n])
        else:
            rnn_cell(x_gates[t, :n], h[:n], weights, pre[:n], out[t, :n])
        out[t, n:] = 0.0
        last_step[:n] = t
        h = out[t, :n]
    return out[last_step, np.arange(len(h0))], c


# --------------------------------------------------------------------------- merge modes
def merged(merge_mode: str, forward_part: np.ndarray, backward_part: np.ndarray) -> np.ndarray:
    """The two directions' outputs (..., R) each, combined as Keras ``Bidirectional(merge_mode=)``:
    ``sum`` y_f + y_b, ``mul`` y_f ⊙ y_b, ``ave`` (y_f + y_b) / 2, ``concat`` [y_f, y_b] (..., 2R)."""
    if merge_mode == "concat":
        return np.concatenate([forward_part, backward_part], axis=-1)
    if merge_mode == "sum":
        return forward_part + backward_part
    if merge_mode == "mul":
        return forward_part * backward_part
    return (forward_part + backward_part) / 2  # ave


# --------------------------------------------------------------------------- forward
def forward(
    spec: RNNSpec,
    params: ParamsLike,
    x: np.ndarray,
    initial_state: StateLike = None,
    lengths: LengthsLike = None,
    *,
    precision: str = "float64",
    gate_activation: Callable[..., np.ndarray] | None = None,
) -> RNNOutput:
    """Run the layer described by ``spec`` with canonical ``params`` on ``x``.

    Args:
        x: float32 or float64, (T, N, I) for TNC or (N, T, I) for NTC.
        initial_state: None (zeros), ``h0`` (L*D, N, R), or ``(h0, c0)`` for LSTM; same dtype as x.
        lengths: optional (N,) integers in 1..T: the number of existing steps per sample.
        precision: ``"float64"`` (default: compute and return float64, the reference truth) or
            ``"input"`` (compute and return in x's dtype, weights cast to it).
        gate_activation: the σ of the LSTM and GRU gates, ``f(x, out=None)`` (None: the logistic
            ``sigmoid``): ``rnn-ref diagnose`` runs the layer with a hard sigmoid through it.

    Returns:
        ``RNNOutput(output, h_n, c_n)`` in ``spec.layout``; ``c_n`` is None unless LSTM.
    """
    params, seq, h0, c0, lengths = checked_inputs(spec, params, x, initial_state, lengths, precision)
    steps, batch = seq.shape[:2]

    dtype = np.dtype(np.float64) if precision == "float64" else x.dtype
    # Longest sample first (a stable sort; undone at the end), so that the samples that exist
    # at step t are the first active[t] rows and padded steps are skipped, not masked.
    sort = np.argsort(-lengths, kind="stable")
    order: np.ndarray | slice = sort
    if (sort == np.arange(batch)).all():
        order = slice(None)  # already sorted: views, no copies
    active = (lengths[order][None, :] > np.arange(steps)[:, None]).sum(axis=1)
    seq = np.ascontiguousarray(seq[:, order], dtype=dtype)  # (T, N, I): one matmul projects every step
    R = spec.state_size
    h_finals: list[np.ndarray] = []
    c_finals: list[np.ndarray] = []
    for layer in range(spec.num_layers):
        layer_output = np.empty((steps, batch, spec.num_directions * R), dtype)  # each direction writes its R columns
        for d, direction in enumerate(spec.directions):
            unit = len(h_finals)
            h_init = np.zeros((batch, R), dtype) if h0 is None else h0[unit, order].astype(dtype)
            c_init = None
            if spec.has_cell_state:
                c_init = np.zeros((batch, spec.hidden_size), dtype) if c0 is None else c0[unit, order].astype(dtype)
            weights = _UnitWeights.of(spec, params, layer, direction, dtype, gate_activation)
            out = layer_output[:, :, d * R:(d + 1) * R]
            h_n, c_n = _run_unit(spec, weights, seq, h_init, c_init, active, direction == "bwd", out)
            h_finals.append(h_n)
            if c_n is not None:
                c_finals.append(c_n)
        seq = merged(spec.merge_mode, layer_output[..., :R], layer_output[..., R:]) if spec.merge_mode != "concat" \
            else layer_output

    unsort = order if isinstance(order, slice) else np.argsort(order)
    output = seq[:, unsort] if spec.layout == "TNC" else seq[:, unsort].transpose(1, 0, 2)
    return RNNOutput(
        output=np.ascontiguousarray(output),
        h_n=np.stack(h_finals)[:, unsort],
        c_n=np.stack(c_finals)[:, unsort] if spec.has_cell_state else None,
    )

"""The NumPy reference backward: hand-written backpropagation through time (BPTT).

``backward`` returns the gradients of the scalar loss

    loss = sum(grad_output ⊙ output) + sum(grad_h_n ⊙ h_n) + sum(grad_c_n ⊙ c_n)

with respect to ``x``, the initial states and every canonical weight block, where
``(output, h_n, c_n) = forward(spec, params, x, initial_state, lengths)``. The cotangents
``grad_*`` are what a framework's autodiff receives as "output gradients"; a missing one is zero.

Each cell has a forward that keeps what its backward needs (a cache) and a backward, side
by side, with the equations' own names: the forward reads like ``reference.py``'s cell, the
backward undoes it line by line from the bottom up. ``a_*`` are pre-activations
(``a_i = W_ii x + b_ii + W_hi h + b_hi``), ``d*`` the loss's gradient with respect to the
quantity after the ``d`` (``da_i``, ``dc``, ``dh``).

What a layer adds around a cell, for both passes:

* the input projection ``W_ig x + b_ig`` is one matmul over all steps; its gradient
  (``dx``, ``dW_ih``, ``db_ih``) is one matmul over all steps too, from the ``da`` of every step;
* directions: the backward direction consumes steps ``T-1 … 0``, so BPTT walks it ``0 … T-1``;
* stacking: layer k's input gradient is the gradient of layer k-1's output (forward features
  first, then backward);
* padded steps (``t >= lengths[n]``) do not exist: the cell does not run there (the carried
  state passes its gradient through unchanged), the output there is a constant zero (its
  cotangent is ignored), and ``grads.x`` is zero there.

Shapes as in ``reference.py``: x (T, N, I) or (N, T, I); h (L·D, N, R); c (L·D, N, H).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref.core.errors import InputError
from rnn_ref.core.params import FLOAT_DTYPES, Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.checks import checked_inputs
from rnn_ref.oracle.forward import relu, sigmoid

Blocks = dict[str, np.ndarray]


@dataclass(frozen=True)
class Gradients:
    """Gradients of the loss with respect to every input of ``forward``.

    x:      same shape and layout as x
    h0:     (L·D, N, R) — also when no initial state was given (the gradient at zeros)
    c0:     (L·D, N, H) for LSTM, else None
    params: Params of the same spec: one gradient block per canonical key
    """

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None
    params: Params


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


# --------------------------------------------------------------------------- one unit, both passes
@dataclass
class UnitTape:
    """What the forward pass of one (layer, direction) keeps for its backward pass."""

    seq: np.ndarray                           # (T, N, I_l) the unit's input
    steps: list[tuple[int, np.ndarray, dict]]  # (t, exists (N, 1), cell cache), in the order run


def cell_forward(spec: RNNSpec, x_t: Blocks, h: np.ndarray, c: np.ndarray | None,
                 w: UnitWeights) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """One step of the spec's cell: (h', c' or None, cache)."""
    if spec.mode == "lstm":
        return lstm_cell_forward(x_t, h, c, w)
    if spec.mode == "gru":
        h_next, cache = gru_cell_forward(x_t, h, w, spec.gru_variant)
    else:
        h_next, cache = rnn_cell_forward(x_t, h, w, spec.mode)
    return h_next, None, cache


def cell_backward(spec: RNNSpec, cache: dict, dh_next: np.ndarray, dc_next: np.ndarray | None,
                  w: UnitWeights) -> CellGrads:
    """The backward of ``cell_forward``'s step, from the gradients of h' and c'."""
    if spec.mode == "lstm":
        return lstm_cell_backward(cache, dh_next, dc_next, w)
    if spec.mode == "gru":
        return gru_cell_backward(cache, dh_next, w, spec.gru_variant)
    return rnn_cell_backward(cache, dh_next, w, spec.mode)


def unit_forward(
    spec: RNNSpec, w: UnitWeights, seq: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
    valid: np.ndarray, reverse: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, UnitTape]:
    """One direction of one layer over ``seq`` (T, N, I_l), as ``reference._run_unit``, keeping a tape.

    Returns (outputs (T, N, R), h_n (N, R), c_n (N, H) or None, tape).
    """
    gates = spec.gates
    w_all = np.concatenate([w.w_ih[g] for g in gates])
    b_all = np.concatenate([w.b_ih[g] for g in gates])
    x_gates = dict(zip(gates, np.split(seq @ w_all.T + b_all, len(gates), axis=-1), strict=True))
    steps = seq.shape[0]
    outputs = np.zeros((steps, seq.shape[1], spec.state_size), dtype=seq.dtype)
    tape = UnitTape(seq, [])
    h, c = h0, c0
    for t in reversed(range(steps)) if reverse else range(steps):
        h_next, c_next, cache = cell_forward(spec, {g: x_gates[g][t] for g in gates}, h, c, w)
        exists = valid[t][:, None]
        tape.steps.append((t, exists, cache))
        h = np.where(exists, h_next, h)
        if c is not None:
            c = np.where(exists, c_next, c)
        outputs[t] = np.where(exists, h_next, 0.0)
    return outputs, h, c, tape


def unit_backward(
    spec: RNNSpec, w: UnitWeights, tape: UnitTape, d_outputs: np.ndarray, dh_n: np.ndarray,
    dc_n: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, UnitWeights]:
    """BPTT through one unit: from the gradients of its outputs (T, N, R) and final states.

    At a padded step the cell did not run: h and c were carried, so their gradients pass
    through unchanged, and the output there was a constant zero, so its gradient is dropped.
    Returns (d seq (T, N, I_l), dh0 (N, R), dc0 (N, H) or None, weight gradients).
    """
    grads = UnitWeights.zeros_like(w)
    d_x_gates = {g: np.zeros((*tape.seq.shape[:2], spec.hidden_size), tape.seq.dtype) for g in spec.gates}
    dh, dc = dh_n, dc_n
    for t, exists, cache in reversed(tape.steps):
        dh_next = np.where(exists, dh + d_outputs[t], 0.0)   # h' went on as h and as output[t]
        dc_next = None if dc is None else np.where(exists, dc, 0.0)
        step = cell_backward(spec, cache, dh_next, dc_next, w)
        dh = np.where(exists, step.dh, dh)
        if dc is not None:
            dc = np.where(exists, step.dc, dc)
        for g in spec.gates:
            d_x_gates[g][t] = step.da[g]
            grads.w_hh[g] += step.dw_hh[g]
            grads.b_hh[g] += step.db_hh[g]
        if step.dw_proj is not None:
            grads.w_proj += step.dw_proj
    d_seq = np.zeros_like(tape.seq)
    seq_rows = tape.seq.reshape(-1, tape.seq.shape[-1])  # (T·N, I_l): every step's input, one row each
    for g in spec.gates:                        # x_gates[g] = seq W_ig^T + b_ig over all steps
        d_seq += d_x_gates[g] @ w.w_ih[g]
        grads.w_ih[g] = d_x_gates[g].reshape(-1, spec.hidden_size).T @ seq_rows  # Σ_t,n da ⊗ x: one matmul
        grads.b_ih[g] = d_x_gates[g].sum(axis=(0, 1))
    return d_seq, dh, dc, grads


# --------------------------------------------------------------------------- validation
def _check_cotangent(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.dtype not in FLOAT_DTYPES:
        got = f"array of dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise InputError(f"{name} must be a numpy.ndarray of float32 or float64, got {got}")
    if value.shape != shape:
        raise InputError(f"{name} must have the shape of what it is the gradient of, {shape}, got {value.shape}")
    if not np.isfinite(value).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise InputError(f"{name} contains NaN or Inf (first at index {bad}, value {value[bad]})")
    return value


# --------------------------------------------------------------------------- the layer
def backward(
    spec: RNNSpec,
    params: Params | Mapping[str, np.ndarray],
    x: np.ndarray,
    initial_state: State | tuple | np.ndarray | None = None,
    lengths: Sequence[int] | np.ndarray | None = None,
    *,
    grad_output: np.ndarray,
    grad_h_n: np.ndarray | None = None,
    grad_c_n: np.ndarray | None = None,
    precision: str = "float64",
) -> Gradients:
    """Gradients of ``sum(grad_output·output) + sum(grad_h_n·h_n) + sum(grad_c_n·c_n)``.

    Arguments as for ``reference.forward``; the cotangents have the shapes of what they are the
    gradients of: ``grad_output`` the output's ((T, N, D·R) or (N, T, D·R), in ``spec.layout``),
    ``grad_h_n`` (L·D, N, R) and ``grad_c_n`` (L·D, N, H, LSTM only); None means zeros. The
    cotangent of the output at padded steps is ignored (the output there is a constant zero).

    Returns ``Gradients(x, h0, c0, params)``, computed and returned in float64 (or, with
    ``precision="input"``, in x's dtype).
    """
    _, gradients, _ = _forward_and_backward(spec, params, x, initial_state, lengths, grad_output=grad_output,
                                            grad_h_n=grad_h_n, grad_c_n=grad_c_n, precision=precision)
    return gradients


def _forward_and_backward(spec, params, x, initial_state, lengths, *, grad_output, grad_h_n, grad_c_n,
                          precision) -> tuple[RNNOutput, Gradients, list[UnitTape]]:
    """The forward pass BPTT ran over (for tests: it must be ``reference.forward``'s), the gradients,
    and the tapes (per unit, in state order)."""
    params, seq, h0, c0, lengths = checked_inputs(spec, params, x, initial_state, lengths, precision)
    steps, batch = seq.shape[:2]
    valid = np.arange(steps)[:, None] < lengths[None, :]
    units = spec.num_layers * spec.num_directions
    output_shape = (steps, batch, spec.output_size) if spec.layout == "TNC" else (batch, steps, spec.output_size)
    if grad_output is None:
        raise InputError("grad_output is required: the gradient of the loss with respect to the output")
    grad_output = _check_cotangent("grad_output", grad_output, output_shape)
    grad_h_n = _check_cotangent("grad_h_n", grad_h_n, (units, batch, spec.state_size))
    if grad_c_n is not None and not spec.has_cell_state:
        raise InputError(f"mode {spec.mode!r} has no cell state, but grad_c_n was given")
    grad_c_n = _check_cotangent("grad_c_n", grad_c_n, (units, batch, spec.hidden_size))

    dtype = np.dtype(np.float64) if precision == "float64" else x.dtype
    seq = seq.astype(dtype)

    # Forward, keeping one tape per unit.
    weights: list[UnitWeights] = []
    tapes: list[UnitTape] = []
    h_finals, c_finals = [], []
    for layer in range(spec.num_layers):
        direction_outputs = []
        for direction in spec.directions:
            unit = len(tapes)
            h_init = np.zeros((batch, spec.state_size), dtype) if h0 is None else h0[unit].astype(dtype)
            c_init = None
            if spec.has_cell_state:
                c_init = np.zeros((batch, spec.hidden_size), dtype) if c0 is None else c0[unit].astype(dtype)
            w = UnitWeights.of(spec, params, layer, direction, dtype)
            out, h_n, c_n, tape = unit_forward(spec, w, seq, h_init, c_init, valid, direction == "bwd")
            weights.append(w)
            tapes.append(tape)
            direction_outputs.append(out)
            h_finals.append(h_n)
            c_finals.append(c_n)
        seq = np.concatenate(direction_outputs, axis=-1)
    output = seq if spec.layout == "TNC" else seq.transpose(1, 0, 2)
    result = RNNOutput(np.ascontiguousarray(output), np.stack(h_finals),
                       np.stack(c_finals) if spec.has_cell_state else None)

    # Backward: from the top layer down, each layer's input gradient is the output gradient below.
    d_seq = grad_output.astype(dtype)
    d_seq = d_seq if spec.layout == "TNC" else d_seq.transpose(1, 0, 2)
    d_h0 = np.zeros((units, batch, spec.state_size), dtype)
    d_c0 = np.zeros((units, batch, spec.hidden_size), dtype) if spec.has_cell_state else None
    blocks: dict[str, np.ndarray] = {}
    state = spec.state_size
    for layer in reversed(range(spec.num_layers)):
        d_input = None
        for position, direction in enumerate(spec.directions):
            unit = layer * spec.num_directions + position
            dh_n = np.zeros((batch, state), dtype) if grad_h_n is None else grad_h_n[unit].astype(dtype)
            dc_n = None
            if spec.has_cell_state:
                dc_n = np.zeros((batch, spec.hidden_size), dtype) if grad_c_n is None else grad_c_n[unit].astype(dtype)
            d_out = d_seq[..., position * state:(position + 1) * state]
            d_in, d_h0[unit], dc, grads = unit_backward(spec, weights[unit], tapes[unit], d_out, dh_n, dc_n)
            if d_c0 is not None:
                d_c0[unit] = dc
            d_input = d_in if d_input is None else d_input + d_in
            blocks |= _unit_blocks(spec, layer, direction, grads)
        d_seq = d_input
    d_x = d_seq if spec.layout == "TNC" else d_seq.transpose(1, 0, 2)
    return result, Gradients(np.ascontiguousarray(d_x), d_h0, d_c0, Params(spec, blocks)), tapes


def _unit_blocks(spec: RNNSpec, layer: int, direction: str, grads: UnitWeights) -> Blocks:
    """A unit's gradients under their canonical keys (biases only where the params have them)."""
    prefix = f"l{layer}.{direction}."
    blocks: Blocks = {}
    for g in spec.gates:
        blocks[f"{prefix}w_ih.{g}"] = grads.w_ih[g]
        blocks[f"{prefix}w_hh.{g}"] = grads.w_hh[g]
        if spec.bias:
            blocks[f"{prefix}b_ih.{g}"] = grads.b_ih[g]
            blocks[f"{prefix}b_hh.{g}"] = grads.b_hh[g]
    if spec.proj_size:
        blocks[f"{prefix}w_proj"] = grads.w_proj
    return blocks

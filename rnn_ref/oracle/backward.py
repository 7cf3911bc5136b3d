"""The NumPy reference backward: hand-written backpropagation through time (BPTT) over a layer.

``backward`` returns the gradients of the scalar loss

    loss = sum(grad_output ⊙ output) + sum(grad_h_n ⊙ h_n) + sum(grad_c_n ⊙ c_n)

with respect to ``x``, the initial states and every canonical weight block, where
``(output, h_n, c_n) = forward(spec, params, x, initial_state, lengths)``. The cotangents
``grad_*`` are what a framework's autodiff receives as "output gradients"; a missing one is zero.

One step of each cell, forward (keeping a cache) and backward, is rnn_ref.oracle.cells'. What
this module adds around a cell, for both passes:

* the input projection ``W_ig x + b_ig`` is one matmul over all steps; its gradient
  (``dx``, ``dW_ih``, ``db_ih``) is one matmul over all steps too, from the ``da`` of every step;
* directions: the backward direction consumes steps ``T-1 … 0``, so BPTT walks it ``0 … T-1``;
* stacking: layer k's input gradient is the gradient of layer k-1's output (forward features
  first, then backward);
* padded steps (``t >= lengths[n]``) do not exist: the cell does not run there (the carried
  state passes its gradient through unchanged), the output there is a constant zero (its
  cotangent is ignored), and ``grads.x`` is zero there.

Shapes as in rnn_ref.oracle.forward: x (T, N, I) or (N, T, I); h (L·D, N, R); c (L·D, N, H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref.core.errors import InputError
from rnn_ref.core.params import FLOAT_DTYPES, Params
from rnn_ref.core.spec import PEEPHOLE_GATES, RNNSpec
from rnn_ref.core.state import RNNOutput
from rnn_ref.oracle.cells import (  # noqa: F401 - re-exported: the cells' old home
    Blocks,
    CellGrads,
    UnitWeights,
    cell_backward,
    cell_forward,
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_cell_backward,
    rnn_cell_forward,
)
from rnn_ref.oracle.checks import LengthsLike, ParamsLike, StateLike, checked_inputs
from rnn_ref.oracle.forward import merged


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
class UnitTape:
    """What the forward pass of one (layer, direction) keeps for its backward pass."""

    seq: np.ndarray                           # (T, N, I_l) the unit's input
    steps: list[tuple[int, np.ndarray, dict]]  # (t, exists (N, 1), cell cache), in the order run


def unit_forward(
    spec: RNNSpec, w: UnitWeights, seq: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
    valid: np.ndarray, reverse: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, UnitTape]:
    """One direction of one layer over ``seq`` (T, N, I_l), as ``forward._run_unit``, keeping a tape.

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
            assert c_next is not None  # cell_forward returns c' whenever it is given c
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
            assert step.dc is not None  # cell_backward returns dc whenever it is given dc'
            dc = np.where(exists, step.dc, dc)
        for g in spec.gates:
            d_x_gates[g][t] = step.da[g]
            grads.w_hh[g] += step.dw_hh[g]
            grads.b_hh[g] += step.db_hh[g]
        if step.dw_proj is not None:
            grads.w_proj += step.dw_proj
        if step.dw_peep is not None:
            assert grads.w_peep is not None  # a unit with peepholes has their gradients
            for g in step.dw_peep:
                grads.w_peep[g] += step.dw_peep[g]
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
def backward(spec: RNNSpec, params: ParamsLike, x: np.ndarray, initial_state: StateLike = None,
             lengths: LengthsLike = None, *, grad_output: np.ndarray, grad_h_n: np.ndarray | None = None,
             grad_c_n: np.ndarray | None = None, precision: str = "float64") -> Gradients:
    """Gradients of ``sum(grad_output·output) + sum(grad_h_n·h_n) + sum(grad_c_n·c_n)``.

    Arguments as for ``forward`` (rnn_ref.oracle.forward); the cotangents have the shapes of what they are the
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
    """The forward pass BPTT ran over (for tests: it must be ``forward``'s), the gradients,
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
    layer_outputs: list[list[np.ndarray]] = []  # per layer, each direction's output (T, N, R)
    h_finals: list[np.ndarray] = []
    c_finals: list[np.ndarray] = []  # filled only with a cell state (every unit has one then)
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
            if c_n is not None:
                c_finals.append(c_n)
        layer_outputs.append(direction_outputs)
        seq = direction_outputs[0] if len(direction_outputs) == 1 else merged(spec.merge_mode, *direction_outputs)
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
        d_directions = merge_backward(spec.merge_mode, d_seq, layer_outputs[layer], state)
        for position, direction in enumerate(spec.directions):
            unit = layer * spec.num_directions + position
            dh_n = np.zeros((batch, state), dtype) if grad_h_n is None else grad_h_n[unit].astype(dtype)
            dc_n = None
            if spec.has_cell_state:
                dc_n = np.zeros((batch, spec.hidden_size), dtype) if grad_c_n is None else grad_c_n[unit].astype(dtype)
            d_out = d_directions[position]
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
        assert grads.w_proj is not None  # a projecting unit has w_proj, and so its gradient
        blocks[f"{prefix}w_proj"] = grads.w_proj
    if grads.w_peep is not None:
        blocks |= {f"{prefix}w_peep.{g}": grads.w_peep[g] for g in PEEPHOLE_GATES}
    return blocks


def merge_backward(merge_mode: str, d_merged: np.ndarray, outputs: list[np.ndarray], state: int) -> list[np.ndarray]:
    """Each direction's output gradient (T, N, R) from the gradient of the layer's merged output
    (rnn_ref.oracle.forward.merged): concat splits it; sum passes it to both; ave halves it;
    mul passes each direction the gradient times the other direction's output."""
    if len(outputs) == 1:
        return [d_merged]
    if merge_mode == "concat":
        return [d_merged[..., :state], d_merged[..., state:]]
    if merge_mode == "sum":
        return [d_merged, d_merged]
    if merge_mode == "ave":
        return [d_merged / 2, d_merged / 2]
    return [d_merged * outputs[1], d_merged * outputs[0]]  # mul

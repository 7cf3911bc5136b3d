"""Central finite differences of the reference forward: the independent check of ``backward``.

``numeric_gradients`` perturbs every entry of x, h0, c0 and of every canonical block by ±ε
(ε = 1e-6, as ``torch.autograd.gradcheck``) and differentiates

    loss = sum(grad_output ⊙ output) + sum(grad_h_n ⊙ h_n) + sum(grad_c_n ⊙ c_n)

through ``reference.forward`` in float64: (loss(θ + ε) - loss(θ - ε)) / 2ε. It shares no code
with the hand-written BPTT of ``rnn_ref.backward``.

Samples of a batch are independent, so the entries of x, h0 and c0 are perturbed many at a
time: the batch is repeated once per (entry of one sample, sign), each copy perturbed at its
own entry, and one forward call gives every copy's loss. A weight touches every sample, so
weights are perturbed one entry (and one forward call) at a time, in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnn_ref.backward import Gradients
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput, State, forward
from rnn_ref.spec import RNNSpec

EPSILON = 1e-6


def sample_losses(spec: RNNSpec, result: RNNOutput, grad_output: np.ndarray, grad_h_n: np.ndarray,
                  grad_c_n: np.ndarray | None) -> np.ndarray:
    """The loss of each sample (N,): the cotangent-weighted sum of its output and final states."""
    batch_axis = 1 if spec.layout == "TNC" else 0
    loss = np.moveaxis(grad_output * result.output, batch_axis, 0).reshape(result.output.shape[batch_axis], -1)
    loss = loss.sum(axis=1) + (grad_h_n * result.h_n).sum(axis=(0, 2))
    if grad_c_n is not None:
        loss = loss + (grad_c_n * result.c_n).sum(axis=(0, 2))
    return loss


def numeric_gradients(
    spec: RNNSpec,
    params: Params,
    x: np.ndarray,
    initial_state: State | None,
    lengths: Sequence[int] | np.ndarray | None,
    grad_output: np.ndarray,
    grad_h_n: np.ndarray,
    grad_c_n: np.ndarray | None = None,
    epsilon: float = EPSILON,
) -> Gradients:
    """Every entry of the gradients by central differences (float64; sizes should be small).

    ``initial_state`` None means zeros, and the h0 (and c0) gradients are still those at zeros,
    as ``backward`` gives them. All arrays are float64; ``grad_h_n`` (and ``grad_c_n`` for LSTM)
    are required here (pass zeros for none).
    """
    params = params.astype(np.float64)  # a private copy: its blocks are perturbed in place
    batch = x.shape[1 if spec.layout == "TNC" else 0]
    units = spec.num_layers * spec.num_directions
    h0 = np.zeros((units, batch, spec.state_size)) if initial_state is None else initial_state.h
    c0 = None
    if spec.has_cell_state:
        c0 = np.zeros((units, batch, spec.hidden_size)) if initial_state is None else initial_state.c
    lengths = None if lengths is None else np.asarray(lengths)
    batch_axis = 1 if spec.layout == "TNC" else 0
    cotangents = (grad_output, grad_h_n, grad_c_n)

    def repeated(copies: int):
        """x, h0, c0, lengths and cotangents with the batch repeated ``copies`` times (copy-major)."""
        def rep(array, axis):
            return None if array is None else np.concatenate([array] * copies, axis=axis)
        return (rep(x, batch_axis), rep(h0, 1), rep(c0, 1), rep(lengths, 0),
                rep(grad_output, batch_axis), rep(grad_h_n, 1), rep(grad_c_n, 1))

    def per_sample_gradient(which: str) -> np.ndarray:
        """d loss / d (x, h0 or c0), all entries at once: one copy of the batch per (entry, sign)."""
        array = {"x": x, "h0": h0, "c0": c0}[which]
        axis = batch_axis if which == "x" else 1
        per_sample_shape = np.delete(np.array(array.shape), axis)
        entries = int(np.prod(per_sample_shape))
        xs, h0s, c0s, lens, g_out, g_h, g_c = repeated(2 * entries)
        inputs = {"x": xs, "h0": h0s, "c0": c0s}
        big = np.moveaxis(inputs[which], axis, 0).reshape(2 * entries, batch, entries).copy()
        for entry in range(entries):  # copy 2e: +ε at entry e of every sample; copy 2e+1: -ε
            big[2 * entry, :, entry] += epsilon
            big[2 * entry + 1, :, entry] -= epsilon
        inputs[which] = np.moveaxis(big.reshape(2 * entries * batch, *per_sample_shape), 0, axis)
        state = State(inputs["h0"], inputs["c0"]) if spec.has_cell_state else State(inputs["h0"])
        losses = sample_losses(spec, forward(spec, params, inputs["x"], state, lens), g_out, g_h, g_c)
        losses = losses.reshape(entries, 2, batch)
        gradient = (losses[:, 0] - losses[:, 1]) / (2 * epsilon)  # (entries, N)
        return np.moveaxis(gradient.T.reshape(batch, *per_sample_shape), 0, axis)

    state = State(h0, c0)

    def loss() -> float:
        return float(sample_losses(spec, forward(spec, params, x, state, lengths), *cotangents).sum())

    blocks = {}
    for key, block in params.items():
        gradient = np.zeros_like(block)
        for index in np.ndindex(block.shape):
            original = block[index]
            block[index] = original + epsilon
            plus = loss()
            block[index] = original - epsilon
            minus = loss()
            block[index] = original
            gradient[index] = (plus - minus) / (2 * epsilon)
        blocks[key] = gradient
    return Gradients(
        x=per_sample_gradient("x"),
        h0=per_sample_gradient("h0"),
        c0=per_sample_gradient("c0") if spec.has_cell_state else None,
        params=Params(spec, blocks),
    )

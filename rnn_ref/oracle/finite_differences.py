"""Central finite differences of the reference forward: the independent check of ``backward``.

``numeric_gradients`` perturbs every entry of x, h0, c0 and of every canonical block by ±ε
(ε = 1e-6, as ``torch.autograd.gradcheck``) and differentiates

    loss = sum(grad_output ⊙ output) + sum(grad_h_n ⊙ h_n) + sum(grad_c_n ⊙ c_n)

through ``reference.forward`` in float64: (loss(θ + ε) - loss(θ - ε)) / 2ε. It shares no code
with the hand-written BPTT of ``rnn_ref.oracle.backward``.

Samples of a batch are independent, so the entries of x, h0 and c0 are perturbed many at a
time: the batch is repeated once per (entry of one sample, sign), each copy perturbed at its
own entry, and one forward call gives every copy's loss.

A weight touches every sample, so weights are perturbed one entry per copy *of the layer*:
``side_by_side`` puts K copies of the layer, each with its own perturbed entry, into one layer
K times as wide, in which every weight between two copies is an exact zero. Copy k's hidden
units read only copy k's inputs and states, so one forward call of the wide layer gives every
copy's loss; the zeros change nothing but the order in which the matmuls add the copy's own
terms (a rounding, far below the difference quotient's own: tests/test_backward_finite_differences.py
measures both ways).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.backward import Gradients
from rnn_ref.oracle.forward import forward

EPSILON = 1e-6
#: Perturbed copies of the layer per forward call (``side_by_side``). The wide layer's matmuls
#: grow with the square of the copies; 64 copies of the test matrix's H = 2 are 128 units wide.
COPIES_PER_CALL = 64


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
    copies_per_call: int = COPIES_PER_CALL,
) -> Gradients:
    """Every entry of the gradients by central differences (float64; sizes should be small).

    ``initial_state`` None means zeros, and the h0 (and c0) gradients are still those at zeros,
    as ``backward`` gives them. All arrays are float64; ``grad_h_n`` (and ``grad_c_n`` for LSTM)
    are required here (pass zeros for none). ``copies_per_call``: how many perturbed copies of the
    layer one forward call runs side by side (``side_by_side``); 1 perturbs the weights in place,
    one forward call per entry and sign.
    """
    if isinstance(copies_per_call, bool) or not isinstance(copies_per_call, int) or copies_per_call < 1:
        raise ValueError(f"copies_per_call must be a positive integer, got {copies_per_call!r}")
    params = params.astype(np.float64)
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
        if array is None:  # an LSTM initial_state without c: the error array.shape always raised
            raise AttributeError("'NoneType' object has no attribute 'shape'")
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

    def loss(key: str, perturbed: np.ndarray) -> float:
        """The loss with block ``key`` replaced by ``perturbed`` (Params blocks are read-only)."""
        weights = Params(spec, {**params, key: perturbed})
        return float(sample_losses(spec, forward(spec, weights, x, state, lengths), *cotangents).sum())

    blocks = {key: np.zeros_like(block) for key, block in params.items()}
    if copies_per_call == 1:  # one forward call per (entry, sign), one weight perturbed
        for key, block in params.items():
            for index in np.ndindex(block.shape):
                perturbed = block.copy()
                perturbed[index] = block[index] + epsilon
                plus = loss(key, perturbed)
                perturbed[index] = block[index] - epsilon
                minus = loss(key, perturbed)
                blocks[key][index] = (plus - minus) / (2 * epsilon)
    else:
        entries = [(key, index) for key, block in params.items() for index in np.ndindex(block.shape)]
        perturbations = [(key, index, sign) for key, index in entries for sign in (1.0, -1.0)]
        losses = []
        for start in range(0, len(perturbations), copies_per_call):
            chunk = perturbations[start:start + copies_per_call]
            wide_spec, wide_params = side_by_side(spec, params, chunk, epsilon)
            wide = forward(wide_spec, wide_params, x, side_by_side_state(state, len(chunk)), lengths)
            losses += list(copy_losses(spec, wide, len(chunk), *cotangents))
        for (key, index), plus, minus in zip(entries, losses[0::2], losses[1::2], strict=True):
            blocks[key][index] = (plus - minus) / (2 * epsilon)
    return Gradients(
        x=per_sample_gradient("x"),
        h0=per_sample_gradient("h0"),
        c0=per_sample_gradient("c0") if spec.has_cell_state else None,
        params=Params(spec, blocks),
    )


def side_by_side(spec: RNNSpec, params: Params, perturbations: Sequence[tuple[str, tuple, float]],
                 epsilon: float) -> tuple[RNNSpec, Params]:
    """K = len(perturbations) copies of the layer as one layer K times as wide.

    Copy k is ``params`` with entry ``index`` of block ``key`` set to ``original + sign·ε``. In the
    wide layer, copy k owns hidden units k·H..(k+1)·H (and projected units k·P..(k+1)·P), state
    columns k·R..(k+1)·R, and in layer l ≥ 1 reads columns d·K·R + k·R.. of each direction d
    of the layer below: the output of layer l is (T, N, D·K·R), direction-major as always, each
    direction's columns copy-major. Every weight between two copies is an exact zero, so the
    wide layer computes each copy as it would alone but for the order of the matmuls' sums.
    """
    copies = len(perturbations)
    eye = np.eye(copies)
    R, D = spec.state_size, spec.num_directions
    wide_spec = spec.replace(hidden_size=copies * spec.hidden_size, proj_size=copies * spec.proj_size)
    per_copy = {key: np.repeat(block[None], copies, axis=0) for key, block in params.items()}  # (K, *shape)
    for k, (key, index, sign) in enumerate(perturbations):
        position = (k, *index)  # a name: mypy reads a starred subscript as 3.11 syntax
        per_copy[key][position] = params[key][index] + sign * epsilon
    wide: dict[str, np.ndarray] = {}
    for key, blocks in per_copy.items():
        layer, _, kind = key.split(".", 2)
        kind = kind.split(".")[0]
        if kind in ("b_ih", "b_hh", "w_peep"):  # (K, H) -> (K·H,)
            wide[key] = blocks.reshape(-1)
        elif kind == "w_ih" and layer != "l0" and spec.merge_mode != "concat":
            # merged directions: layer l reads (K·R) columns, copy k its own R: block-diagonal
            wide[key] = np.einsum("kab,kj->kajb", blocks, eye).reshape(copies * blocks.shape[1], -1)
        elif kind == "w_ih" and layer == "l0":  # every copy reads x: (K, H, I) -> (K·H, I)
            wide[key] = blocks.reshape(copies * blocks.shape[1], -1)
        elif kind == "w_ih":  # (K, H, D·R) -> (K·H, D·K·R): copy k reads its R columns of each direction
            rows = blocks.shape[1]
            wide[key] = np.einsum("khdr,kj->khdjr", blocks.reshape(copies, rows, D, R), eye).reshape(
                copies * rows, D * copies * R)
        else:  # w_hh (K, H, R) and w_proj (K, P, H): block-diagonal
            wide[key] = np.einsum("kab,kj->kajb", blocks, eye).reshape(copies * blocks.shape[1], -1)
    return wide_spec, Params(wide_spec, wide)


def side_by_side_state(state: State, copies: int) -> State:
    """The initial state of ``side_by_side``'s wide layer: every copy starts from ``state``."""
    return State(np.concatenate([state.h] * copies, axis=2),
                 None if state.c is None else np.concatenate([state.c] * copies, axis=2))


def copy_losses(spec: RNNSpec, wide: RNNOutput, copies: int, grad_output: np.ndarray, grad_h_n: np.ndarray,
                grad_c_n: np.ndarray | None) -> np.ndarray:
    """The loss of each copy (K,) from the wide layer's ``side_by_side`` output."""
    R, H = spec.state_size, spec.hidden_size
    D = spec.num_directions if spec.merge_mode == "concat" else 1  # merged directions: R columns a copy
    output = wide.output.reshape(*wide.output.shape[:2], D, copies, R)
    loss = np.einsum("abdkr,abdr->k", output, grad_output.reshape(*grad_output.shape[:2], D, R))
    loss = loss + np.einsum("unkr,unr->k", wide.h_n.reshape(*wide.h_n.shape[:2], copies, R), grad_h_n)
    if grad_c_n is not None:
        assert wide.c_n is not None  # grad_c_n is given only for an LSTM, whose output has c_n
        loss = loss + np.einsum("unkh,unh->k", wide.c_n.reshape(*wide.c_n.shape[:2], copies, H), grad_c_n)
    return loss

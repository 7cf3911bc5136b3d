"""Invariants that tie the reference's layer features back to the single-direction cell."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.cases.matrix import VARIANTS

SPECS = VARIANTS  # the cell variants of the case matrix
I, H, T, N = 3, 4, 5, 3
cells = pytest.mark.parametrize("cell", list(SPECS))


def spec_of(cell: str, **layer) -> RNNSpec:
    return RNNSpec(input_size=I, hidden_size=H, **SPECS[cell], **layer)


def inputs(seed: int = 0, steps: int = T) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(steps, N, I))


def state_of(spec: RNNSpec, seed: int):
    rng = np.random.default_rng(seed)
    units = spec.num_layers * spec.num_directions
    h0 = rng.normal(size=(units, N, spec.state_size))
    return (h0, rng.normal(size=(units, N, spec.hidden_size))) if spec.has_cell_state else h0


@cells
def test_backward_direction_is_a_forward_pass_over_the_reversed_sequence(cell):
    bi = spec_of(cell, bidirectional=True)
    params = Params.random(bi, seed=1)
    x = inputs()
    both = forward(bi, params, x)

    uni = spec_of(cell)
    bwd_alone = Params(uni, {f"l0.fwd.{k}": v for k, v in params.unit(0, "bwd").items()})
    reversed_run = forward(uni, bwd_alone, x[::-1].copy())
    R = bi.state_size
    np.testing.assert_allclose(both.output[:, :, R:], reversed_run.output[::-1], rtol=0, atol=1e-14)
    np.testing.assert_allclose(both.h_n[1], reversed_run.h_n[0], rtol=0, atol=1e-14)


@cells
def test_two_layer_stack_equals_two_one_layer_calls(cell):
    stack = spec_of(cell, num_layers=2, bidirectional=True)
    params = Params.random(stack, seed=2)
    x = inputs()
    state = state_of(stack, 3)
    whole = forward(stack, params, x, state)

    layer0 = spec_of(cell, bidirectional=True)
    layer1 = RNNSpec(input_size=stack.output_size, hidden_size=H, bidirectional=True, **SPECS[cell])

    def slice_state(units: slice):
        return tuple(s[units] for s in state) if stack.has_cell_state else state[units]

    def take(layer: int) -> dict:
        return {f"l0.{d}.{k}": v for d in ("fwd", "bwd") for k, v in params.unit(layer, d).items()}

    first = forward(layer0, Params(layer0, take(0)), x, slice_state(slice(0, 2)))
    second = forward(layer1, Params(layer1, take(1)), first.output, slice_state(slice(2, 4)))
    np.testing.assert_allclose(whole.output, second.output, rtol=0, atol=1e-14)
    np.testing.assert_allclose(whole.h_n, np.concatenate([first.h_n, second.h_n]), rtol=0, atol=1e-14)
    if stack.has_cell_state:
        np.testing.assert_allclose(whole.c_n, np.concatenate([first.c_n, second.c_n]), rtol=0, atol=1e-14)


@cells
def test_ntc_is_tnc_transposed(cell):
    tnc, ntc = spec_of(cell, num_layers=2, bidirectional=True), spec_of(cell, num_layers=2, bidirectional=True, layout="NTC")
    blocks = dict(Params.random(tnc, seed=4))
    x = inputs()
    by_time = forward(tnc, Params(tnc, blocks), x, lengths=[5, 2, 4])
    by_batch = forward(ntc, Params(ntc, blocks), x.transpose(1, 0, 2).copy(), lengths=[5, 2, 4])
    np.testing.assert_array_equal(by_batch.output, by_time.output.transpose(1, 0, 2))
    np.testing.assert_array_equal(by_batch.h_n, by_time.h_n)


@cells
def test_ragged_lengths_equal_each_sample_alone_on_its_truncated_sequence(cell):
    spec = spec_of(cell, num_layers=2, bidirectional=True)
    params = Params.random(spec, seed=5)
    x = inputs()
    state = state_of(spec, 6)
    lengths = [5, 1, 3]
    ragged = forward(spec, params, x, state, lengths=lengths)
    for n, length in enumerate(lengths):
        one_state = tuple(s[:, n : n + 1] for s in state) if spec.has_cell_state else state[:, n : n + 1]
        alone = forward(spec, params, x[:length, n : n + 1].copy(), one_state)
        np.testing.assert_allclose(ragged.output[:length, n], alone.output[:, 0], rtol=0, atol=1e-14)
        np.testing.assert_allclose(ragged.h_n[:, n], alone.h_n[:, 0], rtol=0, atol=1e-14)
        if spec.has_cell_state:
            np.testing.assert_allclose(ragged.c_n[:, n], alone.c_n[:, 0], rtol=0, atol=1e-14)
        # The reference's own convention: steps that do not exist are zeros.
        assert not ragged.output[length:, n].any()


@cells
def test_zero_initial_states_equal_no_initial_states(cell):
    spec = spec_of(cell, num_layers=2, bidirectional=True)
    params = Params.random(spec, seed=7)
    units = spec.num_layers * spec.num_directions
    zeros_h = np.zeros((units, N, spec.state_size))
    zeros = (zeros_h, np.zeros((units, N, H))) if spec.has_cell_state else zeros_h
    x = inputs()
    np.testing.assert_array_equal(forward(spec, params, x).output, forward(spec, params, x, zeros).output)


@cells
def test_initial_state_matters(cell):
    spec = spec_of(cell)
    params = Params.random(spec, seed=8)
    x = inputs(steps=1)
    assert not np.allclose(forward(spec, params, x).h_n, forward(spec, params, x, state_of(spec, 9)).h_n)


def test_relu_differs_from_tanh_and_never_goes_negative():
    blocks = dict(Params.random(spec_of("rnn_tanh"), seed=10))
    x = 3 * inputs()
    tanh = forward(spec_of("rnn_tanh"), blocks, x).output
    relu = forward(spec_of("rnn_relu"), blocks, x).output
    assert not np.allclose(tanh, relu)
    assert relu.min() == 0.0 and tanh.min() < 0.0
    assert np.abs(tanh).max() < 1.0 < relu.max()


def test_gru_variants_differ():
    blocks = dict(Params.random(spec_of("gru"), seed=11))
    x = inputs()
    after = forward(spec_of("gru"), blocks, x).output
    before = forward(spec_of("gru_reset_before"), blocks, x).output
    assert np.abs(after - before).max() > 1e-3


def test_no_bias_equals_zero_bias():
    with_bias = spec_of("lstm", num_layers=2)
    params = Params.random(with_bias, seed=12)
    zeroed = {k: (np.zeros_like(v) if ".b_" in k else v) for k, v in params.items()}
    no_bias = with_bias.replace(bias=False)
    weights_only = {k: v for k, v in params.items() if ".b_" not in k}
    x = inputs()
    np.testing.assert_array_equal(
        forward(with_bias, zeroed, x).output, forward(no_bias, weights_only, x).output
    )


@pytest.mark.parametrize("steps", [1, 7])
@cells
def test_float32_inputs_compute_in_float64_unless_asked(cell, steps):
    spec = spec_of(cell, bidirectional=True)
    params = Params.random(spec, seed=13, dtype=np.float32)
    x = inputs(14, steps).astype(np.float32)
    truth = forward(spec, params, x)
    fast = forward(spec, params, x, precision="input")
    assert truth.output.dtype == np.float64 and fast.output.dtype == np.float32
    assert fast.h_n.dtype == np.float32
    np.testing.assert_allclose(fast.output, truth.output, rtol=0, atol=1e-6)
    assert np.abs(fast.output - truth.output).max() > 0  # really a float32 computation


def test_one_sample_one_step():
    spec = spec_of("lstm", num_layers=3, bidirectional=True, layout="NTC")
    result = forward(spec, Params.random(spec), inputs(steps=1)[:, :1].copy())
    assert result.output.shape == (1, 1, 2 * H)
    assert result.h_n.shape == result.c_n.shape == (6, 1, H)

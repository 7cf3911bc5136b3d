"""Invariants of the reference backward, and its contract: shapes, dtypes, padded steps, errors."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Gradients, InputError, Params, RNNSpec, State, backward, forward
from rnn_ref.cases.matrix import VARIANTS
from rnn_ref.oracle.backward import _forward_and_backward

I, H, T, N = 3, 4, 5, 3
cells = pytest.mark.parametrize("cell", list(VARIANTS))


def spec_of(cell: str, **layer) -> RNNSpec:
    return RNNSpec(input_size=I, hidden_size=H, **VARIANTS[cell], **layer)


def draw(spec: RNNSpec, seed: int, steps: int = T):
    """Params, x (TNC), a given initial state and a full set of cotangents."""
    rng = np.random.default_rng(seed)
    params = Params.random(spec, seed=seed)
    units = spec.num_layers * spec.num_directions
    x = rng.normal(size=(steps, N, I))
    state = State(rng.normal(size=(units, N, spec.state_size)),
                  rng.normal(size=(units, N, H)) if spec.has_cell_state else None)
    cot = dict(grad_output=rng.normal(size=(steps, N, spec.output_size)),
               grad_h_n=rng.normal(size=(units, N, spec.state_size)),
               grad_c_n=rng.normal(size=(units, N, H)) if spec.has_cell_state else None)
    return params, x, state, cot


def flat(grads: Gradients) -> dict[str, np.ndarray]:
    arrays = {"x": grads.x, "h0": grads.h0} | dict(grads.params)
    return arrays | ({"c0": grads.c0} if grads.c0 is not None else {})


def assert_same(got: Gradients | dict, expected: Gradients | dict, atol: float = 1e-13) -> None:
    got = flat(got) if isinstance(got, Gradients) else got
    expected = flat(expected) if isinstance(expected, Gradients) else expected
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=atol, err_msg=name)


@cells
def test_the_forward_pass_of_backward_is_the_reference_forward(cell):
    spec = spec_of(cell, num_layers=2, bidirectional=True)
    params, x, state, cot = draw(spec, 1)
    ran, _, _ = _forward_and_backward(spec, params, x, state, [5, 1, 3], precision="float64", **cot)
    expected = forward(spec, params, x, state, [5, 1, 3])
    np.testing.assert_allclose(ran.output, expected.output, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ran.h_n, expected.h_n, rtol=0, atol=1e-15)


@cells
def test_gradients_are_linear_in_the_cotangents(cell):
    spec = spec_of(cell, num_layers=2, bidirectional=True)
    params, x, state, first = draw(spec, 2)
    _, _, _, second = draw(spec, 3)
    combined = {k: None if v is None else 2.0 * v - 3.0 * second[k] for k, v in first.items()}
    a, b = flat(backward(spec, params, x, state, **first)), flat(backward(spec, params, x, state, **second))
    assert_same(backward(spec, params, x, state, **combined), {k: 2.0 * a[k] - 3.0 * b[k] for k in a}, atol=1e-12)


@cells
def test_missing_cotangents_are_zeros(cell):
    spec = spec_of(cell)
    params, x, state, cot = draw(spec, 4)
    zeros = {k: None if v is None else np.zeros_like(v) for k, v in cot.items()}
    only_output = backward(spec, params, x, state, grad_output=cot["grad_output"])
    assert_same(only_output, backward(spec, params, x, state, **(zeros | {"grad_output": cot["grad_output"]})), 0)
    assert not any(np.any(v) for v in flat(backward(spec, params, x, state, **zeros)).values())


@cells
def test_two_layer_backward_equals_two_chained_one_layer_backwards(cell):
    stack = spec_of(cell, num_layers=2, bidirectional=True)
    params, x, state, cot = draw(stack, 5)
    whole = backward(stack, params, x, state, **cot)
    layer0 = spec_of(cell, bidirectional=True)
    layer1 = RNNSpec(input_size=stack.output_size, hidden_size=H, bidirectional=True, **VARIANTS[cell])

    def take(layer: int, spec: RNNSpec) -> Params:
        return Params(spec, {f"l0.{d}.{k}": v for d in ("fwd", "bwd") for k, v in params.unit(layer, d).items()})

    def units(array, part):  # the state rows of one layer
        return None if array is None else array[part]

    def state_of(part):
        return State(state.h[part], units(state.c, part))

    lower, upper = slice(0, 2), slice(2, 4)
    first = forward(layer0, take(0, layer0), x, state_of(lower))
    top = backward(layer1, take(1, layer1), first.output, state_of(upper), grad_output=cot["grad_output"],
                   grad_h_n=cot["grad_h_n"][upper], grad_c_n=units(cot["grad_c_n"], upper))
    # layer 0's output gradient is layer 1's input gradient
    bottom = backward(layer0, take(0, layer0), x, state_of(lower), grad_output=top.x,
                      grad_h_n=cot["grad_h_n"][lower], grad_c_n=units(cot["grad_c_n"], lower))
    np.testing.assert_allclose(whole.x, bottom.x, rtol=0, atol=1e-13)
    np.testing.assert_allclose(whole.h0, np.concatenate([bottom.h0, top.h0]), rtol=0, atol=1e-13)
    if stack.has_cell_state:
        np.testing.assert_allclose(whole.c0, np.concatenate([bottom.c0, top.c0]), rtol=0, atol=1e-13)
    for layer, part in ((0, bottom), (1, top)):
        for key, block in part.params.items():
            np.testing.assert_allclose(whole.params[key.replace("l0.", f"l{layer}.", 1)], block, rtol=0, atol=1e-13)


@cells
def test_backward_direction_gradients_are_a_unidirectional_backward_over_the_reversed_sequence(cell):
    bi = spec_of(cell, bidirectional=True)
    params, x, state, cot = draw(bi, 6)
    both = backward(bi, params, x, state, **cot)
    uni = spec_of(cell)
    R = bi.state_size
    alone = {}
    for unit, direction in enumerate(("fwd", "bwd")):
        order = slice(None, None, -1) if direction == "bwd" else slice(None)
        unit_params = Params(uni, {f"l0.fwd.{k}": v for k, v in params.unit(0, direction).items()})
        unit_state = State(state.h[unit:unit + 1], None if state.c is None else state.c[unit:unit + 1])
        alone[direction] = backward(
            uni, unit_params, x[order].copy(), unit_state,
            grad_output=cot["grad_output"][order, :, unit * R:(unit + 1) * R].copy(),
            grad_h_n=cot["grad_h_n"][unit:unit + 1],
            grad_c_n=None if cot["grad_c_n"] is None else cot["grad_c_n"][unit:unit + 1])
        for key, block in alone[direction].params.items():
            np.testing.assert_allclose(both.params[key.replace("fwd", direction)], block, rtol=0, atol=1e-13)
        np.testing.assert_allclose(both.h0[unit], alone[direction].h0[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(both.x, alone["fwd"].x + alone["bwd"].x[::-1], rtol=0, atol=1e-13)


@cells
def test_ragged_lengths_equal_each_sample_alone_on_its_truncated_sequence(cell):
    spec = spec_of(cell, num_layers=2, bidirectional=True)
    params, x, state, cot = draw(spec, 7)
    lengths = [5, 1, 3]
    ragged = backward(spec, params, x, state, lengths, **cot)
    summed = {key: np.zeros_like(block) for key, block in params.items()}
    for n, length in enumerate(lengths):
        one = slice(n, n + 1)
        alone = backward(spec, params, x[:length, one].copy(),
                         State(state.h[:, one], None if state.c is None else state.c[:, one]),
                         grad_output=cot["grad_output"][:length, one].copy(), grad_h_n=cot["grad_h_n"][:, one],
                         grad_c_n=None if cot["grad_c_n"] is None else cot["grad_c_n"][:, one])
        np.testing.assert_allclose(ragged.x[:length, n], alone.x[:, 0], rtol=0, atol=1e-13)
        np.testing.assert_allclose(ragged.h0[:, n], alone.h0[:, 0], rtol=0, atol=1e-13)
        if spec.has_cell_state:
            np.testing.assert_allclose(ragged.c0[:, n], alone.c0[:, 0], rtol=0, atol=1e-13)
        # steps that do not exist have no gradient
        assert not ragged.x[length:, n].any()
        for key in summed:
            summed[key] += alone.params[key]
    for key, block in summed.items():  # the weights' gradient is the sum over samples
        np.testing.assert_allclose(ragged.params[key], block, rtol=0, atol=1e-13, err_msg=key)


def test_the_cotangent_at_padded_steps_is_ignored():
    spec = spec_of("lstm", bidirectional=True, layout="NTC")
    params, x, state, cot = draw(spec, 8)
    x, grad_output = x.transpose(1, 0, 2).copy(), cot["grad_output"].transpose(1, 0, 2).copy()
    lengths = [2, 5, 4]
    noisy = grad_output.copy()
    noisy[0, 2:] += 100.0
    noisy[2, 4:] -= 7.0
    assert_same(backward(spec, params, x, state, lengths, grad_output=noisy, grad_h_n=cot["grad_h_n"]),
                backward(spec, params, x, state, lengths, grad_output=grad_output, grad_h_n=cot["grad_h_n"]), 0)


def test_layout_transposes_x_and_its_gradient_only():
    tnc = spec_of("gru", num_layers=2, bidirectional=True)
    ntc = tnc.replace(layout="NTC")
    params, x, state, cot = draw(tnc, 9)
    by_time = backward(tnc, params, x, state, [5, 2, 4], **cot)
    by_batch = backward(ntc, params, x.transpose(1, 0, 2).copy(), state, [5, 2, 4],
                        grad_output=cot["grad_output"].transpose(1, 0, 2).copy(), grad_h_n=cot["grad_h_n"])
    np.testing.assert_array_equal(by_batch.x, by_time.x.transpose(1, 0, 2))
    assert_same(dict(by_batch.params), dict(by_time.params), 1e-15)  # the sums over steps run in another order


@pytest.mark.parametrize("precision", ["float64", "input"])
def test_shapes_and_dtypes(precision):
    spec = spec_of("lstm_proj", num_layers=2, bidirectional=True, layout="NTC")
    params = Params.random(spec, seed=10, dtype=np.float32)
    x = np.ones((N, T, I), np.float32)
    grads = backward(spec, params, x, grad_output=np.ones((N, T, spec.output_size), np.float32),
                     precision=precision)
    dtype = np.float64 if precision == "float64" else np.float32
    assert grads.x.shape == x.shape and grads.x.dtype == dtype
    assert grads.h0.shape == (4, N, 3) and grads.c0.shape == (4, N, H) and grads.h0.dtype == dtype
    assert list(grads.params) == list(params) and grads.params.dtype == dtype
    assert all(grads.params[k].shape == params[k].shape for k in params)
    assert grads.h0.any() and grads.c0.any()  # the gradient at the zero initial state


def test_gru_has_no_c0_gradient():
    spec = spec_of("gru")
    params, x, state, cot = draw(spec, 11)
    assert backward(spec, params, x, state, **cot).c0 is None


LSTM = RNNSpec("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
X = np.zeros((5, 2, 3))
GO = np.zeros((5, 2, 8))
GH = np.zeros((4, 2, 4))
BAD = [
    # (id, spec, backward keyword arguments, the message must contain)
    ("no-grad-output", LSTM, dict(grad_output=None), "grad_output is required"),
    ("grad-output-shape", LSTM, dict(grad_output=GO[:, :, :4]),
     "grad_output must have the shape of what it is the gradient of, (5, 2, 8), got (5, 2, 4)"),
    ("grad-output-list", LSTM, dict(grad_output=GO.tolist()), "grad_output must be a numpy.ndarray of float32 or float64, got list"),
    ("grad-output-int", LSTM, dict(grad_output=GO.astype(int)), "got array of dtype int64"),
    ("grad-h-n-shape", LSTM, dict(grad_output=GO, grad_h_n=GH[:2]), "grad_h_n must have the shape of what it is the gradient of, (4, 2, 4)"),
    ("grad-c-n-nan", LSTM, dict(grad_output=GO, grad_c_n=GH * np.nan), "grad_c_n contains NaN or Inf (first at index (0, 0, 0)"),
    ("gru-grad-c-n", RNNSpec("gru", 3, 4), dict(grad_output=GO[..., :4], grad_c_n=GH[:1]), "mode 'gru' has no cell state, but grad_c_n"),
    ("x-nan", LSTM, dict(x=X * np.nan, grad_output=GO), "x contains NaN or Inf"),
    ("lengths", LSTM, dict(lengths=[5, 0], grad_output=GO), "lengths must lie in 1..T = 1..5, got [5, 0]"),
    ("precision", LSTM, dict(grad_output=GO, precision="half"), "precision='half' is not one of float64, input"),
]


@pytest.mark.parametrize(("spec", "kwargs", "message"), [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_is_an_input_error_naming_it(spec, kwargs, message):
    kwargs = {"x": X} | kwargs
    with pytest.raises(InputError) as raised:
        backward(spec, Params.random(spec), **kwargs)
    assert message in str(raised.value)

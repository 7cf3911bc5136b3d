"""The reference backward against central finite differences of the reference forward.

Over the small matrix — every cell variant × layers 1–2 × uni/bi × TNC/NTC × with/without
initial states × with/without lengths × with/without bias (projection included) — every
entry of grads.x, grads.h0, grads.c0 and of every canonical block is compared with
(loss(θ+ε) - loss(θ-ε)) / 2ε, ε = 1e-6, in float64 (rnn_ref.oracle.finite_differences).

The bound: |backward - finite difference| <= ATOL + RTOL·|backward| element-wise, ATOL = 1e-8,
RTOL = 1e-6. Measured over the whole matrix (384 layers, every entry): worst absolute error
1.8e-9, worst relative error 5.9e-7 where |gradient| > 1e-3 — the difference quotient's own
rounding (~1e-16·|loss|/ε) and its ε² truncation term; the worst entry uses 10.5% of its
allowance (1.7e-9 and 11% with one forward call per weight entry, ``copies_per_call=1``).
(PyTorch's gradcheck allows atol 1e-5, rtol 1e-3.)

Weights are perturbed 64 copies of the layer per forward call, side by side in one wider layer
(``rnn_ref.oracle.finite_differences.side_by_side``); the tests at the end pin that each copy computes
what it computes alone, and that both ways give the same differences.

Sizes are tiny (I = H = 2, P = 1, T = 2, N = 2; lengths (2, 1) make the second sample's
only step the backward direction's first), so the 384 layers take a few seconds.
"""

from __future__ import annotations

import importlib
import itertools
import zlib

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, State, forward
from rnn_ref.cases.matrix import VARIANTS
from rnn_ref.oracle.backward import _forward_and_backward
from rnn_ref.oracle.finite_differences import (
    copy_losses,
    numeric_gradients,
    sample_losses,
    side_by_side,
    side_by_side_state,
)

ATOL, RTOL = 1e-8, 1e-6
I, H, T, N = 2, 2, 2, 2
LENGTHS = (2, 1)
#: relu is not differentiable at 0: a pre-activation closer to 0 than this makes the finite
#: difference straddle the kink, so such draws are replaced by the next seed (see relu_margin).
RELU_MARGIN = 1e-4


def spec_of(variant: str, layers: int, bidirectional: bool, layout: str, bias: bool) -> RNNSpec:
    fields = VARIANTS[variant] | ({"proj_size": 1} if "proj_size" in VARIANTS[variant] else {})
    return RNNSpec(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidirectional, layout=layout,
                   bias=bias, **fields)


MATRIX = [
    (variant, spec_of(variant, layers, bi, layout, bias), with_state, with_lengths)
    for variant, layers, bi, layout, with_state, with_lengths, bias in itertools.product(
        VARIANTS, (1, 2), (False, True), ("TNC", "NTC"), (False, True), (False, True), (True, False))
]


def case_id(variant, spec, with_state, with_lengths) -> str:
    parts = [variant, f"L{spec.num_layers}", "bi" if spec.bidirectional else "uni", spec.layout]
    parts += ["h0"] * with_state + ["len"] * with_lengths + ["nobias"] * (not spec.bias)
    return "-".join(parts)


def draw(spec: RNNSpec, seed: int, with_state: bool, with_lengths: bool):
    """Seeded weights, inputs and cotangents (float64)."""
    rng = np.random.default_rng(seed)
    params = Params.random(spec, seed=seed)
    x = rng.standard_normal((T, N, I) if spec.layout == "TNC" else (N, T, I))
    units = spec.num_layers * spec.num_directions
    state = None
    if with_state:
        h0 = rng.standard_normal((units, N, spec.state_size))
        state = State(h0, rng.standard_normal((units, N, H)) if spec.has_cell_state else None)
    lengths = np.array(LENGTHS) if with_lengths else None
    output = forward(spec, params, x, state, lengths)
    cotangents = dict(grad_output=rng.standard_normal(output.output.shape),
                      grad_h_n=rng.standard_normal(output.h_n.shape),
                      grad_c_n=rng.standard_normal(output.c_n.shape) if spec.has_cell_state else None)
    return params, x, state, lengths, cotangents


def relu_margin(tapes) -> float:
    """The smallest |pre-activation| of a relu cell over the steps that exist."""
    return min(float(np.abs(cache["act"]["a"][exists[:, 0]]).min(initial=np.inf))
               for tape in tapes for _, exists, cache in tape.steps)


def assert_close(name: str, analytic: np.ndarray, numeric: np.ndarray, where: str) -> None:
    error = np.abs(analytic - numeric)
    allowed = ATOL + RTOL * np.abs(analytic)
    if not (error <= allowed).all():
        worst = np.unravel_index(np.argmax(error - allowed), error.shape)
        raise AssertionError(f"{where}: grad {name}[{tuple(int(i) for i in worst)}]: backward {float(analytic[worst])!r}, "
                             f"finite differences {float(numeric[worst])!r} (|error| {error[worst]:.2e}, "
                             f"allowed {allowed[worst]:.2e})")


@pytest.mark.parametrize(("variant", "spec", "with_state", "with_lengths"), MATRIX,
                         ids=[case_id(*row) for row in MATRIX])
def test_backward_matches_finite_differences(variant, spec, with_state, with_lengths):
    where = case_id(variant, spec, with_state, with_lengths)
    seed = zlib.crc32(where.encode())
    for attempt in range(20):
        params, x, state, lengths, cotangents = draw(spec, seed + attempt, with_state, with_lengths)
        _, grads, tapes = _forward_and_backward(spec, params, x, state, lengths, precision="float64", **cotangents)
        if spec.mode != "rnn_relu" or relu_margin(tapes) > RELU_MARGIN:
            break
    else:
        pytest.fail(f"{where}: no draw keeps every relu pre-activation {RELU_MARGIN} away from its kink")
    grad_h_n, grad_c_n = cotangents["grad_h_n"], cotangents["grad_c_n"]
    numeric = numeric_gradients(spec, params, x, state, lengths, cotangents["grad_output"], grad_h_n, grad_c_n)
    assert_close("x", grads.x, numeric.x, where)
    assert_close("h0", grads.h0, numeric.h0, where)
    if spec.has_cell_state:
        assert_close("c0", grads.c0, numeric.c0, where)
    assert list(grads.params) == list(params)
    for key in params:
        assert_close(key, grads.params[key], numeric.params[key], where)


def test_finite_differences_catch_a_backward_that_drops_the_carried_cell_gradient(monkeypatch):
    """The check can fail: a BPTT that forgets dL/dc flowing back through c (a classic bug) is caught."""
    bptt = importlib.import_module("rnn_ref.oracle.backward")  # the module (rnn_ref.oracle.backward is the function)
    cells = importlib.import_module("rnn_ref.oracle.cells")  # where cell_backward finds the LSTM step

    spec = spec_of("lstm", 1, False, "TNC", True)
    params, x, state, lengths, cotangents = draw(spec, 0, True, False)
    numeric = numeric_gradients(spec, params, x, state, lengths, cotangents["grad_output"], cotangents["grad_h_n"],
                                cotangents["grad_c_n"])
    correct = cells.lstm_cell_backward
    monkeypatch.setattr(cells, "lstm_cell_backward", lambda cache, dh, dc, w: correct(cache, dh, 0 * dc, w))
    wrong = bptt.backward(spec, params, x, state, lengths, **cotangents)
    with pytest.raises(AssertionError, match="grad x"):
        assert_close("x", wrong.x, numeric.x, "lstm")


def test_assert_close_names_the_worst_entry():
    with pytest.raises(AssertionError, match=r"grad w\[\(1,\)\]: backward 2.0, finite differences 2.001"):
        assert_close("w", np.array([1.0, 2.0]), np.array([1.0, 2.001]), "here")


SIDE_BY_SIDE = [spec_of("lstm_proj", 2, True, "NTC", True), spec_of("gru_reset_before", 2, True, "TNC", True),
                spec_of("rnn_relu", 2, False, "TNC", False), spec_of("gru", 1, True, "NTC", True)]


def assert_copies_compute_alone(spec: RNNSpec, params: Params, perturbations, wide_spec, wide_params, x, state,
                                lengths, cotangents) -> None:
    """Copy k of the wide layer computes, to rounding, what ``params`` with its perturbation computes alone."""
    copies = len(perturbations)
    wide = forward(wide_spec, wide_params, x, side_by_side_state(state, copies), lengths)
    losses = copy_losses(spec, wide, copies, *cotangents)
    R, D, H = spec.state_size, spec.num_directions, spec.hidden_size
    for k, (key, index, sign) in enumerate(perturbations):
        perturbed = params[key].astype(np.float64)  # a writable copy: Params blocks are read-only
        perturbed[index] += sign * 1e-6
        alone = forward(spec, Params(spec, {**params.astype(np.float64), key: perturbed}), x, state, lengths)
        output = wide.output.reshape(*wide.output.shape[:2], D, copies, R)[:, :, :, k].reshape(alone.output.shape)
        np.testing.assert_allclose(output, alone.output, rtol=1e-13, atol=1e-15, err_msg=f"copy {k} output")
        np.testing.assert_allclose(wide.h_n.reshape(*alone.h_n.shape[:2], copies, R)[:, :, k], alone.h_n,
                                   rtol=1e-13, atol=1e-15, err_msg=f"copy {k} h_n")
        if spec.has_cell_state:
            np.testing.assert_allclose(wide.c_n.reshape(*alone.c_n.shape[:2], copies, H)[:, :, k], alone.c_n,
                                       rtol=1e-13, atol=1e-15, err_msg=f"copy {k} c_n")
        np.testing.assert_allclose(losses[k], sample_losses(spec, alone, *cotangents).sum(), rtol=1e-13,
                                   err_msg=f"copy {k} loss")


def some_perturbations(params: Params) -> list:
    """An entry of every block, both signs, over copies in order."""
    return [(key, (0,) * params[key].ndim, sign) for key in params for sign in (1.0, -1.0)]


@pytest.mark.parametrize("spec", SIDE_BY_SIDE, ids=lambda spec: f"{spec.mode}-L{spec.num_layers}-{spec.layout}")
def test_each_side_by_side_copy_computes_what_it_computes_alone(spec):
    params, x, state, lengths, cotangents = draw(spec, 7, True, True)
    perturbations = some_perturbations(params)
    wide_spec, wide_params = side_by_side(spec, params, perturbations, 1e-6)
    assert wide_spec.hidden_size == len(perturbations) * spec.hidden_size
    assert_copies_compute_alone(spec, params, perturbations, wide_spec, wide_params, x, state, lengths,
                                tuple(cotangents.values()))


def test_a_copy_that_leaks_into_its_neighbour_is_caught():
    spec = SIDE_BY_SIDE[0]
    params, x, state, lengths, cotangents = draw(spec, 7, True, True)
    perturbations = some_perturbations(params)
    wide_spec, wide_params = side_by_side(spec, params, perturbations, 1e-6)
    leaky = {key: block.copy() for key, block in wide_params.items()}
    leaky["l0.bwd.w_hh.f"][0, spec.state_size] = 0.5  # copy 0's forget gate reads copy 1's state
    with pytest.raises(AssertionError, match="copy 0"):
        assert_copies_compute_alone(spec, params, perturbations, wide_spec, Params(wide_spec, leaky), x, state,
                                    lengths, tuple(cotangents.values()))


@pytest.mark.parametrize("spec", SIDE_BY_SIDE, ids=lambda spec: f"{spec.mode}-L{spec.num_layers}-{spec.layout}")
def test_side_by_side_and_one_call_per_entry_give_the_same_differences(spec):
    params, x, state, lengths, cotangents = draw(spec, 11, True, True)
    args = (spec, params, x, state, lengths, *cotangents.values())
    one_by_one, side = numeric_gradients(*args, copies_per_call=1), numeric_gradients(*args)
    for key in params:  # both are differences of the same losses, up to their rounding (~1e-9 here)
        np.testing.assert_allclose(side.params[key], one_by_one.params[key], rtol=0, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("copies", [0, -1, 2.5, True])
def test_copies_per_call_must_be_a_positive_integer(copies):
    spec = SIDE_BY_SIDE[3]
    params, x, state, lengths, cotangents = draw(spec, 3, False, False)
    with pytest.raises(ValueError, match="copies_per_call must be a positive integer"):
        numeric_gradients(spec, params, x, state, lengths, *cotangents.values(), copies_per_call=copies)

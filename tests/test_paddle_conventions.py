"""PaddlePaddle behaviours that differ from the canonical conventions, and its two defects, one test each.

The adapter (rnn_ref/adapters/paddle/fused.py) declares or handles every one of them; these tests pin
the behaviour itself on the installed paddle (3.3.1), so a release that changes it is noticed here:

* a layer without bias dies of SIGSEGV at forward: run in a subprocess, never in this process
  (the matrix's no-bias cases are a Limit);
* with a bidirectional layer, lengths and given initial states, the backward reads the reverse
  direction's start state of every short sample as zeros (the matrix's cases are a strict known
  defect; the test shows the gradients equal the reference BPTT with exactly that state zeroed);
* with ``proj_size``, ``state_dict``'s flat torch-style names name the wrong arrays, and the output's
  padded steps are not masked.
The no-bias crash is PaddlePaddle/Paddle#70231 (open, reported on 3.0 beta); no upstream report found for
the others (searched: PaddlePaddle/Paddle issues on ``sequence_length`` gradients and ``proj_size`` names).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, State, backward, forward
from rnn_ref.cases.cotangents import Cotangents
from rnn_ref.cases.defects import KnownDefectReproduced, expect_defect
from rnn_ref.oracle.backward import unit_backward, unit_forward
from rnn_ref.oracle.cells import UnitWeights

pytestmark = pytest.mark.engine

T, N, I, H = 5, 3, 2, 4
LENGTHS = np.array([5, 3, 2])  # one full-length sample, two short ones


@pytest.fixture(scope="module")
def adapter(engine_or_skip):
    return engine_or_skip("paddle")


SEGFAULT_PROBE = """
import numpy as np, paddle
layer = getattr(paddle.nn, {cls!r})(3, 4, {biases})
layer(paddle.to_tensor(np.zeros((2, 5, 3), "float32")))
print("forward returned")
"""


# each layer class once, and each of the two bias attributes alone and together (a probe costs an import of
# paddle, seconds: all nine pairs crash alike)
@pytest.mark.parametrize(("cls", "biases"), [("SimpleRNN", "bias_ih_attr=False"), ("LSTM", "bias_hh_attr=False"),
                                             ("GRU", "bias_ih_attr=False, bias_hh_attr=False")])
def test_a_layer_without_bias_segfaults_at_forward(adapter, cls, biases):
    """The no-bias Limit's evidence. A subprocess: the crash must not take the test process with it.
    The day it survives, this test fails and the Limit is revisited."""
    probe = subprocess.run([sys.executable, "-c", SEGFAULT_PROBE.format(cls=cls, biases=biases)],
                           capture_output=True, text=True, timeout=120)
    said = probe.stdout + probe.stderr
    assert "forward returned" not in said, f"{cls}({biases}) ran its forward: the no-bias limit is stale"
    assert probe.returncode == -11 and "Segmentation fault" in said, (probe.returncode, said[-2000:])


def reverse_start_state_zeroed(spec, params, x, state, lengths, cot):
    """The reverse unit's gradients (one-layer bidirectional layer) from the reference BPTT with the state
    before each short sample's first reverse step (t = len−1) read as zeros: (dx part, dh0, w_ih, w_hh)."""
    w = UnitWeights.of(spec, params, 0, "bwd", np.dtype(x.dtype))
    valid = np.arange(x.shape[0])[:, None] < lengths[None, :]
    c0 = None if state.c is None else state.c[1]
    _, _, _, tape = unit_forward(spec, w, x, state.h[1], c0, valid, True)
    short = lengths < x.shape[0]
    for t, _, cache in tape.steps:
        cache["h"] = np.where((short & (t == lengths - 1))[:, None], 0.0, cache["h"])
    dc_n = None if cot.c_n is None else cot.c_n[1]
    d_seq, dh0, _, grads = unit_backward(spec, w, tape, cot.output[:, :, spec.hidden_size:], cot.h_n[1], dc_n)
    return d_seq, dh0, grads


def one_bidirectional_case(mode: str):
    spec = RNNSpec(mode, I, H, bidirectional=True)
    params = Params.random(spec, seed=1, dtype="float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, N, I))
    state = State(rng.standard_normal((2, N, H)), rng.standard_normal((2, N, H)) if mode == "lstm" else None)
    out = rng.standard_normal((T, N, 2 * H))
    out[np.arange(T)[:, None] >= LENGTHS[None, :]] = 0.0
    cot = Cotangents(out, rng.standard_normal((2, N, H)), rng.standard_normal((2, N, H)) if mode == "lstm" else None)
    return spec, params, x, state, cot


def paddle_and_reference_gradients(adapter, mode, with_state=True):
    spec, params, x, state, cot = one_bidirectional_case(mode)
    state = state if with_state else None
    got = adapter.run_gradients(spec, adapter.build(spec, params), x, state, LENGTHS, cot)
    canonical = adapter.mapping(spec).gradients_to_params(got.native)
    expected = backward(spec, params, x, state, LENGTHS, grad_output=cot.output, grad_h_n=cot.h_n,
                        grad_c_n=cot.c_n)
    return spec, params, x, state, cot, got, canonical, expected


@pytest.mark.xfail(strict=True, raises=KnownDefectReproduced,
                   reason="paddle 3.3.1: the reverse backward reads short samples' initial state as zeros; "
                          "no upstream report found")
@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_reverse_backward_reads_the_initial_state_of_short_samples_as_zeros(adapter, mode):
    spec, params, x, state, cot, got, canonical, expected = paddle_and_reference_gradients(adapter, mode)
    errors = {key: float(np.abs(canonical[key] - expected.params[key]).max()) for key in expected.params}
    errors |= {"x": float(np.abs(got.x - expected.x).max()), "h0": float(np.abs(got.h0 - expected.h0).max())}
    correct = max(errors.values()) < 1e-12
    _, dh0, grads = reverse_start_state_zeroed(spec, params, x, state, LENGTHS, cot)
    signature = {f"l0.bwd.w_hh.{g}": grads.w_hh[g] for g in spec.gates} | {
        f"l0.bwd.w_ih.{g}": grads.w_ih[g] for g in spec.gates} | {"h0.bwd": dh0}
    engine = {key: canonical[key] for key in signature if key != "h0.bwd"} | {"h0.bwd": got.h0[1]}
    misses = {key: float(np.abs(engine[key] - value).max()) for key, value in signature.items()}
    # the forward direction never sees the defect: its gradients and dh0 are the reference's
    forward_misses = {key: errors[key] for key in errors if key.startswith("l0.fwd")}
    if mode != "gru":  # only w_hh of the reverse unit is wrong; dx and dh0 are right
        assert max(errors[key] for key in errors if ".w_hh." not in key) < 1e-12, errors
    expect_defect("paddle reverse start state read as zeros", "the reference BPTT with that state zeroed",
                  correct=correct,
                  matches_signature=max(misses.values()) < 1e-12 and (mode == "gru" or max(
                      forward_misses.values()) < 1e-12),
                  seen=f"errors {errors}; against the signature {misses}")


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_without_initial_states_the_same_case_differentiates_right(adapter, mode):
    """Zero initial states are what the defect reads: the same layer and lengths without h0 are right."""
    *_, got, canonical, expected = paddle_and_reference_gradients(adapter, mode, with_state=False)
    for key in expected.params:
        np.testing.assert_allclose(canonical[key], expected.params[key], rtol=0, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(got.x, expected.x, rtol=0, atol=1e-12)


def test_the_signature_helper_is_not_the_reference(adapter):
    """The zeroed-state BPTT differs from the reference on this case, so matching it says something."""
    spec, params, x, state, cot = one_bidirectional_case("rnn_tanh")
    _, _, grads = reverse_start_state_zeroed(spec, params, x, state, LENGTHS, cot)
    expected = backward(spec, params, x, state, LENGTHS, grad_output=cot.output, grad_h_n=cot.h_n)
    assert np.abs(grads.w_hh["h"] - expected.params["l0.bwd.w_hh.h"]).max() > 0.1


def test_with_projection_the_flat_names_name_the_wrong_arrays(adapter):
    """paddle names its flat parameters four per unit (w_ih, w_hh, b_ih, b_hh) over five per unit with
    projection: from the second unit on, ``weight_ih_l0_reverse`` is the forward projection. The rows use
    the structural names (``0.cell_fw.weight_ho``)."""
    spec = RNNSpec("lstm", I, H, bidirectional=True, proj_size=3)
    layer = adapter.build(spec, Params.random(spec, seed=0, dtype="float32"))
    flat = layer.state_dict()
    assert tuple(flat["weight_ih_l0_reverse"].shape) == (H, 3)
    np.testing.assert_array_equal(flat["weight_ih_l0_reverse"].numpy(), flat["0.cell_fw.weight_ho"].numpy())


def test_with_projection_padded_steps_hold_the_cell_run_from_the_held_state(adapter):
    """LSTM projection runs paddle's per-step loop, which holds the states at padded steps but not the output:
    there, the output is one cell step from the held state on that step's input (the adapter writes zeros)."""
    import paddle

    spec = RNNSpec("lstm", I, H, proj_size=3)
    params = Params.random(spec, seed=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((T, N, I))
    layer = adapter.build(spec, params)
    with paddle.no_grad():
        raw, _ = layer(paddle.to_tensor(x), None, paddle.to_tensor(LENGTHS.astype(np.int64)))
    raw = raw.numpy()
    reference = forward(spec, params, x, None, LENGTHS)
    for n, length in enumerate(LENGTHS):
        held = State(reference.h_n[:, n:n + 1], reference.c_n[:, n:n + 1])
        for t in range(length, T):
            step = forward(spec, params, x[t:t + 1, n:n + 1], held).output[0, 0]
            np.testing.assert_allclose(raw[t, n], step, rtol=0, atol=1e-12, err_msg=f"sample {n}, step {t}")
    assert np.abs(raw[LENGTHS[1]:, 1]).max() > 0.01
    judged = adapter.run(spec, layer, x, None, LENGTHS).output
    assert not judged[LENGTHS[1]:, 1].any()

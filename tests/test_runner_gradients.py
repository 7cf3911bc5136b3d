"""The gradient judge itself: fake engines that differentiate wrong in one known way must fail.

No framework needed: the fake engine's "autodiff" is the reference backward, its native
parameters are torch-style rows (so its native gradients come back through the rows), and
each wrong engine alters one thing, the way a real engine's bug would.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import reference_engine

from rnn_ref import backward
from rnn_ref.adapters import adapter_object
from rnn_ref.adapters.adapter import GRADIENTS_NOT_IMPLEMENTED
from rnn_ref.cases.cotangents import EngineGradients, case_cotangents
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.compare import GRADIENT_TOLERANCES
from rnn_ref.judge.runner import (
    DEFECT_GONE,
    FAIL,
    KNOWN_DEFECT,
    PASS,
    UNSUPPORTED,
    ForwardsOfGradientRuns,
    execute_case,
    run_case,
    run_gradient_case,
)


class ForwardOnlyEngine(reference_engine.ReferenceEngine):
    """An engine written before gradients existed: no run_gradients."""

    name = "fake"


class ReferenceEngine(reference_engine.DifferentiatingReferenceEngine, ForwardOnlyEngine):
    """A correct engine: differentiates with the reference backward, in the input's dtype."""


class SwapsGateGradients(ReferenceEngine):
    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        got = super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)
        native = dict(got.native)
        stacked = got.native["weight_hh_l0"]  # gates i f g o stacked along rows
        H = spec.hidden_size
        native["weight_hh_l0"] = np.concatenate([stacked[H:2 * H], stacked[:H], stacked[2 * H:]])
        return dataclasses.replace(got, native=native)


class LeaksGradientIntoPaddedSteps(ReferenceEngine):
    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        got = super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)
        return dataclasses.replace(got, x=got.x + 1e-12)  # nothing is exactly zero any more


class ReturnsStateGradientsInTheWrongOrder(ReferenceEngine):
    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        got = super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)
        return dataclasses.replace(got, h0=got.h0[::-1].copy())


class DropsTheCellStateCotangent(ReferenceEngine):
    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        return super().run_gradients(spec, layer, x, initial_state, lengths,
                                     dataclasses.replace(cotangents, c_n=np.zeros_like(cotangents.c_n)))


class DeclaresAGradientDefectItDoesNotHave(ReferenceEngine):
    def gradient_known_defect(self, spec, dtype, with_lengths):
        return "example: declared but not real"


CASE = case_by_id("lstm-L2-bi-NTC-h0-len-f64")


def test_the_reference_engine_passes():
    result = run_gradient_case(ReferenceEngine(), CASE)
    assert result.status == PASS, result.report()
    assert result.label == CASE.id + "-grad"
    tensors = [c.tensor for c in result.comparisons]
    assert tensors[:5] == ["grad x", "grad x at padded steps (zeros)", "grad h0", "grad c0", "grad l0.fwd.w_ih.i"]
    assert len(tensors) == 4 + len(CASE.data().params)


@pytest.mark.parametrize(
    ("engine", "tensor"),
    [
        (SwapsGateGradients(), "grad l0.fwd.w_hh.i"),
        (LeaksGradientIntoPaddedSteps(), "grad x at padded steps (zeros)"),
        (ReturnsStateGradientsInTheWrongOrder(), "grad h0"),
        (DropsTheCellStateCotangent(), "grad c0"),
    ],
    ids=["gate-order", "padded-steps", "state-order", "cell-state-cotangent"],
)
def test_a_wrong_engine_fails_on_the_gradient_it_gets_wrong(engine, tensor):
    result = run_gradient_case(engine, CASE)
    assert result.status == FAIL
    assert tensor in [c.tensor for c in result.failures()]
    report = result.report()
    assert f"fake disagrees with the reference on case {CASE.id}-grad" in report
    assert "rerun: pytest 'tests/test_gradient_equivalence.py::test_engine_gradients_match_reference[fake-" in report
    tolerance = GRADIENT_TOLERANCES["float64"]
    assert f"tolerance for float64: atol={tolerance.atol:g}, rtol={tolerance.rtol:g}" in report


def test_an_engine_without_run_gradients_is_unsupported_not_failing():
    engine = ForwardOnlyEngine()
    assert engine.gradient_unsupported_reason(CASE.spec, CASE.dtype, CASE.with_lengths) == GRADIENTS_NOT_IMPLEMENTED
    result = run_gradient_case(engine, CASE)
    assert result.status == UNSUPPORTED and result.reason == GRADIENTS_NOT_IMPLEMENTED


def test_a_declared_gradient_defect_must_reproduce():
    result = run_gradient_case(DeclaresAGradientDefectItDoesNotHave(), CASE)
    assert result.status == DEFECT_GONE
    assert "now matches the reference" in result.report()


def test_a_reproduced_gradient_defect_is_a_known_defect():
    class Both(SwapsGateGradients, DeclaresAGradientDefectItDoesNotHave):
        pass

    assert run_gradient_case(Both(), CASE).status == KNOWN_DEFECT


def test_float32_gradients_are_judged_with_the_float32_gradient_tolerance():
    case = case_by_id("gru-L3-bi-TNC-h0-len-f32")
    result = run_gradient_case(ReferenceEngine(), case)  # computes in float32
    assert result.status == PASS, result.report()
    assert 0 < result.max_error < GRADIENT_TOLERANCES["float32"].atol * 10


def test_cotangents_are_seeded_by_the_case_and_zero_at_padded_steps():
    first, again = case_cotangents(CASE), case_cotangents(CASE)
    np.testing.assert_array_equal(first.output, again.output)
    other = case_cotangents(case_by_id("lstm-L2-bi-NTC-h0-f64"))
    assert not np.array_equal(first.h_n, other.h_n)
    lengths = CASE.lengths
    for n, length in enumerate(lengths):  # NTC
        assert not first.output[n, length:].any() and first.output[n, :length].all()
    assert first.output.dtype == first.h_n.dtype == first.c_n.dtype == np.float64


class OneBiasEngine(ReferenceEngine):
    """Keras's rows: one bias per gate holding b_ih + b_hh. Its autodiff's bias gradient is the
    gradient of that one bias, which is the gradient of either summand."""

    def mapping(self, spec):
        return adapter_object("keras").mapping(spec)

    def build(self, spec, params):
        mapping = self.mapping(spec)
        return mapping.to_params(mapping.to_native(params))  # folded: b_ih + b_hh in b_ih, zeros in b_hh

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        grads = backward(spec, layer, x, initial_state, lengths, grad_output=cotangents.output,
                         grad_h_n=cotangents.h_n, grad_c_n=cotangents.c_n, precision="input")
        mapping = self.mapping(spec)
        native = {name: np.zeros(shape) for name, shape in mapping.native_shapes.items()}
        for row in mapping.rows:  # one gradient per native region: the bias's, i.e. b_ih's
            block = grads.params[row.canonical[0]]
            native[row.native][row.region] = block.T if row.transpose else block
        return EngineGradients(grads.x, grads.h0, grads.c0, native)


def test_a_one_bias_engine_passes_through_the_sum_rule():
    case = case_by_id("lstm-L2-bi-TNC-h0-f64")
    result = run_gradient_case(OneBiasEngine(), case)
    assert result.status == PASS, result.report()
    assert any(row.combine == "sum" for row in OneBiasEngine().mapping(case.spec).rows)


class ForwardOnTheWayEngine(ReferenceEngine):
    """An engine whose gradient run gives its forward result too (as Keras under tf.GradientTape)."""

    def __init__(self, output_shift: float = 0.0) -> None:
        self.forward_runs = self.builds = 0
        self.output_shift = output_shift  # what a gradient run that computed something else would give

    def build(self, spec, params):
        self.builds += 1
        return super().build(spec, params)

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        self.forward_runs += 1
        return super().run(spec, layer, x, initial_state, lengths)

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        got = super().run_gradients(spec, layer, x, initial_state, lengths, cotangents)
        out = super().run(spec, layer, x, initial_state, lengths)
        return dataclasses.replace(got, output=dataclasses.replace(out, h_n=out.h_n + self.output_shift))


def test_the_forward_test_after_a_gradient_run_judges_that_runs_output():
    engine = ForwardOnTheWayEngine()
    assert run_gradient_case(engine, CASE).status == PASS and engine.builds == 1
    taken = execute_case(engine, CASE)
    assert taken.result.status == PASS and engine.forward_runs == 0  # taken, not run again
    assert taken.layer is None and engine.builds == 1  # nor built: the layers are the gradient run's
    ran = execute_case(engine, CASE)
    assert ran.result.status == PASS and engine.forward_runs == 1  # each output serves once
    assert ran.layer is not None and engine.builds == 2


def test_a_wrong_output_from_a_gradient_run_fails_the_forward_test():
    engine = ForwardOnTheWayEngine(output_shift=1e-3)
    run_gradient_case(engine, CASE)
    result = run_case(engine, CASE)
    assert result.status == FAIL and [c.tensor for c in result.failures()] == ["h_n"]


def test_forwards_of_gradient_runs_are_kept_per_engine_and_case_and_bounded():
    store = ForwardsOfGradientRuns(capacity=2)
    first, second, third = (case_by_id(i) for i in ("lstm-L1-uni-NTC-f64", "gru-L1-uni-NTC-f64", "rnn_tanh-L1-uni-NTC-f64"))
    store.keep("a", first, "a-first")
    store.keep("b", first, "b-first")
    store.keep("a", second, "a-second")  # the oldest (a, first) is dropped
    assert store.take("a", first) is None and store.take("b", second) is None
    assert store.take("b", first) == "b-first" and store.take("a", second) == "a-second"
    store.keep("a", third, "a-third")
    assert store.take("a", third) == "a-third" and store.take("a", third) is None
    store.keep("a", first, "a-first")  # a generated case may carry a matrix case's id with other sizes
    assert store.take("a", dataclasses.replace(first, steps=first.steps + 1)) is None


def test_a_recording_keeps_the_layers_of_the_gradient_run_whose_output_it_judged(tmp_path, monkeypatch):
    """``record`` differentiates first; the forward it then judges is that run's, computed by that
    run's layer (nothing else is built), so the weights it writes are that layer's."""
    import rnn_ref.golden.recording as fixtures

    engine = ForwardOnTheWayEngine()
    cases = [CASE, case_by_id("gru-L1-uni-TNC-f32")]
    monkeypatch.setattr(fixtures, "load_adapter", lambda name: engine)
    monkeypatch.setattr(fixtures, "representative_cases", lambda: cases)
    fixtures.record("fake", tmp_path / "fake")
    assert engine.forward_runs == 0 and engine.builds == len(cases)
    for case in cases:
        with np.load(tmp_path / "fake" / f"{case.id}.npz") as recorded:
            native = engine.mapping(case.spec).to_native(case.data().params)
            assert {name: recorded[fixtures.WEIGHT_PREFIX + name].tolist() for name in native} == \
                   {name: value.tolist() for name, value in native.items()}

"""The judge itself: fake engines that are wrong in one known way must be reported as failing.

These need no framework: each fake runs the NumPy reference on deliberately altered weights
or results, the way a real adapter with one convention wrong would.
"""

from __future__ import annotations

import dataclasses

import pytest
import reference_engine

from rnn_ref import Params, forward
from rnn_ref.cases.defects import COMPUTES_IN_FLOAT32, LENGTHS_IGNORED
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.state import RNNOutput
from rnn_ref.judge.runner import DEFECT_GONE, FAIL, KNOWN_DEFECT, PASS, run_case


class ReferenceEngine(reference_engine.ReferenceEngine):
    """A correct 'engine': the reference itself, behind the adapter interface."""

    name = "fake"


class SwapsInputAndForgetGates(ReferenceEngine):
    def build(self, spec, params):
        blocks = dict(params)
        for key in params:
            if key.endswith(".i"):
                blocks[key], blocks[key[:-1] + "f"] = params[key[:-1] + "f"], params[key]
        return Params(spec, blocks)


class CarriesStateIntoPaddedSteps(ReferenceEngine):
    def run(self, spec, layer, x, initial_state=None, lengths=None):
        result = super().run(spec, layer, x, initial_state, lengths)
        return RNNOutput(result.output + 1e-9, result.h_n, result.c_n)  # nothing is exactly zero any more


class ReturnsTheWrongCellState(ReferenceEngine):
    def run(self, spec, layer, x, initial_state=None, lengths=None):
        result = super().run(spec, layer, x, initial_state, lengths)
        return dataclasses.replace(result, c_n=result.c_n[::-1].copy())  # units in the wrong order


class DeclaresADefectItDoesNotHave(ReferenceEngine):
    def known_defect(self, spec, dtype, with_lengths):
        return "example: declared but not real"


CASE = case_by_id("lstm-L2-bi-NTC-h0-len-f64")


def test_the_reference_engine_passes():
    assert run_case(ReferenceEngine(), CASE).status == PASS


@pytest.mark.parametrize(
    ("engine", "tensor"),
    [
        (SwapsInputAndForgetGates(), "output"),
        (CarriesStateIntoPaddedSteps(), "output at padded steps (zeros)"),
        (ReturnsTheWrongCellState(), "c_n"),
    ],
    ids=["gate-order", "padded-steps", "state-order"],
)
def test_a_wrong_engine_fails_on_the_tensor_it_gets_wrong(engine, tensor):
    result = run_case(engine, CASE)
    assert result.status == FAIL
    assert tensor in [c.tensor for c in result.failures()]
    report = result.report()
    assert f"fake disagrees with the reference on case {CASE.id}" in report
    assert "rerun: pytest --pyargs rnn_ref.suite --engines fake -k 'test_engine_matches_reference[fake-" in report


def test_a_declared_defect_must_reproduce():
    result = run_case(DeclaresADefectItDoesNotHave(), CASE)
    assert result.status == DEFECT_GONE
    assert "now matches the reference" in result.report()


def test_a_reproduced_defect_is_a_known_defect():
    class Both(SwapsInputAndForgetGates, DeclaresADefectItDoesNotHave):
        pass

    assert run_case(Both(), CASE).status == KNOWN_DEFECT


def test_float32_engines_are_judged_with_the_float32_tolerance():
    case = case_by_id("gru-L3-bi-TNC-h0-len-f32")
    result = run_case(ReferenceEngine(), case)  # computes in float32: errors around 1e-7
    assert result.status == PASS and 0 < result.max_error < 2e-6


# --------------------------------------------------------------------------- defect signatures
class IgnoresLengths(ReferenceEngine):
    """Declares (and has) the defect of apache/mxnet#19323: lengths are silently ignored."""

    def known_defect(self, spec, dtype, with_lengths):
        return "example: lengths ignored" if with_lengths else None

    def defect_signature(self, spec, dtype, with_lengths):
        return LENGTHS_IGNORED if with_lengths else None

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return super().run(spec, layer, x, initial_state, None)


class IgnoresLengthsAndSwapsGates(IgnoresLengths, SwapsInputAndForgetGates):
    """The declared defect, and a new bug of ours on top: the same cases are wrong, differently."""


class ComputesInFloat32(ReferenceEngine):
    """Declares (and has) a float64 layer that rounds through float32."""

    def known_defect(self, spec, dtype, with_lengths):
        return "example: float64 computed in float32" if dtype == "float64" else None

    def defect_signature(self, spec, dtype, with_lengths):
        return COMPUTES_IN_FLOAT32 if dtype == "float64" else None

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        state = None if initial_state is None else type(initial_state)(*(
            None if s is None else s.astype("float32") for s in initial_state))
        result = forward(spec, layer.astype("float32"), x.astype("float32"), state, lengths, precision="input")
        return RNNOutput(*(None if t is None else t.astype("float64") for t in dataclasses.astuple(result)))


class ComputesInFloat32AndDrifts(ComputesInFloat32):
    def run(self, spec, layer, x, initial_state=None, lengths=None):
        result = super().run(spec, layer, x, initial_state, lengths)
        return dataclasses.replace(result, h_n=result.h_n + 1e-4)  # beyond float32's tolerance too


def test_a_defect_that_reproduces_its_signature_is_a_known_defect():
    assert run_case(IgnoresLengths(), CASE).status == KNOWN_DEFECT
    assert run_case(ComputesInFloat32(), CASE).status == KNOWN_DEFECT


@pytest.mark.parametrize("engine", [IgnoresLengthsAndSwapsGates(), ComputesInFloat32AndDrifts()],
                         ids=["lengths-ignored-and-gates-swapped", "float32-and-drift"])
def test_a_declared_defect_that_is_wrong_in_another_way_is_an_ordinary_failure(engine):
    result = run_case(engine, CASE)
    assert result.status == FAIL
    report = result.report()
    assert f"fake disagrees with the reference on case {CASE.id}" in report
    assert f"and not as its declared known defect ({result.reason}), which {result.signature.description}" in report
    assert any(not c.passed for c in result.signature_comparisons)



def test_a_signature_without_its_comparisons_is_refused():
    from rnn_ref.judge.runner import verdict

    wrong = run_case(SwapsInputAndForgetGates(), CASE).comparisons
    with pytest.raises(ValueError, match="a defect signature was given without the comparisons against it"):
        verdict("fake", CASE, CASE.id, wrong, "example: declared", "rerun", signature=LENGTHS_IGNORED)


# ----------------------------------------------------------------------------- runtimes run twice
class StatefulRuntime(reference_engine.ReferenceEngine):
    """A runtime whose layer continues from the last call's final state (as a fused op that keeps
    its state across invoke() calls does): right the first time, wrong the second."""

    inference_runtime = True

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        result = super().run(spec, layer, x, initial_state if not getattr(self, "last", None) else self.last,
                             lengths)
        self.last = (result.h_n, result.c_n) if result.c_n is not None else result.h_n
        return result


class StatelessRuntime(reference_engine.ReferenceEngine):
    inference_runtime = True


def test_a_runtime_runs_each_case_twice_and_one_that_keeps_state_between_calls_fails():
    assert run_case(StatelessRuntime(), CASE).status == PASS
    result = run_case(StatefulRuntime(), CASE)
    assert result.status == FAIL
    (again,) = [c for c in result.comparisons if c.tensor == "second run"]
    assert not again.passed and again.max_abs_error > 1e-3
    assert "a second run of the same layer on the same inputs gave another output" in again.problem
    assert "the runtime keeps state between calls" in result.report()


def test_a_framework_layer_is_run_once():
    """Only a runtime is asked twice: a framework's engine (inference_runtime False) keeping state
    would show in its own tests, and running every framework case twice would double the suite."""
    stateful = StatefulRuntime()
    stateful.inference_runtime = False
    assert run_case(stateful, CASE).status == PASS


def test_a_stateful_runtime_fails_even_on_a_case_declared_a_known_defect():
    class StatefulWithDefect(StatefulRuntime):
        def known_defect(self, spec, dtype, with_lengths):
            return "some declared defect (no upstream report found)"

    result = run_case(StatefulWithDefect(), CASE)
    assert result.status == FAIL and any(c.tensor == "second run" for c in result.comparisons)

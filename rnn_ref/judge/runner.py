"""Run one case on one engine and judge it against the reference: pass, fail or unsupported.

Shared by the pytest suite and ``rnn-ref check`` so both reach the same verdict. The runner
asks the adapter one question per case (``Adapter.expectation``: run it, unsupported with a
reason, or a known defect with its report and signature), then runs it across the engine
boundary (rnn_ref/judge/boundary.py: every caller that hands case data to an adapter goes
through it, ``--verify`` included) and holds each tensor to the reference
(rnn_ref/judge/tensors.py). The names of both modules are importable from here too.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients, case_cotangents
from rnn_ref.cases.defects import DefectSignature, KnownDefectReproduced
from rnn_ref.cases.matrix import Case, CaseData
from rnn_ref.core.compare import GRADIENT_TOLERANCES, TOLERANCES, Comparison, Tolerance
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput
from rnn_ref.judge.boundary import (
    EngineNotCalled,
    EngineResultError,
    bounded,
    engine_cotangents,
    engine_gradients,
    engine_inputs,
    engine_output,
    handed,
    handed_params,
    handed_state,
    not_returned,
    numeric,
)
from rnn_ref.judge.tensors import EXACT, expected_padding, judge, judge_gradients, valid_steps
from rnn_ref.oracle.backward import Gradients, backward

__all__ = [  # with the names of rnn_ref.judge.boundary and rnn_ref.judge.tensors, importable here as before
    "DEFECT_GONE", "EXACT", "FAIL", "FAILING", "FORWARDS_OF_GRADIENT_RUNS", "GRAD_SUFFIX", "KNOWN_DEFECT", "PASS",
    "UNSUPPORTED", "CaseResult", "CaseRun", "EngineNotCalled", "EngineResultError", "ForwardsOfGradientRuns",
    "GradientRun", "KnownDefectReproduced", "bounded", "engine_cotangents", "engine_gradients", "engine_inputs",
    "engine_output", "execute_case", "execute_gradient_case", "expected_output", "expected_padding",
    "gradient_rerun_command", "handed", "handed_params", "handed_state", "judge", "judge_gradients",
    "judge_signature", "not_returned", "numeric",
    "reference_gradients", "rerun_command", "run_case", "run_gradient_case", "valid_steps", "verdict",
]

PASS, FAIL, UNSUPPORTED, KNOWN_DEFECT = "pass", "fail", "unsupported", "known defect"
#: A declared known defect that did not reproduce: the engine may be fixed. A failure, so
#: that the declaration is revisited (design section 2b: known defects are strict).
DEFECT_GONE = "known defect no longer reproduces"
FAILING = (FAIL, DEFECT_GONE)



@dataclass
class CaseResult:
    """The verdict for one (engine, case), with every tensor's comparison."""

    engine: str
    case: Case
    label: str
    status: str
    comparisons: list[Comparison] = field(default_factory=list)
    reason: str | None = None
    rerun: str = ""  # the command that reruns just this case
    #: a declared defect's signature (what the engine computes instead) and the result against it
    signature: DefectSignature | None = None
    signature_comparisons: list[Comparison] = field(default_factory=list)
    tolerance: Tolerance | None = None  # the table it was judged with (None: the forward table)

    @property
    def max_error(self) -> float:
        return max((c.max_abs_error for c in self.comparisons), default=0.0)

    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    def report(self) -> str:
        """A plain-language account of a failure, ending with the command that reruns it."""
        if self.status == DEFECT_GONE:
            lines = [f"{self.engine} now matches the reference on case {self.label}, which is declared a known "
                     f"defect ({self.reason}): check the upstream fix and remove the declaration"]
        else:
            lines = [f"{self.engine} disagrees with the reference on case {self.label} ({self.case.spec}):"]
        lines += [f"  {c.describe()}" for c in self.failures()]
        if self.signature is not None and self.status == KNOWN_DEFECT:
            lines.append(f"  as declared: the result {self.signature.description}")
        if self.signature is not None and self.status == FAIL:
            lines.append(f"  and not as its declared known defect ({self.reason}), which "
                         f"{self.signature.description}:")
            lines += [f"    {c.describe()}" for c in self.signature_comparisons if not c.passed]
        if self.status != DEFECT_GONE:
            tolerance = self.tolerance or TOLERANCES[self.case.dtype]
            lines.append(f"  tolerance for {self.case.dtype}: atol={tolerance.atol:g}, rtol={tolerance.rtol:g}")
        lines.append(f"  rerun: {self.rerun}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the engine boundary


def rerun_command(engine: str, label: str) -> str:
    """The command that reruns one live case: the installed suite, so it works in any project.

    Every word is quoted for a POSIX shell (a plug-in's ``case_label`` is its own text: pasted,
    the line must run pytest and nothing else)."""
    selection = shlex.quote(f"test_engine_matches_reference[{engine}-{label}]")
    return f"pytest --pyargs rnn_ref.suite --engines {shlex.quote(engine)} -k {selection}"


@dataclass
class CaseRun:
    """A judged run and what it ran on: the case data, the native layer and the engine's output
    (all None for an unsupported case). Fixture recording keeps exactly what was judged.

    ``layer`` is None too when the output is that of the case's gradient run: the layer that
    computed it is that run's (``GradientRun.layer``), and no other was built."""

    result: CaseResult
    data: CaseData | None = None
    layer: Any = None
    output: RNNOutput | None = None


class ForwardsOfGradientRuns:
    """Forward results that gradient runs computed on the way, each kept for one forward run.

    An engine whose differentiated run computes bit for bit what ``run`` computes (it returns
    ``EngineGradients.output``) runs each case once for both tests: the forward test of a case
    whose gradient test ran first in this process takes the output from here instead of running
    the layer again. Keras's eager layers (a tf.function from ``COMPILED_FROM_STEPS`` steps) cost
    about as much forward as under tf.GradientTape, so this halves their matrix (the test suite
    schedules a case's gradient test first).
    At most ``capacity`` results are kept, the oldest dropped first; each is taken at most once.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        # keyed by the whole case, not its id: generated cases (tests/test_property.py) reuse ids
        self._outputs: dict[tuple[str, Case], RNNOutput] = {}

    def keep(self, engine: str, case: Case, output: RNNOutput) -> None:
        self._outputs.pop((engine, case), None)
        self._outputs[engine, case] = output
        while len(self._outputs) > self.capacity:
            del self._outputs[next(iter(self._outputs))]

    def take(self, engine: str, case: Case) -> RNNOutput | None:
        return self._outputs.pop((engine, case), None)


FORWARDS_OF_GRADIENT_RUNS = ForwardsOfGradientRuns()


def execute_case(adapter: Adapter, case: Case, seconds: float | None = None) -> CaseRun:
    """Build, run and judge ``case`` on ``adapter``'s engine, keeping what was run.

    The engine's output is that of this case's gradient run when one ran just before and gave
    it (``ForwardsOfGradientRuns``; then nothing is built here and ``CaseRun.layer`` is None);
    otherwise the layer is built and runs here, on its own copy of the inputs
    (``engine_inputs``). The whole case is ``bounded`` by ``seconds`` (None: the environment's
    bound or the default); one that does not finish raises ``DeadlineExceeded``.
    """
    return bounded(adapter, f"{adapter.name} on case {case.id}", seconds, _execute_case, adapter, case)


def _execute_case(adapter: Adapter, case: Case) -> CaseRun:
    label = adapter.case_label(case)
    rerun = rerun_command(adapter.name, label)
    expected_of_it = adapter.expectation(case.spec, case.dtype, case.with_lengths, with_state=case.with_state)
    if expected_of_it.unsupported is not None:
        return CaseRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=expected_of_it.unsupported,
                                  rerun=rerun))
    data = case.data()
    layer, output = None, FORWARDS_OF_GRADIENT_RUNS.take(adapter.name, case)
    if output is None:
        given = engine_inputs(data)
        layer = adapter.build(case.spec, given.params)
        output = engine_output(adapter.run(case.spec, layer, given.x, given.initial_state, given.lengths), case.spec,
                               f"{adapter.name}'s run")
    expected = expected_output(adapter, case.spec, data, layer)
    padded = adapter.padded_steps(case.spec)
    comparisons = judge(case.spec, output, expected, data.lengths, padded, TOLERANCES[case.dtype])
    defect, signature = expected_of_it.defect, expected_of_it.signature
    against_signature = None if signature is None else judge_signature(case.spec, output, data, padded, signature)
    result = verdict(adapter.name, case, label, comparisons, defect, rerun, signature=signature,
                     against_signature=against_signature)
    if layer is not None and adapter.inference_runtime:
        again = second_run(adapter, case, layer, data, output)
        if not again.passed:  # whatever else is declared of the case: a runtime must not keep state
            result = dataclasses.replace(result, status=FAIL, comparisons=[*result.comparisons, again])
    return CaseRun(result, data, layer, output)


def expected_output(adapter: Adapter, spec: RNNSpec, data: CaseData, layer: Any) -> RNNOutput:
    """What ``adapter``'s run of ``data`` is held to: ``Adapter.reference`` (the reference forward, unless the
    engine declares the reference of its quantized runtime), computed on copies of the case data."""
    given = engine_inputs(data)
    held = {} if layer is None else adapter.held_arrays(spec, layer)
    return adapter.reference(spec, given.params, given.x, given.initial_state, given.lengths, held)


def second_run(adapter: Adapter, case: Case, layer: Any, data: CaseData, first: RNNOutput) -> Comparison:
    """The layer run again on a fresh copy of the same inputs, against its first result bit for bit.

    A runtime that keeps state between calls (a fused op continuing from the last call's final
    state) gives other numbers the second time; a Comparison named ``second run`` says by how much."""
    given = engine_inputs(data)
    again = engine_output(adapter.run(case.spec, layer, given.x, given.initial_state, given.lengths), case.spec,
                          f"{adapter.name}'s second run")
    for tensor, a, b in (("output", first.output, again.output), ("h_n", first.h_n, again.h_n),
                         ("c_n", first.c_n, again.c_n)):
        if a is None and b is None:
            continue
        if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            difference = (float(np.nanmax(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                          if a is not None and b is not None and a.shape == b.shape else float("inf"))
            return Comparison("second run", difference, (), float("nan"), float("nan"), False,
                              f"a second run of the same layer on the same inputs gave another {tensor} "
                              f"(max abs difference {difference:.3g}): the runtime keeps state between calls")
    return Comparison("second run", 0.0, (), 0.0, 0.0, True)


def judge_signature(spec: RNNSpec, result: RNNOutput, data: CaseData, padded_behaviour: str,
                    signature: DefectSignature) -> list[Comparison]:
    """Compare an engine's result with what its declared defect predicts (``signature``)."""
    instead, lengths, dtype = signature.expected(spec, data.params, data.x, data.initial_state, data.lengths)
    return judge(spec, result, instead, lengths, padded_behaviour, TOLERANCES[dtype])


def run_case(adapter: Adapter, case: Case, seconds: float | None = None) -> CaseResult:
    """Build, run and judge ``case`` on ``adapter``'s engine (bounded as ``execute_case`` is)."""
    return execute_case(adapter, case, seconds).result


def verdict(engine: str, case: Case, label: str, comparisons: list[Comparison], defect: str | None,
            rerun: str, tolerance: Tolerance | None = None, *, signature: DefectSignature | None = None,
            against_signature: list[Comparison] | None = None) -> CaseResult:
    """Pass or fail from the comparisons with the reference.

    A declared defect must reproduce (else DEFECT_GONE), and reproduce as its ``signature``
    says (``against_signature``: the result compared with what the defect predicts); a case
    wrong in another way is a FAIL whose report names both. A defect declared without a
    signature (an adapter written before signatures existed) counts any wrong result.
    """
    failed = any(not c.passed for c in comparisons)
    if defect is None:
        return CaseResult(engine, case, label, FAIL if failed else PASS, comparisons, rerun=rerun, tolerance=tolerance)
    if not failed:
        status = DEFECT_GONE
    elif signature is None:
        status = KNOWN_DEFECT
    elif against_signature is None:
        raise ValueError(f"{engine} {label}: a defect signature was given without the comparisons against it")
    else:
        status = KNOWN_DEFECT if all(c.passed for c in against_signature) else FAIL
    return CaseResult(engine, case, label, status, comparisons, defect, rerun, signature, against_signature or [],
                      tolerance)


# --------------------------------------------------------------------------- gradients
GRAD_SUFFIX = "-grad"


def gradient_rerun_command(engine: str, label: str) -> str:
    """The command that reruns one live gradient case (quoted as ``rerun_command`` is)."""
    test = shlex.quote(f"tests/test_gradient_equivalence.py::test_engine_gradients_match_reference"
                       f"[{engine}-{label}{GRAD_SUFFIX}]")
    return f"pytest {test} --engines {shlex.quote(engine)}"


@dataclass
class GradientRun:
    """A judged gradient run and what it ran on (None for an unsupported case)."""

    result: CaseResult
    data: CaseData | None = None
    layer: Any = None
    cotangents: Cotangents | None = None
    gradients: EngineGradients | None = None


def reference_gradients(spec: RNNSpec, params: Params, x: np.ndarray, initial_state: Any,
                        lengths: np.ndarray | None, cotangents: Cotangents) -> Gradients:
    """The reference's gradients (float64) for the engine's inputs and cotangents."""
    return backward(spec, params, x, initial_state, lengths, grad_output=cotangents.output,
                    grad_h_n=cotangents.h_n, grad_c_n=cotangents.c_n)


def execute_gradient_case(adapter: Adapter, case: Case, seconds: float | None = None) -> GradientRun:
    """Build ``case`` on ``adapter``'s engine, differentiate it there and judge the gradients.

    The engine gets its own copies of the inputs and cotangents; the whole case is ``bounded``
    by ``seconds`` as in ``execute_case``."""
    return bounded(adapter, f"{adapter.name} on case {case.id}{GRAD_SUFFIX}", seconds, _execute_gradient_case,
                   adapter, case)


def _execute_gradient_case(adapter: Adapter, case: Case) -> GradientRun:
    label = adapter.case_label(case) + GRAD_SUFFIX
    rerun = gradient_rerun_command(adapter.name, adapter.case_label(case))
    tolerance = GRADIENT_TOLERANCES[case.dtype]
    expected_of_it = adapter.expectation(case.spec, case.dtype, case.with_lengths, gradients=True,
                                          with_state=case.with_state)
    if expected_of_it.unsupported is not None:
        return GradientRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=expected_of_it.unsupported,
                                      rerun=rerun, tolerance=tolerance))
    data = case.data()
    cotangents = case_cotangents(case)
    given = engine_inputs(data)
    layer = adapter.build(case.spec, given.params)
    got = engine_gradients(adapter.run_gradients(case.spec, layer, given.x, given.initial_state, given.lengths,
                                                 engine_cotangents(cotangents)),
                           case.spec, f"{adapter.name}'s run_gradients", data.initial_state is not None)
    if got.output is not None:
        FORWARDS_OF_GRADIENT_RUNS.keep(adapter.name, case, got.output)
    canonical = adapter.mapping(case.spec).gradients_to_params(got.native, f"{adapter.name} parameter gradients")
    expected = reference_gradients(case.spec, data.params, data.x, data.initial_state, data.lengths, cotangents)
    comparisons = judge_gradients(case.spec, got, canonical, expected, data.lengths, tolerance)
    return GradientRun(verdict(adapter.name, case, label, comparisons, expected_of_it.defect, rerun, tolerance),
                       data, layer,
                       cotangents, got)


def run_gradient_case(adapter: Adapter, case: Case, seconds: float | None = None) -> CaseResult:
    """Differentiate ``case`` on ``adapter``'s engine and judge it against the reference backward."""
    return execute_gradient_case(adapter, case, seconds).result

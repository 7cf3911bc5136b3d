"""Run one case on one engine and judge it against the reference: pass, fail or unsupported.

Shared by the pytest suite and ``rnn-ref check`` so both reach the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_ref.adapters.base import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.backward import Gradients, backward
from rnn_ref.cases import Case, CaseData
from rnn_ref.compare import GRADIENT_TOLERANCES, TOLERANCES, Comparison, Tolerance, compare
from rnn_ref.defects import DefectSignature
from rnn_ref.defects import KnownDefectReproduced as KnownDefectReproduced  # re-exported: the suite imports it here
from rnn_ref.gradients import Cotangents, EngineGradients, case_cotangents
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput, forward
from rnn_ref.spec import RNNSpec

PASS, FAIL, UNSUPPORTED, KNOWN_DEFECT = "pass", "fail", "unsupported", "known defect"
#: A declared known defect that did not reproduce: the engine may be fixed. A failure, so
#: that the declaration is revisited (design section 2b: known defects are strict).
DEFECT_GONE = "known defect no longer reproduces"
FAILING = (FAIL, DEFECT_GONE)


EXACT = Tolerance(0.0, 0.0)


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


def valid_steps(spec: RNNSpec, steps: int, batch: int, lengths: np.ndarray | None) -> np.ndarray:
    """Boolean mask broadcastable to the output (layout-aware): True where a step exists."""
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    valid = np.arange(steps)[:, None] < lengths[None, :]  # (T, N)
    return (valid if spec.layout == "TNC" else valid.T)[..., None]


def expected_padding(spec: RNNSpec, behaviour: str, reference: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """What an engine with ``behaviour`` writes at every step, given the reference output.

    PADDED_ZEROS: zeros at padded steps. PADDED_REPEAT_LAST: the output of the last valid
    step repeated (Keras's plain masked RNN).
    """
    if behaviour == PADDED_ZEROS:
        return np.zeros_like(reference)
    if behaviour == PADDED_REPEAT_LAST:
        by_time = reference if spec.layout == "TNC" else reference.transpose(1, 0, 2)
        last = by_time[np.asarray(lengths) - 1, np.arange(by_time.shape[1])]  # (N, F)
        repeated = np.broadcast_to(last, by_time.shape)
        return repeated if spec.layout == "TNC" else repeated.transpose(1, 0, 2)
    raise ValueError(f"unknown padded-step behaviour {behaviour!r}")


def judge(
    spec: RNNSpec,
    result: RNNOutput,
    expected: RNNOutput,
    lengths: np.ndarray | None,
    padded_behaviour: str,
    tolerance: Tolerance,
) -> list[Comparison]:
    """Compare every tensor of an engine's result with the reference's."""
    output_shape = np.shape(expected.output)
    steps, batch = (output_shape[0], output_shape[1]) if spec.layout == "TNC" else output_shape[1::-1]
    valid = valid_steps(spec, steps, batch, lengths)
    comparisons = [compare("output", result.output, expected.output, tolerance, where=valid)]
    if lengths is not None and comparisons[0].problem is None:
        padded_expected = expected_padding(spec, padded_behaviour, expected.output, lengths)
        padded_tolerance = EXACT if padded_behaviour == PADDED_ZEROS else tolerance
        comparisons.append(
            compare(f"output at padded steps ({padded_behaviour})", result.output, padded_expected,
                    padded_tolerance, where=~valid)
        )
    comparisons.append(compare("h_n", result.h_n, expected.h_n, tolerance))
    if spec.has_cell_state:
        comparisons.append(compare("c_n", result.c_n, expected.c_n, tolerance))
    return comparisons


def rerun_command(engine: str, label: str) -> str:
    """The command that reruns one live case: the installed suite, so it works in any project."""
    return f"pytest --pyargs rnn_ref.suite --engines {engine} -k 'test_engine_matches_reference[{engine}-{label}]'"


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


def execute_case(adapter: Adapter, case: Case) -> CaseRun:
    """Build, run and judge ``case`` on ``adapter``'s engine, keeping what was run.

    The engine's output is that of this case's gradient run when one ran just before and gave
    it (``ForwardsOfGradientRuns``; then nothing is built here and ``CaseRun.layer`` is None);
    otherwise the layer is built and runs here.
    """
    label = adapter.case_label(case)
    rerun = rerun_command(adapter.name, label)
    reason = adapter.unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return CaseRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=reason, rerun=rerun))
    data = case.data()
    layer, output = None, FORWARDS_OF_GRADIENT_RUNS.take(adapter.name, case)
    if output is None:
        layer = adapter.build(case.spec, data.params)
        output = adapter.run(case.spec, layer, data.x, data.initial_state, data.lengths)
    expected = forward(case.spec, data.params, data.x, data.initial_state, data.lengths)
    padded = adapter.padded_steps(case.spec)
    comparisons = judge(case.spec, output, expected, data.lengths, padded, TOLERANCES[case.dtype])
    defect = adapter.known_defect(case.spec, case.dtype, case.with_lengths)
    signature = None if defect is None else adapter.defect_signature(case.spec, case.dtype, case.with_lengths)
    against_signature = None if signature is None else judge_signature(case.spec, output, data, padded, signature)
    result = verdict(adapter.name, case, label, comparisons, defect, rerun, signature=signature,
                     against_signature=against_signature)
    return CaseRun(result, data, layer, output)


def judge_signature(spec: RNNSpec, result: RNNOutput, data: CaseData, padded_behaviour: str,
                    signature: DefectSignature) -> list[Comparison]:
    """Compare an engine's result with what its declared defect predicts (``signature``)."""
    instead, lengths, dtype = signature.expected(spec, data.params, data.x, data.initial_state, data.lengths)
    return judge(spec, result, instead, lengths, padded_behaviour, TOLERANCES[dtype])


def run_case(adapter: Adapter, case: Case) -> CaseResult:
    """Build, run and judge ``case`` on ``adapter``'s engine."""
    return execute_case(adapter, case).result


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


def judge_gradients(
    spec: RNNSpec,
    got: EngineGradients,
    canonical: Params,
    expected: Gradients,
    lengths: np.ndarray | None,
    tolerance: Tolerance,
) -> list[Comparison]:
    """Compare an engine's gradients (native ones already through the rows: ``canonical``) with
    the reference's: x at existing steps, x at padded steps (exactly zero), h0 and c0 where the
    engine was given initial states, and every canonical block."""
    shape = np.shape(expected.x)
    steps, batch = (shape[0], shape[1]) if spec.layout == "TNC" else shape[1::-1]
    valid = valid_steps(spec, steps, batch, lengths)
    comparisons = [compare("grad x", got.x, expected.x, tolerance, where=valid)]
    if lengths is not None and comparisons[0].problem is None:
        comparisons.append(compare("grad x at padded steps (zeros)", got.x, np.zeros_like(expected.x), EXACT,
                                   where=~valid))
    if got.h0 is not None:
        comparisons.append(compare("grad h0", got.h0, expected.h0, tolerance))
    if got.c0 is not None:
        comparisons.append(compare("grad c0", got.c0, expected.c0, tolerance))
    comparisons += [compare(f"grad {key}", canonical[key], expected.params[key], tolerance) for key in expected.params]
    return comparisons


def gradient_rerun_command(engine: str, label: str) -> str:
    """The command that reruns one live gradient case."""
    return (f"pytest 'tests/test_gradient_equivalence.py::test_engine_gradients_match_reference"
            f"[{engine}-{label}{GRAD_SUFFIX}]' --engines {engine}")


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


def execute_gradient_case(adapter: Adapter, case: Case) -> GradientRun:
    """Build ``case`` on ``adapter``'s engine, differentiate it there and judge the gradients."""
    label = adapter.case_label(case) + GRAD_SUFFIX
    rerun = gradient_rerun_command(adapter.name, adapter.case_label(case))
    tolerance = GRADIENT_TOLERANCES[case.dtype]
    reason = adapter.gradient_unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return GradientRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=reason, rerun=rerun,
                                      tolerance=tolerance))
    data = case.data()
    cotangents = case_cotangents(case)
    layer = adapter.build(case.spec, data.params)
    got = adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths, cotangents)
    if got.output is not None:
        FORWARDS_OF_GRADIENT_RUNS.keep(adapter.name, case, got.output)
    canonical = adapter.mapping(case.spec).gradients_to_params(got.native, f"{adapter.name} parameter gradients")
    expected = reference_gradients(case.spec, data.params, data.x, data.initial_state, data.lengths, cotangents)
    comparisons = judge_gradients(case.spec, got, canonical, expected, data.lengths, tolerance)
    defect = adapter.gradient_known_defect(case.spec, case.dtype, case.with_lengths)
    return GradientRun(verdict(adapter.name, case, label, comparisons, defect, rerun, tolerance), data, layer,
                       cotangents, got)


def run_gradient_case(adapter: Adapter, case: Case) -> CaseResult:
    """Differentiate ``case`` on ``adapter``'s engine and judge it against the reference backward."""
    return execute_gradient_case(adapter, case).result

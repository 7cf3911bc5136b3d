"""Run one case on one engine and judge it against the reference: pass, fail or unsupported.

Shared by the pytest suite and ``rnn-ref check`` so both reach the same verdict.

The engine boundary (design section 2f, trust): an engine is code the judge does not control,
so what crosses into it and back goes through the functions of that section below —
``engine_inputs`` and ``engine_cotangents`` (what an engine is handed is its own: nothing the
judge reads afterwards), ``bounded`` (every call bounded in time, and an engine that did not
return never called again) and ``engine_output``/``engine_gradients`` (a result the judge cannot
read fails its case with the reason). Every caller that hands case data to an adapter
(``execute_case``, ``execute_gradient_case``, the self-test's probe, the shipped suite) goes
through them; ``--verify`` hands its sides copies through ``handed`` and ``handed_state``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from rnn_ref.adapters.adapter import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients, case_cotangents
from rnn_ref.cases.defects import DefectSignature
from rnn_ref.cases.defects import (
    KnownDefectReproduced as KnownDefectReproduced,  # re-exported: the suite imports it here
)
from rnn_ref.cases.matrix import Case, CaseData
from rnn_ref.core.compare import GRADIENT_TOLERANCES, TOLERANCES, Comparison, Tolerance, compare
from rnn_ref.core.deadline import DeadlineExceeded, case_seconds, within
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.backward import Gradients, backward
from rnn_ref.oracle.forward import forward

T = TypeVar("T")

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


# --------------------------------------------------------------------------- the engine boundary
class EngineResultError(TypeError):
    """An engine returned something the judge cannot read: None, another type, a missing tensor."""


class EngineNotCalled(RuntimeError):
    """The engine did not return from an earlier call, so it is not called again."""


#: id(adapter) -> (the adapter, what did not return): engines this process no longer calls. The
#: adapter is kept so that its id is not reused by another object.
_NOT_RETURNED: dict[int, tuple[Adapter, str]] = {}


def not_returned(adapter: Adapter) -> str | None:
    """What of ``adapter``'s engine did not return in time (then it is not called again), or None."""
    entry = _NOT_RETURNED.get(id(adapter))
    return None if entry is None else entry[1]


def bounded(adapter: Adapter, what: str, seconds: float | None, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, a call into ``adapter``'s engine named ``what``, within ``seconds``.

    ``seconds`` None takes ``deadline.case_seconds()`` (``RNN_REF_CASE_TIMEOUT``, else the default:
    so the pytest suite, which passes no bound, gets the one from the environment); 0 means no
    bound. Past the bound it raises ``DeadlineExceeded`` naming ``what``, and the engine is
    marked: its call may still be running in its thread, holding whatever state the framework
    has, so every later call raises ``EngineNotCalled`` at once, without calling it.
    """
    why = not_returned(adapter)
    if why is not None:
        raise EngineNotCalled(f"{adapter.name} is not called again: {why}")
    try:
        return within(case_seconds() if seconds is None else seconds, what, function, *args)
    except DeadlineExceeded as error:
        _NOT_RETURNED[id(adapter)] = (adapter, f"{error.what} did not return within {error.seconds:g} s")
        raise


def handed(array: np.ndarray | None) -> np.ndarray | None:
    """A copy of ``array`` for an engine (None stays None)."""
    return None if array is None else np.array(array)


def handed_state(state: State | None) -> State | None:
    """Copies of an initial state's arrays for an engine (None stays None)."""
    return None if state is None else State(handed(state.h), handed(state.c))


def handed_params(params: Params) -> Params:
    """Read-only copies of ``params``' blocks, in memory of their own (``Params`` would share them)."""
    copies = {key: np.array(block) for key, block in params.items()}
    for block in copies.values():
        block.setflags(write=False)
    return Params(params.spec, copies)


def engine_inputs(data: CaseData) -> CaseData:
    """What an engine is handed of ``data``: its own x, initial state and lengths, and the params.

    The judge reads ``data`` afterwards (the reference, a defect's signature, the recorded
    fixture), so an engine that writes into what it was given (``x[...] = 0``) must be judged on
    what it computed from that, never make the reference compute the same. x, the states and the
    lengths are writable copies rather than read-only views because frameworks' zero-copy paths
    take NumPy arrays as writable memory: ``torch.from_numpy`` warns on a read-only array ("writing
    to this tensor will result in undefined behavior"), and the torch adapters use it for x and
    the states. A copy costs one small allocation per case and leaves every engine's path as it
    was. The params are copies too, read-only ones (``Params`` blocks): an engine that writes into
    its weights raises where it does, and one that turns the flag off first (``setflags``, or C
    code writing through the buffer) writes into its own copy, never the judge's.
    """
    return CaseData(handed_params(data.params), handed(data.x), handed_state(data.initial_state), handed(data.lengths))


def engine_cotangents(cotangents: Cotangents) -> Cotangents:
    """The engine's own copy of the cotangents (the reference's backward reads them afterwards)."""
    return Cotangents(handed(cotangents.output), handed(cotangents.h_n), handed(cotangents.c_n))


def numeric(value: Any, name: str, who: str) -> np.ndarray:
    """``value`` as a NumPy array of numbers, or ``EngineResultError`` naming ``who`` and ``name``."""
    try:
        array = np.asarray(value)
    except Exception as error:  # a framework tensor that refuses (a torch tensor that requires grad)
        raise EngineResultError(f"{who} returned {name} as a {type(value).__name__}, which does not convert to "
                                f"an array ({type(error).__name__}: {error})") from None
    if array.dtype.kind not in "biuf":
        raise EngineResultError(f"{who} returned {name} as a {type(value).__name__}, not a numeric array")
    return array


def engine_output(result: Any, spec: RNNSpec, who: str) -> RNNOutput:
    """``result`` (what ``who``, e.g. ``"torch's run"``, returned) as an RNNOutput of NumPy arrays.

    An RNNOutput-like result has ``output`` and ``h_n``, and ``c_n`` for an LSTM (for other modes
    c_n is dropped: there is no cell state to judge). Anything else raises ``EngineResultError``
    with the reason, which fails the case everywhere (check, pytest, selftest, --verify).
    """
    if not (hasattr(result, "output") and hasattr(result, "h_n")):
        raise EngineResultError(f"{who} returned {'None' if result is None else 'a ' + type(result).__name__}, "
                                "not an RNNOutput (output, h_n, c_n)")
    c_n = getattr(result, "c_n", None)
    if spec.has_cell_state and c_n is None:
        raise EngineResultError(f"{who} returned no c_n (None) for an LSTM")
    return RNNOutput(numeric(result.output, "output", who), numeric(result.h_n, "h_n", who),
                     numeric(c_n, "c_n", who) if spec.has_cell_state else None)


def engine_gradients(got: Any, spec: RNNSpec, who: str, given_state: bool) -> EngineGradients:
    """``got`` (what ``who`` returned) as EngineGradients of NumPy arrays, or ``EngineResultError``.

    It needs ``x``, ``h0`` and ``c0`` and ``native`` (a mapping: its names and shapes are checked
    by the mapping's ``gradients_to_params``). Where the case gave an initial state
    (``given_state``), h0 (and c0 for an LSTM) must be arrays: None would leave them unjudged.
    ``output``, when given, is read as ``engine_output`` reads ``run``'s result.
    """
    if not all(hasattr(got, name) for name in ("x", "h0", "c0", "native")):
        raise EngineResultError(f"{who} returned {'None' if got is None else 'a ' + type(got).__name__}, "
                                "not an EngineGradients (x, h0, c0, native)")
    for name in ("h0", "c0") if spec.has_cell_state else ("h0",):
        if given_state and getattr(got, name) is None:
            raise EngineResultError(f"{who} returned no {name} gradient (None) for a case with an initial state")
    if not isinstance(got.native, Mapping):
        raise EngineResultError(f"{who} returned native as a {type(got.native).__name__}, not a mapping of "
                                "native parameter names to gradients")
    output = getattr(got, "output", None)
    return EngineGradients(
        numeric(got.x, "x", who),
        None if got.h0 is None else numeric(got.h0, "h0", who),
        None if got.c0 is None else numeric(got.c0, "c0", who),
        dict(got.native),
        None if output is None else engine_output(output, spec, f"{who} (its output)"),
    )


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
    reason = adapter.unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return CaseRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=reason, rerun=rerun))
    data = case.data()
    layer, output = None, FORWARDS_OF_GRADIENT_RUNS.take(adapter.name, case)
    if output is None:
        given = engine_inputs(data)
        layer = adapter.build(case.spec, given.params)
        output = engine_output(adapter.run(case.spec, layer, given.x, given.initial_state, given.lengths), case.spec,
                               f"{adapter.name}'s run")
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
    reason = adapter.gradient_unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return GradientRun(CaseResult(adapter.name, case, label, UNSUPPORTED, reason=reason, rerun=rerun,
                                      tolerance=tolerance))
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
    defect = adapter.gradient_known_defect(case.spec, case.dtype, case.with_lengths)
    return GradientRun(verdict(adapter.name, case, label, comparisons, defect, rerun, tolerance), data, layer,
                       cotangents, got)


def run_gradient_case(adapter: Adapter, case: Case, seconds: float | None = None) -> CaseResult:
    """Differentiate ``case`` on ``adapter``'s engine and judge it against the reference backward."""
    return execute_gradient_case(adapter, case, seconds).result

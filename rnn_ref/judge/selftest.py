"""``rnn-ref selftest``: proof, per engine, that the suite catches a wrong weight mapping.

A suite is worth the bugs it catches. Because an adapter's weight mapping is data, a seeded
bug needs no source edit: each **row mutation** changes the engine's own rows the way
a slip in an adapter would, and each **boundary mutation** changes what crosses the adapter's
``run``. Every mutation then runs on a small fixed set of cases, judged exactly as the test
suite judges them (``runner.judge`` with the one tolerance table, plus the round trip
``extract(build(params))`` against the canonical one-bias fold written out by hand), and it
must fail on at least one. A mutation that passes every case has *survived*: the suite would
not notice that bug on that engine.

The mutations, row mutations on the engine's mapping rows (``swap-gates(KIND)``,
``toggle-transpose``, ``swap-directions``, ``swap-layers``, ``drop-summand``, ``bias-in-b_hh``)
and boundary mutations on what crosses ``run`` (the state order in and out, a reshape for a
layout transpose), are rnn_ref.judge.mutations'.

On a differentiable engine the row mutations run a second time on the gradient side
(rnn_ref/judge/gradient_selftest.py, rows ``gradients: …``): seeded into the rows that bring
its native gradients back to canonical blocks, the layer differentiated with the true rows.

The mutated rows reach the engine through the public Adapter API alone — ``build`` gets the
canonical params that the true rows turn into the mutated native arrays, ``native_arrays``
is read back through the mutated rows — so plug-in engines are checked the same way. The
engine boundary is the runner's (rnn_ref/judge/runner.py): the engine runs on its own copies of the
inputs, each probe is bounded in time (``--case-timeout``, ``RNN_REF_CASE_TIMEOUT``), and an
engine that hangs, raises outside a case or returns what the judge cannot read fails the
self-test with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case, all_cases, case_by_id
from rnn_ref.core.compare import TOLERANCES
from rnn_ref.core.deadline import DeadlineExceeded
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.judge.gradient_selftest import (
    GRADIENT_PREFIX,
    Differentiated,
    applies_to_gradients,
    differentiated,
    failed_gradients,
    gradient_cases,
    gradient_mutations,
)
from rnn_ref.judge.mutations import (  # noqa: F401 - re-exported: the mutations' old home
    MUTATIONS,
    Mutation,
    applies,
    bias_in_b_hh,
    drop_summand,
    key_parts,
    one_bias_rows,
    rename_keys,
    reshaped_layout,
    reverse_final_states,
    reversed_state,
    state_units,
    swap_directions,
    swap_gates,
    swap_layers,
    toggle_transpose,
    with_rows,
)
from rnn_ref.judge.runner import (
    GRAD_SUFFIX,
    EngineNotCalled,
    bounded,
    engine_inputs,
    engine_output,
    expected_output,
    judge,
)

#: The fixed cases, in the order they are tried; an engine uses those it runs without a limit or
#: a declared defect. Together they hold every mutation's precondition on every built-in engine:
#: gates, a square w_hh, two directions, three layers, initial states, lengths with padded steps,
#: T != N, both dtypes, and a one-bias mode for Keras. The last three are for engines that run
#: less (no bidirectional layer, one dtype, plain RNN only): a mutation tries them only when the
#: cases before have not caught it.
SELFTEST_CASES = (
    "lstm-L2-bi-NTC-h0-lenshort-f64",
    "gru-L3-bi-TNC-h0-len-f32",
    "lstm-L3-bi-TNC-h0-f32",
    "gru-L2-bi-NTC-h0-f64",
    "rnn_tanh-L2-bi-NTC-h0-len-f64",
    "lstm-L2-uni-NTC-h0-lenshort-f32",
    "gru-L2-uni-TNC-h0-len-f64",
    "rnn_tanh-L1-uni-TNC-f32",
)

CAUGHT, SURVIVED, NOT_APPLICABLE = "caught", "survived", "n/a"


# --------------------------------------------------------------------------- probing
def folded_by_hand(params: Params, mapping: WeightMapping) -> Params:
    """The canonical params an engine gives back: for every gate whose biases share one native
    region (a ``sum`` row), ``b_ih + b_hh`` in ``b_ih`` and zeros in ``b_hh`` (design section 2)."""
    blocks = dict(params)
    for row in mapping.rows:
        if row.combine == "sum":
            (b_ih,) = [key for key in row.canonical if ".b_ih." in key]
            # the unpacking above found a key, so the sum is an array, never the start 0
            blocks[b_ih] = cast(np.ndarray, sum(params[key] for key in row.canonical))
            blocks.update({key: np.zeros_like(params[key]) for key in row.canonical if key != b_ih})
    return Params(params.spec, blocks)


def probe(adapter: Adapter, case: Case, mutation: Mutation | None = None) -> str | None:
    """Run ``case`` on ``adapter`` with ``mutation`` seeded (it must apply: see ``applies``);
    what failed (the tensors, the round trip or the error), or None when everything passed.

    The engine runs on its own copies of the inputs (``runner.engine_inputs``); the reference
    computes from ``data``, which the engine never saw."""
    data = case.data()
    spec = case.spec
    given = engine_inputs(data)
    x, state = given.x, given.initial_state
    if mutation and mutation.before:
        x, state = mutation.before(x, state)
    try:
        mapping = adapter.mapping(spec)
        seeded = mutation.rows(mapping) if mutation and mutation.rows else mapping
        if seeded is None:  # rows that do not apply (see ``applies``): the error seeded.to_native raised
            raise AttributeError("'NoneType' object has no attribute 'to_native'")
        # the true rows turn these params into exactly the mutated rows' native arrays
        layer = adapter.build(spec, mapping.to_params(seeded.to_native(given.params)))
        result = engine_output(adapter.run(spec, layer, x, state, given.lengths), spec, f"{adapter.name}'s run")
        native = adapter.native_arrays(spec, layer)
    except Exception as error:  # a crash is caught too: the suite would report it
        return f"error: {first_line(error)}"
    if mutation and mutation.after:
        result = mutation.after(result)
    expected = expected_output(adapter, spec, data, layer)
    failed = [c.tensor for c in judge(spec, result, expected, data.lengths, adapter.padded_steps(spec),
                                      TOLERANCES[case.dtype]) if not c.passed]
    if failed:
        return ", ".join(failed)
    try:
        extracted = seeded.to_params(native)  # what extract() gives back through these rows
    except Exception as error:
        return f"round trip: {first_line(error)}"
    folded = folded_by_hand(data.params, mapping)
    differ = [key for key in folded if not np.array_equal(extracted[key], folded[key])]
    return f"round trip ({differ[0]})" if differ else None


def first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"



@dataclass
class MutationResult:
    engine: str
    mutation: str
    status: str  # CAUGHT, SURVIVED or NOT_APPLICABLE
    case: str = ""  # the case that caught it
    detail: str = ""  # what failed, or why nothing applies

    def describe(self) -> str:
        if self.status == CAUGHT:
            return f"caught by {self.case} ({self.detail})"
        if self.status == SURVIVED:
            return f"SURVIVED every case ({self.detail})"
        return f"n/a ({self.detail})"


@dataclass
class EngineSelfTest:
    engine: str
    cases: list[str]
    baseline_failures: list[str] = field(default_factory=list)
    results: list[MutationResult] = field(default_factory=list)
    seconds: float = 0.0
    #: why the engine runs no case of the whole matrix (then no mutation can apply), else None
    runs_nothing: str | None = None
    #: why the self-test stopped (a probe that did not return, a plug-in method that raised), else None
    problem: str | None = None


def usable_cases(adapter: Adapter, case_ids: Sequence[str]) -> list[Case]:
    """The cases the engine runs without a declared limit or defect (their verdict is plain pass/fail)."""
    cases = [case_by_id(case_id) for case_id in case_ids]
    return [c for c in cases if adapter.unsupported_reason(c.spec, c.dtype, c.with_lengths) is None
            and adapter.known_defect(c.spec, c.dtype, c.with_lengths) is None
            and not (c.with_state and adapter.defect_with_state(c.spec, c.dtype, c.with_lengths))]


def selftest_engine(adapter: Adapter, case_ids: Sequence[str] = SELFTEST_CASES,
                    mutations: Sequence[Mutation] = MUTATIONS, seconds: float | None = None) -> EngineSelfTest:
    """Every mutation on ``adapter``'s engine: caught by which case, survived, or not applicable.

    The unmutated engine must pass each case before a mutation runs on it (else a failure
    would mean nothing); a case that does not stops the self-test (``baseline_failures``).
    Each probe is bounded by ``seconds`` (None: ``RNN_REF_CASE_TIMEOUT`` or the default). A
    probe that does not return, or a plug-in method that raises outside a probe (``mapping``,
    ``unsupported_reason``), stops the self-test with the reason (``problem``); an engine that
    did not return is not called again.
    """
    start = time.perf_counter()
    report = EngineSelfTest(adapter.name, [])
    try:
        run_mutations(adapter, case_ids, mutations, seconds, report)
    except DeadlineExceeded as error:
        report.problem = f"{error}; it is not called again"
    except EngineNotCalled as error:
        report.problem = str(error)
    except Exception as error:  # plug-in code outside a probe: its failure, not a traceback
        report.problem = first_line(error)
    report.seconds = time.perf_counter() - start
    return report


def run_mutations(adapter: Adapter, case_ids: Sequence[str], mutations: Sequence[Mutation], seconds: float | None,
                  report: EngineSelfTest) -> None:
    """``selftest_engine``'s loop: fills ``report`` (each probe ``bounded`` by ``seconds``)."""
    cases = usable_cases(adapter, case_ids)
    report.cases = [c.id for c in cases]

    def probed(case: Case, mutation: Mutation | None = None) -> str | None:
        return bounded(adapter, f"{adapter.name} on case {case.id}", seconds, probe, adapter, case, mutation)

    if not cases:
        reasons = {adapter.unsupported_reason(c.spec, c.dtype, c.with_lengths) for c in all_cases()}
        if None not in reasons:  # an engine that runs nothing at all (onnx2torch): nothing to mutate
            report.runs_nothing = "; ".join(sorted(r for r in reasons if r is not None))  # (none is)
            return
        report.baseline_failures.append(f"no case of {list(case_ids)} runs on {adapter.name} without a limit or defect")
    baseline: dict[str, str | None] = {}  # case id -> what fails unmutated; each case runs once, when first used

    def passes_unmutated(case: Case) -> bool:
        if case.id not in baseline:
            baseline[case.id] = probed(case)
            if baseline[case.id] is not None:
                report.baseline_failures.append(f"{case.id}: {baseline[case.id]}")
        return baseline[case.id] is None

    for mutation in mutations:
        nothing = "nothing in the engine's rows to change" if mutation.rows else "no selftest case has what it changes"
        result = MutationResult(adapter.name, mutation.name, NOT_APPLICABLE, detail=nothing)
        tried = []
        for case in cases:
            if not applies(mutation, adapter, case) or not passes_unmutated(case):
                continue
            tried.append(case.id)
            failed = probed(case, mutation)
            if failed is not None:
                result = MutationResult(adapter.name, mutation.name, CAUGHT, case.id, failed)
                break
        else:
            if tried:
                result = MutationResult(adapter.name, mutation.name, SURVIVED, detail=", ".join(tried))
        if report.baseline_failures:
            break
        report.results.append(result)
    if adapter.differentiable and not report.baseline_failures:
        run_gradient_mutations(adapter, case_ids, mutations, seconds, report)


def run_gradient_mutations(adapter: Adapter, case_ids: Sequence[str], mutations: Sequence[Mutation],
                           seconds: float | None, report: EngineSelfTest) -> None:
    """The gradient side (rnn_ref/judge/gradient_selftest.py): every row mutation seeded into the rows
    that bring the gradients back, each case differentiated once, when first needed."""
    cases = gradient_cases(adapter, case_ids)
    runs: dict[str, Differentiated] = {}

    def run_of(case: Case) -> Differentiated | None:
        """The case differentiated, if it passes unmutated (else a baseline failure)."""
        if case.id not in runs:
            runs[case.id] = differentiated(adapter, case, seconds)
            if runs[case.id].expected is None:
                report.baseline_failures.append(f"{case.id}{GRAD_SUFFIX}: {runs[case.id].run.result.report()}")
        return runs[case.id] if runs[case.id].expected is not None else None

    for mutation in gradient_mutations(mutations):
        name = GRADIENT_PREFIX + mutation.name
        changes_rows = any(mutation.rows is not None and mutation.rows(adapter.mapping(c.spec)) is not None
                           for c in cases)
        detail = ("the engine differentiates no selftest case without a limit or defect" if not cases else
                  "it brings the gradients back unchanged on every case the engine differentiates" if changes_rows
                  else "nothing in the engine's rows to change")
        result = MutationResult(adapter.name, name, NOT_APPLICABLE, detail=detail)
        tried = []
        for case in cases:
            if not applies_to_gradients(mutation, adapter, case):
                continue
            run = run_of(case)
            if run is None:
                return
            tried.append(case.id + GRAD_SUFFIX)
            failed = failed_gradients(adapter, run, mutation)
            if failed is not None:
                result = MutationResult(adapter.name, name, CAUGHT, case.id + GRAD_SUFFIX, failed)
                break
        else:
            if tried:
                result = MutationResult(adapter.name, name, SURVIVED, detail=", ".join(tried))
        report.results.append(result)


def render(reports: Sequence[EngineSelfTest]) -> str:
    """engine × mutation -> caught by which case; the last line ``N/N mutations caught``."""
    lines = []
    width = max((len(r.mutation) for report in reports for r in report.results), default=10)
    engine_width = max((len(report.engine) for report in reports), default=6)
    for report in reports:
        if report.problem:
            lines.append(f"{report.engine:<{engine_width}}  could not be self-tested: {report.problem}")
            continue
        if report.runs_nothing:
            lines.append(f"{report.engine:<{engine_width}}  runs no case of the matrix, so no mutation applies: "
                         f"{report.runs_nothing}")
            continue
        if report.baseline_failures:
            lines.append(f"{report.engine:<{engine_width}}  BASELINE FAILS (fix the engine first):")
            lines += [f"{'':<{engine_width}}    {failure}" for failure in report.baseline_failures]
            continue
        for result in report.results:
            lines.append(f"{report.engine:<{engine_width}}  {result.mutation:<{width}}  {result.describe()}")
        lines.append(f"{report.engine:<{engine_width}}  ({len(report.cases)} cases, {report.seconds:.1f} s)")
    applicable = [r for report in reports for r in report.results if r.status != NOT_APPLICABLE]
    caught = sum(r.status == CAUGHT for r in applicable)
    lines.append(f"{caught}/{len(applicable)} mutations caught")
    return "\n".join(lines)


def passed(reports: Sequence[EngineSelfTest]) -> bool:
    return all(not report.problem and not report.baseline_failures and all(r.status != SURVIVED for r in report.results)
               for report in reports)


def selftest_named(engine: str, seconds: float | None = None) -> EngineSelfTest:
    """``selftest_engine`` of the engine registered as ``engine``; one that does not load fails with the reason."""
    from rnn_ref.adapters import load_adapter

    try:
        adapter = load_adapter(engine)
    except Exception as error:  # a plug-in whose module or class does not load
        return EngineSelfTest(engine, [], problem=first_line(error))
    return selftest_engine(adapter, seconds=seconds)


def main(engines: Sequence[str], seconds: float | None = None) -> int:
    """``rnn-ref selftest --engines …``: print the table; 0 when every mutation is caught, else 1.

    ``engines`` are registry names (built-in or plug-in) whose framework is installed; each
    probe is bounded by ``seconds`` (None: ``RNN_REF_CASE_TIMEOUT`` or the default).
    """
    reports = [selftest_named(engine, seconds) for engine in engines]
    print(render(reports))
    return 0 if passed(reports) else 1

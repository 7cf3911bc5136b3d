"""``rnn-ref selftest``: proof, per engine, that the suite catches a wrong weight mapping.

A suite is worth the bugs it catches. Because an adapter's weight mapping is data, a seeded
bug needs no source edit: each **row mutation** below changes the engine's own rows the way
a slip in an adapter would, and each **boundary mutation** changes what crosses the adapter's
``run``. Every mutation then runs on a small fixed set of cases, judged exactly as the test
suite judges them (``runner.judge`` with the one tolerance table, plus the round trip
``extract(build(params))`` against the canonical one-bias fold written out by hand), and it
must fail on at least one. A mutation that passes every case has *survived*: the suite would
not notice that bug on that engine.

Row mutations (on the rows of the unit ``l0.fwd`` unless said otherwise):

* ``swap-gates(KIND)``: the canonical keys of the first two gates of one kind (w_ih, w_hh,
  b_ih, b_hh) exchanged — a wrong gate order;
* ``toggle-transpose``: the first row whose block is square read transposed (or, if the row
  transposes, not) — a forgotten or extra ``.T``;
* ``swap-directions``: layer 0's forward and backward blocks exchanged;
* ``swap-layers``: the last two layers' blocks exchanged where their shapes agree;
* ``drop-summand``: a one-bias row (``b_ih + b_hh``) that forgets its second summand;
* ``bias-in-b_hh``: a one-bias engine's bias imported into ``b_hh`` instead of ``b_ih``.

Boundary mutations: ``reverse-initial-state-order`` and ``reverse-final-state-order`` (units
l0.fwd, l0.bwd, … reversed on the way in or out), ``input-layout-reshaped`` and
``output-layout-reshaped`` (a reshape where a transpose between TNC and NTC was meant).

The mutated rows reach the engine through the public Adapter API alone — ``build`` gets the
canonical params that the true rows turn into the mutated native arrays, ``native_arrays``
is read back through the mutated rows — so plug-in engines are checked the same way. The
engine boundary is the runner's (rnn_ref/judge/runner.py): the engine runs on its own copies of the
inputs, each probe is bounded in time (``--case-timeout``, ``RNN_REF_CASE_TIMEOUT``), and an
engine that hangs, raises outside a case or returns what the judge cannot read fails the
self-test with the reason.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case, all_cases, case_by_id
from rnn_ref.core.compare import TOLERANCES
from rnn_ref.core.deadline import DeadlineExceeded
from rnn_ref.core.mapping import MappingRow, WeightMapping
from rnn_ref.core.params import Params, expected_shapes
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.judge.runner import EngineNotCalled, bounded, engine_inputs, engine_output, judge
from rnn_ref.oracle.forward import forward

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


# --------------------------------------------------------------------------- row mutations
def key_parts(key: str) -> tuple[str, str, str, str]:
    """``'l0.fwd.w_ih.i'`` -> ``('l0', 'fwd', 'w_ih', 'i')``; ``'l0.fwd.w_proj'`` -> (…, 'w_proj', '')."""
    layer, direction, kind, *gate = key.split(".")
    return layer, direction, kind, gate[0] if gate else ""


def with_rows(mapping: WeightMapping, rows: Sequence[MappingRow]) -> WeightMapping:
    return dataclasses.replace(mapping, rows=tuple(rows))


def rename_keys(mapping: WeightMapping, rename: Callable[[str], str]) -> WeightMapping | None:
    """Every row's canonical keys passed through ``rename``; None when nothing changes."""
    rows = [dataclasses.replace(row, canonical=tuple(rename(k) for k in row.canonical)) for row in mapping.rows]
    return None if tuple(rows) == mapping.rows else with_rows(mapping, rows)


def swap_gates(kind: str) -> Callable[[WeightMapping], WeightMapping | None]:
    def mutate(mapping: WeightMapping) -> WeightMapping | None:
        found = [i for i, row in enumerate(mapping.rows)
                 if key_parts(row.canonical[0])[:3] == ("l0", "fwd", kind)]
        if len(found) < 2:
            return None
        rows = list(mapping.rows)
        first, second = found[:2]
        rows[first] = dataclasses.replace(rows[first], canonical=mapping.rows[second].canonical)
        rows[second] = dataclasses.replace(rows[second], canonical=mapping.rows[first].canonical)
        return with_rows(mapping, rows)

    return mutate


def toggle_transpose(mapping: WeightMapping) -> WeightMapping | None:
    shapes = expected_shapes(mapping.spec)
    for index, row in enumerate(mapping.rows):
        shape = shapes[row.canonical[0]]
        if len(shape) == 2 and shape[0] == shape[1]:
            rows = list(mapping.rows)
            rows[index] = dataclasses.replace(row, transpose=not row.transpose)
            return with_rows(mapping, rows)
    return None


def swap_directions(mapping: WeightMapping) -> WeightMapping | None:
    if not mapping.spec.bidirectional:
        return None
    swapped = {"l0.fwd.": "l0.bwd.", "l0.bwd.": "l0.fwd."}
    return rename_keys(mapping, lambda key: swapped.get(key[:7], key[:7]) + key[7:])


def swap_layers(mapping: WeightMapping) -> WeightMapping | None:
    layers = mapping.spec.num_layers
    if layers < 2:
        return None
    a, b = f"l{layers - 2}", f"l{layers - 1}"
    shapes = expected_shapes(mapping.spec)

    def rename(key: str) -> str:
        layer, rest = key.split(".", 1)
        other = {a: b, b: a}.get(layer)
        if other is None or shapes.get(f"{other}.{rest}") != shapes[key]:
            return key
        return f"{other}.{rest}"

    return rename_keys(mapping, rename)


def one_bias_rows(mapping: WeightMapping) -> list[int]:
    return [i for i, row in enumerate(mapping.rows) if row.combine == "sum"]


def drop_summand(mapping: WeightMapping) -> WeightMapping | None:
    found = one_bias_rows(mapping)
    if not found:
        return None
    rows = list(mapping.rows)
    rows[found[0]] = dataclasses.replace(rows[found[0]], canonical=rows[found[0]].canonical[:1])
    return with_rows(mapping, rows)


def bias_in_b_hh(mapping: WeightMapping) -> WeightMapping | None:
    """Import a one-bias region into b_hh (and zeros into b_ih): the first key is where it goes."""
    found = one_bias_rows(mapping)
    if not found:
        return None
    rows = list(mapping.rows)
    for index in found:
        rows[index] = dataclasses.replace(rows[index], canonical=tuple(reversed(rows[index].canonical)))
    return with_rows(mapping, rows)


# --------------------------------------------------------------------------- boundary mutations
def reshaped_layout(array: np.ndarray) -> np.ndarray:
    """What ``a.reshape(a.shape)`` of the TNC<->NTC transpose gives: the right shape, scrambled steps."""
    return np.ascontiguousarray(array.transpose(1, 0, 2)).reshape(array.shape)


def reversed_state(state: State | None) -> State | None:
    if state is None:
        return None
    return State(state.h[::-1].copy(), None if state.c is None else state.c[::-1].copy())


def state_units(case: Case) -> int:
    return case.spec.num_layers * case.spec.num_directions


@dataclass(frozen=True)
class Mutation:
    """One seeded bug: rows changed (``rows``; None where a mapping has nothing to change), or what
    crosses ``run`` changed (``before`` on x and the initial state, ``after`` on the result) on
    the cases where ``needs`` holds."""

    name: str
    rows: Callable[[WeightMapping], WeightMapping | None] | None = None
    before: Callable[[np.ndarray, State | None], tuple[np.ndarray, State | None]] | None = None
    after: Callable[[RNNOutput], RNNOutput] | None = None
    needs: Callable[[Case], bool] = lambda case: True


def reverse_final_states(result: RNNOutput) -> RNNOutput:
    flipped = reversed_state(State(result.h_n, result.c_n))
    return RNNOutput(result.output, flipped.h, flipped.c)


MUTATIONS: tuple[Mutation, ...] = (
    *(Mutation(f"swap-gates({kind})", rows=swap_gates(kind)) for kind in ("w_ih", "w_hh", "b_ih", "b_hh")),
    Mutation("toggle-transpose", rows=toggle_transpose),
    Mutation("swap-directions", rows=swap_directions),
    Mutation("swap-layers", rows=swap_layers),
    Mutation("drop-summand", rows=drop_summand),
    Mutation("bias-in-b_hh", rows=bias_in_b_hh),
    Mutation("reverse-initial-state-order", before=lambda x, state: (x, reversed_state(state)),
             needs=lambda case: case.with_state and state_units(case) >= 2),
    Mutation("reverse-final-state-order", after=reverse_final_states, needs=lambda case: state_units(case) >= 2),
    Mutation("input-layout-reshaped", before=lambda x, state: (reshaped_layout(x), state),
             needs=lambda case: case.steps != case.batch),
    Mutation("output-layout-reshaped", after=lambda r: dataclasses.replace(r, output=reshaped_layout(r.output)),
             needs=lambda case: case.steps != case.batch),
)


# --------------------------------------------------------------------------- probing
def folded_by_hand(params: Params, mapping: WeightMapping) -> Params:
    """The canonical params an engine gives back: for every gate whose biases share one native
    region (a ``sum`` row), ``b_ih + b_hh`` in ``b_ih`` and zeros in ``b_hh`` (design section 2)."""
    blocks = dict(params)
    for row in mapping.rows:
        if row.combine == "sum":
            (b_ih,) = [key for key in row.canonical if ".b_ih." in key]
            blocks[b_ih] = sum(params[key] for key in row.canonical)
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
        # the true rows turn these params into exactly the mutated rows' native arrays
        layer = adapter.build(spec, mapping.to_params(seeded.to_native(given.params)))
        result = engine_output(adapter.run(spec, layer, x, state, given.lengths), spec, f"{adapter.name}'s run")
        native = adapter.native_arrays(spec, layer)
    except Exception as error:  # a crash is caught too: the suite would report it
        return f"error: {first_line(error)}"
    if mutation and mutation.after:
        result = mutation.after(result)
    expected = forward(spec, data.params, data.x, data.initial_state, data.lengths)
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


def applies(mutation: Mutation, adapter: Adapter, case: Case) -> bool:
    """Whether ``mutation`` changes anything on ``case`` (else running it proves nothing)."""
    return mutation.needs(case) and (mutation.rows is None or mutation.rows(adapter.mapping(case.spec)) is not None)


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
            and adapter.known_defect(c.spec, c.dtype, c.with_lengths) is None]


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
            report.runs_nothing = "; ".join(sorted(reasons))
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

"""The gradient side of ``rnn-ref selftest``: a gradient brought back through a wrong row.

A differentiable engine's native parameter gradients reach the canonical blocks through the
very rows its weights go in by (``WeightMapping.gradients_to_params``: the chain rule through
``to_native``). So each row mutation of rnn_ref.judge.mutations (gate swaps, a transpose
dropped or added, directions or layers swapped, a one-bias fold that forgets a summand or
lands in ``b_hh``) is seeded a second time, into the rows that bring the gradients back, while
the layer is built, run and differentiated with the true rows: the gradient judge of the test
suite (``judge_gradients`` with ``GRADIENT_TOLERANCES``) must fail on at least one case. A
mutation that brings every gradient back unchanged (``changes_gradients``: ``bias-in-b_hh``, as a
one-bias row gives each summand the whole region) is not applicable there, and says so.

The engine differentiates each case once (``execute_gradient_case``, bounded in time like
every probe) and every mutation re-reads those gradients, so the gradient side costs one
gradient run per case tried. The cases are the self-test's own (``SELFTEST_CASES``), those
the engine differentiates without a limit or a declared defect, each first judged unmutated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case, case_by_id
from rnn_ref.core.compare import GRADIENT_TOLERANCES
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.judge.mutations import MUTATIONS, Mutation
from rnn_ref.judge.runner import PASS, GradientRun, execute_gradient_case, judge_gradients, reference_gradients
from rnn_ref.oracle.backward import Gradients

#: What names a gradient mutation in the self-test's table: ``gradients: swap-gates(w_ih)``.
GRADIENT_PREFIX = "gradients: "


def gradient_mutations(mutations: Sequence[Mutation] = MUTATIONS) -> list[Mutation]:
    """The row mutations, which the gradient side seeds into the rows that bring gradients back."""
    return [mutation for mutation in mutations if mutation.rows is not None]


def gradient_cases(adapter: Adapter, case_ids: Sequence[str]) -> list[Case]:
    """The cases ``adapter`` differentiates without a limit or a declared defect."""
    cases = [case_by_id(case_id) for case_id in case_ids]
    expected = {c: adapter.expectation(c.spec, c.dtype, c.with_lengths, gradients=True, with_state=c.with_state)
                for c in cases}
    return [c for c in cases if expected[c].unsupported is None and expected[c].defect is None]


def changes_gradients(mapping: WeightMapping, mutated: WeightMapping) -> bool:
    """Whether ``mutated`` brings some native gradients back otherwise than ``mapping``: tried on
    distinct random native arrays. A one-bias row gives each summand the whole region, so the
    order of its summands (``bias-in-b_hh``) changes nothing on the gradient side."""
    rng = np.random.default_rng(0)
    native = {name: rng.standard_normal(shape) for name, shape in mapping.native_shapes.items()}
    try:
        mutated_blocks = mutated.gradients_to_params(native)
    except Exception:  # the mutated rows cannot even bring them back: a change the judge sees
        return True
    true_blocks = mapping.gradients_to_params(native)
    return any(not np.array_equal(true_blocks[key], mutated_blocks[key]) for key in true_blocks)


def applies_to_gradients(mutation: Mutation, adapter: Adapter, case: Case) -> bool:
    """Whether ``mutation``'s rows change anything on ``case``'s gradient side."""
    if mutation.rows is None or not mutation.needs(case):
        return False
    mapping = adapter.mapping(case.spec)
    mutated = mutation.rows(mapping)
    return mutated is not None and changes_gradients(mapping, mutated)


@dataclass(frozen=True)
class Differentiated:
    """A case differentiated once on the engine, and the reference's gradients for its inputs: every
    mutation re-reads both (the reference backward is not run again per mutation)."""

    run: GradientRun
    expected: Gradients | None  # None when the run did not pass unmutated (nothing to compare)


def differentiated(adapter: Adapter, case: Case, seconds: float | None) -> Differentiated:
    """``case`` differentiated once on ``adapter``'s engine (bounded by ``seconds``), with the
    reference gradients when it passed unmutated."""
    run = execute_gradient_case(adapter, case, seconds)
    if run.result.status != PASS or run.data is None or run.cotangents is None:
        return Differentiated(run, None)
    data = run.data
    return Differentiated(run, reference_gradients(case.spec, data.params, data.x, data.initial_state, data.lengths,
                                                   run.cotangents))


def failed_gradients(adapter: Adapter, probed: Differentiated, mutation: Mutation | None) -> str | None:
    """What fails when the run's native gradients come back through ``mutation``'s rows (None: the
    true rows), or None when every gradient passes. A row mutation that does not apply to the
    case's mapping is never asked (``applies_to_gradients``)."""
    run, expected = probed.run, probed.expected
    case = run.result.case
    assert run.gradients is not None and run.data is not None and expected is not None  # a case that passed
    mapping = adapter.mapping(case.spec)
    rows = mutation.rows(mapping) if mutation is not None and mutation.rows is not None else mapping
    if rows is None:
        raise ValueError(f"{mutation.name if mutation else ''} changes nothing in the rows of {case.id}")
    try:
        canonical = rows.gradients_to_params(run.gradients.native, f"{adapter.name} parameter gradients")
    except Exception as error:  # a crash is caught too: the suite would report it
        return f"error: {type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    comparisons = judge_gradients(case.spec, run.gradients, canonical, expected, run.data.lengths,
                                  GRADIENT_TOLERANCES[case.dtype])
    failed = [c.tensor for c in comparisons if not c.passed]
    if len(failed) > 3:
        return f"{', '.join(failed[:3])} and {len(failed) - 3} more"
    return ", ".join(failed) if failed else None

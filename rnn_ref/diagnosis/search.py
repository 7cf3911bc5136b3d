"""The search both forms share: try no mistake, each one, then each pair, and keep the smallest sets that explain.

``search(candidates, evaluate, tolerance)`` asks ``evaluate(combo)`` about combinations of
candidates (a tuple of indices into ``candidates``) and gets back an ``Outcome``: whether the
combination reproduces the target, its residual, and the mistakes it names (a solver may name
more than the candidates: gate orders found directly), or None where the combination changes
nothing (it cannot be told from a correct conversion). Pairs are tried only when no set of at
most two mistakes was found among the singles, and never two of a kind that composes into one
(``CLOSED_KINDS``). The verdict is ``explained`` with the smallest
sets, ``unexplained`` with the best (least residual) combination among those measured whole.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rnn_ref.core.compare import Tolerance
from rnn_ref.diagnosis.catalog import Candidate
from rnn_ref.diagnosis.findings import AGREE, EXPLAINED, UNEXPLAINED, Diagnosis, Mistake

MOST_MISTAKES = 2
#: kinds whose candidates compose into another candidate of the catalog (two gate orders, the same
#: in every unit, are one), so that a pair of them is never smaller than a single
CLOSED_KINDS = frozenset({"gate-order"})


@dataclass(frozen=True)
class Outcome:
    """What one combination of candidates does: reproduces the target (``explained``) or not, its
    max abs error against the target and the mistakes it names; ``measured`` False where it was
    ruled out before all of it was computed (its residual unknown: never the best candidate)."""

    explained: bool
    residual: float
    mistakes: tuple[Mistake, ...]
    measured: bool = True


def key(mistakes: Sequence[Mistake]) -> str:
    """One text per set of mistakes, the same for the same set in any order."""
    return json.dumps(sorted([m.kind, json.dumps(dict(m.parameters), sort_keys=True)] for m in mistakes))


def search(candidates: Sequence[Candidate], evaluate: Callable[[tuple[int, ...]], Outcome | None],
           tolerance: Tolerance) -> Diagnosis:
    """The diagnosis of a target whose correct form ``evaluate(())`` describes (see the module docstring)."""
    none = evaluate(())
    assert none is not None  # no mistake at all is always a combination that can be evaluated
    if none.explained and not none.mistakes:
        return Diagnosis(AGREE, (), none.residual, tolerance)
    found: dict[str, Outcome] = {}
    best = none
    invisible: list[Mistake] = []

    def consider(outcome: Outcome | None) -> None:
        nonlocal best
        if outcome is None:
            return
        if outcome.explained and len(outcome.mistakes) <= MOST_MISTAKES:
            found.setdefault(key(outcome.mistakes), outcome)
        elif outcome.measured and outcome.residual < best.residual:
            best = outcome

    consider(none)
    visible = []
    for index, candidate in enumerate(candidates):
        outcome = evaluate((index,))
        if outcome is None:
            invisible.append(candidate.mistake)
        else:
            visible.append(index)
        consider(outcome)
    if not found:
        for first, second in itertools.combinations(visible, 2):
            kinds = {candidates[first].kind, candidates[second].kind}
            if not (len(kinds) == 1 and kinds <= CLOSED_KINDS):
                consider(evaluate((first, second)))
    if not found:
        return Diagnosis(UNEXPLAINED, best.mistakes, best.residual, tolerance, invisible=tuple(invisible))
    fewest = min(len(outcome.mistakes) for outcome in found.values())
    smallest = [outcome for outcome in found.values() if len(outcome.mistakes) == fewest]
    chosen, *others = smallest
    return Diagnosis(EXPLAINED, chosen.mistakes, chosen.residual, tolerance,
                     alternatives=tuple(o.mistakes for o in others), invisible=tuple(invisible))

"""A pairwise subset of the case matrix: every variant in 9 layer/input configurations.

The small matrix is the full product of seven configuration factors (layers, direction,
layout, initial state, lengths, bias, dtype) for every cell variant. Where running all of
it costs too much — an engine whose autodiff takes about half a second a case, declared by
the adapter's ``slow_gradients`` — the suite runs this subset instead: configurations chosen
so that **every pair of values of two factors occurs in at least one of them** (a covering
array of strength 2), each run for every variant, so every variant also meets every value of
every factor and every pair of them.

``PAIRWISE_CONFIGS`` was found by the greedy construction (repeatedly take the valid
configuration that covers the most pairs not yet covered; ``lenshort`` exists only where
``in_short_lengths_subset`` says) and is written out, so the subset never moves under a
recorded result. ``uncovered_pairs`` is that check, run by tests/test_pairwise_cases.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from rnn_ref.cases.matrix import Case, small_matrix

#: The factors of a configuration, in ``PAIRWISE_CONFIGS``' column order, and their values.
FACTORS: dict[str, tuple[object, ...]] = {
    "layers": (1, 2, 3),
    "bidirectional": (False, True),
    "layout": ("TNC", "NTC"),
    "with_state": (False, True),
    "lengths": ("none", "len", "lenshort"),
    "bias": (True, False),
    "dtype": ("float32", "float64"),
}

PAIRWISE_CONFIGS: tuple[tuple[object, ...], ...] = (
    # (layers, bidirectional, layout, with_state, lengths, bias, dtype)
    (1, False, "TNC", False, "none", True, "float32"),
    (1, True, "NTC", True, "len", False, "float64"),
    (2, False, "TNC", True, "lenshort", True, "float64"),
    (2, True, "NTC", False, "none", False, "float32"),
    (3, False, "TNC", False, "len", False, "float32"),
    (3, True, "NTC", True, "none", True, "float64"),
    (1, False, "NTC", True, "lenshort", True, "float32"),
    (2, True, "TNC", False, "len", True, "float64"),
    (1, True, "TNC", True, "lenshort", True, "float32"),
)


def configuration(case: Case) -> tuple[object, ...]:
    """The case's values of ``FACTORS``, in their order."""
    lengths = "lenshort" if case.short_lengths else "len" if case.with_lengths else "none"
    spec = case.spec
    return (spec.num_layers, spec.bidirectional, spec.layout, case.with_state, lengths, spec.bias, case.dtype)


def uncovered_pairs(configs: Iterable[Sequence[object]]) -> list[tuple[tuple[str, object], tuple[str, object]]]:
    """The (factor, value) pairs of two factors that no configuration of ``configs`` holds together,
    among the pairs some configuration of the small matrix holds; [] for a covering array."""
    names = list(FACTORS)

    def pairs(config: Sequence[object]) -> set[tuple[tuple[str, object], tuple[str, object]]]:
        return {((names[i], config[i]), (names[j], config[j])) for i, j in itertools.combinations(range(len(names)), 2)}

    possible = set().union(*(pairs(configuration(case)) for case in small_matrix()))
    covered = set().union(*(pairs(config) for config in configs))
    return sorted(possible - covered, key=repr)


def pairwise_cases() -> list[Case]:
    """Every case of the small matrix whose configuration is one of ``PAIRWISE_CONFIGS`` (54 cases)."""
    wanted = set(PAIRWISE_CONFIGS)
    return [case for case in small_matrix() if configuration(case) in wanted]

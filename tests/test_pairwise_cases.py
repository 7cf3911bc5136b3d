"""The pairwise subset of the matrix, and how the suite uses it for an engine with slow autodiff.

An engine whose adapter declares ``slow_gradients`` (a measured cost: keras-jax and flax, whose
``jax.vjp`` runs op by op) differentiates 54 cases live — every variant in 9 configurations in
which every pair of values of two configuration factors occurs — and reports each other
gradient case as not run here, with that reason. ``--full-gradients`` differentiates them all.
"""

from __future__ import annotations

import pytest
from reference_engine import DifferentiatingReferenceEngine

from rnn_ref.cases.matrix import VARIANTS, small_matrix
from rnn_ref.cases.pairwise import FACTORS, PAIRWISE_CONFIGS, configuration, pairwise_cases, uncovered_pairs
from rnn_ref.suite import matrix as suite_matrix


def test_every_pair_of_factor_values_occurs_in_some_configuration():
    assert uncovered_pairs(PAIRWISE_CONFIGS) == []


@pytest.mark.parametrize("dropped", range(len(PAIRWISE_CONFIGS)))
def test_no_configuration_is_redundant(dropped):
    """The check is real: without any one configuration some pair goes uncovered."""
    rest = PAIRWISE_CONFIGS[:dropped] + PAIRWISE_CONFIGS[dropped + 1:]
    assert uncovered_pairs(rest) != []


def test_a_pair_no_case_can_hold_is_not_asked_for():
    """lenshort exists only with given states, biases and at most two layers: (3 layers, lenshort)
    is no case of the matrix, so no configuration has to hold it."""
    assert not any(c.spec.num_layers == 3 and c.short_lengths for c in small_matrix())
    assert (("layers", 3), ("lengths", "lenshort")) not in uncovered_pairs([])


def test_the_subset_is_every_variant_in_every_configuration():
    cases = pairwise_cases()
    assert len(cases) == len(VARIANTS) * len(PAIRWISE_CONFIGS) == 54
    assert {(c.variant, configuration(c)) for c in cases} == {(v, k) for v in VARIANTS for k in PAIRWISE_CONFIGS}
    assert all(len(config) == len(FACTORS) for config in PAIRWISE_CONFIGS)
    assert not any(c.slow for c in cases)


class SlowDifferentiatingEngine(DifferentiatingReferenceEngine):
    name = "slow-autodiff"
    slow_gradients = "about 9 s a case (a test engine)"


@pytest.fixture
def slow_engine(monkeypatch):
    monkeypatch.setattr(suite_matrix, "load_adapter", lambda name: SlowDifferentiatingEngine())
    return "slow-autodiff"


def marks_of(engine, case, gradients, every_gradient):
    return [(m.name, m.kwargs.get("reason", "")) for m in
            suite_matrix.engine_case_param(engine, case, True, gradients, every_gradient).marks]


def test_outside_the_subset_a_slow_engines_gradient_case_is_skipped_with_its_reason(slow_engine):
    inside = pairwise_cases()[0]
    outside = next(c for c in small_matrix() if c.id not in suite_matrix.pairwise_ids())
    skipped = [reason for name, reason in marks_of(slow_engine, outside, True, False) if name == "skip"]
    assert skipped == ["not differentiated live by slow-autodiff in this run: about 9 s a case (a test engine); it "
                       "differentiates the pairwise subset (rnn_ref/cases/pairwise.py); every case: pytest "
                       "--full-gradients, or rnn-ref check"]
    assert not [name for name, _ in marks_of(slow_engine, inside, True, False) if name == "skip"]


def test_the_forward_and_full_gradients_runs_are_not_subset(slow_engine):
    outside = next(c for c in small_matrix() if c.id not in suite_matrix.pairwise_ids())
    assert not [name for name, _ in marks_of(slow_engine, outside, False, False) if name == "skip"]
    assert not [name for name, _ in marks_of(slow_engine, outside, True, True) if name == "skip"]


def test_an_engine_without_slow_gradients_differentiates_every_case(monkeypatch):
    monkeypatch.setattr(suite_matrix, "load_adapter", lambda name: DifferentiatingReferenceEngine())
    outside = next(c for c in small_matrix() if c.id not in suite_matrix.pairwise_ids())
    assert not [name for name, _ in marks_of("reference", outside, True, False) if name == "skip"]

"""Test parametrization over the selected engines and the shared case matrix.

The hooks and fixtures come from ``rnn_ref.suite.matrix`` (shared with the installed suite,
``pytest --pyargs rnn_ref.suite``): a test that takes ``engine_case`` runs once per (engine,
case) with ids like ``torch-lstm-L2-bi-NTC-h0-len-f32``; ``engine`` alone runs once per
selected engine; ``engine_or_skip(name)`` gives one engine's adapter or a skip. The
``--engines`` option is defined once, in ``rnn_ref.pytest_plugin``.
"""

from __future__ import annotations

import pytest
from fixture_files import torch_copy
from hypothesis import HealthCheck, settings

from rnn_ref.suite.matrix import engine_case_param, engine_or_skip, pytest_configure, pytest_generate_tests

# pytest finds hooks and fixtures by name
__all__ = ["engine_case_param", "engine_or_skip", "pytest_configure", "pytest_generate_tests", "torch_copy"]

# Hypothesis profiles: "ci" (default) is derandomized so CI is reproducible; select the
# longer search with `--hypothesis-profile long`.
settings.register_profile(
    "ci", max_examples=30, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


#: The matrix tests whose (engine, case) runs are paired: a case's gradient test runs just before
#: its forward test, so that an engine that computes the forward on the way (Keras under
#: tf.GradientTape) hands it to the forward test (rnn_ref.judge.runner.ForwardsOfGradientRuns).
GRADIENT_TEST, FORWARD_TEST = "test_engine_gradients_match_reference", "test_engine_matches_reference"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each case's gradient test right before its forward test, a TNC case's pair right after its
    NTC twin's; slow tests first.

    Twins hold the same numbers (``Case.data_id``), so a batch-major-only engine that transposes a
    TNC case at its boundary (Keras) finds its twin's run in its memo
    (rnn_ref/adapters/_support/run_memo.py) when both run on one worker.

    Under ``--dist worksteal`` (tox.ini) each worker starts on one contiguous half of this order
    and steals from the end of the other's, so a pair is split only where a steal cuts it
    (measured in the tensorflow env: no forward test ran its layers itself; under the default
    ``--dist load``, two did). ``--dist loadgroup`` would guarantee the pairing, but on pytest 9.2
    it silently stops grouping (pytest-dev/pytest-xdist#1386). A split pair costs time, never a
    verdict: the forward test then runs the layers itself.
    """

    def pair_key(item: pytest.Item) -> tuple[str, object] | None:
        params = getattr(item, "callspec", None) and item.callspec.params
        if getattr(item, "originalname", None) not in (GRADIENT_TEST, FORWARD_TEST) or not params:
            return None
        return (params["engine"], params["case"]) if params.get("case") is not None else None

    gradient_items = {key: item for item in items if (key := pair_key(item)) and item.originalname == GRADIENT_TEST}
    ordered = []
    for item in items:
        key = pair_key(item)
        if key is not None and item.originalname == GRADIENT_TEST:
            continue  # placed with its forward test below, or at the end when it has none
        if key is not None and key in gradient_items:
            ordered.append(gradient_items.pop(key))
        ordered.append(item)
    twins: dict[object, list[pytest.Item]] = {}  # first appearance order, each (engine, data_id) together
    for item in ordered:
        key = pair_key(item)
        twins.setdefault((key[0], key[1].data_id) if key else id(item), []).append(item)
    ordered = [item for group in twins.values() for item in group]
    # The few slow (T=200) cases first: started last, one of them would keep a worker busy while the other waits.
    items[:] = sorted(ordered + list(gradient_items.values()), key=lambda item: item.get_closest_marker("slow") is None)

"""Test parametrization over the selected engines and the shared case matrix.

The hooks and fixtures come from ``rnn_ref.suite.matrix`` (shared with the installed suite,
``pytest --pyargs rnn_ref.suite``): a test that takes ``engine_case`` runs once per (engine,
case) with ids like ``torch-lstm-L2-bi-NTC-h0-len-f32``; ``engine`` alone runs once per
selected engine; ``engine_or_skip(name)`` gives one engine's adapter or a skip. The
``--engines`` option is defined once, in ``rnn_ref.pytest_plugin``.
"""

from __future__ import annotations

from fixture_files import torch_copy
from hypothesis import HealthCheck, settings

from rnn_ref.suite.matrix import engine_case_param, engine_or_skip, pytest_generate_tests

# pytest finds hooks and fixtures by name
__all__ = ["engine_case_param", "engine_or_skip", "pytest_generate_tests", "torch_copy"]

# Hypothesis profiles: "ci" (default) is derandomized so CI is reproducible; select the
# longer search with `--hypothesis-profile long`.
settings.register_profile(
    "ci", max_examples=30, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

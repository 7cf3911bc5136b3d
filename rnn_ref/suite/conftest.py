"""Parametrization of the shipped suite over the selected engines and the case matrix.

Only tests under this folder (and this repository's tests/, whose conftest imports the same
hooks) are parametrized; the ``--engines`` option itself is defined once, in
``rnn_ref.pytest_plugin``.
"""

from __future__ import annotations

from rnn_ref.suite.matrix import engine_or_skip, pytest_configure, pytest_generate_tests

__all__ = ["engine_or_skip", "pytest_configure", "pytest_generate_tests"]  # a fixture and hooks: found by name

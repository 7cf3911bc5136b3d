"""Gradients in golden fixtures, by their old module path: re-exported from where each job lives.

The ``grad:`` arrays and the manifest's ``gradients`` field are described in
rnn_ref.golden.manifest (with ``gradient_entry_problem``); recording them in
rnn_ref.golden.recording (``gradient_entry``, ``gradient_arrays``); checking them against the
adapter's declarations in rnn_ref.golden.declarations; replaying them with the reference
backward in rnn_ref.golden.replay (``replay_gradients``), beside the forward replay.
"""

from __future__ import annotations

from rnn_ref.golden.declarations import declared_gradients, gradient_declaration_problem
from rnn_ref.golden.manifest import GRAD_PREFIX, GRADIENT_STATUSES, gradient_entry_problem, short
from rnn_ref.golden.manifest import WEIGHT_PREFIX as WEIGHT
from rnn_ref.golden.recording import gradient_arrays, gradient_entry
from rnn_ref.golden.replay import GradientFixtureError, replay_gradients

__all__ = [
    "GRADIENT_STATUSES", "GRAD_PREFIX", "WEIGHT", "GradientFixtureError", "declared_gradients", "gradient_arrays",
    "gradient_declaration_problem", "gradient_entry", "gradient_entry_problem", "replay_gradients", "short",
]

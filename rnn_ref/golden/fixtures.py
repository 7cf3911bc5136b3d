"""Golden fixtures: what a real engine computed, recorded so NumPy alone can check it later.

This module is the one place to import them from (the CLI and the tests do); each job lives in
a module of its own:

* rnn_ref.golden.manifest: the file format (``fixtures/<engine>/<case id>.npz`` and
  ``manifest.json``), the representative cases, and the checks that read a manifest;
* rnn_ref.golden.declarations: a manifest against its engine's adapter's declarations;
* rnn_ref.golden.recording: ``record`` (``rnn-ref record``) on a real engine;
* rnn_ref.golden.record_folder: the output folder, checked first and swapped in all or nothing;
* rnn_ref.golden.replay: loading fixtures and judging them, forward and gradients, against the
  reference;
* rnn_ref.golden.drift: a fresh recording against the committed one, in ULPs.
"""

from __future__ import annotations

from rnn_ref.core.paths import FIXTURES_ROOT as FIXTURES_ROOT
from rnn_ref.golden.declarations import declaration_problems, declared, gradient_declaration_problem, status_text
from rnn_ref.golden.drift import (
    DRIFT_BOUND_ULPS,
    GRADIENT_DRIFT_BOUND_ULPS,
    Drift,
    drift,
    drift_report,
    recording_drifts,
)
from rnn_ref.golden.manifest import (
    ENTRY_FIELDS,
    GRAD_PREFIX,
    MANIFEST,
    MAX_CASE_SIZE,
    MAX_LISTED,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_DEPTH,
    REPRESENTATIVE,
    WEIGHT_PREFIX,
    FixtureError,
    case_entry,
    case_from_entry,
    contained_file,
    coverage_problems,
    depth_above,
    entry_problems,
    gradient_entry_problem,
    manifest_problems,
    plain_file_name,
    read_bounded,
    read_manifest,
    representative_cases,
    short,
)
from rnn_ref.golden.record_folder import (
    SigtermGuard,
    Terminated,
    prepare_output,
    process_alive,
    remove_stale_scratch,
    replace_recording,
    scratch_prefix,
)
from rnn_ref.golden.recording import gradient_arrays, gradient_entry, main_record, record, record_into, recorded_arrays
from rnn_ref.golden.replay import Fixture, load_all, load_fixture, not_recorded_results, replay_fixture

__all__ = [
    "DRIFT_BOUND_ULPS", "ENTRY_FIELDS", "FIXTURES_ROOT", "GRADIENT_DRIFT_BOUND_ULPS", "GRAD_PREFIX", "MANIFEST",
    "MAX_CASE_SIZE", "MAX_LISTED", "MAX_MANIFEST_BYTES", "MAX_MANIFEST_DEPTH", "REPRESENTATIVE", "WEIGHT_PREFIX",
    "Drift", "Fixture", "FixtureError", "SigtermGuard", "Terminated", "case_entry", "case_from_entry",
    "contained_file", "coverage_problems", "declaration_problems", "declared", "depth_above", "drift",
    "drift_report", "entry_problems", "gradient_arrays", "gradient_declaration_problem", "gradient_entry",
    "gradient_entry_problem", "load_all", "load_fixture",
    "main_record", "manifest_problems", "not_recorded_results", "plain_file_name", "prepare_output",
    "process_alive", "read_bounded", "read_manifest", "record", "record_into", "recorded_arrays",
    "recording_drifts", "remove_stale_scratch", "replace_recording", "replay_fixture", "representative_cases",
    "scratch_prefix", "short", "status_text",
]

"""Results for the report's tests: the committed fixtures replayed (every engine), and records made by hand.

``replayed_records()`` is what ``rnn-ref check --results`` writes in the NumPy-only env — every
built-in engine's fixtures replayed — computed once per process. ``record(...)`` is one record of
docs/results-schema.md for a case of the matrix, with the outcome and error a test wants.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from rnn_ref.cases.matrix import case_by_id
from rnn_ref.results.records import FORWARD, SCHEMA, VERSION, RunInfo, case_axes, family_of

RUN_A = RunInfo("check", id="aaaaaaaaaaaa", started="2026-12-01T10:00:00+00:00")
RUN_B = RunInfo("pytest", id="bbbbbbbbbbbb", started="2026-12-02T10:00:00+00:00")


def record(engine: str, case_id: str, outcome: str, error: float | None = None, kind: str = FORWARD,
           run: RunInfo = RUN_A, reason: str | None = None, upstream: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"schema": SCHEMA, "version": VERSION, "run": run.to_json(), "engine": engine,
            "family": family_of(engine), "engine_version": "1.0", "origin": "live", "kind": kind,
            "case": case_axes(case_by_id(case_id)), "label": case_id, "outcome": outcome,
            "errors": {} if error is None else {"output": error}, "max_error": error,
            "tolerance": {"atol": 2e-06, "rtol": 2e-06}, "reason": reason, "upstream": list(upstream),
            "problems": [], "rerun": None}


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@functools.cache
def _replayed() -> tuple[dict[str, Any], ...]:
    from rnn_ref.adapters import ENGINES
    from rnn_ref.cli.check import check
    from rnn_ref.results import ResultsWriter
    from rnn_ref.results.records import GRADIENTS

    writer = ResultsWriter(Path("unused"), "check")
    for report in check(list(ENGINES), replay_only=True, each_engine_must_check=False):
        assert report.problem is None, f"{report.engine}: {report.problem}"
        for kind, results in ((FORWARD, report.results), (GRADIENTS, report.gradient_results)):
            for result in results:
                writer.add(result, kind, report.version, report.origin)
    return tuple(writer.records)


def replayed_records() -> list[dict[str, Any]]:
    """Every built-in engine's fixtures replayed, as ``rnn-ref check --results`` records them (copies)."""
    return copy.deepcopy(list(_replayed()))

"""One JSON record per verdict: engine, versions, the case and its axes, the outcome and the errors.

A record is self-contained (it carries its run: rnn_ref's version, the machine, when, and by
which command), so files from several runs, shards and machines are merged by concatenating
them. The fields are docs/results-schema.md's; ``VERSION`` changes whenever a field changes
meaning or goes away (a reader refuses a newer version than its own).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rnn_ref.cases.matrix import Case
from rnn_ref.judge.runner import CaseResult

SCHEMA = "rnn-ref-results"
VERSION = 1
FORWARD, GRADIENTS = "forward", "gradients"
#: an upstream report named in a reason: a URL, or owner/repo#N as the defect declarations write it
UPSTREAM = re.compile(r"https?://\S+[\w/]|\b[\w.-]+/[\w.-]+#\d+\b")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@dataclass(frozen=True)
class RunInfo:
    """The run every record of one command carries."""

    source: str  # the command: "check", "pytest", "conversions"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        from rnn_ref import __version__

        return {"id": self.id, "source": self.source, "started": self.started, "rnn_ref": __version__,
                "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(),
                            "python": platform.python_version()}}


def case_axes(case: Case) -> dict[str, Any]:
    """The case's id and every axis a report groups by."""
    spec = case.spec
    return {"id": case.id, "variant": case.variant, "mode": spec.mode, "gru_variant": spec.gru_variant,
            "layers": spec.num_layers, "bidirectional": spec.bidirectional, "layout": spec.layout,
            "bias": spec.bias, "proj_size": spec.proj_size, "input_size": spec.input_size,
            "hidden_size": spec.hidden_size, "steps": case.steps, "batch": case.batch,
            "initial_state": case.with_state,
            "lengths": ("short" if case.short_lengths else "ragged") if case.with_lengths else "none",
            "dtype": case.dtype, "slow": case.slow, "options": list(case.options)}


def finite(value: float) -> float | None:
    """JSON has no inf or NaN: an error that is not a number is null (the reason says why)."""
    return value if math.isfinite(value) else None


def family_of(engine: str) -> str:
    """The engine's family (its package under rnn_ref/adapters/), or "plug-in"."""
    from rnn_ref.adapters import engine_info

    path = engine_info(engine).adapter
    parts = path.split(":")[0].split(".")
    return parts[2] if path.startswith("rnn_ref.adapters.") and len(parts) > 2 else "plug-in"


def record_of(result: CaseResult, kind: str, engine_version: str, origin: str, run: RunInfo) -> dict[str, Any]:
    """The record of one verdict (``kind`` forward or gradients; ``origin`` "live" or "fixtures")."""
    errors = {c.tensor: finite(c.max_abs_error) for c in result.comparisons}
    problems = [f"{c.tensor}: {c.problem}" for c in result.comparisons if c.problem]
    tolerance = result.tolerance
    if tolerance is None:
        from rnn_ref.core.compare import TOLERANCES

        tolerance = TOLERANCES.get(result.case.dtype)
    upstream = UPSTREAM.findall(result.reason or "")
    return {"schema": SCHEMA, "version": VERSION, "run": run.to_json(),
            "engine": result.engine, "family": family_of(result.engine), "engine_version": engine_version,
            "origin": origin, "kind": kind, "case": case_axes(result.case), "label": result.label,
            "outcome": result.status, "errors": errors,
            "max_error": finite(result.max_error) if result.comparisons else None,
            "tolerance": None if tolerance is None else {"atol": tolerance.atol, "rtol": tolerance.rtol},
            "reason": result.reason, "upstream": upstream, "problems": problems, "rerun": result.rerun or None}


class ResultsWriter:
    """Records gathered during a run and written at its end, whole: a run that dies writes no file
    (never a truncated one), and an existing file is replaced only by a complete one."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.run = RunInfo(source)
        self.records: list[dict[str, Any]] = []

    def add(self, result: CaseResult, kind: str, engine_version: str, origin: str) -> None:
        self.records.append(record_of(result, kind, engine_version, origin, self.run))

    def add_record(self, record: dict[str, Any]) -> None:
        """A record made elsewhere (a pytest worker's), as it is."""
        self.records.append(record)

    def write(self) -> None:
        from rnn_ref.core.files import atomic_write_text

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))

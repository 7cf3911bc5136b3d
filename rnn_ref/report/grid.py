"""The scoreboard's aggregation: merged results as engines × features cells.

A feature is one column of the scoreboard: a question asked of each record's case (its mode, its
GRU variant, whether it projects, runs both directions, has ragged or short lengths, initial
states, float64, no bias, the NTC layout, stacked layers) or of its kind (gradients). Every
column but ``gradients`` counts forward verdicts; ``gradients`` counts the gradient verdicts of
every case. One case belongs to every column whose question it answers yes, so a row's cells
overlap; ``all`` holds every forward case.

A cell counts one verdict per (engine, kind, case id) key — a key on which runs disagree counts
as a conflict, never as one of its runs' outcomes — and keeps the largest error of the judged
records (pass and fail; a known defect's error is the defect's, not the engine's accuracy). Its
status, the colour: ``fail`` where any run of any key failed (a stale known-defect declaration
included), else ``defect`` where one reproduced a known defect, else ``pass`` where every record
passed, ``unsupported`` where every one was unsupported, ``mixed`` for passes and unsupported
cases together, and ``empty`` where no record falls in the cell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnn_ref.judge.runner import DEFECT_GONE, FAIL, FAILING, KNOWN_DEFECT, PASS, UNSUPPORTED
from rnn_ref.results import Merged
from rnn_ref.results.reading import Key
from rnn_ref.results.records import FORWARD, GRADIENTS

Record = dict[str, Any]
#: a cell's status (its colour); the order is the legend's
STATUSES = ("pass", "mixed", "defect", "fail", "unsupported", "empty")
#: a key whose runs gave different outcomes
CONFLICT = "conflict"
#: the outcomes in the order a cell lists its counts
COUNTED = (PASS, FAIL, DEFECT_GONE, KNOWN_DEFECT, UNSUPPORTED, CONFLICT)


@dataclass(frozen=True)
class Feature:
    """One column: ``id`` (stable, for pages and tests), its heading, its group, the kind of records
    it counts and the question asked of a record's case."""

    id: str
    label: str
    group: str
    kind: str
    test: Callable[[dict[str, Any]], bool]
    description: str


def axis(name: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda case: case.get(name) == value


FEATURES: tuple[Feature, ...] = (
    Feature("all", "all", "", FORWARD, lambda case: True, "every forward case"),
    Feature("rnn_tanh", "rnn_tanh", "mode", FORWARD, axis("mode", "rnn_tanh"), "mode rnn_tanh"),
    Feature("rnn_relu", "rnn_relu", "mode", FORWARD, axis("mode", "rnn_relu"), "mode rnn_relu"),
    Feature("lstm", "lstm", "mode", FORWARD, axis("mode", "lstm"), "mode lstm (with and without projection)"),
    Feature("gru", "gru", "mode", FORWARD, axis("mode", "gru"), "mode gru (both reset variants)"),
    Feature("reset_after", "reset_after", "GRU variant", FORWARD,
            lambda case: case.get("mode") == "gru" and case.get("gru_variant") == "reset_after",
            "GRU, reset gate after the recurrent matmul"),
    Feature("reset_before", "reset_before", "GRU variant", FORWARD,
            lambda case: case.get("mode") == "gru" and case.get("gru_variant") == "reset_before",
            "GRU, reset gate before the recurrent matmul"),
    Feature("projection", "projection", "layer", FORWARD, lambda case: (case.get("proj_size") or 0) > 0,
            "LSTM with proj_size > 0"),
    Feature("stacked", "stacked", "layer", FORWARD, lambda case: (case.get("layers") or 1) > 1, "2 or more layers"),
    Feature("bidirectional", "bidirectional", "layer", FORWARD, axis("bidirectional", True), "both directions"),
    Feature("no-bias", "no bias", "layer", FORWARD, axis("bias", False), "a layer without biases"),
    Feature("options", "options", "layer", FORWARD, lambda case: bool(case.get("options")),
            "an option case: activations, clip, peepholes, coupled gates, reverse or a merge mode"),
    Feature("ntc", "NTC", "input", FORWARD, axis("layout", "NTC"), "batch-major layout"),
    Feature("ragged", "ragged lengths", "input", FORWARD, axis("lengths", "ragged"), "per-sample lengths"),
    Feature("short", "short lengths", "input", FORWARD, axis("lengths", "short"),
            "every sample shorter than the steps"),
    Feature("initial-state", "initial states", "input", FORWARD, axis("initial_state", True), "given h0 (and c0)"),
    Feature("float64", "float64", "dtype", FORWARD, axis("dtype", "float64"), "float64 cases"),
    Feature("gradients", "gradients", "kind", GRADIENTS, lambda case: True, "every gradient case"),
)


@dataclass
class Entry:
    """One key's verdict: the records of every run (two or more only where runs disagree)."""

    key: Key
    records: list[Record]

    @property
    def verdict(self) -> str:
        outcomes = {r["outcome"] for r in self.records}
        return self.records[0]["outcome"] if len(outcomes) == 1 else CONFLICT

    @property
    def case(self) -> dict[str, Any]:
        return self.records[0]["case"]


@dataclass
class Cell:
    """One engine's verdicts on one feature (the module docstring)."""

    engine: str
    feature: Feature
    entries: list[Entry] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(entry.verdict for entry in self.entries)

    @property
    def conflicts(self) -> int:
        return self.counts[CONFLICT]

    @property
    def max_error(self) -> float | None:
        """The largest error of the judged records (pass and fail, every run), None where none was judged."""
        errors = [r["max_error"] for e in self.entries for r in e.records
                  if r["outcome"] in (PASS, *FAILING) and r.get("max_error") is not None]
        return max(errors) if errors else None

    @property
    def status(self) -> str:
        outcomes = {r["outcome"] for entry in self.entries for r in entry.records}
        if not outcomes:
            return "empty"
        if outcomes & set(FAILING):
            return "fail"
        if KNOWN_DEFECT in outcomes:
            return "defect"
        if outcomes == {PASS}:
            return "pass"
        if outcomes == {UNSUPPORTED}:
            return "unsupported"
        return "mixed"


@dataclass
class Grid:
    """Engines (rows, registry order first) × FEATURES (columns), over the records of ``dtype`` (None: all)."""

    engines: list[str]
    families: dict[str, str]
    cells: dict[tuple[str, str], Cell]
    dtype: str | None = None

    def cell(self, engine: str, feature: str) -> Cell:
        return self.cells[engine, feature]


def engine_order(merged: Merged) -> list[str]:
    """The engines of ``merged``: the registry's built-ins in registry order, then the others as first seen."""
    from rnn_ref.adapters import ENGINES

    seen = merged.engines()
    return [name for name in ENGINES if name in seen] + [name for name in seen if name not in ENGINES]


def entries_of(merged: Merged) -> list[Entry]:
    return [Entry(key, found) for key, found in merged.records.items()]


def build_grid(merged: Merged, dtype: str | None = None) -> Grid:
    """The cells of every engine and feature; with ``dtype``, of that dtype's cases alone."""
    engines = engine_order(merged)
    families: dict[str, str] = {}
    for found in merged.records.values():
        families.setdefault(found[0]["engine"], found[0]["family"])
    cells = {(engine, feature.id): Cell(engine, feature) for engine in engines for feature in FEATURES}
    for entry in entries_of(merged):
        engine, kind, _ = entry.key
        if dtype is not None and entry.case.get("dtype") != dtype:
            continue
        for feature in FEATURES:
            if feature.kind == kind and feature.test(entry.case):
                cells[engine, feature.id].entries.append(entry)
    return Grid(engines, families, cells, dtype)


def dtypes_of(merged: Merged) -> list[str]:
    """The dtypes of the records' cases, sorted."""
    return sorted({found[0]["case"].get("dtype", "") for found in merged.records.values()} - {""})


def error_text(value: float | None) -> str:
    """An error as the tables print it: two significant digits, ``-`` where nothing was judged."""
    return "-" if value is None else f"{value:.1e}"

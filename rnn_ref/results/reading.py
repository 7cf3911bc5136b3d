"""Results files read back: every line checked, several runs merged, disagreements kept and flagged.

``read_results(paths)`` refuses, with the file and line, what it cannot trust: a line that is not
a whole JSON record (a truncated file), a record of another format, one written under a newer
schema version than this rnn_ref reads, one missing a field the report needs. Records from
several files (shards of one run, runs on several machines) are merged by (engine, kind, case
id): one verdict per key, or — where two runs disagree on the outcome — every run's record,
flagged as a conflict (``Merged.conflicts``), never one silently chosen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn_ref.judge.runner import DEFECT_GONE, FAIL, KNOWN_DEFECT, PASS, UNSUPPORTED
from rnn_ref.results.records import FORWARD, GRADIENTS, SCHEMA, VERSION

OUTCOMES = (PASS, FAIL, UNSUPPORTED, KNOWN_DEFECT, DEFECT_GONE)
REQUIRED = ("engine", "engine_version", "family", "kind", "case", "outcome", "run")
Key = tuple[str, str, str]


class ResultsError(ValueError):
    """A results file that cannot be read as rnn_ref results, with its path and line."""


@dataclass
class Merged:
    """The records of every file read: per (engine, kind, case id), the records of each run."""

    records: dict[Key, list[dict[str, Any]]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> dict[Key, list[dict[str, Any]]]:
        """The keys on which runs gave different outcomes, with every run's record."""
        return {key: found for key, found in self.records.items() if len({r["outcome"] for r in found}) > 1}

    def verdicts(self) -> dict[Key, str]:
        """One outcome per key ("conflict" where runs disagree)."""
        return {key: found[0]["outcome"] if len({r["outcome"] for r in found}) == 1 else "conflict"
                for key, found in self.records.items()}

    def engines(self) -> list[str]:
        """Every engine, in the order first seen."""
        return list(dict.fromkeys(key[0] for key in self.records))

    def add(self, record: dict[str, Any]) -> None:
        """Merge one checked record: a second record of a key from another run that agrees on the
        outcome is the same verdict (the first is kept); one that disagrees is kept beside it."""
        key = (record["engine"], record["kind"], record["case"]["id"])
        found = self.records.setdefault(key, [])
        if all(r["run"]["id"] != record["run"]["id"] or r["outcome"] != record["outcome"] for r in found):
            found.append(record)

    def runs(self) -> list[dict[str, Any]]:
        """Every run (its ``run`` object), in the order first seen."""
        seen: dict[str, dict[str, Any]] = {}
        for found in self.records.values():
            for record in found:
                seen.setdefault(record["run"]["id"], record["run"])
        return list(seen.values())


def checked(record: Any, where: str) -> dict[str, Any]:
    """``record`` if it is a results record this rnn_ref reads, else ResultsError."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ResultsError(f"{where}: not an rnn-ref results record (no \"schema\": \"{SCHEMA}\")")
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"{where}: schema version {version!r} is not a positive integer")
    if version > VERSION:
        raise ResultsError(f"{where}: written under results schema version {version}, newer than this rnn_ref "
                           f"reads (up to {VERSION}): upgrade rnn_ref to read it")
    missing = [name for name in REQUIRED if name not in record]
    if missing or not isinstance(record["case"], dict) or "id" not in record["case"]:
        raise ResultsError(f"{where}: the record has no {', '.join(missing) or 'case id'}")
    if record["outcome"] not in OUTCOMES:
        raise ResultsError(f"{where}: outcome {record['outcome']!r} is none of {', '.join(OUTCOMES)}")
    if record["kind"] not in (FORWARD, GRADIENTS):
        raise ResultsError(f"{where}: kind {record['kind']!r} is neither {FORWARD} nor {GRADIENTS}")
    return record


def records_in(path: Path) -> Iterable[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot be read as a results file ({error})") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            # the last line, with no newline after it, that began as a record: cut short
            cut = number == len(lines) and line.lstrip().startswith("{")
            hint = "the file is truncated (its last line is cut short)" if cut else "not a JSON record"
            raise ResultsError(f"{path}:{number}: {hint} ({error.msg})") from None
        yield checked(record, f"{path}:{number}")


def read_results(paths: Iterable[str | Path]) -> Merged:
    """Every record of ``paths``, merged (the module docstring)."""
    merged = Merged()
    for path in map(Path, paths):
        merged.files.append(str(path))
        count = 0
        for record in records_in(path):
            count += 1
            merged.add(record)
        if not count:
            raise ResultsError(f"{path}: holds no results records")
    return merged


def merged_records(records: Iterable[dict[str, Any]]) -> Merged:
    """Records made in this process (a run's own ``ResultsWriter.records``), checked and merged as
    ``read_results`` merges a file's."""
    merged = Merged()
    for number, record in enumerate(records, 1):
        merged.add(checked(record, f"record {number}"))
    return merged

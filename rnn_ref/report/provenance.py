"""Where the scoreboard's verdicts come from: the runs, rnn_ref's and the engines' versions, the converters.

Everything here is read off the records (each carries its run and its engine's version), except a
converter engine's tool and runtime, which its adapter class declares (``ConvertedAdapter.tool`` /
``.runtime``, imported with NumPy alone) and its registry row's ``converts_from`` (the source
engine). An engine the registry does not know (a plug-in not installed where the report is made)
is shown with what its records say.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rnn_ref.results import Merged


@dataclass(frozen=True)
class EngineVersion:
    """One engine as the records describe it: its family and every (origin, version) seen."""

    engine: str
    family: str
    versions: tuple[tuple[str, str], ...]

    def text(self) -> str:
        """``live, torch 2.13.0`` (and each other one seen, joined by ``; ``)."""
        return "; ".join(f"{origin}, {version}" for origin, version in self.versions)


@dataclass(frozen=True)
class Converter:
    """A converter engine: the engine it converts from, the tool and the runtime."""

    engine: str
    source: str
    tool: str
    runtime: str


def engine_versions(merged: Merged, engines: list[str]) -> list[EngineVersion]:
    found: dict[str, dict[tuple[str, str], None]] = {engine: {} for engine in engines}
    family: dict[str, str] = {}
    for records in merged.records.values():
        for record in records:
            found.setdefault(record["engine"], {})[record.get("origin", "?"), record["engine_version"]] = None
            family.setdefault(record["engine"], record["family"])
    return [EngineVersion(engine, family.get(engine, "?"), tuple(found[engine])) for engine in engines]


def rnn_ref_versions(runs: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(run.get("rnn_ref", "?")) for run in runs))


def machine_text(run: dict[str, Any]) -> str:
    """``AMD EPYC, 2 cores, Linux-6.1…, Python 3.11.7`` from a run's machine."""
    machine = run.get("machine") or {}
    return ", ".join(str(part) for part in (machine.get("cpu"), f"{machine.get('cores')} cores",
                                            machine.get("os"), f"Python {machine.get('python')}")
                     if part is not None)


def converter_of(engine: str) -> Converter | None:
    """The converter behind ``engine`` where the registry's row names a source engine, else None."""
    from rnn_ref.adapters import ENGINES

    row = ENGINES.get(engine)
    if row is None or not row.converts_from:
        return None
    module, _, name = row.adapter.partition(":")
    try:
        adapter = getattr(importlib.import_module(module), name)
        tool, runtime = adapter.tool.name, adapter.runtime.name
    except (ImportError, AttributeError) as error:  # a row whose class cannot be read: say so in the table
        tool = runtime = f"? ({type(error).__name__})"
    return Converter(engine, row.converts_from, tool, runtime)


def converters(engines: list[str]) -> list[Converter]:
    """The converter engines among ``engines``, in their order."""
    return [found for found in map(converter_of, engines) if found is not None]

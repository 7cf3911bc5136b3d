"""The scoreboard page: one self-contained static HTML file (inline CSS and JS, nothing fetched).

What a browser test finds, by stable ids, classes and data attributes:

* ``#runs tr.run[data-run]``: every run (source, start, rnn_ref version, machine);
  ``#engine-versions tr[data-engine]``: every engine's family, origin and version;
* ``#scoreboard tr.engine-row[data-engine][data-family]`` (one per engine) holding
  ``td.cell[data-engine][data-feature][data-status]`` (id ``cell-ENGINE-FEATURE``), each with one
  ``.view[data-dtype][data-status]`` per dtype choice (``all`` and each dtype of the records);
  a cell with a key on which runs disagree has the class ``conflict`` and a ``.conflict-flag``;
* ``#detail[data-engine][data-feature]``: the clicked cell's cases, ``#detail-cases tr.case[data-case]
  [data-kind][data-dtype][data-outcome]`` (a conflict: class ``conflict`` and every run's outcome);
* ``input.family-filter[value=FAMILY]`` (checkboxes) and ``select#dtype-filter``;
* ``#converter-table tr.converter[data-engine]``: source engine → tool → runtime;
* ``#conflicts-banner`` where any case has disagreeing runs.

Every text from a results file is escaped here, and written with ``textContent`` by the script.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Any

from rnn_ref.report import grid as grids_of
from rnn_ref.report.assets import CSS, JS
from rnn_ref.report.grid import COUNTED, FEATURES, Cell, Grid, entries_of, error_text
from rnn_ref.report.provenance import converters, engine_versions, machine_text, rnn_ref_versions
from rnn_ref.results import Merged

#: a count's word in a cell (the legend says the rest)
SHORT = {"pass": "pass", "fail": "fail", "known defect no longer reproduces": "stale defect",
         "known defect": "defect", "unsupported": "unsup", "conflict": "conflict"}
LEGEND = (("pass", "every case passes"), ("mixed", "passes and unsupported cases (green share: passes)"),
          ("defect", "a known defect reproduces (declared, strict)"), ("fail", "a case fails"),
          ("unsupported", "every case unsupported"), ("empty", "no case"))


def attribute(value: Any) -> str:
    return escape(str(value), quote=True)


def view(cell: Cell, dtype: str) -> str:
    """One cell's contents for one dtype choice."""
    status, counts = cell.status, cell.counts
    lines = [f"{counts[outcome]} {SHORT[outcome]}" for outcome in COUNTED if counts[outcome] and outcome != "conflict"]
    judged = counts["pass"] + counts["unsupported"]
    share = f' style="--share: {100 * counts["pass"] / judged:.0f}%"' if status == "mixed" and judged else ""
    error = cell.max_error
    body = "<br>".join(lines) or "-"
    if error is not None:
        body += f'<br><span class="error">max {error_text(error)}</span>'
    if cell.conflicts:
        body += f'<br><span class="conflict-flag" title="runs disagree">&#9888; {cell.conflicts} conflict</span>'
    data = " ".join(f'data-count-{outcome.replace(" ", "-")}="{counts[outcome]}"' for outcome in COUNTED)
    title = f"{cell.engine}, {cell.feature.description}: " + (", ".join(lines) or "no case")
    return (f'<div class="view status-{status}" data-dtype="{attribute(dtype)}" data-status="{status}" {data} '
            f'data-max-error="{error_text(error)}" title="{attribute(title)}"{share}'
            f'{"" if dtype == "all" else " hidden"}>{body}</div>')


def grid_table(grids: dict[str, Grid]) -> str:
    grid = grids["all"]
    head = "".join(f'<th class="feature" data-feature="{f.id}" title="{attribute(f.description)}">'
                   f'{escape(f.label)}</th>' for f in FEATURES)
    rows = []
    for engine in grid.engines:
        family = grid.families.get(engine, "?")
        cells = []
        for feature in FEATURES:
            cell = grid.cell(engine, feature.id)
            conflict = " conflict" if cell.conflicts else ""
            views = "".join(view(g.cell(engine, feature.id), dtype) for dtype, g in grids.items())
            cells.append(f'<td class="cell{conflict}" id="cell-{attribute(engine)}-{feature.id}" '
                         f'data-engine="{attribute(engine)}" data-feature="{feature.id}" data-status="{cell.status}" '
                         f'tabindex="0">{views}</td>')
        rows.append(f'<tr class="engine-row" id="row-{attribute(engine)}" data-engine="{attribute(engine)}" '
                    f'data-family="{attribute(family)}"><th class="engine-name">{escape(engine)} '
                    f'<span class="family">{escape(family)}</span></th>{"".join(cells)}</tr>')
    return (f'<table id="scoreboard"><thead><tr><th>engine</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def payload(merged: Merged, grid: Grid) -> str:
    """The JSON the script reads: every key's verdict (interned reasons), the cells' keys, the runs."""
    runs = merged.runs()
    run_index = {run["id"]: index for index, run in enumerate(runs)}
    reasons: dict[str, int] = {}
    entries, index_of = [], {}
    for index, entry in enumerate(entries_of(merged)):
        index_of[entry.key] = index
        first = entry.records[0]
        reason = first.get("reason")
        judged = [r["max_error"] for r in entry.records if r.get("max_error") is not None]
        entries.append({
            "engine": entry.key[0], "kind": entry.key[1], "case": entry.key[2],
            "label": first.get("label") or entry.key[2],
            "dtype": entry.case.get("dtype", ""), "verdict": entry.verdict,
            "error": error_text(max(judged) if judged else None),
            "reason": None if reason is None else reasons.setdefault(reason, len(reasons)),
            "upstream": sorted({u for r in entry.records for u in r.get("upstream") or []}),
            "runs": None if len(entry.records) == 1 else [
                {"run": run_index[r["run"]["id"]], "outcome": r["outcome"], "error": error_text(r.get("max_error"))}
                for r in entry.records]})
    cells = {f"{engine}|{feature}": [index_of[entry.key] for entry in cell.entries]
             for (engine, feature), cell in grid.cells.items()}
    data = {"entries": entries, "reasons": list(reasons), "cells": cells,
            "features": {f.id: f.description for f in FEATURES},
            "runs": [{"id": r["id"], "source": r.get("source"), "started": r.get("started")} for r in runs]}
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the script


def header(merged: Merged, generated: str) -> str:
    from rnn_ref import __version__

    runs = merged.runs()
    counts: dict[str, int] = {}
    for found in merged.records.values():
        for record in found:
            counts[record["run"]["id"]] = counts.get(record["run"]["id"], 0) + 1
    rows = "".join(
        f'<tr class="run" data-run="{attribute(run["id"])}"><td>{escape(str(run["id"]))}</td>'
        f'<td>{escape(str(run.get("source")))}</td><td>{escape(str(run.get("started")))}</td>'
        f'<td>{escape(str(run.get("rnn_ref")))}</td><td>{escape(machine_text(run))}</td>'
        f'<td>{counts.get(run["id"], 0)}</td></tr>' for run in runs)
    files = ", ".join(escape(name) for name in merged.files)
    return (f'<header id="header"><h1>rnn_ref conformance scoreboard</h1>'
            f'<p>Generated <time id="generated" datetime="{generated}">{generated}</time> by rnn_ref '
            f'{escape(__version__)} from {files}; the runs used rnn_ref '
            f'<span id="rnn-ref-versions">{escape(", ".join(rnn_ref_versions(runs)))}</span>.</p>'
            f'<table id="runs"><thead><tr><th>run</th><th>source</th><th>started (UTC)</th><th>rnn_ref</th>'
            f'<th>machine (cpu, cores, os, python)</th><th>records</th></tr></thead><tbody>{rows}</tbody></table>'
            '</header>')


def filters(grid: Grid, dtypes: list[str]) -> str:
    families = list(dict.fromkeys(grid.families.get(engine, "?") for engine in grid.engines))
    boxes = "".join(f'<label><input type="checkbox" class="family-filter" id="family-{attribute(f)}" '
                    f'value="{attribute(f)}" checked> {escape(f)}</label> ' for f in families)
    options = "".join(f'<option value="{attribute(d)}">{escape(d)}</option>' for d in ["all", *dtypes])
    swatches = "".join(f'<span class="swatch status-{s}" data-status="{s}"></span>{escape(text)}' for s, text in LEGEND)
    return (f'<section id="filters"><fieldset id="family-filters"><legend>engine family</legend>{boxes}</fieldset>'
            f'<label>dtype <select id="dtype-filter">{options}</select></label></section>'
            f'<p id="legend">{swatches}</p>')


def sections(merged: Merged, engines: list[str]) -> str:
    versions = "".join(f'<tr data-engine="{attribute(v.engine)}"><td>{escape(v.engine)}</td><td>{escape(v.family)}</td>'
                       f'<td>{escape(v.text())}</td></tr>' for v in engine_versions(merged, engines))
    rows = "".join(f'<tr class="converter" data-engine="{attribute(c.engine)}"><td>{escape(c.engine)}</td>'
                   f'<td class="source">{escape(c.source)}</td><td class="tool">{escape(c.tool)}</td>'
                   f'<td class="runtime">{escape(c.runtime)}</td></tr>' for c in converters(engines))
    table = (f'<table id="converter-table"><thead><tr><th>engine</th><th>source engine</th><th>tool</th>'
             f'<th>runtime</th></tr></thead><tbody>{rows}</tbody></table>' if rows
             else '<p id="converter-table">No converter engine in these results.</p>')
    return (f'<section id="engines"><h2>Engine versions</h2><table id="engine-versions"><thead><tr><th>engine</th>'
            f'<th>family</th><th>origin, version</th></tr></thead><tbody>{versions}</tbody></table></section>'
            f'<section id="converters"><h2>Converters: source engine &rarr; tool &rarr; runtime</h2>{table}</section>')


def page(merged: Merged, generated: str | None = None) -> str:
    """The whole page of ``merged`` (``generated``: the date shown, default now, UTC)."""
    generated = generated or datetime.now(timezone.utc).isoformat(timespec="seconds")
    dtypes = grids_of.dtypes_of(merged)
    grids = {"all": grids_of.build_grid(merged), **{dtype: grids_of.build_grid(merged, dtype) for dtype in dtypes}}
    conflicts = len(merged.conflicts)
    banner = (f'<p id="conflicts-banner">&#9888; {conflicts} case(s) on which runs disagree: flagged in their cells; '
              'the detail shows every run\'s outcome.</p>' if conflicts else "")
    detail = ('<section id="detail" hidden><h2 id="detail-title"></h2><p id="detail-summary"></p>'
              '<button type="button" id="detail-close">close</button><table id="detail-cases"><thead><tr><th>case</th>'
              '<th>kind</th><th>dtype</th><th>outcome</th><th>max error</th><th>reason / upstream</th>'
              '<th>runs (where they disagree)</th></tr></thead><tbody></tbody></table></section>')
    note = ("<p>Each column but <em>gradients</em> counts forward cases; a case counts in every column it belongs "
            "to. Click a cell for its cases.</p>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>rnn_ref scoreboard</title>'
            '<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style>{CSS}</style></head><body>{header(merged, generated)}{banner}{filters(grids["all"], dtypes)}'
            f'{note}{grid_table(grids)}{detail}{sections(merged, grids_of.engine_order(merged))}'
            f'<script type="application/json" id="scoreboard-data">{payload(merged, grids["all"])}</script>'
            f'<script>{JS}</script></body></html>\n')

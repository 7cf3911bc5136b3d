"""``rnn-ref report RESULTS... --html OUT.html [--markdown OUT.md] [--svg OUT.svg]``: the scoreboard.

Reads results files (``rnn-ref check --results``, ``pytest --results``, ``python -m
rnn_ref.cli.conversions --results``; docs/results-schema.md), merges them (rnn_ref.results) and
writes the chosen outputs, each to a temporary file renamed into place: the one-file HTML page,
the Markdown (summary grid and conversions table) and the SVG summary image (rnn_ref.report).
At least one output is required. Exit 0 when written — failures in the results are shown, not
an error of the command; 2 for a usage error (no output, a file that is missing, not results,
truncated or of a newer schema version, an output that is a folder or one of the inputs), printed
as one line ``rnn-ref report: error: ...``. Cases on which runs disagree are flagged in every
output and named on stderr (exit 0).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from rnn_ref.results import Merged, ResultsError, read_results

OUTPUTS = ("html", "markdown", "svg")
#: at most this many disagreements are named on stderr (all of them are on the page)
NAMED_CONFLICTS = 10


def add_report(commands: Any) -> None:
    """The ``report`` sub-command on ``commands`` (the sub-parsers of ``rnn-ref``)."""
    from rnn_ref.cli import sub_command

    parser = sub_command(commands, "report", run_report,
        help="render results files as the scoreboard: an HTML page, Markdown tables, an SVG image",
        description="Merge RESULTS (JSON lines written by `rnn-ref check --results`, `pytest --results` or "
        "`python -m rnn_ref.cli.conversions --results`) and write the scoreboard: engines x features, each cell "
        "coloured by outcome, with its cases. Runs that disagree on a case are flagged, never resolved.")
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results files (JSON lines)")
    parser.add_argument("--html", type=Path, metavar="OUT.html", help="the self-contained page (no network needed)")
    parser.add_argument("--markdown", type=Path, metavar="OUT.md", help="the summary grid and conversions table")
    parser.add_argument("--svg", type=Path, metavar="OUT.svg", help="the summary image")


def checked_paths(args: argparse.Namespace) -> dict[str, Path]:
    """The outputs asked for, by option; a CommandError for an input or output that cannot be used."""
    from rnn_ref.cli import CommandError

    outputs = {name: getattr(args, name) for name in OUTPUTS if getattr(args, name) is not None}
    if not outputs:
        raise CommandError("nothing to write: give at least one of --html OUT.html, --markdown OUT.md, --svg OUT.svg")
    for path in args.results:
        if not path.exists():
            raise CommandError(f"{path}: no such results file")
        if path.is_dir():
            raise CommandError(f"{path}: is a directory, not a results file")
    inputs = {path.resolve() for path in args.results}
    seen: dict[Path, str] = {}
    for name, path in outputs.items():
        if path.is_dir():
            raise CommandError(f"--{name} {path}: is a directory; give the file to write")
        if path.resolve() in inputs:
            raise CommandError(f"--{name} {path}: is one of the results files read; give another file to write")
        if path.resolve() in seen:
            raise CommandError(f"--{name} {path}: is also --{seen[path.resolve()]}'s file; give each output its own")
        seen[path.resolve()] = name
    return outputs


def command_line(args: argparse.Namespace) -> str:
    """The command as the Markdown names it (what regenerates it)."""
    words = ["rnn-ref", "report", *map(str, args.results)]
    for name in OUTPUTS:
        if getattr(args, name) is not None:
            words += [f"--{name}", str(getattr(args, name))]
    return shlex.join(words)


def rendered(merged: Merged, name: str, command: str) -> str:
    from rnn_ref.report import html, markdown, svg
    from rnn_ref.report.grid import build_grid

    if name == "html":
        return html.page(merged)
    if name == "markdown":
        return markdown.report(merged, command)
    return svg.render(build_grid(merged))


def say_conflicts(merged: Merged) -> None:
    conflicts = merged.conflicts
    if not conflicts:
        return
    print(f"rnn-ref report: {len(conflicts)} case(s) on which runs disagree (flagged in every output, both runs "
          "shown):", file=sys.stderr)
    for (engine, kind, case), records in list(conflicts.items())[:NAMED_CONFLICTS]:
        runs = ", ".join(f"{r['run'].get('source')} run {r['run'].get('id')}: {r['outcome']}" for r in records)
        print(f"  {engine} {kind} {case}: {runs}", file=sys.stderr)
    if len(conflicts) > NAMED_CONFLICTS:
        print(f"  ... and {len(conflicts) - NAMED_CONFLICTS} more", file=sys.stderr)


def run_report(args: argparse.Namespace) -> int:
    from rnn_ref.cli import CommandError
    from rnn_ref.core.files import FileProblem, atomic_write_text

    outputs = checked_paths(args)
    try:
        merged = read_results(args.results)
    except ResultsError as error:
        raise CommandError(str(error)) from None
    command = command_line(args)
    for name, path in outputs.items():
        text = rendered(merged, name, command)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        except FileExistsError:
            raise CommandError(f"--{name} {path}: its folder {path.parent} is a file") from None
        except FileProblem as error:
            raise CommandError(str(error)) from None
        print(f"wrote {path}")
    say_conflicts(merged)
    return 0

"""Which conversions are correct: the converter engines' outcomes per cell variant, from a run.

``python -m rnn_ref.cli.conversions`` runs the whole case matrix live (through ``rnn-ref
check``'s own functions, so the verdicts are the suite's) on every installed converter engine —
a layer converted by a tool and run where the tool puts it: the registry rows that name the
engine they convert from (``EngineInfo.converts_from``) — and prints a Markdown table, cell
variant × engine, with the counts of pass / fail / unsupported / known defect and the largest
error, followed by every reason. The table is its run's results records rendered by
rnn_ref.report.markdown: the same table ``rnn-ref report --markdown`` renders from a results
file, which ``--results FILE`` writes (docs/results-schema.md, source ``conversions``).
``--update README.md`` replaces the table between the README's ``<!-- conversions:start -->``
and ``<!-- conversions:end -->`` markers (written to a temporary file and renamed). Every case
is one export or conversion (seconds each, the slowest tool tens of seconds): the whole matrix
takes hours for the slowest converter; ``--cases representative`` runs the recorded subset.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rnn_ref.adapters import ENGINES, load_adapter
from rnn_ref.cases.matrix import Case, all_cases
from rnn_ref.cli.check import EngineReport
from rnn_ref.cli.docs import between_markers
from rnn_ref.cli.progress import ProgressLine
from rnn_ref.core.compare import Comparison
from rnn_ref.core.files import atomic_write_text
from rnn_ref.judge.runner import FAIL, FAILING, CaseResult, rerun_command, run_case
from rnn_ref.report.markdown import case_set, conversion_table
from rnn_ref.results import ResultsWriter, merged_records
from rnn_ref.results.records import FORWARD

START, END = "<!-- conversions:start -->", "<!-- conversions:end -->"


def converter_engines() -> list[str]:
    """The engines that are a conversion (a layer built in one framework, converted by a tool, run
    elsewhere): the registry rows that name the engine they convert from, in registry order."""
    return [name for name, row in ENGINES.items() if row.converts_from]


def run_engine(engine: str, cases: list[Case]) -> EngineReport:
    """Every case on ``engine``, judged as ``rnn-ref check`` judges it (an exception is a failure)."""
    adapter = load_adapter(engine)
    version = adapter.version()
    report = EngineReport(engine, f"live, {version}", origin="live", version=version)
    progress = ProgressLine("python -m rnn_ref.cli.conversions")
    for index, case in enumerate(cases, 1):
        progress(engine, index, len(cases), case.id)
        try:
            report.results.append(run_case(adapter, case))
        except Exception as error:  # the tool raised: a failure of that case, and the run goes on
            comparison = Comparison("run", float("inf"), (), float("nan"), float("nan"), False,
                                    f"{type(error).__name__}: {error}")
            label = adapter.case_label(case)
            rerun = rerun_command(engine, label)
            report.results.append(CaseResult(engine, case, label, FAIL, [comparison], rerun=rerun))
    return report


def results_of(reports: list[EngineReport], writer: ResultsWriter) -> None:
    """Every verdict of ``reports`` into ``writer``, as results records (forward: a converter has no gradients)."""
    for report in reports:
        for result in report.results:
            writer.add(result, FORWARD, report.version, report.origin)


def render(reports: list[EngineReport], command: str, case_set: str, writer: ResultsWriter | None = None) -> str:
    """The Markdown table (variant × engine) and the reasons behind every non-pass, rendered from the
    reports' results records (added to ``writer``) by rnn_ref.report.markdown, as ``rnn-ref report
    --markdown`` renders them from a results file."""
    writer = writer or ResultsWriter(Path(), "conversions")
    results_of(reports, writer)
    return conversion_table(merged_records(writer.records), [r.engine for r in reports], command, case_set)


def update(path: Path, table: str) -> None:
    """Replace the text between the markers in ``path``, atomically."""
    try:
        updated = between_markers(path.read_text(encoding="utf-8"), START, END, table)
    except ValueError as error:
        raise SystemExit(f"{path}: {error}") from None
    atomic_write_text(path, updated)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnn_ref.cli.conversions", description=__doc__.split("\n")[0])
    parser.add_argument("--update", type=Path, metavar="README", help="replace the table between the markers")
    parser.add_argument("--results", type=Path, metavar="FILE", help="also write every verdict as JSON lines to "
                        "FILE (docs/results-schema.md, source conversions), for `rnn-ref report`")
    parser.add_argument("--cases", choices=("all", "representative"), default="all",
                        help="the whole matrix (default) or the recorded subset (golden fixtures REPRESENTATIVE)")
    args = parser.parse_args(argv)
    if args.results is not None and args.results.is_dir():
        parser.error(f"--results {args.results}: is a directory; give the file to write")
    converters = converter_engines()
    engines = [e for e in converters if ENGINES[e].installed()]
    missing = [e for e in converters if e not in engines]
    if missing:
        envs = " or ".join(f"tox -e {env}" for env in dict.fromkeys(ENGINES[e].requires for e in missing))
        print(f"not installed here: {', '.join(missing)} (run in {envs})", file=sys.stderr)
    if not engines:
        return 2
    from rnn_ref.golden.fixtures import representative_cases

    cases = all_cases() if args.cases == "all" else representative_cases()
    reports = [run_engine(engine, cases) for engine in engines]
    command = "python -m rnn_ref.cli.conversions" + (" --cases representative" if args.cases != "all" else "")
    writer = ResultsWriter(args.results or Path(), "conversions")
    table = render(reports, command + " --update README.md", case_set({case.id for case in cases}), writer)
    if args.results is not None:
        writer.write()
        print(f"wrote {len(writer.records)} result(s) to {args.results}", file=sys.stderr)
    if args.update:
        update(args.update, table)
        print(f"updated {args.update}")
    else:
        print(table)
    return 0 if not any(r.status in FAILING for report in reports for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())

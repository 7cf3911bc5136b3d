"""``rnn-ref check``: every engine against the reference, live where installed, else from fixtures.

Prints one table, engine × case group (the cell variant): cases, passed, failed, unsupported,
known defects and the largest error per dtype, then the largest gradient error per dtype
(live: every case differentiated by the engine; replayed: the fixtures' recorded gradients),
then every unsupported reason and every failure. Exit status 1 on any failure, forward or gradient.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn_ref.adapters import engine_info, load_adapter
from rnn_ref.cases.matrix import VARIANTS, all_cases
from rnn_ref.cli.progress import ProgressLine
from rnn_ref.core.compare import Comparison
from rnn_ref.golden.fixtures import FIXTURES_ROOT, FixtureError, load_all, not_recorded_results, replay_fixture
from rnn_ref.golden.gradient_replay import GradientFixtureError, replay_gradients
from rnn_ref.judge.runner import (
    FAIL,
    FAILING,
    GRAD_SUFFIX,
    KNOWN_DEFECT,
    PASS,
    UNSUPPORTED,
    CaseResult,
    bounded,
    gradient_rerun_command,
    not_returned,
    rerun_command,
    run_case,
    run_gradient_case,
)


@dataclass
class EngineReport:
    """The results of one engine and where they came from (a live run or recorded fixtures)."""

    engine: str
    source: str
    results: list[CaseResult] = field(default_factory=list)
    problem: str | None = None  # the engine could not be checked at all
    gradient_results: list[CaseResult] = field(default_factory=list)  # rnn_ref.judge.runner.run_gradient_case
    origin: str = ""  # "live" or "fixtures" (for --results)
    version: str = ""  # the engine's version: its own, or the one its fixtures were recorded with


Progress = Callable[[str, int, int, str], None]


def guarded(run: Callable, adapter, case, rerun: Callable[[str, str], str], suffix: str = "",
            seconds: float | None = None) -> CaseResult:
    """``run(adapter, case, seconds)``; an engine that raises, returns what the judge cannot read
    or does not return within ``seconds`` fails that case, and the run goes on."""
    try:
        return run(adapter, case, seconds)
    except Exception as error:
        comparison = Comparison("run", float("inf"), (), float("nan"), float("nan"), False,
                                f"{type(error).__name__}: {error}")
        label = case_label(adapter, case)
        return CaseResult(adapter.name, case, label + suffix, FAIL, [comparison], rerun=rerun(adapter.name, label))


def case_label(adapter, case) -> str:
    """The engine's label of ``case``; the case id where the engine is not called again (it hung)
    or its ``case_label`` raises."""
    if not_returned(adapter) is not None:
        return case.id
    try:
        return adapter.case_label(case)
    except Exception:
        return case.id


def live(engine: str, progress: Progress | None, seconds: float | None = None, jobs: int = 1) -> EngineReport:
    """Every case of the matrix, forward and gradients, run on ``engine``; each bounded by
    ``seconds`` (None: ``RNN_REF_CASE_TIMEOUT`` or the default). An engine whose call does not
    return fails that case, and is not called again: its remaining cases are reported not run.
    ``jobs`` > 1 runs the cases in that many worker processes (rnn_ref/cli/check_workers.py)."""
    cases = all_cases()
    if jobs > 1:
        from rnn_ref.cli.check_workers import live_in_workers

        return live_in_workers(engine, cases, jobs, progress, seconds)
    if progress:  # importing a framework takes seconds: say what is happening
        progress(engine, 0, len(cases), f"importing {engine_info(engine).requires}")
    try:
        adapter, version = loaded(engine, seconds)
    except Exception as error:  # a framework that is found but does not import, or a version() that hangs
        return EngineReport(engine, "live", problem=f"{type(error).__name__}: {error}")
    report = EngineReport(engine, f"live, {version}", origin="live", version=version)
    ticks = (lambda index, case: progress(engine, index, len(cases), case.id)) if progress else None
    why = run_cases(adapter, cases, report, seconds, ticks)
    if why is not None:
        report.problem = not_run_problem(len(cases), report, why)
    return report


def loaded(engine: str, seconds: float | None) -> tuple[Any, str]:
    """The engine's adapter and its version (a version() that does not return is bounded too)."""
    adapter = load_adapter(engine)
    return adapter, bounded(adapter, f"{engine}'s version()", seconds, adapter.version)


def run_cases(adapter, cases: list, report: EngineReport, seconds: float | None,
              ticks: Callable[[int, Any], None] | None = None) -> str | None:
    """Each case, forward then gradients, on ``adapter``, appended to ``report``; stops at a call
    that did not return, and returns what did not (None when every case ran)."""
    for index, case in enumerate(cases, 1):
        if ticks:
            ticks(index, case)
        report.results.append(guarded(run_case, adapter, case, rerun_command, seconds=seconds))
        if not_returned(adapter) is None:
            report.gradient_results.append(guarded(run_gradient_case, adapter, case, gradient_rerun_command,
                                                   GRAD_SUFFIX, seconds))
        why = not_returned(adapter)
        if why is not None:
            return why
    return None


def not_run_problem(total: int, report: EngineReport, why: str) -> str:
    forward, gradients = total - len(report.results), total - len(report.gradient_results)
    return (f"{forward} forward and {gradients} gradient case(s) not run: {why}, and an engine "
            "that did not return is not called again")


def replayed(engine: str, root: Path, progress: Progress | None) -> EngineReport:
    directory = root / engine
    try:
        manifest, fixtures = load_all(directory, engine)
        report = EngineReport(engine, f"fixtures, {manifest['engine_version']}", not_recorded_results(manifest),
                              origin="fixtures", version=manifest["engine_version"])
    except FixtureError as error:
        return EngineReport(engine, f"fixtures {directory}", problem=str(error))
    for index, fixture in enumerate(fixtures, 1):
        if progress:
            progress(engine, index, len(fixtures), fixture.case.id)
        try:
            report.results.append(replay_fixture(fixture))
            gradients = replay_gradients(engine, fixture, fixture.gradient_entry)
        except (FixtureError, GradientFixtureError) as error:
            report.problem = str(error)
            break
        if gradients is not None:
            report.gradient_results.append(gradients)
    return report


def check(engines: Iterable[str], fixtures_root: Path = FIXTURES_ROOT, progress: Progress | None = None,
          replay_only: bool = False, each_engine_must_check: bool = True,
          seconds: float | None = None, jobs: int = 1) -> list[EngineReport]:
    """Live runs for installed engines (unless ``replay_only``; each case bounded by ``seconds``,
    in ``jobs`` processes, see ``live``), fixture replays for the rest.

    An engine that checked nothing (no case passed, failed or reproduced a known defect: every
    one unsupported) is a problem of its report, and fails the run, when
    ``each_engine_must_check`` (the engines were named); else only when no engine checked anything.
    """
    reports = []
    for engine in engines:
        installed = engine_info(engine).installed()
        if installed and not replay_only:
            reports.append(live(engine, progress, seconds, jobs))
        elif (fixtures_root / engine).is_dir():
            reports.append(replayed(engine, fixtures_root, progress))
        else:
            why = "--replay-only was given" if installed else engine_info(engine).unavailable_reason()
            reports.append(EngineReport(engine, "-", problem=(
                f"{why} and there are no fixtures in {fixtures_root / engine} "
                f"(record them with `rnn-ref record --engine {engine}`)")))
    idle = {id(report): nothing_checked(report) for report in reports}
    if each_engine_must_check or all(idle.values()):
        for report in reports:
            report.problem = report.problem or idle[id(report)]
    return reports


def nothing_checked(report: EngineReport) -> str | None:
    """Why ``report`` checked nothing (every case unsupported), or None when some case was judged."""
    if report.problem:
        return None
    count = Counter(r.status for r in report.results)
    if count[PASS] or count[KNOWN_DEFECT] or any(count[s] for s in FAILING):
        return None
    return (f"nothing was checked: 0 passed, 0 failed, 0 known defects, all {count[UNSUPPORTED]} case(s) "
            "unsupported; a run that judges no case cannot pass")


def error_text(results: list[CaseResult], dtype: str) -> str:
    errors = [r.max_error for r in results if r.case.dtype == dtype and r.status in (PASS, *FAILING)]
    return f"{max(errors):.1e}" if errors else "-"


def render(reports: list[EngineReport]) -> str:
    header = f"{'engine':<11}{'group':<17}{'cases':>6}{'pass':>6}{'fail':>6}{'unsup':>6}{'defect':>7}" \
             f"{'max f32':>9}{'max f64':>9}{'grad f32':>10}{'grad f64':>10}"
    lines = [header, "-" * len(header)]
    notes: list[str] = []
    for report in reports:
        lines.append(f"{report.engine} ({report.source})")
        if report.problem:
            lines.append(f"  could not be checked: {report.problem}")
        by_group: dict[str, list[CaseResult]] = defaultdict(list)
        for result in report.results:
            by_group[result.case.variant].append(result)
        gradients_by_group: dict[str, list[CaseResult]] = defaultdict(list)
        for result in report.gradient_results:
            gradients_by_group[result.case.variant].append(result)
        for group in [v for v in VARIANTS if v in by_group]:
            results, gradients = by_group[group], gradients_by_group[group]
            count = Counter(r.status for r in results)
            lines.append(f"{'':<11}{group:<17}{len(results):>6}{count[PASS]:>6}{sum(count[s] for s in FAILING):>6}"
                         f"{count[UNSUPPORTED]:>6}{count[KNOWN_DEFECT]:>7}"
                         f"{error_text(results, 'float32'):>9}{error_text(results, 'float64'):>9}"
                         f"{error_text(gradients, 'float32'):>10}{error_text(gradients, 'float64'):>10}")
        for kind, results in (("", report.results), ("gradients: ", report.gradient_results)):
            reasons = Counter(r.reason for r in results if r.status in (UNSUPPORTED, KNOWN_DEFECT))
            notes += [f"{report.engine}: {kind}{count} case(s): {reason}" for reason, count in reasons.items()]
            notes += [r.report() for r in results if r.status in FAILING]
    if notes:
        lines += ["", "Unsupported, known defects and failures:"] + [f"- {note}" for note in notes]
    count = Counter(r.status for report in reports for r in report.results)
    summary = (f"{count[PASS]} passed, {sum(count[s] for s in FAILING)} failed, {count[UNSUPPORTED]} unsupported, "
               f"{count[KNOWN_DEFECT]} known defects")
    count = Counter(r.status for report in reports for r in report.gradient_results)
    summary += (f"; gradients: {count[PASS]} passed, {sum(count[s] for s in FAILING)} failed, "
                f"{count[UNSUPPORTED]} unsupported, {count[KNOWN_DEFECT]} known defects")
    broken = [report.engine for report in reports if report.problem]
    if broken:
        summary += f"; not checked: {', '.join(broken)}"
    lines += ["", summary]
    return "\n".join(lines)


def passed(reports: list[EngineReport]) -> bool:
    return not any(report.problem or any(r.status in FAILING for r in report.results + report.gradient_results)
                   for report in reports)


def write_results(reports: list[EngineReport], path: Path) -> int:
    """Every verdict of ``reports`` as JSON lines in ``path`` (docs/results-schema.md); the count."""
    from rnn_ref.results import ResultsWriter
    from rnn_ref.results.records import FORWARD, GRADIENTS

    writer = ResultsWriter(path, "check")
    for report in reports:
        for kind, results in ((FORWARD, report.results), (GRADIENTS, report.gradient_results)):
            for result in results:
                writer.add(result, kind, report.version, report.origin)
    writer.write()
    return len(writer.records)


def run_check(args: argparse.Namespace) -> int:
    from rnn_ref.adapters import registry
    from rnn_ref.cli import CommandError, case_timeout, engine_list

    if args.results is not None and args.results.is_dir():
        raise CommandError(f"--results {args.results}: is a directory; give the file to write")
    # Without --engines every plug-in is imported (bounded), and those that cannot be are reported.
    engines = list(registry()) if args.engines is None else engine_list(args.engines)
    reports = check(engines, args.fixtures, ProgressLine("rnn-ref check"), replay_only=args.replay_only,
                    each_engine_must_check=args.engines is not None, seconds=case_timeout(args), jobs=args.jobs)
    if args.engines is None:  # a plug-in that cannot be loaded is reported, and the others still run
        from rnn_ref.adapters import plugin_problems

        reports += [EngineReport(f"plug-in {p.name}", "not loaded", problem=p.describe()) for p in plugin_problems()]
    print(render(reports))
    if args.results is not None:
        from rnn_ref.core.files import FileProblem

        try:
            count = write_results(reports, args.results)
        except FileProblem as error:
            raise CommandError(str(error)) from None
        print(f"wrote {count} result(s) to {args.results}", file=sys.stderr)
    return 0 if passed(reports) else 1


def add_check(commands: Any) -> None:
    """The ``check`` sub-command on ``commands`` (the sub-parsers of ``rnn-ref``)."""
    from rnn_ref.cli import add_case_timeout_argument, sub_command

    checker = sub_command(commands, "check", run_check,
        help="run the case matrix on every installed engine, replay fixtures for the others",
        description="Check every engine against the reference: live where its framework is installed, "
        "else from its recorded fixtures. Prints engine x case group; exit 1 on any failure.",
    )
    checker.add_argument("--engines", help="comma-separated engines (default: all)")
    checker.add_argument("--fixtures", type=Path, default=FIXTURES_ROOT, help="fixtures folder (default: %(default)s)")
    checker.add_argument("--replay-only", action="store_true", help="replay fixtures even for installed engines")
    checker.add_argument("--results", type=Path, metavar="FILE",
                         help="also write every verdict as JSON lines to FILE (docs/results-schema.md), "
                         "for `rnn-ref report`")
    checker.add_argument("-j", "--jobs", type=positive_jobs, default=1, metavar="N",
                         help="run each live engine's cases in N worker processes, each with its share of the "
                         "CPUs' threads (default: 1, in this process)")
    add_case_timeout_argument(checker)


def positive_jobs(text: str) -> int:
    """``-j``'s value: a whole number of worker processes, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of worker processes (1 or more)")
    return value

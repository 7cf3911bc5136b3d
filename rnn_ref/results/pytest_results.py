"""``pytest --results FILE``: the matrix tests' verdicts as results records (docs/results-schema.md).

A matrix test hands its judged ``CaseResult`` to ``keep_verdict``, which attaches the record to
the test's report as a user property; a matrix test skipped as unsupported (it never runs) gets
its record attached by ``UnsupportedVerdicts`` when it is skipped. pytest-xdist carries user
properties from its workers to the controller, where ``ResultsCollector`` gathers the records of
every worker (each given the controller's run, so one session is one run) and writes the file
once the session ends.
A session started as a shard of a larger run (pytest-split's ``--splits/--group``) writes its
shard's records; files of several shards merge (``rnn-ref report A B C``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from rnn_ref.judge.runner import CaseResult
from rnn_ref.results.records import FORWARD, GRADIENTS, ResultsWriter, RunInfo, record_of

PROPERTY = "rnn_ref.result"
#: the run a record is made under where it is made; the collector gives it the session's run
WORKER_RUN = RunInfo("pytest")
OPTION = "rnn_ref_results"


@functools.cache
def engine_version(engine: str) -> str:
    from rnn_ref.adapters import load_adapter

    return load_adapter(engine).version()


def keep_verdict(request: pytest.FixtureRequest, result: CaseResult, kind: str) -> None:
    """Attach ``result``'s record to the running test's report, where ``--results`` was given."""
    if request.config.getoption(OPTION, None) is None:
        return
    record = record_of(result, kind, engine_version(result.engine), "live", WORKER_RUN)
    request.node.user_properties.append((PROPERTY, json.dumps(record)))


#: the matrix tests (by name) and what they judge; other tests keep no verdict
MATRIX_TESTS = {"test_engine_matches_reference": FORWARD, "test_engine_gradients_match_reference": GRADIENTS}


class UnsupportedVerdicts:
    """On every process: a matrix test skipped because its engine cannot express the case gets the
    ``unsupported`` record, with the engine's reason (a test skipped for another reason gets none)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        kind = MATRIX_TESTS.get(getattr(item, "originalname", ""))
        callspec = getattr(item, "callspec", None)
        if call.when != "setup" or not report.skipped or kind is None or callspec is None:
            return
        engine, case = callspec.params.get("engine"), callspec.params.get("case")
        if engine is None or case is None:
            return
        from rnn_ref.adapters import load_adapter
        from rnn_ref.judge.runner import UNSUPPORTED

        adapter = load_adapter(engine)
        reason = adapter.expectation(case.spec, case.dtype, case.with_lengths, gradients=kind == GRADIENTS).unsupported
        if reason is None:  # skipped for another reason (not differentiated live in this run)
            return
        result = CaseResult(engine, case, adapter.case_label(case), UNSUPPORTED, reason=reason)
        record = record_of(result, kind, engine_version(engine), "live", WORKER_RUN)
        report.user_properties.append((PROPERTY, json.dumps(record)))


class ResultsCollector:
    """The controller's (or a session without workers') collection of every test's records."""

    def __init__(self, path: Path) -> None:
        self.writer = ResultsWriter(path, "pytest")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                record: dict[str, Any] = json.loads(value)
                record["run"] = self.writer.run.to_json()
                self.writer.add_record(record)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.writer.write()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"rnn_ref: wrote {len(self.writer.records)} result(s) to {self.writer.path}")


def configure(config: pytest.Config) -> None:
    """Register the collector where ``--results`` was given, on the controller (a pytest-xdist
    worker only attaches records to its reports)."""
    path = config.getoption(OPTION, None)
    if path is None:
        return
    config.pluginmanager.register(UnsupportedVerdicts(), f"{OPTION}.unsupported")
    if hasattr(config, "workerinput"):
        return
    if Path(path).is_dir():
        raise pytest.UsageError(f"--results {path}: is a directory; give the file to write")
    config.pluginmanager.register(ResultsCollector(Path(path)), OPTION)

"""``rnn-ref check`` on long runs: ``-j N`` worker processes (rnn_ref/cli/check_workers.py) and the
progress it shows where stderr is not a terminal (rnn_ref/cli/progress.py).

``-j N`` must change nothing but the time: the report of N workers is the report of one process,
verdict for verdict and in matrix order, and an engine that does not return stops N workers as it
stops one. The worker runs use the example plug-in engine (NumPy alone, installed on the path for
this test and for the spawned workers), so they run in every env whatever engine is selected.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

import rnn_ref.cli.check
from rnn_ref.adapters import refresh_plugins
from rnn_ref.cases.matrix import Case, all_cases
from rnn_ref.cli import check_workers, main
from rnn_ref.cli.check import EngineReport
from rnn_ref.cli.check_workers import THREAD_VARIABLES, ChunkOutcome, merged_report, threads_per_worker
from rnn_ref.cli.progress import ProgressLine
from rnn_ref.judge.runner import PASS, CaseResult

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = [ROOT / "tests" / "plugin_packages" / "example", ROOT / "examples" / "numpy_lstm_adapter"]
#: forward and gradient verdicts of every kind: passes, unsupported modes and options
in_workers = check_workers.live_in_workers
FEW = [c for c in all_cases() if c.id.startswith(("lstm-L1-uni-", "gru-L1-uni-TNC", "lstm-L1-uni-rev"))]


@pytest.fixture
def example_engine(monkeypatch):
    """The example plug-in engine, installed here and (through PYTHONPATH) in spawned workers; where
    the env installs it already (the plugin envs), as it is (two distributions would declare it)."""
    folders = [] if importlib.util.find_spec("numpy_lstm_adapter") else EXAMPLE
    for folder in folders:
        monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*map(str, folders), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr(rnn_ref.cli.check, "all_cases", lambda: list(FEW))
    refresh_plugins()
    yield "numpy-lstm"
    monkeypatch.undo()
    refresh_plugins()


def test_two_workers_write_the_report_of_one_process(example_engine, capsys, tmp_path, monkeypatch):
    assert main(["check", "--engines", example_engine, "--results", str(tmp_path / "one.jsonl")]) == 0
    one = capsys.readouterr().out
    pools = []
    monkeypatch.setattr(check_workers, "live_in_workers", lambda *args: pools.append(args[2]) or in_workers(*args))
    assert main(["check", "--engines", example_engine, "-j", "2", "--results", str(tmp_path / "two.jsonl")]) == 0
    two = capsys.readouterr().out
    assert pools == [2]  # the cases ran in the pool of two workers
    assert two == one and "passed" in one
    records = [[{k: v for k, v in json.loads(line).items() if k != "run"}  # each run has its own id and time
                for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()]
               for name in ("one.jsonl", "two.jsonl")]
    assert records[0] == records[1] and len(records[0]) == 2 * len(FEW)


def result(engine: str, case: Case) -> CaseResult:
    return CaseResult(engine, case, case.id, PASS)


def outcome(engine: str, cases: list[Case], not_returned: str | None = None) -> ChunkOutcome:
    return ChunkOutcome("1.0", [result(engine, c) for c in cases], [result(engine, c) for c in cases],
                        not_returned=not_returned)


def test_the_chunks_are_put_back_in_matrix_order():
    cases = FEW[:6]
    chunks = [cases[:3], cases[3:]]
    report = merged_report("e", cases, chunks, {1: outcome("e", chunks[1]), 0: outcome("e", chunks[0])})
    assert [r.case.id for r in report.results] == [c.id for c in cases] and report.problem is None
    assert report.source == "live, 1.0"


def test_a_chunk_whose_engine_did_not_return_stops_the_report_as_one_process_stops():
    cases = FEW[:6]
    chunks = [cases[:3], cases[3:]]
    hung = outcome("e", chunks[0][:1], not_returned="run() of case x did not return within 1 s")
    report = merged_report("e", cases, chunks, {0: hung})  # chunk 1 was cancelled
    assert report.problem == ("5 forward and 5 gradient case(s) not run: run() of case x did not return within 1 s, "
                              "and an engine that did not return is not called again")


def test_an_engine_that_does_not_load_in_a_worker_is_the_engines_problem():
    report = merged_report("e", FEW[:2], [FEW[:2]], {0: ChunkOutcome(problem="ImportError: no module named x")})
    assert report == EngineReport("e", "live", problem="ImportError: no module named x")


def test_workers_get_their_share_of_the_threads_and_the_environment_is_restored(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's setting is kept
    with threads_per_worker(2):
        share = str(max(1, (os.cpu_count() or 1) // 2))
        assert (os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"]) == (share, share)
        assert os.environ["MKL_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in os.environ and os.environ["MKL_NUM_THREADS"] == "3"


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_number_of_jobs_is_one_line(value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["check", "--engines", "torch", "-j", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument -j/--jobs: {value!r} is not a whole number of worker processes" in err


class Pipe:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return False

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_piped_progress_is_a_line_every_interval_and_the_engines_last(monkeypatch):
    pipe, now = Pipe(), [0.0]
    monkeypatch.setattr(rnn_ref.cli.progress.sys, "stderr", pipe)
    progress = ProgressLine("rnn-ref check", interval=5, clock=lambda: now[0])
    for index, seconds in enumerate([0, 1, 4, 5.5, 7, 10.6, 12]):
        now[0] = seconds
        progress("torch", index, 6, f"case-{index}")
    assert pipe.text.splitlines() == ["rnn-ref check: torch 3/6 case(s), 6 s", "rnn-ref check: torch 5/6 case(s), 11 s",
                                      "rnn-ref check: torch 6/6 case(s), 12 s, done"]


def test_a_piped_run_shorter_than_the_interval_prints_nothing(monkeypatch):
    pipe, now = Pipe(), [0.0]
    monkeypatch.setattr(rnn_ref.cli.progress.sys, "stderr", pipe)
    progress = ProgressLine("rnn-ref check", interval=5, clock=lambda: now[0])
    for index in range(4):
        now[0] = index
        progress("torch", index, 3, f"case-{index}")
    assert pipe.text == ""

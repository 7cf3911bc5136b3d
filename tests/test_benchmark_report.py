"""benchmarks/bench_reference.py: each engine timed alone, and the README's table is a run's rendering.

The benchmark's numbers are a machine's, so no test times anything: these tests check that
every engine gets a process of its own (the harness cannot flatter one engine with another's
idle thread pools), that the goals are judged from the times (a slow reference misses), and
that the README's table is the rendering of the committed run (benchmarks/results/), not typed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "results" / "bench_reference.json"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_reference", ROOT / "benchmarks" / "bench_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


def timed(engine: str, best: float, shape: str = "LSTM") -> dict:
    return {"shape": shape, "engine": engine, "label": engine, "best": best, "median": best, "times": [best],
            "diff": 1e-7, "skipped": None}


def test_every_engine_is_timed_in_a_process_of_its_own(monkeypatch):
    children = []

    def fake_run(command, env):
        children.append(command)
        shape, engine = command[command.index("--child") + 1:command.index("--child") + 3]
        assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
        return subprocess.CompletedProcess(command, 0, json.dumps(timed(engine, 0.01, shape)), "")

    monkeypatch.setattr(bench, "run_child", fake_run)
    report = bench.run_all(["LSTM", "GRU"], 3, 2, "wall")
    assert [c[command_index(c):command_index(c) + 2] for c in children] == [
        [shape, engine] for shape in ("LSTM", "GRU") for engine in bench.FORWARD + bench.BACKWARD]
    assert all(c[0] == sys.executable for c in children) and len(report["results"]) == len(children)


def command_index(command: list[str]) -> int:
    return command.index("--child") + 1


def test_a_child_that_fails_is_reported_with_its_last_line(monkeypatch):
    monkeypatch.setattr(bench, "run_child", lambda command, env: subprocess.CompletedProcess(
        command, 1, "", "Traceback ...\nImportError: libtorch.so: cannot open shared object file"))
    report = bench.run_all(["GRU"], 1, 1, "cpu")
    assert {r["skipped"] for r in report["results"]} == {
        "failed: ImportError: libtorch.so: cannot open shared object file"}


def test_the_goals_are_judged_from_the_times():
    report = {"results": [timed("reference float32", 0.030), timed("torch.nn", 0.020),
                          timed("reference float64", 0.061), timed("numpy fused-gate loop", 0.029),
                          timed("reference backward float32", 0.100), timed("torch autograd fwd+bwd", 0.080)]}
    assert [(what, round(ratio, 2), met) for what, ratio, _, met in bench.goals(report)] == [
        ("LSTM: reference float32 / torch.nn", 1.5, True),
        ("LSTM: reference float64 / torch.nn", 3.05, False),  # past 3x: missed
        ("LSTM: reference backward float32 / torch autograd fwd+bwd", 1.25, True),
        ("LSTM: reference float32 / numpy fused-gate loop", 1.03, False)]  # slower than the loop: missed


def test_the_readme_table_is_the_rendering_of_the_committed_run():
    report = json.loads(RUN.read_text(encoding="utf-8"))
    table = bench.markdown(report, "python benchmarks/bench_reference.py --render "
                           "benchmarks/results/bench_reference.json --update README.md")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.split(bench.START, 1)[1].split(bench.END, 1)[0].strip("\n") == table
    # the committed run timed every engine it could: nothing failed or was missing
    assert [r["skipped"] for r in report["results"] if r["skipped"]] == [
        "not timed: it ignores sequence_lens (wrong numbers)"]


def test_a_changed_time_changes_the_table():
    report = json.loads(RUN.read_text(encoding="utf-8"))
    before = bench.markdown(report, "cmd")
    report["results"][0]["best"] *= 2
    assert bench.markdown(report, "cmd") != before

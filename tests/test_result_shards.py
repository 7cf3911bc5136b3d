"""The scoreboard's shards (.github/scoreboard.py, run by .github/workflows/scoreboard.yml).

The matrix tests run in pytest-split shards, each writing its own ``--results`` file; merged,
the shards must give exactly the verdicts of one unsharded run. The child runs select the example
plug-in engine (examples/numpy_lstm_adapter, NumPy alone, installed the way tests/test_plugins.py
installs it: on PYTHONPATH), so they check the same thing whatever engine this session selected,
in every tox env. They run this repository's matrix tests, so tests/conftest.py's ordering (a
case's gradient test right before its forward test) meets pytest-split's chunks, and the shards
run under pytest-xdist as the workflow runs them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rnn_ref.adapters import ENGINES
from rnn_ref.cases.matrix import all_cases
from rnn_ref.judge.runner import DEFECT_GONE, PASS, CaseResult
from rnn_ref.results import read_results
from rnn_ref.results.records import RunInfo, record_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = [ROOT / "tests" / "plugin_packages" / "example", ROOT / "examples" / "numpy_lstm_adapter"]


def load_scoreboard():
    spec = importlib.util.spec_from_file_location("scoreboard", ROOT / ".github" / "scoreboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scoreboard"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


scoreboard = load_scoreboard()
needs_split = pytest.mark.skipif(importlib.util.find_spec("pytest_split") is None,
                                 reason="pytest-split is not installed in this env (it is in the test extra: "
                                        "pip install -e .[test], or recreate the tox env)")
#: forward and gradient tests of the one-layer batch-major LSTM/GRU/RNN cases with initial states:
#: passes (forward) and unsupported cases (every gradient, GRU reset_after, projection) alike
SELECTION = "L1-uni-NTC-h0"
ONE_CASE = "lstm-L1-uni-TNC-f32"  # its forward and its gradient test: two tests, for three shards


@functools.cache
def example_installed_in(interpreter: str, path: str) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('numpy_lstm_adapter') is None)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = path
    return subprocess.run([interpreter, "-c", probe], env=env, capture_output=True).returncode == 0


def example_installed(env: dict[str, str]) -> bool:
    """Whether the example engine is installed in this interpreter (the plugin envs install it; then
    its folders must not go on the path as well: two distributions would declare numpy-lstm). Asked
    of a fresh child, not of this session, whose plug-in tests put the example on its sys.path."""
    return example_installed_in(sys.executable, env.get("PYTHONPATH", ""))


def child_env() -> dict[str, str]:
    """This interpreter's environment with the example engine installed, less this session's pytest
    and xdist variables (a child is a session of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT"))}
    folders = [] if example_installed(env) else [str(f) for f in EXAMPLE]
    env["PYTHONPATH"] = os.pathsep.join([*folders, str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def shard(directory: Path, splits: int, group: int, selection: str, workers: int = 2) -> int:
    results = scoreboard.results_path(directory, "numpy-lstm", group)
    argv = pytest_command(*scoreboard.pytest_argv("numpy-lstm", splits, group, results, workers=workers),
                          "-k", selection)
    return scoreboard.run_shard(argv, results, splits, group, env=child_env(), cwd=ROOT)


def unsharded(path: Path, selection: str) -> int:
    argv = pytest_command("--engines", "numpy-lstm", "--results", str(path), "-k", selection,
                          *scoreboard.MATRIX_TESTS)
    return subprocess.run(argv, env=child_env(), cwd=ROOT, capture_output=True, text=True).returncode


def concurrently(*runs: Callable[[], int]) -> list[int]:
    """Each run's exit code; the child sessions start together (most of their time is start-up)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        return [future.result() for future in [pool.submit(run) for run in runs]]


PLAN = [scoreboard.Shards("numpy-lstm", "plugin-tests", "numpy-lstm", 3)]


@needs_split
def test_three_shards_merge_to_the_verdicts_of_one_unsharded_run(tmp_path):
    shards = tmp_path / "shards"
    codes = concurrently(*[functools.partial(shard, shards, 3, group, SELECTION) for group in (1, 2, 3)],
                         lambda: unsharded(tmp_path / "whole.jsonl", SELECTION))
    assert codes == [0, 0, 0, 0]
    files = scoreboard.gather(shards, PLAN)
    assert [f.name for f in files] == ["numpy-lstm-1.jsonl", "numpy-lstm-2.jsonl", "numpy-lstm-3.jsonl"]

    merged, whole = read_results(files), read_results([tmp_path / "whole.jsonl"])
    assert not merged.conflicts
    assert merged.verdicts() == whole.verdicts()
    expected = {c.id for c in all_cases() if SELECTION in c.id}
    assert {case for _, _, case in whole.records} == expected and len(whole.records) == 2 * len(expected)
    assert {"pass", "unsupported"} <= set(whole.verdicts().values())  # both kinds of verdict went through

    per_shard = [set(read_results([f]).records) for f in files]
    assert all(per_shard) and sum(map(len, per_shard)) == len(merged.records)  # every case in exactly one shard
    assert len({r["run"]["id"] for found in merged.records.values() for r in found}) == 3  # a shard is a run
    # pytest-split chunks the order tests/conftest.py made (trylast): a case's gradient and forward
    # tests are split only where a chunk boundary falls between them, at most once per boundary.
    shard_of = {key: i for i, keys in enumerate(per_shard) for key in keys}
    split = [case for case in expected if shard_of[("numpy-lstm", "forward", case)]
             != shard_of[("numpy-lstm", "gradients", case)]]
    assert len(split) <= 2, split


@needs_split
def test_a_shard_without_matrix_tests_leaves_a_note_and_the_merge_goes_on(tmp_path):
    # group 3 gets no test (pytest-split's chunks: one test each for groups 1 and 2); under xdist, as in
    # the workflow, that is pytest's exit code 5, which is a shard like any other
    codes = concurrently(*[functools.partial(shard, tmp_path, 3, group, ONE_CASE, workers=2 if group == 3 else 0)
                           for group in (1, 2, 3)])
    assert codes == [0, 0, 0]
    assert not (tmp_path / "numpy-lstm-3.jsonl").exists()
    assert "group 3 of 3: no matrix test selected (pytest exit code 5)" in (tmp_path / "numpy-lstm-3.none").read_text()
    merged = read_results(scoreboard.gather(tmp_path, PLAN))
    case = next(c.id for c in all_cases() if ONE_CASE in c.id)
    assert merged.verdicts() == {("numpy-lstm", "forward", case): "pass",
                                 ("numpy-lstm", "gradients", case): "unsupported"}


def test_a_shard_that_delivered_nothing_fails_the_gather(tmp_path, capsys):
    (tmp_path / "numpy-lstm-1.jsonl").write_text("{}\n")
    (tmp_path / "numpy-lstm-3.none").write_text("group 3 of 3: no matrix test selected (pytest exit code 5)\n")
    with pytest.raises(SystemExit, match=r"1 shard\(s\) delivered no results: numpy-lstm group 2 of 3 \(numpy-lstm\)"):
        scoreboard.gather(tmp_path, PLAN)


def test_a_shard_whose_pytest_failed_before_writing_keeps_its_failure(tmp_path, capsys):
    results = tmp_path / "numpy-lstm-1.jsonl"
    assert scoreboard.finish_shard(4, results, 3, 1) == 4  # a usage error: no file, and no note either
    assert scoreboard.finish_shard(0, results, 3, 1) == 1  # passed, yet wrote nothing: not a shard that ran
    assert not results.with_suffix(".none").exists()
    assert "wrote no" in capsys.readouterr().err
    results.write_text("")  # a run that judged nothing (an empty file): noted, like exit code 5
    assert scoreboard.finish_shard(0, results, 3, 1) == 0 and results.with_suffix(".none").is_file()
    assert not results.exists()  # the merge reads no empty file (read_results refuses one)
    results.write_text("")  # every test errored: noted, and the shard still fails
    assert scoreboard.finish_shard(1, results, 3, 1) == 1
    assert "no case judged (pytest exit code 1)" in results.with_suffix(".none").read_text()


def record(outcome: str, engine_version: str) -> dict:
    case = next(c for c in all_cases() if c.id.startswith("gru-L1"))
    result = CaseResult("gluon", case, case.id, outcome, reason="lengths ignored in float32 (apache/mxnet#19323)")
    return record_of(result, "forward", engine_version, "live", RunInfo("pytest"))


def test_a_known_defect_that_no_longer_reproduces_is_printed_with_its_new_version_and_fails(tmp_path, capsys):
    path = tmp_path / "mxnet-1.jsonl"
    path.write_text(json.dumps(record(PASS, "mxnet 1.9.1")) + "\n" + json.dumps(record(DEFECT_GONE, "mxnet 2.0.0"))
                    + "\n")
    assert scoreboard.report_stale([path]) == 1
    out = capsys.readouterr()
    case = record(PASS, "")["case"]["id"]
    assert f"::error title=known defect no longer reproduces::gluon mxnet 2.0.0: forward of {case}" in out.out
    assert "apache/mxnet#19323" in out.out and "1 declared known defect(s) no longer reproduce" in out.err
    path.write_text(json.dumps(record(PASS, "mxnet 1.9.1")) + "\n")
    assert scoreboard.report_stale([path]) == 0


def test_the_plan_runs_every_engine_once_in_an_env_that_installs_it():
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    env_list = {e.strip() for e in tox["tox"]["env_list"].split(",")}
    planned = [e for row in scoreboard.SHARDS for e in row.engines.split(",")]
    assert sorted(planned) == sorted(ENGINES), "every built-in engine in exactly one row"
    for row in scoreboard.SHARDS:
        assert row.env in env_list and row.env in scoreboard.UPGRADES, row
        extras = {e.strip() for e in tox[f"testenv:{row.env}"]["extras"].split(",")}
        assert {ENGINES[e].requires for e in row.engines.split(",")} <= extras, row
    names = [row.name for row in scoreboard.SHARDS]
    assert len(set(names)) == len(names)
    jobs = scoreboard.matrix()["include"]
    assert len(jobs) == sum(row.splits for row in scoreboard.SHARDS)


def test_the_weekly_upgrade_takes_torch_from_its_cpu_index_first():
    commands = scoreboard.upgrade_commands("onnx", ["python"])
    assert commands[0][-4:] == ["--index-url", scoreboard.TORCH_CPU_INDEX, "torch", "torchvision"]
    assert "tf2onnx" in commands[1] and "torch" not in commands[1] and commands[-1] == ["python", "-m", "pip", "list"]
    assert all("--index-url" not in c for c in scoreboard.upgrade_commands("flax", ["python"]))

"""The scoreboard workflow's plan and checks (.github/workflows/scoreboard.yml).

The whole case matrix, every engine, sharded with pytest-split: ``SHARDS`` is the one list of
which engines run in which tox env, in how many shards. The workflow asks this script for

- ``matrix``: the shard jobs (one per row and group) as the JSON of a GitHub matrix;
- ``upgrade ROW``: in the weekly run, the pip commands that bring the row's frameworks to their
  latest releases inside its tox env (torch from its CPU index);
- ``shard ROW GROUP``: that shard's matrix tests, run in the row's tox env, writing
  ``results/<row>-<group>.jsonl``. A group that holds no matrix test (pytest's exit code 5, or a
  run that judged nothing) leaves ``results/<row>-<group>.none`` saying so, and passes;
- ``gather DIR``: every shard delivered (a results file or a ``.none`` note), else it fails
  naming the missing ones;
- ``stale DIR``: in the shards' results (``gather``'s), each declared known defect that no
  longer reproduces (outcome ``known defect no longer reproduces``: pytest's XPASS(strict)),
  printed with its engine, the engine's version and the declaration; exits 1 when there is any.

``matrix``, ``upgrade``, ``shard`` and ``gather`` need Python alone; ``stale`` reads the files
with rnn_ref. Run from the repository root: ``python .github/scoreboard.py matrix``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the two matrix tests: every (engine, case), forward and gradients (docs/results-schema.md)
MATRIX_TESTS = ("tests/test_equivalence.py::test_engine_matches_reference",
                "tests/test_gradient_equivalence.py::test_engine_gradients_match_reference")
#: torch's CPU wheels (PyPI's Linux torch pulls CUDA)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NO_TESTS_COLLECTED = 5  # pytest.ExitCode.NO_TESTS_COLLECTED


@dataclass(frozen=True)
class Shards:
    """One row of the plan: ``engines`` in tox env ``env``, split into ``splits`` shard jobs."""

    name: str  # results/<name>-<group>.jsonl
    env: str
    engines: str
    splits: int
    #: every gradient case, also on engines that declare slow_gradients (tox runs their pairwise subset)
    full_gradients: bool = False


# Shard counts keep each job under about 60 minutes on a 2-core runner, the tox env's set-up
# included (docs/design.md, section 5, has the measurements).
SHARDS = (
    Shards("torch", "torch", "torch,torch-cell", 1),
    Shards("tensorflow", "tensorflow", "keras", 1),
    Shards("mxnet", "mxnet", "gluon,gluon-cell", 1),
    Shards("onnx", "onnx", "onnx,onnx-reference,onnx2torch", 1),
    Shards("onnx-torch-export", "onnx", "torch-onnx,torch-onnx-reference", 1),
    Shards("onnx-tf2onnx", "onnx", "keras-tf2onnx", 2),
    Shards("openvino", "openvino", "openvino,openvino-dynamic,torch-openvino", 1),
    # 481 runnable cases each, 1-5 s CPU a lowering on the portable kernels, 5-15 s with XNNPACK
    Shards("executorch", "executorch", "torch-executorch", 1),
    Shards("executorch-xnnpack", "executorch", "torch-executorch-xnnpack", 2),
    Shards("litert", "litert", "keras-litert,keras-litert-fp16,keras-litert-int8", 1),
    Shards("keras-jax", "keras-jax", "keras-jax", 2, full_gradients=True),
    Shards("keras-torch", "keras-torch", "keras-torch", 1),
    Shards("flax", "flax", "flax,flax-optimized", 2, full_gradients=True),
    Shards("paddle", "paddle", "paddle", 1),
)

#: The weekly run's upgrades, per tox env: (from PyPI, from torch's CPU index). Every framework of
#: the env's extra (pyproject.toml), NumPy aside. mxnet 1.9.1 is MXNet's last release: its upgrade
#: finds nothing newer, and numpy stays below 1.24 for it.
UPGRADES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "torch": ((), ("torch",)),
    "tensorflow": (("tensorflow-cpu", "keras"), ()),
    "mxnet": (("mxnet", "numpy<1.24"), ()),
    "onnx": (("onnx", "onnxruntime", "onnxscript", "onnx2torch", "tensorflow-cpu", "keras", "tf2onnx"),
             ("torch", "torchvision")),  # onnx2torch's torchvision is built for one torch: upgraded with it
    "openvino": (("openvino", "onnx"), ("torch",)),
    "executorch": (("executorch",), ("torch",)),
    "litert": (("tensorflow-cpu", "keras", "ai-edge-litert"), ()),
    "keras-jax": (("keras", "jax[cpu]"), ()),
    "keras-torch": (("keras",), ("torch",)),
    "flax": (("flax", "jax[cpu]"), ()),
    "paddle": (("paddlepaddle",), ()),
}


def row(name: str) -> Shards:
    for shards in SHARDS:
        if shards.name == name:
            return shards
    raise SystemExit(f"scoreboard: no row {name!r} (rows: {', '.join(s.name for s in SHARDS)})")


def matrix() -> dict[str, list[dict[str, object]]]:
    """The shard jobs: one per (row, group)."""
    return {"include": [{"row": s.name, "env": s.env, "engines": s.engines, "group": group, "splits": s.splits}
                        for s in SHARDS for group in range(1, s.splits + 1)]}


def upgrade_commands(env: str, python: Sequence[str]) -> list[list[str]]:
    """The pip commands of the weekly run in tox env ``env`` (``python``: its interpreter): torch
    from its CPU index first, so that nothing after it pulls a CUDA torch (torch is then satisfied,
    and ``only-if-needed`` leaves it); last, the versions the run judges."""
    pypi, cpu_index = UPGRADES[env]
    pip = [*python, "-m", "pip"]
    install = [*pip, "install", "--upgrade", "--upgrade-strategy", "only-if-needed"]
    commands = []
    if cpu_index:
        commands.append([*install, "--index-url", TORCH_CPU_INDEX, *cpu_index])
    if pypi:
        commands.append([*install, *pypi])
    return [*commands, [*pip, "list"]]


def results_path(directory: Path, name: str, group: int) -> Path:
    return directory / f"{name}-{group}.jsonl"


def pytest_argv(engines: str, splits: int, group: int, results: Path, tests: Sequence[str] = MATRIX_TESTS,
                full_gradients: bool = False, workers: int = 2) -> list[str]:
    """One shard's pytest arguments (after ``python -m pytest``)."""
    xdist = ["-n", str(workers), "--dist", "worksteal"] if workers else []
    return [*xdist, "--engines", engines, "--splits", str(splits), "--group", str(group),
            "--results", str(results), *(["--full-gradients"] if full_gradients else []), *tests]


def record_count(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def finish_shard(returncode: int, results: Path, splits: int, group: int) -> int:
    """The shard's exit status once its pytest has ended with ``returncode``.

    A group without a matrix test is a shard like any other: pytest's exit code 5 (or a run that
    judged no case, and so wrote an empty file) leaves a ``.none`` note in place of the results
    file, so that ``gather`` knows the shard ran, and passes; a run that judged no case and failed
    (every test errored) leaves the note and keeps its failure. A run that wrote no file at all (it
    was interrupted, or its arguments were wrong) keeps its failing status, and ``gather`` names it."""
    note = results.with_suffix(".none")
    judged_nothing = record_count(results) == 0 if results.is_file() else returncode == NO_TESTS_COLLECTED
    if judged_nothing:
        results.unlink(missing_ok=True)
        why = "no matrix test selected" if returncode == NO_TESTS_COLLECTED else "no case judged"
        note.write_text(f"group {group} of {splits}: {why} (pytest exit code {returncode})\n", encoding="utf-8")
        print(f"scoreboard: {results.name}: group {group} of {splits}: {why}; wrote {note.name}")
        return 0 if returncode in (0, NO_TESTS_COLLECTED) else returncode
    if not results.is_file():
        print(f"scoreboard: error: the shard's pytest exited {returncode} and wrote no {results}", file=sys.stderr)
        return returncode or 1
    return returncode


def run_shard(argv: Sequence[str], results: Path, splits: int, group: int, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> int:
    """Run one shard (``argv``: the whole command) and finish it (``finish_shard``)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    results.with_suffix(".none").unlink(missing_ok=True)
    print("scoreboard: " + shlex.join(argv), flush=True)
    return finish_shard(subprocess.run(argv, env=env, cwd=cwd).returncode, results, splits, group)


def gather(directory: Path, plan: Sequence[Shards] = SHARDS) -> list[Path]:
    """The results files of every shard of ``plan`` under ``directory``; SystemExit naming each
    shard that left neither a results file nor a ``.none`` note (it crashed, or timed out)."""
    found, missing = [], []
    for shards in plan:
        for group in range(1, shards.splits + 1):
            results = results_path(directory, shards.name, group)
            if results.is_file():
                found.append(results)
            elif results.with_suffix(".none").is_file():
                print(f"scoreboard: {results.with_suffix('.none').name}: "
                      f"{results.with_suffix('.none').read_text(encoding='utf-8').strip()}")
            else:
                missing.append(f"{shards.name} group {group} of {shards.splits} ({shards.engines})")
    if missing:
        raise SystemExit(f"scoreboard: error: {len(missing)} shard(s) delivered no results: " + "; ".join(missing))
    return found


def stale_defects(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every record of a declared known defect that no longer reproduces, in ``paths``."""
    from rnn_ref.judge.runner import DEFECT_GONE
    from rnn_ref.results import read_results

    merged = read_results(paths)
    return [record for found in merged.records.values() for record in found if record["outcome"] == DEFECT_GONE]


def report_stale(paths: Sequence[Path]) -> int:
    stale = stale_defects(paths)
    for record in stale:
        print(f"::error title=known defect no longer reproduces::{record['engine']} {record['engine_version']}: "
              f"{record['kind']} of {record['case']['id']} now matches the reference; "
              f"its declaration is stale: {record['reason']}")
    if stale:
        print(f"scoreboard: {len(stale)} declared known defect(s) no longer reproduce: update each engine's "
              "defect declaration (its adapter) and the README's table", file=sys.stderr)
        return 1
    print(f"scoreboard: every declared known defect still reproduces ({len(paths)} results file(s))")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scoreboard.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("matrix", help="the shard jobs, as a GitHub matrix (JSON)")
    upgrade = commands.add_parser("upgrade", help="bring a row's frameworks to their latest releases in its tox env")
    upgrade.add_argument("row")
    shard = commands.add_parser("shard", help="run one shard in its tox env")
    shard.add_argument("row")
    shard.add_argument("group", type=int)
    shard.add_argument("--results-dir", type=Path, default=Path("results"))
    collect = commands.add_parser("gather", help="check that every shard delivered; list the results files")
    collect.add_argument("directory", type=Path)
    stale = commands.add_parser("stale", help="fail on every known defect that no longer reproduces")
    stale.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    tox = [sys.executable, "-m", "tox"]
    if args.command == "matrix":
        print(json.dumps(matrix()))
    elif args.command == "upgrade":
        shards = row(args.row)
        for command in upgrade_commands(shards.env, [*tox, "exec", "-e", shards.env, "--", "python"]):
            print("scoreboard: " + shlex.join(command), flush=True)
            subprocess.run(command, check=True)
    elif args.command == "shard":
        shards = row(args.row)
        if not 1 <= args.group <= shards.splits:
            raise SystemExit(f"scoreboard: group {args.group} is not in 1..{shards.splits} for {shards.name}")
        results = results_path(args.results_dir.resolve(), shards.name, args.group)
        argv = [*tox, "exec", "-e", shards.env, "--", "python", "-m", "pytest",
                *pytest_argv(shards.engines, shards.splits, args.group, results, full_gradients=shards.full_gradients)]
        return run_shard(argv, results, shards.splits, args.group)
    elif args.command == "gather":
        for path in gather(args.directory):
            print(path)
    elif args.command == "stale":
        return report_stale(gather(args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())

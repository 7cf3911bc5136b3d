"""``rnn-ref record``: run the representative cases on a real engine and write its fixtures.

Per case it runs the gradients first (an engine that computes the forward on the way gives it
to the forward run), then the forward, judged exactly as ``check`` judges them; a case that
fails refuses the whole recording, and one the adapter declares unsupported or a known defect
is listed under ``not_recorded``. What a fixture file and the manifest hold is
rnn_ref.golden.manifest's; the folder they go into, all or nothing, rnn_ref.golden.record_folder's.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref import __version__
from rnn_ref.adapters import load_adapter
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case
from rnn_ref.core.compare import GRADIENT_TOLERANCES, TOLERANCES
from rnn_ref.core.paths import FIXTURES_ROOT
from rnn_ref.golden.manifest import (
    GRAD_PREFIX,
    HELD_PREFIX,
    MANIFEST,
    WEIGHT_PREFIX,
    FixtureError,
    case_entry,
    representative_cases,
    tolerance_field,
)
from rnn_ref.golden.record_folder import (
    SigtermGuard,
    Terminated,
    prepare_output,
    remove_stale_scratch,
    replace_recording,
    scratch_prefix,
)
from rnn_ref.judge.runner import FAILING, PASS, CaseRun, GradientRun, execute_case, execute_gradient_case


def record(engine: str, out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run the representative cases on the real ``engine``; write the fixtures and the manifest.

    All or nothing: ``out_dir`` is checked before any case runs (it must be a folder or
    absent; an existing manifest must be valid, be ``engine``'s, and list only plain file names
    inside the folder), the new set is written to a scratch folder beside it, and only a
    complete recording replaces the files the old manifest listed. Files the old manifest does
    not list are never touched. A SIGTERM while the cases run stops the recording and removes
    the scratch folder; during the swap it waits (``SigtermGuard``). A scratch folder that
    a killed recording left (SIGKILL) is removed by the next one (``remove_stale_scratch``).
    """
    adapter = load_adapter(engine)
    cases = representative_cases()
    old_files = prepare_output(out_dir, [f"{case.id}.npz" for case in cases], engine)
    remove_stale_scratch(out_dir)
    try:
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f"{scratch_prefix(out_dir)}{os.getpid()}."))
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot write there ({error.strerror or error})") from None
    try:
        with SigtermGuard() as guard:
            try:
                manifest = record_into(adapter, engine, cases, staging, progress)
                guard.hold()
            except Terminated:
                raise FixtureError("stopped by SIGTERM: nothing was recorded; the previous recording is "
                                   "unchanged") from None
            replace_recording(staging, out_dir, old_files)
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def record_into(adapter: Adapter, engine: str, cases: list[Case], staging: Path,
                progress: Callable[[int, int, str], None] | None) -> dict:
    """Run ``cases`` and write their fixture files and the manifest (last) into ``staging``."""
    recorded, not_recorded = [], []
    for index, case in enumerate(cases, 1):
        if progress:
            progress(index, len(cases), case.id)
        # gradients first: an engine that computes the forward on the way gives it to execute_case
        try:
            gradients = execute_gradient_case(adapter, case)  # replayed: rnn_ref/golden/replay.py
            run = execute_case(adapter, case)
        except Exception as error:  # the engine raised, did not return in time, or returned junk
            raise FixtureError(f"refusing to record: {engine} on case {case.id}: {type(error).__name__}: "
                               f"{error}") from None
        result = run.result
        if result.status in FAILING:
            raise FixtureError(f"refusing to record:\n{result.report()}")
        if result.status != PASS:
            not_recorded.append({"id": case.id, **case_entry(case), "status": result.status,
                                 "reason": result.reason})
            continue
        if gradients.result.status in FAILING:
            raise FixtureError(f"refusing to record:\n{gradients.result.report()}")
        # the output judged may be the gradient run's (CaseRun.layer None): then so is the layer
        layer = gradients.layer if run.layer is None else run.layer
        recorded_file, gradient_file = recorded_arrays(adapter, run, layer), gradient_arrays(gradients)
        # numpy's stub matches **arrays against savez_compressed's allow_pickle: bool keyword, wrongly
        np.savez_compressed(staging / f"{case.id}.npz", **recorded_file, **gradient_file)  # type: ignore[arg-type]
        recorded.append({"id": case.id, "file": f"{case.id}.npz", **case_entry(case),
                         "tolerance": tolerance_field(TOLERANCES[case.dtype]),
                         "padded_steps": adapter.padded_steps(case.spec),
                         "gradients": gradient_entry(gradients)})
    manifest = {
        "engine": engine,
        "engine_version": adapter.version(),
        "recorded_with": f"rnn-ref record --engine {engine} (rnn_ref {__version__})",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cases": recorded,
        "not_recorded": not_recorded,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def recorded_arrays(adapter: Adapter, run: CaseRun, layer: Any) -> dict[str, np.ndarray]:
    """What one fixture file holds: the native weights of ``layer`` (the one that computed the
    output) and what its runtime held in their place (``held:``, for the engine's reference), inputs
    and the engine's results as judged."""
    data, output, spec = run.data, run.output, run.result.case.spec
    assert data is not None and output is not None  # only a passing run is recorded, and it has both
    native = adapter.native_arrays(spec, layer)
    arrays = {f"{WEIGHT_PREFIX}{name}": value for name, value in native.items()}
    arrays |= {f"{HELD_PREFIX}{name}": value for name, value in adapter.held_arrays(spec, layer).items()}
    arrays |= {"x": data.x, "output": output.output, "h_n": output.h_n}
    optional = {"c_n": output.c_n, "lengths": data.lengths}
    if data.initial_state is not None:
        optional |= {"h0": data.initial_state.h, "c0": data.initial_state.c}
    return arrays | {name: value for name, value in optional.items() if value is not None}


def gradient_entry(run: GradientRun) -> dict:
    """The manifest's ``gradients`` field for one recorded case."""
    result = run.result
    if result.status != PASS:
        return {"status": result.status, "reason": result.reason}
    return {"status": PASS, "tolerance": tolerance_field(GRADIENT_TOLERANCES[result.case.dtype])}


def gradient_arrays(run: GradientRun) -> dict[str, np.ndarray]:
    """What a passing gradient run adds to its fixture file (``grad:``-prefixed arrays)."""
    if run.result.status != PASS:
        return {}
    cot, got = run.cotangents, run.gradients
    assert cot is not None and got is not None  # a passing gradient run has both
    arrays = {"cot_output": cot.output, "cot_h_n": cot.h_n, "cot_c_n": cot.c_n, "x": got.x, "h0": got.h0,
              "c0": got.c0}
    arrays |= {f"{WEIGHT_PREFIX}{name}": value for name, value in got.native.items()}
    return {f"{GRAD_PREFIX}{name}": value for name, value in arrays.items() if value is not None}


def main_record(engine: str, out_dir: Path | None = None) -> dict:  # used by the CLI
    out = out_dir or FIXTURES_ROOT / engine

    def progress(index: int, total: int, case_id: str) -> None:
        if sys.stderr.isatty():
            print(f"\r[{index}/{total}] {engine} {case_id:<50}", end="", file=sys.stderr, flush=True)

    manifest = record(engine, out, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return manifest

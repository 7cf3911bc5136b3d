"""Golden fixtures: what a real engine computed, recorded so NumPy alone can check it later.

``record`` runs a representative subset of the case matrix on a real engine and writes, per
case, ``fixtures/<engine>/<case id>.npz`` holding the engine's native weights (``weight:<native
name>``), the inputs (``x``, ``h0``, ``c0``, ``lengths``) and the engine's results (``output``,
``h_n``, ``c_n``), plus ``fixtures/<engine>/manifest.json`` (engine and version, spec, case id,
tolerance, how it was recorded, and the cases not recorded with the reason).

``replay`` imports the recorded native weights through the engine's mapping rows (no
framework needed), recomputes with the reference and judges the recorded results exactly
like a live run. Fixtures are read with ``allow_pickle=False``; a corrupted, truncated or
mis-shaped one fails with a message that names the file and what is wrong.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn_ref import __version__
from rnn_ref.adapters import adapter_object, load_adapter
from rnn_ref.adapters.base import Adapter
from rnn_ref.cases import Case, small_matrix
from rnn_ref.compare import TOLERANCES, Tolerance
from rnn_ref.gradient_fixtures import GRAD_PREFIX, gradient_arrays, gradient_entry
from rnn_ref.reference import RNNOutput, State, forward
from rnn_ref.runner import FAILING, PASS, CaseResult, CaseRun, execute_case, execute_gradient_case, judge, verdict
from rnn_ref.spec import RNNSpec

FIXTURES_ROOT = Path(__file__).resolve().parent.parent / "fixtures"
MANIFEST = "manifest.json"
WEIGHT_PREFIX = "weight:"

#: The recorded subset: every variant in these layer/input configurations, chosen so each
#: engine feature (depth, both directions, both layouts, given states, lengths, no bias, both
#: dtypes) is recorded at least twice.
REPRESENTATIVE = [
    # (layers, bidirectional, layout, with_state, with_lengths, bias, dtype)
    (1, False, "TNC", False, False, True, "float32"),
    (2, True, "NTC", True, True, True, "float32"),
    (3, False, "NTC", True, False, True, "float64"),
    (2, True, "TNC", False, True, False, "float64"),
    (1, True, "NTC", True, False, False, "float32"),
    (2, False, "TNC", False, True, True, "float32"),
    (2, True, "NTC", True, False, True, "float64"),
    (3, True, "TNC", False, False, True, "float32"),
]


class FixtureError(ValueError):
    """A fixture file or manifest is unreadable, incomplete or inconsistent."""


def representative_cases() -> list[Case]:
    wanted = set(REPRESENTATIVE)
    return [
        c for c in small_matrix()
        if (c.spec.num_layers, c.spec.bidirectional, c.spec.layout, c.with_state, c.with_lengths, c.spec.bias,
            c.dtype) in wanted
    ]


def case_entry(case: Case) -> dict:
    return {"variant": case.variant, "spec": case.spec.to_dict(), "steps": case.steps, "batch": case.batch,
            "with_state": case.with_state, "with_lengths": case.with_lengths, "dtype": case.dtype}


def case_from_entry(entry: dict) -> Case:
    return Case(entry["variant"], RNNSpec.from_dict(entry["spec"]), entry["steps"], entry["batch"],
                entry["with_state"], entry["with_lengths"], entry["dtype"])


# --------------------------------------------------------------------------- record
def record(engine: str, out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run the representative cases on the real ``engine``; write the fixtures and the manifest.

    Everything is written to a fresh folder first and moved in only when the whole recording
    succeeded; in ``out_dir`` only the files an earlier manifest listed are replaced.
    """
    adapter = load_adapter(engine)
    recorded, not_recorded = [], []
    cases = representative_cases()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as scratch:
        staging = Path(scratch)
        for index, case in enumerate(cases, 1):
            if progress:
                progress(index, len(cases), case.id)
            run = execute_case(adapter, case)
            result = run.result
            if result.status in FAILING:
                raise FixtureError(f"refusing to record:\n{result.report()}")
            if result.status != PASS:
                not_recorded.append({"id": case.id, **case_entry(case), "status": result.status,
                                     "reason": result.reason})
                continue
            gradients = execute_gradient_case(adapter, case)  # gradients: rnn_ref/gradient_fixtures.py
            if gradients.result.status in FAILING:
                raise FixtureError(f"refusing to record:\n{gradients.result.report()}")
            np.savez_compressed(staging / f"{case.id}.npz", **recorded_arrays(adapter, run),
                                **gradient_arrays(gradients))
            tolerance = TOLERANCES[case.dtype]
            recorded.append({"id": case.id, "file": f"{case.id}.npz", **case_entry(case),
                             "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol},
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
        replace_recording(staging, out_dir)
    return manifest


def recorded_arrays(adapter: Adapter, run: CaseRun) -> dict[str, np.ndarray]:
    """What one fixture file holds: native weights, inputs and the engine's results as judged."""
    data, output, spec = run.data, run.output, run.result.case.spec
    native = adapter.native_arrays(spec, run.layer)
    arrays = {f"{WEIGHT_PREFIX}{name}": value for name, value in native.items()}
    arrays |= {"x": data.x, "output": output.output, "h_n": output.h_n}
    optional = {"c_n": output.c_n, "lengths": data.lengths}
    if data.initial_state is not None:
        optional |= {"h0": data.initial_state.h, "c0": data.initial_state.c}
    return arrays | {name: value for name, value in optional.items() if value is not None}


def replace_recording(staging: Path, out_dir: Path) -> None:
    """Move a finished recording into ``out_dir``, removing only what the old manifest listed."""
    out_dir.mkdir(exist_ok=True)
    if (out_dir / MANIFEST).is_file():
        old = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        for entry in old.get("cases", []):
            (out_dir / entry["file"]).unlink(missing_ok=True)
    for path in staging.iterdir():
        shutil.move(str(path), out_dir / path.name)


# --------------------------------------------------------------------------- load and replay
@dataclass(frozen=True)
class Fixture:
    """One recorded case: what went in and what the engine returned."""

    engine: str
    case: Case
    path: Path
    tolerance: Tolerance
    padded_steps: str
    weights: dict[str, np.ndarray]
    x: np.ndarray
    initial_state: State | None
    lengths: np.ndarray | None
    recorded: RNNOutput
    gradients: dict[str, np.ndarray] = field(default_factory=dict)  # the ``grad:`` arrays
    gradient_entry: dict | None = None  # the manifest's ``gradients`` field (None: not recorded)


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise FixtureError(f"{path}: unreadable manifest ({error})") from error
    missing = [key for key in ("engine", "engine_version", "cases") if key not in manifest]
    if missing:
        raise FixtureError(f"{path}: manifest lacks {missing}")
    return manifest


ENTRY_FIELDS = ("id", "file", "variant", "spec", "steps", "batch", "with_state", "with_lengths", "dtype",
                "tolerance", "padded_steps")


def load_fixture(directory: Path, manifest: dict, entry: dict) -> Fixture:
    where = f"{directory / MANIFEST}, entry {entry.get('id')!r}"
    missing = [name for name in ENTRY_FIELDS if name not in entry]
    if missing:
        raise FixtureError(f"{where}: lacks {missing}")
    path = directory / entry["file"]
    try:
        case = case_from_entry(entry)
    except (KeyError, TypeError, ValueError) as error:
        raise FixtureError(f"{where}: bad entry ({error})") from error
    if case.id != entry["id"]:
        raise FixtureError(f"{where}: describes case {case.id!r}")
    # The suite's own tolerance table and the engine's declared padding judge a replay; a
    # manifest that says otherwise was edited or recorded by another version of rnn_ref.
    tolerance = TOLERANCES[case.dtype]
    if entry["tolerance"] != {"atol": tolerance.atol, "rtol": tolerance.rtol}:
        raise FixtureError(f"{where}: tolerance {entry['tolerance']} differs from the table's {tolerance}")
    declared = adapter_object(manifest["engine"]).padded_steps(case.spec)
    if entry["padded_steps"] != declared:
        raise FixtureError(f"{where}: padded steps {entry['padded_steps']!r}, the adapter declares {declared!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise FixtureError(f"{path}: unreadable fixture ({type(error).__name__}: {error})") from error
    spec = case.spec
    steps_batch = (case.steps, case.batch) if spec.layout == "TNC" else (case.batch, case.steps)
    units = spec.num_layers * spec.num_directions
    expected = {"x": (*steps_batch, spec.input_size), "output": (*steps_batch, spec.output_size),
                "h_n": (units, case.batch, spec.state_size)}
    if spec.has_cell_state:
        expected["c_n"] = (units, case.batch, spec.hidden_size)
    if case.with_state:
        expected["h0"] = expected["h_n"]
        if spec.has_cell_state:
            expected["c0"] = expected["c_n"]
    if case.with_lengths:
        expected["lengths"] = (case.batch,)
    problems = [f"missing array {key!r}" for key in expected if key not in arrays]
    problems += [f"{key}: expected shape {shape}, got {arrays[key].shape}"
                 for key, shape in expected.items() if key in arrays and arrays[key].shape != shape]
    problems += [f"{key}: expected {case.dtype}, got {arrays[key].dtype}" for key in expected
                 if key in arrays and key != "lengths" and arrays[key].dtype != case.dtype]
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    problems = [f"{key} contains NaN or Inf" for key in expected
                if key != "lengths" and not np.isfinite(arrays[key]).all()]
    if case.with_lengths and not ((arrays["lengths"] >= 1) & (arrays["lengths"] <= case.steps)).all():
        problems.append(f"lengths {arrays['lengths'].tolist()} outside 1..{case.steps}")
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    weights = {k[len(WEIGHT_PREFIX):]: v for k, v in arrays.items() if k.startswith(WEIGHT_PREFIX)}
    return Fixture(
        manifest["engine"], case, path, tolerance, declared, weights,
        arrays["x"], State(arrays["h0"], arrays.get("c0")) if case.with_state else None, arrays.get("lengths"),
        RNNOutput(arrays["output"], arrays["h_n"], arrays.get("c_n")),
        {k: v for k, v in arrays.items() if k.startswith(GRAD_PREFIX)}, entry.get("gradients"),
    )


def replay_fixture(fixture: Fixture) -> CaseResult:
    """Import the recorded weights through the rows, recompute with the reference, judge the record."""
    adapter = adapter_object(fixture.engine)
    spec = fixture.case.spec
    try:
        params = adapter.mapping(spec).to_params(fixture.weights, f"{fixture.path} weights")
        expected = forward(spec, params, fixture.x, fixture.initial_state, fixture.lengths)
    except ValueError as error:
        raise FixtureError(f"{fixture.path}: {error}") from error
    comparisons = judge(spec, fixture.recorded, expected, fixture.lengths, fixture.padded_steps, fixture.tolerance)
    label = adapter.case_label(fixture.case)
    rerun = (f"pytest 'tests/test_fixtures.py::test_recorded_run_is_reproduced_by_the_reference"
             f"[{fixture.engine}-{fixture.case.id}]'")
    return verdict(fixture.engine, fixture.case, label, comparisons, None, rerun)


def load_all(directory: Path) -> tuple[dict, list[Fixture]]:
    manifest = read_manifest(directory)
    return manifest, [load_fixture(directory, manifest, entry) for entry in manifest["cases"]]


def not_recorded_results(manifest: dict) -> list[CaseResult]:
    """The cases the recording engine could not run (unsupported) or ran wrong (known defect)."""
    results = []
    for entry in manifest.get("not_recorded", []):
        case = case_from_entry(entry)
        label = adapter_object(manifest["engine"]).case_label(case)
        results.append(CaseResult(manifest["engine"], case, label, entry["status"], reason=entry["reason"]))
    return results


def main_record(engine: str, out_dir: Path | None = None) -> dict:  # used by the CLI
    out = out_dir or FIXTURES_ROOT / engine

    def progress(index: int, total: int, case_id: str) -> None:
        if sys.stderr.isatty():
            print(f"\r[{index}/{total}] {engine} {case_id:<50}", end="", file=sys.stderr, flush=True)

    manifest = record(engine, out, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return manifest

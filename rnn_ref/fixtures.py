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

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref import __version__
from rnn_ref.adapters import adapter_object, engine_names, load_adapter
from rnn_ref.adapters.base import Adapter
from rnn_ref.cases import DTYPES, VARIANTS, Case, small_matrix
from rnn_ref.compare import TOLERANCES, Tolerance
from rnn_ref.drift import DRIFT_BOUND_ULPS, GRADIENT_DRIFT_BOUND_ULPS, Drift, drift
from rnn_ref.files import read_npz
from rnn_ref.gradient_fixtures import GRAD_PREFIX, gradient_arrays, gradient_entry
from rnn_ref.reference import RNNOutput, State, forward
from rnn_ref.runner import (
    FAILING,
    KNOWN_DEFECT,
    PASS,
    UNSUPPORTED,
    CaseResult,
    CaseRun,
    execute_case,
    execute_gradient_case,
    judge,
    verdict,
)
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
            "with_state": case.with_state, "with_lengths": case.with_lengths, "dtype": case.dtype,
            "short_lengths": case.short_lengths}


def case_from_entry(entry: dict) -> Case:
    """The Case a manifest entry describes; a field of the wrong type or value raises ValueError naming it."""
    if entry.get("variant") not in VARIANTS:
        raise ValueError(f"variant {entry.get('variant')!r} is not one of {', '.join(VARIANTS)}")
    if entry.get("dtype") not in DTYPES.values():
        raise ValueError(f"dtype {entry.get('dtype')!r} is not one of {', '.join(DTYPES.values())}")
    for field in ("steps", "batch"):
        value = entry.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CASE_SIZE:
            raise ValueError(f"{field} {value!r} is not an integer in 1..{MAX_CASE_SIZE}")
    for field in ("with_state", "with_lengths", "short_lengths"):
        if not isinstance(entry.get(field, False), bool):
            raise ValueError(f"{field} {entry.get(field)!r} is not true or false")
    if not isinstance(entry.get("spec"), dict):
        raise ValueError(f"spec {entry.get('spec')!r} is not an object of RNNSpec fields")
    return Case(entry["variant"], RNNSpec.from_dict(entry["spec"]), entry["steps"], entry["batch"],
                entry["with_state"], entry["with_lengths"], entry["dtype"],
                short_lengths=entry.get("short_lengths", False))


#: No recorded case has more steps or samples than this (the matrix's largest has 200 steps).
MAX_CASE_SIZE = 10_000


# --------------------------------------------------------------------------- record
def record(engine: str, out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run the representative cases on the real ``engine``; write the fixtures and the manifest.

    All or nothing: ``out_dir`` is checked before any case runs (it must be a folder or
    absent; an existing manifest must be valid, and list only plain file names inside the
    folder), the new set is written to a scratch folder beside it, and only a complete
    recording replaces the files the old manifest listed. Files the old manifest does not list
    are never touched.
    """
    adapter = load_adapter(engine)
    cases = representative_cases()
    old_files = prepare_output(out_dir, [f"{case.id}.npz" for case in cases])
    recorded, not_recorded = [], []
    try:
        scratch_context = tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.")
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot write there ({error.strerror or error})") from None
    with scratch_context as scratch:
        staging = Path(scratch)
        for index, case in enumerate(cases, 1):
            if progress:
                progress(index, len(cases), case.id)
            # gradients first: an engine that computes the forward on the way gives it to execute_case
            try:
                gradients = execute_gradient_case(adapter, case)  # gradients: rnn_ref/gradient_fixtures.py
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
            np.savez_compressed(staging / f"{case.id}.npz", **recorded_arrays(adapter, run, layer),
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
        replace_recording(staging, out_dir, old_files)
    return manifest


def prepare_output(out_dir: Path, new_files: list[str]) -> list[str]:
    """Check ``out_dir`` before recording; return the files of its current recording (manifest last).

    Refused: an ``out_dir`` that is not a folder, an old manifest that is unreadable or names
    a file outside the folder or a non-file, and a new file name that would overwrite a file
    the old manifest does not list.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise FixtureError(f"{out_dir}: is not a folder; --output names the folder to record into")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot create it ({error.strerror or error})") from None
    old: list[str] = []
    if (out_dir / MANIFEST).exists():
        manifest = read_manifest(out_dir)
        old = [entry["file"] for entry in manifest["cases"]]
        not_files = [name for name in old if (out_dir / name).exists() and not (out_dir / name).is_file()]
        if not_files:
            raise FixtureError(f"{out_dir / MANIFEST} lists {', '.join(not_files)}, which are not files: "
                               "nothing was recorded or deleted; fix or remove the manifest")
        old.append(MANIFEST)
    foreign = [name for name in new_files if name not in old and (out_dir / name).exists()]
    if foreign:
        raise FixtureError(f"{out_dir}: recording would overwrite {', '.join(foreign)}, which its manifest does not "
                           "list; move them away first")
    return old


def replace_recording(staging: Path, out_dir: Path, old_files: list[str]) -> None:
    """Swap the finished recording in ``staging`` for the files of the old one, all or nothing.

    The old files move to a backup folder, the new ones move in; if any step fails, the new
    ones are taken out again and the old ones put back.
    """
    out_dir.mkdir(exist_ok=True)
    backup = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
    moved_out: list[str] = []
    moved_in: list[str] = []
    new_files = [*sorted(p.name for p in staging.iterdir() if p.name != MANIFEST), MANIFEST]  # manifest last
    try:
        for name in old_files:
            if (out_dir / name).exists():
                os.replace(out_dir / name, backup / name)
                moved_out.append(name)
        for name in new_files:
            os.replace(staging / name, out_dir / name)
            moved_in.append(name)
    except OSError as error:
        for name in reversed(moved_in):
            os.replace(out_dir / name, staging / name)
        for name in reversed(moved_out):
            os.replace(backup / name, out_dir / name)
        shutil.rmtree(backup, ignore_errors=True)
        raise FixtureError(f"{out_dir}: could not move the new recording in ({error.strerror or error}); "
                           "the previous recording is unchanged") from None
    shutil.rmtree(backup, ignore_errors=True)


def recorded_arrays(adapter: Adapter, run: CaseRun, layer: Any) -> dict[str, np.ndarray]:
    """What one fixture file holds: the native weights of ``layer`` (the one that computed the
    output), inputs and the engine's results as judged."""
    data, output, spec = run.data, run.output, run.result.case.spec
    native = adapter.native_arrays(spec, layer)
    arrays = {f"{WEIGHT_PREFIX}{name}": value for name, value in native.items()}
    arrays |= {"x": data.x, "output": output.output, "h_n": output.h_n}
    optional = {"c_n": output.c_n, "lengths": data.lengths}
    if data.initial_state is not None:
        optional |= {"h0": data.initial_state.h, "c0": data.initial_state.c}
    return arrays | {name: value for name, value in optional.items() if value is not None}


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
    gradients: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # the ``grad:`` arrays
    gradient_entry: dict | None = None  # the manifest's ``gradients`` field (None: not recorded)


def read_manifest(directory: Path) -> dict:
    """The manifest of a fixtures folder, its structure checked (types, known engine, plain file names).

    Only fields whose meaning is checked here are trusted later: a manifest is data that
    anyone can edit, and a hostile one must never make rnn_ref read or delete files outside
    its folder.
    """
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"{path}: no manifest (record the fixtures with `rnn-ref record`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FixtureError(f"{path}: unreadable manifest ({error})") from None
    problems = manifest_problems(manifest)
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    return manifest


def manifest_problems(manifest: object) -> list[str]:
    """What is wrong with a manifest's structure (each problem names its field or entry)."""
    if not isinstance(manifest, dict):
        return [f"a manifest is a JSON object, got {type(manifest).__name__}"]
    missing = [key for key in ("engine", "engine_version", "cases") if key not in manifest]
    if missing:
        return [f"manifest lacks {missing}"]
    problems = []
    if not isinstance(manifest["engine"], str) or manifest["engine"] not in engine_names():
        problems.append(f"engine {manifest['engine']!r} is not a known engine ({', '.join(engine_names())})")
    if not isinstance(manifest["engine_version"], str):
        problems.append(f"engine_version must be a string, got {manifest['engine_version']!r}")
    for field in ("cases", "not_recorded"):
        entries = manifest.get(field, [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            problems.append(f"{field} must be a list of objects, got {str(entries)[:60]!r}")
    if problems:
        return problems
    for entry in manifest["cases"]:
        name = entry.get("file")
        if "file" not in entry:
            problems.append(f"entry {entry.get('id')!r} lacks ['file']")
        elif not plain_file_name(name):
            problems.append(f"entry {entry.get('id')!r}: file {name!r} is not a plain .npz file name inside the "
                            "fixtures folder (no folders, no '..', not absolute)")
    for entry in manifest.get("not_recorded", []):
        if not isinstance(entry.get("id"), str) or entry.get("status") not in (UNSUPPORTED, KNOWN_DEFECT) \
                or not isinstance(entry.get("reason"), str):
            problems.append(f"not_recorded entry {str(entry)[:80]!r} needs an id, a status ({UNSUPPORTED!r} or "
                            f"{KNOWN_DEFECT!r}) and a reason")
    ids = [entry.get("id") for entry in manifest["cases"] + manifest.get("not_recorded", [])]
    repeated = sorted({str(i) for i in ids if ids.count(i) > 1})
    if repeated:
        problems.append(f"cases listed more than once: {', '.join(repeated)}")
    if not manifest["cases"] and not manifest.get("not_recorded"):
        problems.append("the manifest holds no case: nothing would be checked")
    return problems


def plain_file_name(name: object) -> bool:
    """A file name that stays inside its folder: no separators, no '..', not absolute, ends in .npz."""
    return (isinstance(name, str) and name.endswith(".npz") and name not in (".npz", "..npz")
            and "/" not in name and "\\" not in name and "\0" not in name and not name.startswith(".")
            and Path(name).name == name)


def coverage_problems(manifest: dict) -> list[str]:
    """The representative cases that a manifest neither recorded nor declared not recorded."""
    listed = {entry["id"] for entry in manifest["cases"] + manifest.get("not_recorded", [])}
    missing = [case.id for case in representative_cases() if case.id not in listed]
    if not missing:
        return []
    return [f"{len(missing)} representative case(s) are neither recorded nor declared not recorded: "
            f"{', '.join(missing)} (re-record with `rnn-ref record --engine {manifest['engine']}`)"]


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
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FixtureError(f"{where}: bad entry ({type(error).__name__}: {error})") from None
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
    arrays = read_npz(path, FixtureError, "fixture")
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


def load_all(directory: Path, engine: str | None = None) -> tuple[dict, list[Fixture]]:
    """The manifest and every fixture of a folder, all checked; ``engine``: the engine the folder must hold."""
    manifest = read_manifest(directory)
    if engine is not None and manifest["engine"] != engine:
        raise FixtureError(f"{directory / MANIFEST}: holds fixtures of {manifest['engine']!r}, not {engine!r}")
    problems = coverage_problems(manifest)
    if problems:
        raise FixtureError(f"{directory / MANIFEST}: " + "; ".join(problems))
    return manifest, [load_fixture(directory, manifest, entry) for entry in manifest["cases"]]


def recording_drifts(committed: list[Fixture], fresh: list[Fixture]) -> list[Drift]:
    """Every tensor of a fresh recording against the committed one (see rnn_ref.drift for the bound).

    Inputs and weights are drawn by NumPy's seeded generators and the results computed by the
    framework; all are judged in ULPs of their magnitude, never bit for bit, because the
    committed set was recorded on another machine. Lengths are integers and must be equal.
    """
    if [f.case.id for f in committed] != [f.case.id for f in fresh]:
        ids = sorted({f.case.id for f in committed} ^ {f.case.id for f in fresh})
        return [Drift(", ".join(ids), "recorded cases", float("inf"), float("inf"), False)]
    drifts = []
    for old, new in zip(committed, fresh, strict=True):
        case = old.case.id
        if (old.lengths is None) != (new.lengths is None) or (
                old.lengths is not None and not np.array_equal(old.lengths, new.lengths)):
            drifts.append(Drift(case, "lengths", float("inf"), float("inf"), False))
        pairs = {"x": (old.x, new.x)}
        if old.initial_state is not None and new.initial_state is not None:
            pairs |= {"h0": (old.initial_state.h, new.initial_state.h)}
            if old.initial_state.c is not None:
                pairs |= {"c0": (old.initial_state.c, new.initial_state.c)}
        for name in sorted(set(old.weights) | set(new.weights)):
            pairs[f"weight {name}"] = (old.weights.get(name, np.empty(0)), new.weights.get(name, np.empty(0)))
        for name in sorted(set(old.gradients) | set(new.gradients)):
            pairs[name] = (old.gradients.get(name, np.empty(0)), new.gradients.get(name, np.empty(0)))
        for tensor in ("output", "h_n", "c_n"):
            before, after = getattr(old.recorded, tensor), getattr(new.recorded, tensor)
            if before is not None or after is not None:
                pairs[tensor] = (before if before is not None else np.empty(0), after if after is not None
                                 else np.empty(0))
        drifts += [drift(case, tensor, before, after,
                         GRADIENT_DRIFT_BOUND_ULPS if tensor.startswith(GRAD_PREFIX) else DRIFT_BOUND_ULPS)
                   for tensor, (before, after) in pairs.items()]
    return drifts


def drift_report(engine: str, committed_manifest: dict, fresh_manifest: dict, drifts: list[Drift]) -> str | None:
    """None when every tensor is within the bound; else what changed, with both framework versions."""
    changed = [d.describe() for d in drifts if not d.within]
    if not changed:
        return None
    return (f"{engine} computes differently from its committed fixtures (committed with "
            f"{committed_manifest['engine_version']} on {committed_manifest.get('platform', 'an unnamed platform')}, "
            f"now {fresh_manifest['engine_version']} on {fresh_manifest.get('platform', 'this machine')}):\n  "
            + "\n  ".join(changed))


def not_recorded_results(manifest: dict) -> list[CaseResult]:
    """The cases the recording engine could not run (unsupported) or ran wrong (known defect)."""
    results = []
    for entry in manifest.get("not_recorded", []):
        try:
            case = case_from_entry(entry)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise FixtureError(f"not_recorded entry {entry.get('id')!r}: bad entry ({error})") from None
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

"""Replaying golden fixtures with NumPy alone: the recorded results judged against the reference.

``load_all`` reads a fixtures folder (rnn_ref.golden.manifest for the format): the manifest,
checked for structure, coverage of the representative cases and agreement with the adapter's
declarations, then every fixture file, checked for the arrays the case needs in the case's
shapes and dtype (x (T, N, I) or (N, T, I) in the case's layout, h (L·D, N, R), c (L·D, N, H),
lengths (N,) integers in 1..T, gradients shaped as what they are the gradient of).

``replay_fixture`` imports the recorded native weights through the engine's mapping rows (no
framework needed), recomputes with the reference forward and judges the recorded results
exactly like a live run (an engine that declares the reference of its quantized runtime,
``Adapter.reference``, is replayed against it, from the ``held:`` arrays recorded).
``replay_gradients`` does the same for the recorded gradients: weights and native gradients
through the rows (a ``sum`` row's gradient is each summand's), the reference backward on the
recorded inputs and cotangents, judged like a live gradient run.
A corrupted, truncated or mis-shaped fixture fails with a message that names the file and what
is wrong (FixtureError; GradientFixtureError for the gradient part).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_ref.adapters import adapter_object
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.matrix import Case
from rnn_ref.core.compare import GRADIENT_TOLERANCES, TOLERANCES, Tolerance
from rnn_ref.core.files import read_npz
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.golden.declarations import declaration_problems
from rnn_ref.golden.manifest import (
    GRAD_PREFIX,
    HELD_PREFIX,
    MANIFEST,
    WEIGHT_PREFIX,
    FixtureError,
    case_from_entry,
    contained_file,
    coverage_problems,
    entry_problems,
    gradient_entry_problem,
    read_manifest,
    short,
    tolerance_field,
)
from rnn_ref.judge.runner import (
    GRAD_SUFFIX,
    PASS,
    CaseResult,
    judge,
    judge_gradients,
    reference_gradients,
    verdict,
)


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
    held: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # the ``held:`` arrays, unprefixed


def load_fixture(directory: Path, manifest: dict, entry: dict) -> Fixture:
    """One recorded case of ``manifest`` (as ``read_manifest`` gives it): its entry and file checked.

    The file must lie in ``directory`` (a link that leads out of it is refused) and hold
    every array the case needs, in the case's shapes and dtype (``lengths``: integers in 1..T).
    """
    where = f"{directory / MANIFEST}, entry {short(entry.get('id'))}"
    problems = list(entry_problems(entry, recorded=True))
    if problems:
        raise FixtureError(f"{directory / MANIFEST}: {problems[0]}")
    case = case_from_entry(entry)
    # The suite's own tolerance table and the engine's declared padding judge a replay; a
    # manifest that says otherwise was edited or recorded by another version of rnn_ref.
    tolerance = TOLERANCES[case.dtype]
    if entry["tolerance"] != tolerance_field(tolerance):
        raise FixtureError(f"{where}: tolerance {short(entry['tolerance'])} differs from the table's {tolerance}")
    padding = adapter_object(manifest["engine"]).padded_steps(case.spec)
    if entry["padded_steps"] != padding:
        raise FixtureError(f"{where}: padded steps {short(entry['padded_steps'])}, the adapter declares {padding!r}")
    path = contained_file(directory, entry["file"], "fixture")
    arrays = read_npz(path, FixtureError, "fixture")
    spec = case.spec
    steps_batch = (case.steps, case.batch) if spec.layout == "TNC" else (case.batch, case.steps)
    units = spec.num_layers * spec.num_directions
    expected: dict[str, tuple[int, ...]] = {
        "x": (*steps_batch, spec.input_size), "output": (*steps_batch, spec.output_size),
        "h_n": (units, case.batch, spec.state_size)}
    if spec.has_cell_state:
        expected["c_n"] = (units, case.batch, spec.hidden_size)
    if case.with_state:
        expected["h0"] = expected["h_n"]
        if spec.has_cell_state:
            expected["c0"] = expected["c_n"]
    if case.with_lengths:
        expected["lengths"] = (case.batch,)
    problems = shape_problems(arrays, expected)
    problems += [f"{key}: expected {case.dtype}, got {arrays[key].dtype}" for key in expected
                 if key in arrays and key != "lengths" and arrays[key].dtype != case.dtype]
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    problems = [f"{key} contains NaN or Inf" for key in expected
                if key != "lengths" and not np.isfinite(arrays[key]).all()]
    if case.with_lengths and arrays["lengths"].dtype.kind not in "iu":
        problems.append(f"lengths: expected integers, got {arrays['lengths'].dtype}")
    elif case.with_lengths and not ((arrays["lengths"] >= 1) & (arrays["lengths"] <= case.steps)).all():
        problems.append(f"lengths {arrays['lengths'].tolist()} outside 1..{case.steps}")
    if problems:
        raise FixtureError(f"{path}: " + "; ".join(problems))
    weights = {k[len(WEIGHT_PREFIX):]: v for k, v in arrays.items() if k.startswith(WEIGHT_PREFIX)}
    return Fixture(
        manifest["engine"], case, path, tolerance, padding, weights,
        arrays["x"], State(arrays["h0"], arrays.get("c0")) if case.with_state else None, arrays.get("lengths"),
        RNNOutput(arrays["output"], arrays["h_n"], arrays.get("c_n")),
        {k: v for k, v in arrays.items() if k.startswith(GRAD_PREFIX)}, entry.get("gradients"),
        {k[len(HELD_PREFIX):]: v for k, v in arrays.items() if k.startswith(HELD_PREFIX)},
    )


def shape_problems(arrays: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]],
                   prefix: str = "") -> list[str]:
    """The arrays of ``shapes`` that ``arrays`` lacks or holds in another shape (named ``prefix`` + key)."""
    problems = [f"missing array {prefix + key!r}" for key in shapes if key not in arrays]
    return problems + [f"{prefix}{key}: expected shape {shape}, got {arrays[key].shape}"
                       for key, shape in shapes.items() if key in arrays and arrays[key].shape != shape]


def replay_fixture(fixture: Fixture) -> CaseResult:
    """Import the recorded weights through the rows, recompute with the engine's reference (``Adapter.reference``:
    the reference forward, or that of a quantized runtime from the recorded ``held:`` arrays), judge the record."""
    adapter = adapter_object(fixture.engine)
    spec = fixture.case.spec
    try:
        params = adapter.mapping(spec).to_params(fixture.weights, f"{fixture.path} weights")
        expected = adapter.reference(spec, params, fixture.x, fixture.initial_state, fixture.lengths, fixture.held)
    except ValueError as error:
        raise FixtureError(f"{fixture.path}: {error}") from error
    comparisons = judge(spec, fixture.recorded, expected, fixture.lengths, fixture.padded_steps, fixture.tolerance)
    label = adapter.case_label(fixture.case)
    rerun = (f"pytest 'tests/test_fixtures.py::test_recorded_run_is_reproduced_by_the_reference"
             f"[{fixture.engine}-{fixture.case.id}]'")
    return verdict(fixture.engine, fixture.case, label, comparisons, None, rerun)


def load_all(directory: Path, engine: str | None = None) -> tuple[dict, list[Fixture]]:
    """The manifest and every fixture of a folder, all checked; ``engine``: the engine the folder must hold.

    The manifest must cover the representative cases and agree with its adapter's declarations
    (``declaration_problems``) before any fixture file is read.
    """
    manifest = read_manifest(directory)
    if engine is not None and manifest["engine"] != engine:
        raise FixtureError(f"{directory / MANIFEST}: holds fixtures of {manifest['engine']!r}, not {engine!r}")
    problems = coverage_problems(manifest) + declaration_problems(manifest)
    if problems:
        raise FixtureError(f"{directory / MANIFEST}: " + "; ".join(problems))
    return manifest, [load_fixture(directory, manifest, entry) for entry in manifest["cases"]]


def not_recorded_results(manifest: dict) -> list[CaseResult]:
    """The cases the recording engine could not run (unsupported) or ran wrong (known defect).

    ``manifest`` is checked (``read_manifest``); a bad entry raises FixtureError naming it.
    """
    results = []
    for entry in manifest.get("not_recorded", []):
        problems = list(entry_problems(entry, recorded=False))
        if problems:
            raise FixtureError(f"not_recorded: {problems[0]}")
        case = case_from_entry(entry)
        label = adapter_object(manifest["engine"]).case_label(case)
        results.append(CaseResult(manifest["engine"], case, label, entry["status"], reason=entry["reason"]))
    return results


class GradientFixtureError(ValueError):
    """The gradient part of a fixture is incomplete or inconsistent."""


def replay_gradients(engine: str, fixture: Fixture, entry: dict | None) -> CaseResult | None:
    """Judge a fixture's recorded gradients against the reference backward (None: none recorded).

    ``fixture`` is a ``Fixture`` (its ``gradients`` hold the ``grad:`` arrays).
    """
    if entry is None:
        return None
    problem = gradient_entry_problem(entry)
    if problem:
        raise GradientFixtureError(f"{fixture.path}: {problem}")
    adapter: Adapter = adapter_object(engine)
    case, spec = fixture.case, fixture.case.spec
    label = adapter.case_label(case) + GRAD_SUFFIX
    rerun = (f"pytest 'tests/test_gradient_fixtures.py::test_recorded_gradients_are_reproduced_by_the_reference"
             f"[{engine}-{case.id}]'")
    where = f"{fixture.path} (gradients)"
    if entry["status"] != PASS:
        return CaseResult(engine, case, label, entry["status"], reason=entry["reason"], rerun=rerun)
    tolerance = GRADIENT_TOLERANCES[case.dtype]
    if entry.get("tolerance") != tolerance_field(tolerance):
        raise GradientFixtureError(f"{where}: tolerance {entry.get('tolerance')} differs from the table's {tolerance}")
    arrays = {k[len(GRAD_PREFIX):]: v for k, v in fixture.gradients.items()}
    shapes = {"cot_output": fixture.recorded.output.shape, "cot_h_n": fixture.recorded.h_n.shape,
              "x": fixture.x.shape}
    if spec.has_cell_state and fixture.recorded.c_n is not None:  # an LSTM fixture has c_n (load_fixture)
        shapes["cot_c_n"] = fixture.recorded.c_n.shape
    if fixture.initial_state is not None:
        shapes["h0"] = fixture.initial_state.h.shape
        if spec.has_cell_state and fixture.initial_state.c is not None:  # and c0 where states were given
            shapes["c0"] = fixture.initial_state.c.shape
    problems = shape_problems(arrays, shapes, GRAD_PREFIX)
    problems += [f"grad:{name}: expected {case.dtype}, got {arrays[name].dtype}" for name in arrays
                 if arrays[name].dtype != case.dtype]
    problems += [f"grad:{name} contains NaN or Inf" for name in arrays
                 if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all()]
    if problems:
        raise GradientFixtureError(f"{where}: " + "; ".join(problems))
    cotangents = Cotangents(arrays["cot_output"], arrays["cot_h_n"], arrays.get("cot_c_n"))
    native = {name[len(WEIGHT_PREFIX):]: value for name, value in arrays.items() if name.startswith(WEIGHT_PREFIX)}
    got = EngineGradients(arrays["x"], arrays.get("h0"), arrays.get("c0"), native)
    mapping = adapter.mapping(spec)
    try:
        params = mapping.to_params(fixture.weights, f"{fixture.path} weights")
        canonical = mapping.gradients_to_params(native, f"{where} native gradients")
        expected = reference_gradients(spec, params, fixture.x, fixture.initial_state, fixture.lengths, cotangents)
    except ValueError as error:
        raise GradientFixtureError(f"{where}: {error}") from error
    comparisons = judge_gradients(spec, got, canonical, expected, fixture.lengths, tolerance)
    return verdict(engine, case, label, comparisons, None, rerun, tolerance)

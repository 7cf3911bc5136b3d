"""Gradients in golden fixtures: recorded from an engine's autodiff, replayed with NumPy alone.

A fixture file (rnn_ref.golden.fixtures) of a case whose gradients were recorded also holds, under
the ``grad:`` prefix:

    grad:cot_output, grad:cot_h_n, grad:cot_c_n   the cotangents the engine was given
    grad:x, grad:h0, grad:c0                       the engine's gradients (h0/c0 when states were given)
    grad:weight:<native name>                      the gradient of every native parameter

and its manifest entry has ``"gradients": {"status": "pass", "tolerance": {...}}`` — or
``{"status": "unsupported" | "known defect", "reason": ...}`` when none were recorded. That
field must say what the engine's adapter declares for the case's gradients
(``gradient_declaration_problem``); it may be left out only where the adapter declares them
unsupported (sets recorded before gradients existed).
Replaying imports the recorded weights and native gradients through the engine's rows (a
``sum`` row's gradient is each summand's), runs the reference backward on the recorded
inputs and cotangents, and judges exactly like a live gradient run.
"""

from __future__ import annotations

import numpy as np

from rnn_ref.adapters import adapter_object
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.matrix import Case
from rnn_ref.core.compare import GRADIENT_TOLERANCES
from rnn_ref.judge.runner import (
    GRAD_SUFFIX,
    KNOWN_DEFECT,
    PASS,
    UNSUPPORTED,
    CaseResult,
    GradientRun,
    judge_gradients,
    reference_gradients,
    verdict,
)

GRAD_PREFIX = "grad:"
WEIGHT = "weight:"
#: What a manifest's ``gradients`` field may say.
GRADIENT_STATUSES = (PASS, UNSUPPORTED, KNOWN_DEFECT)


def gradient_entry(run: GradientRun) -> dict:
    """The manifest's ``gradients`` field for one recorded case."""
    result = run.result
    if result.status != PASS:
        return {"status": result.status, "reason": result.reason}
    tolerance = GRADIENT_TOLERANCES[result.case.dtype]
    return {"status": PASS, "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol}}


def gradient_entry_problem(entry: object) -> str | None:
    """What is wrong with the structure of a manifest's ``gradients`` field, or None."""
    if not isinstance(entry, dict):
        return f"gradients {short(entry)} is not an object with a status"
    status = entry.get("status")
    if status not in GRADIENT_STATUSES:
        return f"gradients status {short(status)} is not one of {', '.join(GRADIENT_STATUSES)}"
    if status == PASS and not isinstance(entry.get("tolerance"), dict):
        return f"gradients of status {PASS!r} need a tolerance"
    if status != PASS and not isinstance(entry.get("reason"), str):
        return f"gradients of status {status!r} need a reason"
    return None


def declared_gradients(adapter: Adapter, case: Case) -> tuple[str, str | None]:
    """What ``adapter`` declares for ``case``'s gradients, as ``execute_gradient_case`` reads it:
    (UNSUPPORTED, reason), (KNOWN_DEFECT, report), or (PASS, None)."""
    reason = adapter.gradient_unsupported_reason(case.spec, case.dtype, case.with_lengths)
    if reason is not None:
        return UNSUPPORTED, reason
    defect = adapter.gradient_known_defect(case.spec, case.dtype, case.with_lengths)
    return (KNOWN_DEFECT, defect) if defect is not None else (PASS, None)


def gradient_declaration_problem(adapter: Adapter, engine: str, case: Case, entry: dict | None) -> str | None:
    """Where a recorded case's ``gradients`` field (checked by ``gradient_entry_problem``; None:
    absent) disagrees with what ``adapter`` declares for the case's gradients, or None."""
    status, reason = declared_gradients(adapter, case)
    expected = status if reason is None else f"{status} ({short(reason, 400)})"
    if entry is None:
        return None if status == UNSUPPORTED else f"lacks 'gradients', but {engine}'s adapter declares them {expected}"
    got = (entry["status"], None if entry["status"] == PASS else entry["reason"])
    if got == (status, reason):
        return None
    claim = got[0] if got[1] is None else f"{got[0]} ({short(got[1])})"
    return f"gradients {claim}, but {engine}'s adapter declares them {expected}"


def short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a manifest's strings can be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def gradient_arrays(run: GradientRun) -> dict[str, np.ndarray]:
    """What a passing gradient run adds to its fixture file (``grad:``-prefixed arrays)."""
    if run.result.status != PASS:
        return {}
    cot, got = run.cotangents, run.gradients
    arrays = {"cot_output": cot.output, "cot_h_n": cot.h_n, "cot_c_n": cot.c_n, "x": got.x, "h0": got.h0,
              "c0": got.c0}
    arrays |= {f"{WEIGHT}{name}": value for name, value in got.native.items()}
    return {f"{GRAD_PREFIX}{name}": value for name, value in arrays.items() if value is not None}


class GradientFixtureError(ValueError):
    """The gradient part of a fixture is incomplete or inconsistent."""


def replay_gradients(engine: str, fixture, entry: dict | None) -> CaseResult | None:
    """Judge a fixture's recorded gradients against the reference backward (None: none recorded).

    ``fixture`` is a ``rnn_ref.golden.fixtures.Fixture`` (its ``gradients`` hold the ``grad:`` arrays).
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
    if entry.get("tolerance") != {"atol": tolerance.atol, "rtol": tolerance.rtol}:
        raise GradientFixtureError(f"{where}: tolerance {entry.get('tolerance')} differs from the table's {tolerance}")
    arrays = {k[len(GRAD_PREFIX):]: v for k, v in fixture.gradients.items()}
    shapes = {"cot_output": fixture.recorded.output.shape, "cot_h_n": fixture.recorded.h_n.shape,
              "x": fixture.x.shape}
    if spec.has_cell_state:
        shapes["cot_c_n"] = fixture.recorded.c_n.shape
    if fixture.initial_state is not None:
        shapes["h0"] = fixture.initial_state.h.shape
        if spec.has_cell_state:
            shapes["c0"] = fixture.initial_state.c.shape
    problems = [f"missing array 'grad:{name}'" for name in shapes if name not in arrays]
    problems += [f"grad:{name}: expected shape {shape}, got {arrays[name].shape}"
                 for name, shape in shapes.items() if name in arrays and arrays[name].shape != shape]
    problems += [f"grad:{name}: expected {case.dtype}, got {arrays[name].dtype}" for name in arrays
                 if arrays[name].dtype != case.dtype]
    problems += [f"grad:{name} contains NaN or Inf" for name in arrays
                 if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all()]
    if problems:
        raise GradientFixtureError(f"{where}: " + "; ".join(problems))
    cotangents = Cotangents(arrays["cot_output"], arrays["cot_h_n"], arrays.get("cot_c_n"))
    native = {name[len(WEIGHT):]: value for name, value in arrays.items() if name.startswith(WEIGHT)}
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

"""Recorded gradients: every engine's autodiff checked offline, through its fixtures.

`rnn-ref record` also stores, per recorded case, the cotangents the engine was given and the
gradients it returned (``grad:`` arrays, rnn_ref/golden/gradient_replay.py). Replaying needs NumPy
alone: the rows import the recorded native weights and native gradients, and the reference
backward must reproduce the recorded gradients within GRADIENT_TOLERANCES.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixture_files import rewrite

from rnn_ref.adapters import ENGINES, adapter_object
from rnn_ref.cli import main
from rnn_ref.golden.fixtures import (
    FIXTURES_ROOT,
    MANIFEST,
    FixtureError,
    load_all,
    load_fixture,
    read_manifest,
    representative_cases,
)
from rnn_ref.golden.gradient_replay import GradientFixtureError, replay_gradients
from rnn_ref.judge.runner import FAIL, KNOWN_DEFECT, PASS

WITH_GRADIENTS = [(engine, entry["id"]) for engine in ENGINES if (FIXTURES_ROOT / engine / MANIFEST).is_file()
                  for entry in read_manifest(FIXTURES_ROOT / engine)["cases"]
                  if entry.get("gradients", {}).get("status") == PASS]


@pytest.mark.parametrize(("fixture_engine", "case_id"), WITH_GRADIENTS, ids=[f"{e}-{c}" for e, c in WITH_GRADIENTS])
def test_recorded_gradients_are_reproduced_by_the_reference(fixture_engine, case_id):
    directory = FIXTURES_ROOT / fixture_engine
    manifest = read_manifest(directory)
    fixture = load_fixture(directory, manifest, next(e for e in manifest["cases"] if e["id"] == case_id))
    result = replay_gradients(fixture_engine, fixture, fixture.gradient_entry)
    assert result.status == PASS, f"recorded with {manifest['engine_version']}:\n{result.report()}"


def differentiates(engine: str) -> bool:
    """True for engines that run gradients on some recorded case (the others declare why not)."""
    adapter = adapter_object(engine)
    return any(adapter.gradient_unsupported_reason(c.spec, c.dtype, c.with_lengths) is None
               for c in representative_cases())


@pytest.mark.parametrize("recorded_engine", [engine for engine in ENGINES if differentiates(engine)])
def test_every_engine_recorded_gradients(recorded_engine):
    """Every committed set carries gradients (or the gradient defect it reproduced) for each recorded
    case whose gradients the engine can compute (a recording older than the engine's gradients has
    none: record it again)."""
    adapter = adapter_object(recorded_engine)
    entries = read_manifest(FIXTURES_ROOT / recorded_engine)["cases"]
    missing = [entry["id"] for entry in entries
               if adapter.gradient_unsupported_reason(*limit_inputs(entry)) is None
               and entry.get("gradients", {}).get("status") not in (PASS, KNOWN_DEFECT)]
    assert entries and not missing, f"rnn-ref record --engine {recorded_engine}: no gradients recorded for {missing}"


def limit_inputs(entry: dict) -> tuple:
    """(spec, dtype, with_lengths) of a manifest entry, as the adapter's declarations take them."""
    from rnn_ref.golden.manifest import case_from_entry

    case = case_from_entry(entry)
    return case.spec, case.dtype, case.with_lengths


def replay(directory, entry):
    _, fixtures = load_all(directory)
    fixture = next(f for f in fixtures if f.case.id == entry["id"])
    return replay_gradients("torch", fixture, fixture.gradient_entry)


def test_a_tampered_weight_gradient_fails_the_replay(torch_copy):
    directory, entry = torch_copy
    path = directory / entry["file"]
    with np.load(path) as archive:
        bias = archive["grad:weight:bias_hh_l0"].copy()
    bias[3] += 1e-3
    rewrite(path, **{"grad:weight:bias_hh_l0": bias})
    result = replay(directory, entry)
    assert result.status == FAIL
    assert "grad l0.fwd.b_hh.i: max abs error 1.000e-03" in result.report()


def test_a_missing_gradient_array_is_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], **{"grad:h0": None})
    with pytest.raises(GradientFixtureError, match=r"missing array 'grad:h0'"):
        replay(directory, entry)


def test_a_misshaped_cotangent_is_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], **{"grad:cot_h_n": np.zeros((1, 1), np.float32)})
    with pytest.raises(GradientFixtureError, match=r"grad:cot_h_n: expected shape \(4, 4, 5\), got \(1, 1\)"):
        replay(directory, entry)


def test_a_manifest_cannot_loosen_its_gradient_tolerance(torch_copy):
    directory, entry = torch_copy
    manifest = json.loads((directory / MANIFEST).read_text())
    next(e for e in manifest["cases"] if e["id"] == entry["id"])["gradients"]["tolerance"] = {"atol": 1.0, "rtol": 0}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(GradientFixtureError, match="differs from the table's"):
        replay(directory, entry)


def edit_every_case(directory, change) -> str:
    """Apply ``change`` to every recorded entry of the manifest; return the first entry's id."""
    manifest = json.loads((directory / MANIFEST).read_text())
    for entry in manifest["cases"]:
        change(entry)
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return manifest["cases"][0]["id"]


def check_torch_copy(directory, capsys) -> tuple[int, str]:
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(directory.parent)])
    return code, capsys.readouterr().out


def test_deleting_the_gradients_fields_cannot_switch_the_gradient_checks_off(torch_copy, capsys):
    """G02: without its ``gradients`` field a case's recorded gradients were silently not checked."""
    directory, _ = torch_copy
    first = edit_every_case(directory, lambda e: e.pop("gradients"))
    code, out = check_torch_copy(directory, capsys)
    assert code == 1 and f"{first}: lacks 'gradients', but torch's adapter declares them pass" in out
    assert "not checked: torch" in out


def test_an_unknown_gradient_status_is_refused(torch_copy, capsys):
    """G01: a status counted nowhere dropped every gradient check."""
    directory, _ = torch_copy
    edit_every_case(directory, lambda e: e.update(gradients={"status": "bogus"}))
    code, out = check_torch_copy(directory, capsys)
    assert code == 1 and "gradients status 'bogus' is not one of pass, unsupported, known defect" in out


@pytest.mark.parametrize("claim", [{"status": "known defect", "reason": "https://example.com/x"},
                                   {"status": "unsupported", "reason": "not today"}], ids=["known-defect", "unsupported"])
def test_a_gradient_status_the_adapter_does_not_declare_is_refused(torch_copy, capsys, claim):
    """G04: "known defect" with any link was taken at its word."""
    directory, _ = torch_copy
    first = edit_every_case(directory, lambda e: e.update(gradients=claim))
    code, out = check_torch_copy(directory, capsys)
    assert code == 1 and (f"{first}: gradients {claim['status']} ({claim['reason']!r}), but torch's adapter "
                          "declares them pass") in out


def test_a_gradient_array_of_another_dtype_is_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], **{"grad:x": np.full((4, 6, 3), "a")})
    with pytest.raises(GradientFixtureError, match=r"grad:x: expected float32, got <U1"):
        replay(directory, entry)


def test_check_fails_on_a_bad_recorded_gradient(torch_copy, capsys):
    directory, entry = torch_copy
    with np.load(directory / entry["file"]) as archive:
        rewrite(directory / entry["file"], **{"grad:x": archive["grad:x"] * 2.0})
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(directory.parent)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"torch disagrees with the reference on case {entry['id']}-grad" in out and "grad x: max abs error" in out
    assert "gradients: " in out.splitlines()[-1] and "1 failed" in out.splitlines()[-1]


def test_check_names_a_broken_gradient_fixture(torch_copy, capsys):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], **{"grad:x": None})
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(directory.parent)])
    out = capsys.readouterr().out
    assert code == 1 and "missing array 'grad:x'" in out and "not checked: torch" in out


def test_fixture_errors_stay_value_errors():
    assert issubclass(GradientFixtureError, ValueError) and issubclass(FixtureError, ValueError)

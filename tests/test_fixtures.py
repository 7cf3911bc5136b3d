"""Golden fixtures: every framework checked offline, through its recorded runs.

The committed fixtures were recorded from the real torch, Keras/TensorFlow and Gluon
(`rnn-ref record --engine E`). Replaying needs NumPy alone: the engine's mapping rows turn
the recorded native weights into canonical params, and the reference must reproduce the
recorded outputs and final states.
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
    replay_fixture,
    representative_cases,
)
from rnn_ref.judge.runner import FAIL, PASS

COMMITTED = [(engine, entry["id"]) for engine in ENGINES if (FIXTURES_ROOT / engine / MANIFEST).is_file()
             for entry in read_manifest(FIXTURES_ROOT / engine)["cases"]]


def test_every_engine_has_committed_fixtures_under_2_mb():
    for engine in ENGINES:
        directory = FIXTURES_ROOT / engine
        manifest = read_manifest(directory)
        assert manifest["engine"] == engine and manifest["engine_version"] and manifest["recorded_with"]
        runnable = [c for c in representative_cases()
                    if adapter_object(engine).unsupported_reason(c.spec, c.dtype, c.with_lengths) is None
                    and adapter_object(engine).known_defect(c.spec, c.dtype, c.with_lengths) is None]
        # flax-optimized is an LSTM only; an engine that runs no case at all (onnx2torch converts no
        # recurrent node) records only what it did not record, each with its reason
        assert len(manifest["cases"]) >= min(10, len(runnable)), engine
        assert all(e["reason"] for e in manifest["not_recorded"]), engine
        size = sum(path.stat().st_size for path in directory.iterdir())
        assert size < 2 * 1024 * 1024, f"{engine} fixtures are {size} bytes"


@pytest.mark.parametrize(("fixture_engine", "case_id"), COMMITTED, ids=[f"{e}-{c}" for e, c in COMMITTED])
def test_recorded_run_is_reproduced_by_the_reference(fixture_engine, case_id):
    directory = FIXTURES_ROOT / fixture_engine  # one fixture read per case (the whole set: test_check_replays_...)
    manifest = read_manifest(directory)
    fixture = load_fixture(directory, manifest, next(e for e in manifest["cases"] if e["id"] == case_id))
    result = replay_fixture(fixture)
    assert result.status == PASS, f"recorded with {manifest['engine_version']}:\n{result.report()}"


# ----------------------------------------------------------------------------- broken fixtures
def test_a_tampered_output_fails_the_replay(torch_copy):
    directory, entry = torch_copy
    path = directory / entry["file"]
    with np.load(path) as archive:
        output = archive["output"].copy()
    output.flat[7] += 1e-3
    rewrite(path, output=output)
    _, fixtures = load_all(directory)
    result = replay_fixture(next(f for f in fixtures if f.case.id == entry["id"]))
    assert result.status == FAIL
    assert "output: max abs error 1.000e-03" in result.report()


def test_a_truncated_file_is_named(torch_copy):
    directory, entry = torch_copy
    path = directory / entry["file"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(FixtureError, match=rf"{entry['file']}: not a readable fixture"):
        load_all(directory)


def test_a_missing_array_is_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], c0=None)
    with pytest.raises(FixtureError, match=r"missing array 'c0'"):
        load_all(directory)


def test_a_misshaped_array_is_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], h_n=np.zeros((1, 1, 1), np.float32))
    with pytest.raises(FixtureError, match=r"h_n: expected shape \(4, 4, 5\), got \(1, 1, 1\)"):
        load_all(directory)


def test_misshaped_weights_are_named(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], **{"weight:weight_ih_l0": np.zeros((2, 2), np.float32)})
    _, fixtures = load_all(directory)
    with pytest.raises(FixtureError, match=r"weight_ih_l0: expected shape \(20, 3\), got \(2, 2\)"):
        replay_fixture(next(f for f in fixtures if f.case.id == entry["id"]))


def test_a_pickled_array_is_never_loaded(torch_copy):
    directory, entry = torch_copy
    rewrite(directory / entry["file"], x=np.array([object()], dtype=object))
    with pytest.raises(FixtureError, match="allow_pickle=False"):
        load_all(directory)


def test_nan_in_a_fixture_is_named(torch_copy):
    directory, entry = torch_copy
    with np.load(directory / entry["file"]) as archive:
        x = archive["x"].copy()
    x.flat[0] = np.nan
    rewrite(directory / entry["file"], x=x)
    with pytest.raises(FixtureError, match=r"x contains NaN or Inf"):
        load_all(directory)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tolerance", {"atol": 1e9, "rtol": 0.0}, "differs from the table's"),
        ("padded_steps", "repeat_last", "the adapter declares 'zeros'"),
        ("file", None, "lacks ['file']"),
    ],
    ids=["loose-tolerance", "other-padding", "no-file"],
)
def test_a_manifest_cannot_loosen_its_own_judgement(torch_copy, field, value, message):
    directory, entry = torch_copy
    manifest = json.loads((directory / MANIFEST).read_text())
    target = next(e for e in manifest["cases"] if e["id"] == entry["id"])
    if value is None:
        del target[field]
    else:
        target[field] = value
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(FixtureError) as error:
        load_all(directory)
    assert message in str(error.value) and entry["id"] in str(error.value)


def test_a_broken_manifest_is_named(torch_copy):
    directory, _ = torch_copy
    (directory / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(FixtureError, match=r"manifest.json: unreadable manifest"):
        load_all(directory)


def test_a_manifest_entry_that_describes_another_case(torch_copy):
    directory, _ = torch_copy
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["cases"][0]["dtype"] = "float64" if manifest["cases"][0]["dtype"] == "float32" else "float32"
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(FixtureError, match="describes case"):
        load_all(directory)


# ----------------------------------------------------------------------------- rnn-ref check
def test_check_replays_every_framework_from_its_fixtures(capsys, monkeypatch):
    """The committed set: every built-in engine. (An installed plug-in has no fixtures here, so it
    would be a row that could not be checked: hidden, as if none were installed.)"""
    import rnn_ref.adapters.engine_registry

    monkeypatch.setattr(rnn_ref.adapters.engine_registry, "declared_plugins", lambda: ({}, ()))
    code = main(["check", "--replay-only"])
    out = capsys.readouterr().out
    assert code == 0, out
    for engine in ENGINES:
        assert f"{engine} (fixtures, " in out
    assert " 0 failed, " in out.splitlines()[-1]


def test_check_of_an_engine_that_runs_no_case_fails_when_it_is_named(capsys):
    """onnx2torch converts no recurrent node: it declares every case unsupported. Named alone it
    checks nothing, and that is no pass; among every engine (above) it is one row of the table."""
    code = main(["check", "--engines", "onnx2torch", "--replay-only"])
    out = capsys.readouterr().out
    assert code == 1 and (f"nothing was checked: 0 passed, 0 failed, 0 known defects, all {len(representative_cases())} case(s) "
                          "unsupported") in out
    assert out.splitlines()[-1].endswith("not checked: onnx2torch")


def test_check_names_a_broken_fixture_set_and_fails(torch_copy, capsys):
    directory, _ = torch_copy
    (directory / MANIFEST).write_text("[]")
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(directory.parent)])
    out = capsys.readouterr().out
    assert code == 1 and "could not be checked" in out and "not checked: torch" in out


def test_check_without_fixtures_says_why(tmp_path, capsys):
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "--replay-only was given and there are no fixtures in" in out or "is not installed and there are no fixtures in" in out


def test_check_fails_on_a_bad_fixture(torch_copy, capsys):
    directory, entry = torch_copy
    with np.load(directory / entry["file"]) as archive:
        rewrite(directory / entry["file"], h_n=archive["h_n"] + 1.0)
    code = main(["check", "--engines", "torch", "--replay-only", "--fixtures", str(directory.parent)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"torch disagrees with the reference on case {entry['id']}" in out and "h_n: max abs error" in out


@pytest.mark.parametrize(("engines", "message"), [("onnx-tf", "unknown engine 'onnx-tf'"), (",", "--engines names no engine")])
def test_check_usage_errors_exit_2(capsys, engines, message):
    assert main(["check", "--engines", engines]) == 2
    assert message in capsys.readouterr().err

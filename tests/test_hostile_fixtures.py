"""Fixture folders and manifests as a careless or hostile user leaves them.

A manifest is data anyone can edit. Whatever it says, ``rnn-ref record``, ``rnn-ref check``
and the replay never read or delete a file outside the fixtures folder, never lose the
previous recording, and never pass a run that checked nothing. Each problem is one clear
line naming the file and what is wrong (exit 1 for check, 2 for record), never a traceback.

These tests drive the real commands end to end with NumPy alone, through a test engine that
runs the reference behind the adapter interface (tests/reference_engine.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from reference_engine import registered_reference_engine  # noqa: F401 - a fixture

import rnn_ref.fixtures as fixtures_module
from rnn_ref.cli import main
from rnn_ref.fixtures import FIXTURES_ROOT, MANIFEST, FixtureError, load_all, read_manifest, record

ENGINE = "reference"


@pytest.fixture(scope="module")
def one_recording(tmp_path_factory, registered_reference_engine):  # noqa: F811
    folder = tmp_path_factory.mktemp("recording") / ENGINE
    record(ENGINE, folder)
    return folder


@pytest.fixture
def recorded(tmp_path, one_recording):
    """A complete recording of the test engine in tmp/fixtures/reference, and a file planted outside it."""
    folder = tmp_path / "fixtures" / ENGINE
    shutil.copytree(one_recording, folder)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    return folder, outside


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry of a folder with its bytes (folders as their listing), to show nothing changed."""
    return {path.name: path.read_bytes() if path.is_file() else str(sorted(p.name for p in path.iterdir()))
            for path in sorted(folder.iterdir())}


def edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    change(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ----------------------------------------------------------------------------- unsafe paths
@pytest.mark.parametrize("hostile", ["../../outside.txt", "{outside}", "sub/x.npz", "..", ".hidden.npz"],
                         ids=["dot-dot", "absolute", "subfolder", "parent", "hidden"])
def test_a_hostile_manifest_deletes_nothing_and_is_named(recorded, capsys, hostile):
    folder, outside = recorded
    name = hostile.format(outside=outside)
    edit_manifest(folder, lambda m: m["cases"][0].update(file=name))
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(folder))
    assert code == 2 and f"file {name!r} is not a plain .npz file name inside the fixtures folder" in err
    assert outside.read_text() == "precious" and snapshot(folder) == before
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and "not a plain .npz file name" in out and "not checked: reference" in out
    with pytest.raises(FixtureError, match=r"not a plain \.npz file name"):
        load_all(folder)


def forbid_running_a_case(monkeypatch) -> None:
    """Make running any case, forward or gradient, fail the test: what runs before a check fails."""
    for runner in ("execute_case", "execute_gradient_case"):
        monkeypatch.setattr(fixtures_module, runner, lambda *a: pytest.fail("a case ran before the check"))

def test_record_checks_the_old_manifest_before_running_anything(recorded, capsys, monkeypatch):
    folder, _ = recorded
    listed = read_manifest(folder)["cases"][0]["file"]
    (folder / listed).unlink()
    (folder / listed).mkdir()  # an entry of the old manifest is a directory
    before = snapshot(folder)
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(folder))
    assert code == 2 and f"lists {listed}, which are not files" in err
    assert snapshot(folder) == before


@pytest.mark.parametrize("manifest_text", [b"\xff\xfe garbage", b"[1, 2]", b'{"engine": "torch"}'],
                         ids=["random-bytes", "not-an-object", "incomplete"])
def test_an_unreadable_old_manifest_fails_before_recording(recorded, capsys, monkeypatch, manifest_text):
    folder, _ = recorded
    (folder / MANIFEST).write_bytes(manifest_text)
    before = snapshot(folder)
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(folder))
    assert code == 2 and f"{folder / MANIFEST}: " in err
    assert snapshot(folder) == before


def test_record_into_a_file_fails_before_recording(tmp_path, capsys, monkeypatch, registered_reference_engine):  # noqa: F811
    target = tmp_path / "fixtures.npz"
    target.write_bytes(b"a file")
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(target))
    assert code == 2 and "is not a folder; --output names the folder to record into" in err
    assert target.read_bytes() == b"a file"


def test_a_recording_that_fails_part_way_leaves_the_previous_set(recorded, capsys, monkeypatch):
    folder, _ = recorded
    before = snapshot(folder)
    original = fixtures_module.execute_case
    calls = []

    def fails_on_the_fifth_case(adapter, case):
        calls.append(case)
        if len(calls) == 5:
            raise RuntimeError("the engine crashed")
        return original(adapter, case)

    monkeypatch.setattr(fixtures_module, "execute_case", fails_on_the_fifth_case)
    with pytest.raises(FixtureError, match=r"refusing to record: .*RuntimeError: the engine crashed"):
        record(ENGINE, folder)
    assert snapshot(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == [ENGINE]  # no scratch folder left behind


def test_a_swap_that_fails_puts_the_previous_set_back(recorded, monkeypatch):
    folder, _ = recorded
    before = snapshot(folder)
    moves = []
    real_replace = os.replace

    def fails_on_the_tenth_move(source, target):
        moves.append(source)
        if len(moves) == 10:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(fixtures_module.os, "replace", fails_on_the_tenth_move)
    with pytest.raises(FixtureError, match=r"No space left on device.*the previous recording is unchanged"):
        record(ENGINE, folder)
    assert snapshot(folder) == before


def test_recording_again_replaces_only_its_own_files(tmp_path, registered_reference_engine):  # noqa: F811
    folder = tmp_path / ENGINE
    folder.mkdir()
    (folder / "notes.npz").write_bytes(b"someone else's file")
    record(ENGINE, folder)
    first = set(p.name for p in folder.iterdir())
    record(ENGINE, folder)
    assert (folder / "notes.npz").read_bytes() == b"someone else's file"
    assert set(p.name for p in folder.iterdir()) == first and MANIFEST in first


def test_record_never_overwrites_a_file_its_manifest_does_not_list(recorded, monkeypatch):
    folder, _ = recorded
    stranger = read_manifest(folder)["cases"][0]["file"]
    edit_manifest(folder, lambda m: m["cases"].pop(0))
    (folder / stranger).write_bytes(b"someone else's file")
    with pytest.raises(FixtureError, match=f"would overwrite {stranger}, which its manifest does not list"):
        record(ENGINE, folder)
    assert (folder / stranger).read_bytes() == b"someone else's file"


# ----------------------------------------------------------------------------- silent passes
def test_a_manifest_with_no_case_is_an_error_not_a_green_run(recorded, capsys):
    folder, _ = recorded
    edit_manifest(folder, lambda m: m.update(cases=[], not_recorded=[]))
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and "the manifest holds no case: nothing would be checked" in out
    assert "0 passed, 0 failed" in out and "not checked: reference" in out


def test_a_manifest_missing_representative_cases_names_them_and_fails(recorded, capsys):
    folder, _ = recorded
    removed = []
    edit_manifest(folder, lambda m: removed.extend([m["cases"].pop(3)["id"], m["cases"].pop(7)["id"]]))
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and "2 representative case(s) are neither recorded nor declared not recorded" in out
    assert all(case in out for case in removed)


def test_the_committed_manifests_cover_the_representative_set():
    for folder in sorted(p for p in FIXTURES_ROOT.iterdir() if p.is_dir()):
        assert fixtures_module.coverage_problems(read_manifest(folder)) == [], folder.name


# ----------------------------------------------------------------------------- wrong types
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(cases="lstm"), "cases must be a list of objects"),
        (lambda m: m.update(cases=7), "cases must be a list of objects"),
        (lambda m: m["cases"][0].update(dtype="float16"), "dtype 'float16' is not one of float32, float64"),
        (lambda m: m["cases"][0].update(steps="6"), "steps '6' is not an integer"),
        (lambda m: m["cases"][0].update(with_state="yes"), "with_state 'yes' is not true or false"),
        (lambda m: m["cases"][0].update(spec=[1]), "spec [1] is not an object"),
        (lambda m: m.update(engine="tensorflow"), "engine 'tensorflow' is not a known engine"),
        (lambda m: m.update(not_recorded="none"), "not_recorded must be a list of objects"),
        (lambda m: m.update(not_recorded=[{"id": "x"}]), "needs an id, a status"),
        (lambda m: m["cases"].append(dict(m["cases"][0])), "cases listed more than once"),
    ],
    ids=["cases-string", "cases-number", "float16", "steps-string", "state-string", "spec-list", "unknown-engine",
         "not-recorded-string", "not-recorded-entry", "duplicate"],
)
def test_manifest_fields_of_the_wrong_type_are_one_clear_line(recorded, capsys, change, message):
    folder, _ = recorded
    edit_manifest(folder, change)
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and message in out and "not checked: reference" in out


def test_random_bytes_instead_of_a_manifest(recorded, capsys):
    folder, _ = recorded
    (folder / MANIFEST).write_bytes(os.urandom(300))
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and "manifest.json: unreadable manifest" in out


def test_a_manifest_of_another_engine_is_refused(recorded, capsys, tmp_path):
    folder, _ = recorded
    other = tmp_path / "other" / "torch"
    shutil.copytree(folder, other)
    code, out, _ = run_cli(capsys, "check", "--engines", "torch", "--replay-only", "--fixtures", str(other.parent))
    assert code == 1 and "holds fixtures of 'reference', not 'torch'" in out


# ----------------------------------------------------------------------------- corrupt fixture files
def corrupt_deflate(path: Path) -> None:
    """Flip bytes inside the compressed data of the first member (the zip directory stays valid)."""
    data = bytearray(path.read_bytes())
    for offset in range(60, 90):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def huge_header(path: Path) -> None:
    """An .npy member whose header claims a (10^6, 10^6) float64 array (8 TB) over a few bytes of data."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + b"\0" * 64)  # the header starts with the magic string


def not_npy(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


@pytest.mark.parametrize(("damage", "message"),
                         [(corrupt_deflate, "not a readable fixture"), (huge_header, "claims shape (1000000, 1000000)"),
                          (not_npy, "member 'readme.txt' is not .npy data")],
                         ids=["broken-deflate", "huge-header", "not-npy"])
def test_a_corrupt_fixture_is_one_clear_line(recorded, capsys, damage, message):
    folder, _ = recorded
    entry = read_manifest(folder)["cases"][0]
    damage(folder / entry["file"])
    code, out, _ = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and f"{entry['file']}: " in out and message in out

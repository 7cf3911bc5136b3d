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

import rnn_ref.golden.fixtures as fixtures_module
import rnn_ref.golden.manifest as manifest_module
import rnn_ref.golden.recording as recording_module
from rnn_ref.adapters import adapter_object
from rnn_ref.cli import main
from rnn_ref.golden.fixtures import (
    FIXTURES_ROOT,
    MANIFEST,
    FixtureError,
    load_all,
    read_manifest,
    record,
    representative_cases,
)

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
        monkeypatch.setattr(recording_module, runner, lambda *a: pytest.fail("a case ran before the check"))

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
    original = recording_module.execute_case
    calls = []

    def fails_on_the_fifth_case(adapter, case):
        calls.append(case)
        if len(calls) == 5:
            raise RuntimeError("the engine crashed")
        return original(adapter, case)

    monkeypatch.setattr(recording_module, "execute_case", fails_on_the_fifth_case)
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

    monkeypatch.setattr(os, "replace", fails_on_the_tenth_move)
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


# ----------------------------------------------------------------------------- a manifest must agree with its adapter
def check_replay(capsys, folder: Path, engine: str = ENGINE):
    """``rnn-ref check --engines ENGINE --replay-only`` on the folder's parent: (exit code, stdout)."""
    code, out, _ = run_cli(capsys, "check", "--engines", engine, "--replay-only", "--fixtures", str(folder.parent))
    return code, out


def every_case_not_recorded(status: str, reason: str):
    """A manifest edit that moves every recorded case to ``not_recorded`` with ``status`` and ``reason``."""
    def change(manifest):
        manifest["not_recorded"] += [
            {key: value for key, value in entry.items() if key not in ("file", "tolerance", "padded_steps", "gradients")}
            | {"status": status, "reason": reason} for entry in manifest["cases"]]
        manifest["cases"] = []
    return change


def test_declaring_every_case_unsupported_cannot_pass_a_check(recorded, capsys):
    """F20d: the manifest says "unsupported" where the adapter declares that it runs the case."""
    folder, _ = recorded
    case = read_manifest(folder)["cases"][0]["id"]
    edit_manifest(folder, every_case_not_recorded("unsupported", "not today"))
    code, out = check_replay(capsys, folder)
    assert code == 1 and "not checked: reference" in out
    assert (f"{case}: not recorded as unsupported ('not today'), but reference's adapter declares no limit or defect "
            "for it: it must be recorded") in out


def test_a_not_recorded_known_defect_is_not_taken_at_its_word(recorded, capsys):
    folder, _ = recorded
    edit_manifest(folder, every_case_not_recorded("known defect", "https://example.com/x"))
    code, out = check_replay(capsys, folder)
    assert code == 1 and "not recorded as known defect ('https://example.com/x'), but reference's adapter declares " \
        "no limit or defect" in out


def test_a_not_recorded_reason_must_be_the_adapters_own(recorded, capsys):
    folder, _ = recorded
    entry = read_manifest(folder)["not_recorded"][0]
    edit_manifest(folder, lambda m: m["not_recorded"][0].update(reason="the moon was full"))
    code, out = check_replay(capsys, folder)
    assert code == 1 and (f"{entry['id']}: not recorded as unsupported ('the moon was full'), but reference's adapter "
                          f"declares it unsupported ({entry['reason']!r})") in out


def test_a_recorded_case_the_adapter_declares_unsupported_is_refused(recorded, capsys, monkeypatch):
    folder, _ = recorded
    entry = read_manifest(folder)["cases"][0]
    adapter = adapter_object(ENGINE)
    monkeypatch.setattr(type(adapter), "unsupported_reason", lambda self, spec, dtype, with_lengths: "gone")
    code, out = check_replay(capsys, folder)
    assert code == 1 and f"{entry['id']}: recorded, but reference's adapter declares it unsupported ('gone')" in out


def test_gradients_that_the_adapter_does_not_compute_cannot_be_declared_passing(recorded, capsys):
    folder, _ = recorded
    entry = read_manifest(folder)["cases"][0]
    tolerance = {"atol": 1.0, "rtol": 1.0}
    edit_manifest(folder, lambda m: m["cases"][0].update(gradients={"status": "pass", "tolerance": tolerance}))
    code, out = check_replay(capsys, folder)
    assert code == 1 and f"{entry['id']}: gradients pass, but reference's adapter declares them unsupported" in out


def test_a_check_that_checked_nothing_fails_for_an_engine_it_was_asked_about(recorded, capsys, monkeypatch, tmp_path):
    adapter = adapter_object(ENGINE)
    monkeypatch.setattr(type(adapter), "unsupported_reason", lambda self, spec, dtype, with_lengths: adapter.limits[0])
    folder = tmp_path / "declines" / ENGINE
    record(ENGINE, folder)  # every case declared unsupported by the adapter itself: nothing recorded
    assert read_manifest(folder)["cases"] == []
    code, out = check_replay(capsys, folder)
    assert code == 1 and (f"nothing was checked: 0 passed, 0 failed, 0 known defects, all {len(representative_cases())} case(s) "
                          "unsupported") in out
    assert out.splitlines()[-1].endswith("not checked: reference")


def test_a_recording_without_gradients_replays_where_the_adapter_declares_none(recorded, capsys):
    """Sets recorded before gradients existed have no ``gradients`` field: the test engine has no run_gradients."""
    folder, _ = recorded
    edit_manifest(folder, lambda m: [entry.pop("gradients") for entry in m["cases"]])
    code, out = check_replay(capsys, folder)
    assert code == 0, out


def test_the_committed_manifests_agree_with_their_adapters():
    """Every built-in adapter declares what it runs without its framework (this env may have none)."""
    for folder in sorted(p for p in FIXTURES_ROOT.iterdir() if p.is_dir()):
        assert fixtures_module.declaration_problems(read_manifest(folder)) == [], folder.name


# ----------------------------------------------------------------------------- hostile fields, one clear line each
def not_recorded_copy(manifest, **changes):
    """A manifest edit: the first not-recorded entry with ``changes`` (None: the field removed)."""
    entry = manifest["not_recorded"][0]
    entry.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        del entry[key]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["cases"][0].update(id=[1, 2]), "entry [1, 2]: id must be a string"),
        (lambda m: m["cases"][0].update(id={"a": 1}), "entry {'a': 1}: id must be a string"),
        (lambda m: m["cases"][0].pop("id"), "an entry without an id (file 'rnn_tanh-L1-uni-TNC-f32.npz'): id must be a string"),
        (lambda m: not_recorded_copy(m, variant=None), "variant None is not one of"),
        (lambda m: not_recorded_copy(m, variant="bogus"), "variant 'bogus' is not one of"),
        (lambda m: not_recorded_copy(m, spec={**m["not_recorded"][0]["spec"], "num_layers": 10**9}),
         "num_layers"),
        (lambda m: m["cases"][0].update(gradients="pass"), "gradients 'pass' is not an object"),
        (lambda m: m["cases"][0].update(gradients={"status": "bogus"}),
         "gradients status 'bogus' is not one of pass, unsupported, known defect"),
        (lambda m: m["cases"][0].update(gradients={"status": "unsupported", "reason": 7}),
         "gradients of status 'unsupported' need a reason"),
        (lambda m: m["cases"][0].update(gradients={"status": "pass"}), "gradients of status 'pass' need a tolerance"),
        (lambda m: m["cases"][0].update(tolerance="tight"), "tolerance 'tight' differs from the table's"),
        (lambda m: m["cases"][0].pop("padded_steps"), "lacks ['padded_steps']"),
    ],
    ids=["id-list", "id-object", "id-missing", "not-recorded-no-variant", "not-recorded-bad-variant",
         "not-recorded-huge-spec", "gradients-string", "gradients-bogus-status", "gradients-reason-number",
         "gradients-pass-without-tolerance", "tolerance-string", "no-padded-steps"],
)
def test_hostile_manifest_fields_are_one_clear_line_in_the_report(recorded, capsys, change, message):
    """H01, H02, H03, F20e, F20f, H16, G03: each field is checked before it is used."""
    folder, _ = recorded
    edit_manifest(folder, change)
    code, out = check_replay(capsys, folder)
    assert code == 1 and message in out and "not checked: reference" in out


def test_a_manifest_nested_too_deep_is_named(recorded, capsys):
    """SY7: JSON nested deeper than Python's recursion limit."""
    folder, _ = recorded
    (folder / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    code, out = check_replay(capsys, folder)
    assert code == 1 and "unreadable manifest (nested too deep" in out
    (folder / MANIFEST).write_text(json.dumps({"engine": ENGINE, "engine_version": "1", "cases": [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}))
    code, out = check_replay(capsys, folder)
    assert code == 1 and "unreadable manifest (nested too deep: more than 16 levels)" in out


def test_a_manifest_number_too_long_for_python_is_named(recorded, capsys):
    """The probe's N_bigint: a 5000-digit integer, which Python's JSON reader refuses with a ValueError."""
    folder, _ = recorded
    (folder / MANIFEST).write_text('{"engine": "' + ENGINE + '", "steps": ' + "9" * 5000 + "}")
    code, out = check_replay(capsys, folder)
    assert code == 1 and "unreadable manifest (Exceeds the limit (4300 digits)" in out


@pytest.mark.parametrize(("lengths", "message"),
                         [(np.array(["a", "b", "c", "d"]), "lengths: expected integers, got <U1"),
                          (np.array([1.5, 2.0, 3.0, 4.0]), "lengths: expected integers, got float64"),
                          (np.array([0, 2, 3, 4]), "lengths [0, 2, 3, 4] outside 1..6")],
                         ids=["strings", "floats", "zero"])
def test_fixture_lengths_must_be_integers_in_range(recorded, capsys, lengths, message):
    """Q15: a fixture whose ``lengths`` is a string array."""
    folder, _ = recorded
    entry = next(e for e in read_manifest(folder)["cases"] if e["with_lengths"] and e["batch"] == 4)
    path = folder / entry["file"]
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    np.savez(path, **(arrays | {"lengths": lengths}))
    code, out = check_replay(capsys, folder)
    assert code == 1 and f"{entry['file']}: {message}" in out


# ----------------------------------------------------------------------------- manifests that are not plain files
def test_duplicate_ids_are_found_in_linear_time():
    """Finding 5: 100,000 entries (the check was quadratic: over 600 s)."""
    import time

    manifest = read_manifest(FIXTURES_ROOT / "torch")
    first = manifest["cases"][0]
    manifest["cases"] += [dict(first, id=f"fake-{i}", file=f"fake-{i}.npz") for i in range(50_000)]
    manifest["cases"] += [dict(first)] * 50_000
    start = time.perf_counter()
    problems = fixtures_module.manifest_problems(manifest)
    assert time.perf_counter() - start < 5
    assert f"cases listed more than once: {first['id']}" in "; ".join(problems)
    assert "entry 'fake-0': describes case 'rnn_tanh-L1-uni-TNC-f32'" in problems[0]
    assert "and more problems (the first 10 are shown)" in problems


def test_a_manifest_that_is_a_fifo_is_refused_without_waiting(recorded):
    """SY5: reading a FIFO waits for a writer that never comes."""
    import threading

    folder, _ = recorded
    (folder / MANIFEST).unlink()
    os.mkfifo(folder / MANIFEST)
    outcome = []

    def read() -> None:
        try:
            read_manifest(folder)
        except FixtureError as error:
            outcome.append(str(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # release the reader before failing
        os.close(os.open(folder / MANIFEST, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO manifest waited for a writer")
    assert outcome and "manifest.json: is not a regular file" in outcome[0]


def test_a_manifest_linked_to_an_endless_device_is_refused(recorded, capsys):
    """SY6: manifest.json -> /dev/zero was read without a bound."""
    folder, _ = recorded
    (folder / MANIFEST).unlink()
    (folder / MANIFEST).symlink_to("/dev/zero")
    code, out = check_replay(capsys, folder)
    assert code == 1 and "manifest.json: is a link to /dev/zero, outside the fixtures folder" in out


def test_a_manifest_above_the_size_cap_is_refused_after_reading_at_most_the_cap(recorded, capsys, monkeypatch):
    folder, _ = recorded
    assert (folder / MANIFEST).stat().st_size < fixtures_module.MAX_MANIFEST_BYTES / 50  # the cap is far above
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 1000)
    reads = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    code, out = check_replay(capsys, folder)
    assert code == 1 and "manifest.json: larger than 1000 bytes, the most a manifest may hold" in out
    assert sum(reads) <= 1001


# ----------------------------------------------------------------------------- fixture files outside the folder
def test_a_fixture_that_links_out_of_its_folder_is_refused(recorded, capsys, tmp_path):
    """SY1, SY2: a fixture file that is a symlink was followed out of the folder."""
    folder, _ = recorded
    entry = read_manifest(folder)["cases"][0]
    outside = tmp_path / "outside.npz"
    shutil.copy(folder / entry["file"], outside)
    for target in (outside, Path("/etc/passwd")):
        (folder / entry["file"]).unlink()
        (folder / entry["file"]).symlink_to(target)
        code, out = check_replay(capsys, folder)
        assert code == 1 and f"{entry['file']}: is a link to {target.resolve()}, outside the fixtures folder" in out


def test_a_fixture_linked_to_another_file_of_its_folder_still_replays(recorded, capsys):
    folder, _ = recorded
    entry = read_manifest(folder)["cases"][0]
    (folder / entry["file"]).rename(folder / "kept.npz")
    (folder / entry["file"]).symlink_to("kept.npz")
    code, out = check_replay(capsys, folder)
    assert code == 0, out


def test_an_overlong_fixture_name_is_an_unreadable_name_in_the_report(recorded, capsys):
    """H08: a 300-character name was reported as a failed write, and the table was lost."""
    folder, _ = recorded
    name = "a" * 300 + ".npz"
    edit_manifest(folder, lambda m: m["cases"][0].update(file=name))
    code, out, err = run_cli(capsys, "check", "--engines", ENGINE, "--replay-only", "--fixtures", str(folder.parent))
    assert code == 1 and err == "" and "unreadable fixture name 'aaaa" in out and "not checked: reference" in out


# ----------------------------------------------------------------------------- record
def test_record_refuses_a_folder_holding_another_engines_fixtures(tmp_path, capsys, monkeypatch,
                                                                  registered_reference_engine):  # noqa: F811
    """RX5: recording into fixtures/keras replaced the keras fixtures without a word."""
    folder = tmp_path / "keras"
    shutil.copytree(FIXTURES_ROOT / "keras", folder)
    before = snapshot(folder)
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(folder))
    assert code == 2 and f"{folder / MANIFEST} holds fixtures of 'keras', not 'reference'" in err
    assert "nothing was recorded or deleted" in err and snapshot(folder) == before


def test_record_refuses_an_old_manifest_naming_a_file_the_system_cannot_look_up(recorded, capsys, monkeypatch):
    folder, _ = recorded
    edit_manifest(folder, lambda m: m["cases"][0].update(file="a" * 300 + ".npz"))
    before = snapshot(folder)
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", str(folder))
    assert code == 2 and "cannot look up 'aaaa" in err and "File name too long" in err and "could not write" not in err
    assert snapshot(folder) == before


def test_record_refuses_an_empty_output_path(tmp_path, capsys, monkeypatch, registered_reference_engine):  # noqa: F811
    """Finding 15: `--output ''` recorded into the current folder."""
    monkeypatch.chdir(tmp_path)
    forbid_running_a_case(monkeypatch)
    code, _, err = run_cli(capsys, "record", "--engine", ENGINE, "--output", "")
    assert code == 2 and "rnn-ref record: error: --output '' names no folder" in err
    assert list(tmp_path.iterdir()) == []


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_record_removes_the_scratch_folder_a_killed_one_left(recorded):
    folder, _ = recorded
    stale = folder.parent / f".{ENGINE}.recording.{dead_pid()}.x1y2"
    stale.mkdir()
    (stale / "lstm-L1-uni-TNC-f32.npz").write_bytes(b"partial")
    running = folder.parent / f".{ENGINE}.recording.{os.getppid()}.z3"  # another record, still running
    running.mkdir()
    unrelated = folder.parent / f".{ENGINE}.notes"
    unrelated.mkdir()
    record(ENGINE, folder)
    assert not stale.exists() and running.is_dir() and unrelated.is_dir()


def test_sigterm_during_record_leaves_the_previous_set_and_no_scratch(recorded, monkeypatch):
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.fail("signal handlers need the main thread")
    folder, _ = recorded
    before = snapshot(folder)
    original, calls = recording_module.execute_case, []

    def terminated_on_the_third_case(adapter, case):
        calls.append(case)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(adapter, case)

    monkeypatch.setattr(recording_module, "execute_case", terminated_on_the_third_case)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(FixtureError, match="stopped by SIGTERM: nothing was recorded; the previous recording is "
                                           "unchanged"):
        record(ENGINE, folder)
    assert snapshot(folder) == before and [p.name for p in folder.parent.iterdir()] == [ENGINE]
    assert signal.getsignal(signal.SIGTERM) == handler

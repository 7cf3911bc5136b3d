"""Weight files, outputs and sizes as a careless or hostile user gives them (NumPy only).

Nothing the tool writes is ever half-written (a temporary file beside the target, renamed;
an overwritten file keeps its permission bits), an input is never overwritten by its own
conversion, and every bad input is one clear line naming the file and the problem, exit 2,
before any work is done where it can be checked first. Sizes no real layer reaches are
refused at once instead of allocating until the kernel kills the process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnn_ref.core.files as files_module
from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import adapter_object
from rnn_ref.cli import main
from rnn_ref.core.errors import ParamsError, SpecError
from rnn_ref.core.spec import MAX_FEATURES, MAX_LAYERS, MAX_PARAMETERS

SPEC = RNNSpec("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
LAYER = ["--mode", "lstm", "--layers", "2", "--bidirectional"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def rnn_ref_command(*argv, **kwargs) -> subprocess.CompletedProcess:
    """The installed command in a child process (for closed stdout, full disks, file size limits)."""
    return subprocess.run([sys.executable, "-m", "rnn_ref", *map(str, argv)], text=True, **kwargs)


def torch_npz(path: Path, spec: RNNSpec = SPEC, prefix: str = "", extra: dict | None = None) -> Params:
    params = Params.random(spec, seed=1)
    native = adapter_object("torch").mapping(spec).to_native(params)
    np.savez(path, **{prefix + name: value for name, value in native.items()}, **(extra or {}))
    return params


# ----------------------------------------------------------------------------- data loss
@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_convert_refuses_to_overwrite_its_input(tmp_path, capsys, spelling, monkeypatch):
    torch_npz(tmp_path / "w.npz")
    before = (tmp_path / "w.npz").read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {"same": tmp_path / "w.npz", "dotted": Path("./sub/../w.npz"), "symlink": tmp_path / "link.npz"}[spelling]
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "w.npz")
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "keras", *LAYER, tmp_path / "w.npz", out)
    assert code == 2 and "is the input file itself" in err
    assert (tmp_path / "w.npz").read_bytes() == before


@pytest.mark.parametrize("argv", [["convert", "--from", "torch", "--to", "canonical", *LAYER, "{w}", "{out}"],
                                  ["docs", "--output", "{out}"], ["docs", "--check", "--output", "{out}"]],
                         ids=["convert", "docs", "docs-check"])
def test_an_output_that_is_a_directory_is_refused(tmp_path, capsys, argv):
    torch_npz(tmp_path / "w.npz")
    (tmp_path / "out").mkdir()
    code, _, err = run_cli(capsys, *[a.format(w=tmp_path / "w.npz", out=tmp_path / "out") for a in argv])
    assert code == 2 and "is a directory" in err
    assert list((tmp_path / "out").iterdir()) == []


def fail_half_way(temporary_path_argument_index: int = 0):
    """A writer that writes half a file and then hits a full disk."""

    def write(*args, **kwargs):
        target = args[temporary_path_argument_index]
        with open(target, "wb") as handle:
            handle.write(b"half a fi")
        raise OSError(28, "No space left on device")

    return write


def old_file(path: Path, content: bytes, mode: int = 0o600) -> None:
    path.write_bytes(content)
    path.chmod(mode)


def test_a_failed_params_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    old_file(tmp_path / "p.npz", b"the old weights")
    real = files_module.atomic_write

    def failing(path, write, error=files_module.FileProblem):
        return real(path, fail_half_way(), error)

    monkeypatch.setattr("rnn_ref.core.params.atomic_write", failing)
    with pytest.raises(ParamsError, match="No space left on device"):
        Params.random(SPEC).save(tmp_path / "p.npz")
    assert (tmp_path / "p.npz").read_bytes() == b"the old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"]


def test_params_save_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path):
    old_file(tmp_path / "p.npz", b"old", 0o600)
    Params.random(SPEC).save(tmp_path / "p.npz")
    assert stat.S_IMODE((tmp_path / "p.npz").stat().st_mode) == 0o600
    assert Params.load(tmp_path / "p.npz", SPEC).equal(Params.random(SPEC))


def test_a_failed_docs_write_leaves_the_old_file(tmp_path, capsys, monkeypatch):
    old_file(tmp_path / "map.md", b"# the old docs", 0o640)
    monkeypatch.setattr("rnn_ref.core.files.open", fail_half_way(), raising=False)
    code, _, err = run_cli(capsys, "docs", "--output", tmp_path / "map.md")
    assert code == 2 and "could not write the file (No space left on device); nothing was changed" in err
    assert (tmp_path / "map.md").read_bytes() == b"# the old docs"
    assert [p.name for p in tmp_path.iterdir()] == ["map.md"]


def test_docs_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path, capsys):
    old_file(tmp_path / "map.md", b"# the old docs", 0o600)
    assert run_cli(capsys, "docs", "--output", tmp_path / "map.md")[0] == 0
    assert stat.S_IMODE((tmp_path / "map.md").stat().st_mode) == 0o600
    assert (tmp_path / "map.md").read_text().startswith("# Weight mapping")


def test_convert_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path, capsys):
    torch_npz(tmp_path / "w.npz")
    old_file(tmp_path / "c.npz", b"old", 0o600)
    assert run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "w.npz",
                   tmp_path / "c.npz")[0] == 0
    assert stat.S_IMODE((tmp_path / "c.npz").stat().st_mode) == 0o600


# ----------------------------------------------------------------------------- write errors
#: A child under RLIMIT_FSIZE writes no .pyc: CPython 3.11's atomic .pyc write does not check for a
#: short write, so a module first compiled there (keras/files.py is over 8 KB of bytecode) left a
#: truncated .pyc in the source tree, and every later import of it failed with "EOFError: marshal
#: data too short" (seen here: 12 failures in the keras-torch env; python/cpython#126606, fixed
#: after 3.11).
NO_BYTECODE = ("-B",)


def test_a_file_size_limit_while_writing_is_one_line_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes the write fail with 'File too large' (EFBIG), as a quota or full disk would."""
    torch_npz(tmp_path / "w.npz")
    limit = "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); " \
            "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))"
    code = f"{limit}; import sys; from rnn_ref.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, *NO_BYTECODE, "-c", code, "convert", "--from", "torch", "--to", "canonical", *LAYER,
                             str(tmp_path / "w.npz"), str(tmp_path / "c.npz")], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "c.npz: could not write the file (File too large); nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def keras_engine_here() -> str:
    """A Keras engine that runs in this process (its backend is the one KERAS_BACKEND selects)."""
    from rnn_ref.adapters import engine_info
    from rnn_ref.adapters.keras.backend import KERAS_ENGINES

    here = [name for name in KERAS_ENGINES if engine_info(name).installed()]
    if not here:
        pytest.skip("no Keras engine runs here")
    return here[0]


def limited_convert(tmp_path: Path, limit: int, *argv) -> subprocess.CompletedProcess:
    """``rnn-ref convert ARGV`` in a child whose files may not grow past ``limit`` bytes (EFBIG)."""
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
            "from rnn_ref.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, *NO_BYTECODE, "-c", code, "convert", *map(str, argv)], capture_output=True, text=True,
                          cwd=tmp_path)


def test_a_file_size_limit_while_writing_a_weights_h5_is_one_line_and_leaves_the_old_file(tmp_path):
    """h5py used to crash (SIGSEGV) closing a file the disk refused, leaving a temporary file;
    the file is now made in memory and written by Python."""
    engine = keras_engine_here()
    Params.random(SPEC, dtype=np.float32).save(tmp_path / "c.npz")
    # an existing .weights.h5 is a model the layer is written into (rnn_ref/cli/target_files.py): it must be one
    assert main(["convert", "--from", "canonical", "--to", engine, *LAYER, "--no-verify", str(tmp_path / "c.npz"),
                 str(tmp_path / "keep.weights.h5")]) == 0
    precious = (tmp_path / "keep.weights.h5").read_bytes()
    result = limited_convert(tmp_path, len(precious) // 2, "--from", "canonical", "--to", engine, *LAYER, "c.npz",
                             "keep.weights.h5")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("rnn-ref convert: error: keep.weights.h5: could not write the file "
                                     "(File too large); nothing was changed")
    assert (tmp_path / "keep.weights.h5").read_bytes() == precious
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "keep.weights.h5"]


def test_a_file_size_limit_while_writing_gluon_params_is_one_line_and_leaves_the_old_file(tmp_path):
    """MXNet's failed save_parameters was an MXNetError traceback (O10)."""
    from rnn_ref.adapters import engine_info

    if not engine_info("gluon").installed():
        pytest.skip("mxnet is not installed here")
    Params.random(SPEC, dtype=np.float32).save(tmp_path / "c.npz")
    # an existing .params is a network the layer is written into (rnn_ref/cli/target_files.py): it must be one
    assert main(["convert", "--from", "canonical", "--to", "gluon", *LAYER, "--no-verify", str(tmp_path / "c.npz"),
                 str(tmp_path / "keep.params")]) == 0
    precious = (tmp_path / "keep.params").read_bytes()
    result = limited_convert(tmp_path, len(precious) // 2, "--from", "canonical", "--to", "gluon", *LAYER, "c.npz",
                             "keep.params")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("rnn-ref convert: error: keep.params: could not write the file (MXNet: "
                                     "FileStream.Write incomplete; is the disk full, or the file larger than "
                                     "allowed?); nothing was changed")
    assert (tmp_path / "keep.params").read_bytes() == precious
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "keep.params"]


def test_map_to_a_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        result = rnn_ref_command("map", "torch", "--mode", "lstm", "--layers", "3", stdout=full,
                                 stderr=subprocess.PIPE)
    assert result.returncode == 2
    assert result.stderr.strip() == "rnn-ref map: error: could not write standard output (No space left on device)"


def test_map_with_stdout_closed_says_so():
    result = subprocess.run(f"{sys.executable} -m rnn_ref map torch --mode lstm >&-", shell=True,
                            stderr=subprocess.PIPE, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "rnn-ref map: error: standard output is closed; nothing could be written"


# ----------------------------------------------------------------------------- corrupt inputs
def broken_deflate(path: Path) -> None:
    np.savez_compressed(path, **{name: value for name, value in
                                 adapter_object("torch").mapping(SPEC).to_native(Params.random(SPEC)).items()})
    data = bytearray(path.read_bytes())
    for offset in range(60, 120):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def not_npy(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weight_ih_l0.txt", "1 2 3")


def huge_header(path: Path) -> None:
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weight_ih_l0.npy", header.getvalue() + b"\0" * 80)


def member_shorter_than_its_size(path: Path) -> None:
    """A stored member whose zip entry says it holds the 32 bytes its header claims, but has 16."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (4,)})
    stored = header.getvalue() + b"\1" * 16
    with zipfile.ZipFile(path, "w") as archive:  # stored, not deflated; the CRC is that of the 16 bytes
        archive.writestr("weight_ih_l0.npy", stored)
    data = bytearray(path.read_bytes())
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central headers
        at = data.index(signature) + size_offset
        data[at:at + 4] = (len(stored) + 16).to_bytes(4, "little")
    path.write_bytes(bytes(data))


CORRUPT = [(broken_deflate, "not a readable"), (not_npy, "member 'weight_ih_l0.txt' is not .npy data"),
           (huge_header, "claims shape (1000000, 1000000) of float64 (8000000000000 bytes) but holds 80 bytes"),
           (member_shorter_than_its_size, "member 'weight_ih_l0.npy' is stored uncompressed but claims 160 bytes in 144")]
CORRUPT_IDS = ["broken-deflate", "not-npy", "huge-header", "short-member"]


@pytest.mark.parametrize(("damage", "message"), CORRUPT, ids=CORRUPT_IDS)
def test_a_corrupt_npz_is_one_line_in_convert(tmp_path, capsys, damage, message):
    damage(tmp_path / "w.npz")
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "w.npz",
                           tmp_path / "c.npz")
    assert code == 2 and f"{tmp_path / 'w.npz'}: " in err and message in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize(("damage", "message"), CORRUPT, ids=CORRUPT_IDS)
def test_a_corrupt_npz_is_a_params_error_in_params_load(tmp_path, damage, message):
    damage(tmp_path / "w.npz")
    with pytest.raises(ParamsError, match=r"w\.npz: not a readable canonical \.npz file") as error:
        Params.load(tmp_path / "w.npz", SPEC)
    assert message in str(error.value)


def test_a_directory_given_as_input_is_named_a_directory(tmp_path, capsys):
    (tmp_path / "w.npz").mkdir()
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "w.npz",
                           tmp_path / "c.npz")
    assert code == 2 and "w.npz: is a directory, not a file" in err


# ----------------------------------------------------------------------------- unbounded work
@pytest.mark.parametrize(("argv", "message"), [
    (["--layers", "99999999999999999999"], f"num_layers=99999999999999999999 is above the limit {MAX_LAYERS}"),
    (["--layers", "100000"], f"num_layers=100000 is above the limit {MAX_LAYERS}"),
    (["--hidden-size", "2000000", "--input-size", "3"], f"hidden_size=2000000 is above the limit {MAX_FEATURES}"),
    (["--hidden-size", "100000", "--input-size", "100000", "--layers", "1000"], f"above the limit {MAX_PARAMETERS}"),
], ids=["layers-huge", "layers-100000", "hidden", "parameters"])
@pytest.mark.parametrize("command", ["convert", "map-json"])
def test_sizes_no_real_layer_reaches_are_refused_at_once(tmp_path, capsys, argv, message, command):
    torch_npz(tmp_path / "w.npz")
    start = time.perf_counter()
    if command == "convert":
        code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", "--mode", "lstm", *argv,
                               tmp_path / "w.npz", tmp_path / "c.npz")
    else:
        code, _, err = run_cli(capsys, "map", "torch", "--mode", "lstm", *argv, "--format", "json")
    assert code == 2 and message in err and "which no real recurrent layer reaches" in err
    assert time.perf_counter() - start < 2


def test_the_spec_states_its_limits():
    with pytest.raises(SpecError, match=f"num_layers=1001 is above the limit {MAX_LAYERS}"):
        RNNSpec("gru", 3, 4, num_layers=MAX_LAYERS + 1)
    assert RNNSpec("gru", 3, 4, num_layers=MAX_LAYERS).parameter_count < MAX_PARAMETERS
    spec = RNNSpec("lstm", 3, 5, num_layers=3, bidirectional=True, proj_size=2)
    assert spec.parameter_count == sum(block.size for block in Params.random(spec).values())


def test_size_inference_is_linear_in_the_number_of_arrays(tmp_path, capsys):
    """A 1,200-array file is refused in well under a second (it took over 100 s when quadratic)."""
    arrays = {f"noise_{i}": np.zeros((i % 37 + 1, i % 41 + 1), np.float32) for i in range(1200)}
    np.savez(tmp_path / "many.npz", **arrays)
    start = time.perf_counter()
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "many.npz",
                           tmp_path / "c.npz")
    assert code == 2 and "missing: weight_ih_l0" in err
    assert time.perf_counter() - start < 5


def test_size_inference_reads_every_engine_layout(tmp_path):
    from rnn_ref.conversion.convert import read_params, write_params

    for engine in ("torch", "torch-cell", "gluon", "gluon-cell", "keras", "canonical"):
        for spec in (SPEC, RNNSpec("gru", 7, 2, num_layers=3), RNNSpec("lstm", 5, 6, proj_size=2, bidirectional=True)):
            if engine in ("keras", "torch-cell") and spec.proj_size:
                continue
            params = Params.random(spec, seed=2)
            write_params(engine, tmp_path / "w.npz", params)
            placeholder = spec.replace(input_size=1, hidden_size=spec.proj_size + 1)
            assert read_params(engine, tmp_path / "w.npz", placeholder, infer=True).spec == spec, (engine, spec)


# ----------------------------------------------------------------------------- help that helps
def test_a_whole_model_state_dict_gets_a_prefix_hint(tmp_path, capsys):
    extra = {"embedding.weight": np.zeros((10, 3)), "fc.weight": np.zeros((2, 8)), "fc.bias": np.zeros(2)}
    torch_npz(tmp_path / "model.npz", prefix="lstm.", extra=extra)
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "model.npz",
                           tmp_path / "c.npz")
    assert code == 2 and "lie under the prefix 'lstm.'" in err and "add --prefix lstm." in err


def test_prefix_selects_one_layer_when_reading_and_is_put_on_when_writing(tmp_path, capsys):
    extra = {"embedding.weight": np.zeros((10, 3)), "fc.weight": np.zeros((2, 8))}
    params = torch_npz(tmp_path / "model.npz", prefix="encoder.rnn.", extra=extra)
    assert run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, "--prefix", "encoder.rnn.",
                   tmp_path / "model.npz", tmp_path / "c.npz")[0] == 0
    assert Params.load(tmp_path / "c.npz", SPEC).equal(params)
    assert run_cli(capsys, "convert", "--from", "canonical", "--to", "torch", *LAYER, "--prefix", "lstm.",
                   tmp_path / "c.npz", tmp_path / "t.npz")[0] == 0
    with np.load(tmp_path / "t.npz") as archive:
        assert all(name.startswith("lstm.") for name in archive.files) and "lstm.weight_hh_l1_reverse" in archive.files


def test_a_prefix_that_selects_nothing_lists_the_names(tmp_path, capsys):
    torch_npz(tmp_path / "model.npz", prefix="lstm.")
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, "--prefix", "rnn.",
                           tmp_path / "model.npz", tmp_path / "c.npz")
    assert code == 2 and "no array name starts with 'rnn.'" in err and "lstm.bias_hh_l0" in err


def test_a_prefix_on_two_unnamed_formats_is_refused(tmp_path, capsys):
    Params.random(SPEC).save(tmp_path / "c.npz")
    code, _, err = run_cli(capsys, "convert", "--from", "canonical", "--to", "keras", *LAYER, "--prefix", "lstm.",
                           tmp_path / "c.npz", tmp_path / "k.npz")
    assert code == 2 and "--prefix 'lstm.': neither" in err


def test_map_json_with_symbolic_sizes_carries_what_the_user_gave(capsys):
    code, out, _ = run_cli(capsys, "map", "torch", "--mode", "lstm", "--layers", "2", "--proj-size", "20", "--format",
                           "json")
    spec = json.loads(out)["spec"]
    assert code == 0 and spec["input_size"] == "I" and spec["hidden_size"] == "H" and spec["proj_size"] == 20
    shapes = {p["name"]: p["shape"] for p in json.loads(out)["parameters"]}
    assert shapes["weight_hr_l0"] == ["P", "H"] and shapes["weight_ih_l1"] == ["4H", "P"]


def test_map_json_with_concrete_sizes_carries_them(capsys):
    code, out, _ = run_cli(capsys, "map", "gru", "--mode", "gru", "--input-size", "3", "--hidden-size", "5",
                           "--format", "json")
    assert code == 2  # 'gru' is not an engine
    code, out, _ = run_cli(capsys, "map", "gluon", "--mode", "gru", "--input-size", "3", "--hidden-size", "5",
                           "--format", "json")
    spec = json.loads(out)["spec"]
    assert code == 0 and (spec["input_size"], spec["hidden_size"], spec["proj_size"]) == (3, 5, 0)


# ----------------------------------------------------------------------------- progress
class FakeTerminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_check_shows_progress_on_a_terminal_and_nothing_when_piped(capsys, monkeypatch):
    import rnn_ref.cli.check as check_module

    argv = ["check", "--engines", "torch", "--replay-only"]
    main(argv)
    piped_out, piped_err = capsys.readouterr()
    assert piped_err == ""
    terminal = FakeTerminal()
    monkeypatch.setattr(check_module.sys, "stderr", terminal)
    main(argv)
    out = capsys.readouterr().out
    assert out == piped_out  # the report itself does not change
    assert "torch lstm-" in terminal.text and "\r\033[K[1/" in terminal.text
    total = terminal.text.rsplit("[", 1)[1].split("]")[0]
    assert total.split("/")[0] == total.split("/")[1]  # the last line says done of total


def test_every_output_is_checked_before_the_input_is_read(tmp_path, capsys, monkeypatch):
    """A bad OUT is reported without reading (or even needing) IN."""
    monkeypatch.setattr("rnn_ref.conversion.convert.raw_arrays", lambda *a: pytest.fail("IN was read before OUT was checked"))
    code, _, err = run_cli(capsys, "convert", "--from", "torch", "--to", "canonical", *LAYER, tmp_path / "missing.npz",
                           tmp_path / "no" / "c.npz")
    assert code == 2 and "does not exist" in err


def test_verify_reads_both_files_under_the_prefix(tmp_path, capsys):
    torch_npz(tmp_path / "model.npz", prefix="lstm.", extra={"fc.weight": np.zeros((2, 8))})
    code, out, _ = run_cli(capsys, "convert", "--from", "torch", "--to", "torch-cell", *LAYER, "--prefix", "lstm.",
                           "--verify", tmp_path / "model.npz", tmp_path / "cell.npz")
    assert code == 0, out
    with np.load(tmp_path / "cell.npz") as archive:
        assert all(name.startswith("lstm.") for name in archive.files)


# ----------------------------------------------------------------------------- framework files
@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="the message for envs without Keras is "
                    "test_a_framework_format_without_its_framework_says_how_to_get_it")
@pytest.mark.parametrize(("direction", "engine", "backend"), [
    ("from", "keras-torch", None), ("from", "keras-torch", ""), ("from", "keras-torch", "bogus"),
    ("from", "keras-torch", "jax"), ("from", "keras", "torch"), ("to", "keras-torch", None)])
def test_a_weights_h5_under_another_keras_backend_is_one_line(tmp_path, engine, backend, direction):
    """Keras fixes its backend at import; a .weights.h5 of another engine's backend is refused
    before Keras is imported, with the reason (KERAS_BACKEND) and no traceback. (The file is a
    real one, written by the Keras engine this process runs: the same model on every backend.)"""
    from rnn_ref.adapters import engine_info
    from rnn_ref.adapters.keras.backend import KERAS_ENGINES
    from rnn_ref.conversion.convert import write_params

    here = [name for name in KERAS_ENGINES if engine_info(name).installed()]
    if not here:
        pytest.skip("no Keras engine runs in this process to write the .weights.h5")
    folded = adapter_object(here[0]).mapping(SPEC)
    write_params(here[0], tmp_path / "w.weights.h5", folded.to_params(folded.to_native(Params.random(SPEC))))
    Params.random(SPEC).save(tmp_path / "c.npz")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | {"KERAS_HOME": str(tmp_path)}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    files = [tmp_path / "w.weights.h5", tmp_path / "out.npz"] if direction == "from" else \
        [tmp_path / "c.npz", tmp_path / "new.weights.h5"]
    pair = ["--from", engine, "--to", "canonical"] if direction == "from" else ["--from", "canonical", "--to", engine]
    result = rnn_ref_command("convert", *pair, *LAYER, *files, capture_output=True, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"{engine} reads and writes .weights.h5 files through its own layer, and it cannot run here" in result.stderr
    assert "needs Keras on the" in result.stderr or "is not installed" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "w.weights.h5"]


def test_a_weights_h5_with_a_string_dataset_names_it(tmp_path):
    engine = keras_engine_here()
    import h5py

    from rnn_ref.conversion.convert import read_params, write_params

    folded = adapter_object(engine).mapping(SPEC)
    write_params(engine, tmp_path / "w.weights.h5", folded.to_params(folded.to_native(Params.random(SPEC))))
    with h5py.File(tmp_path / "w.weights.h5", "r+") as archive:
        archive.create_dataset("notes/comment", data=np.array(["trained on Tuesday"], dtype=object),
                               dtype=h5py.string_dtype())
    with pytest.raises(ParamsError, match=r"w\.weights\.h5: unexpected datasets that hold no float weights: "
                                          r"notes/comment \(object\)"):
        read_params(engine, tmp_path / "w.weights.h5", SPEC)


def test_weights_h5_files_read_one_after_another_each_hold_their_own_and_a_nan_dataset_is_named(tmp_path):
    """Keras reads every .weights.h5 into one model, built once per layer: each file's weights, never
    the last file's, and a dataset left NaN after loading (one the file does not set) is named."""
    engine = keras_engine_here()
    import h5py

    from rnn_ref.conversion.convert import read_params, write_params

    folded = adapter_object(engine).mapping(SPEC)
    written = [folded.to_params(folded.to_native(Params.random(SPEC, seed=seed))) for seed in (1, 2)]
    for index, params in enumerate(written):
        write_params(engine, tmp_path / f"{index}.weights.h5", params)
    for index in (1, 0, 1):
        assert read_params(engine, tmp_path / f"{index}.weights.h5", SPEC).equal(written[index])
    with h5py.File(tmp_path / "1.weights.h5", "r+") as archive:
        names: list[str] = []
        archive.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        archive[names[0]][...] = np.nan
    with pytest.raises(ParamsError, match=r"1\.weights\.h5: after Keras loaded it .* hold NaN only"):
        read_params(engine, tmp_path / "1.weights.h5", SPEC)
    assert read_params(engine, tmp_path / "0.weights.h5", SPEC).equal(written[0])

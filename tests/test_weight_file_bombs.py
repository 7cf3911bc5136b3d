"""Small weight files built to make rnn_ref allocate gigabytes are refused from their headers.

A zip entry may lie about its size, and a deflate stream of zeros inflates about 1000-fold.
rnn_ref reads every member's zip entry and ``.npy`` header first: a size the entry or the
file cannot hold, more inflation than float data has (``files.MAX_INFLATION``), or, where
the layer is known, a name or shape the layer lacks, is refused before any data is read.
Each file here is a few KB or MB; the process that reads it must stay under 100 MB (numpy
alone takes about 30 MB). The child runs under an address-space limit, so that a regression
fails with a MemoryError instead of taking the machine's memory.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.conversion.convert import read_params, write_params
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.files import MAX_INFLATION

LAYER = ["--mode", "lstm", "--layers", "2", "--bidirectional"]
PEAK_LIMIT_KB = 100_000
DEFLATED = zipfile.ZIP_DEFLATED

#: In the child: an address-space cap (a regression is a MemoryError, not an OOM), then the
#: command, then the process's peak resident memory (VmHWM, in KB) on stderr's last line.
#: (``ru_maxrss`` would not do: Linux carries it over from the forking pytest process.)
CHILD = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from rnn_ref.cli import main
from rnn_ref.core.files import FileProblem, read_npz
kind, path, *argv = sys.argv[1:]
if kind == "cli":
    code = main(argv)
else:  # a fixture's arrays are read without a layer to compare them with
    try:
        read_npz(Path(path), what="fixture")
        code = 0
    except FileProblem as error:
        print(error, file=sys.stderr)
        code = 2
status = open("/proc/self/status").read()
print(status.split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""


def npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


def one_member_zip(path: Path, name: str, data: bytes, file_size: int, method: int, crc: int) -> None:
    """A zip of one member whose entries declare ``file_size`` (the truth or a lie) for ``data``
    (the stored bytes, or a raw deflate stream) and ``crc`` (zipfile checks it once it has read
    all the member holds)."""
    name_bytes = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), file_size,
                        len(name_bytes), 0) + name_bytes
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), file_size,
                          len(name_bytes), 0, 0, 0, 0, 0, 0) + name_bytes
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


def stored_lie(path: Path) -> None:
    """1.2 KB: a stored member whose zip entry and header claim about 4 GiB of float32."""
    count = (2**32 - 4096) // 4
    header = npy_header((count,), "<f4")
    held = header + bytes(1000)
    one_member_zip(path, "weight_ih_l0.npy", held, len(header) + 4 * count, zipfile.ZIP_STORED, zlib.crc32(held))


def deflated_lie(path: Path) -> None:
    """A 1 KB deflate stream whose entry claims it inflates to about 4 GiB (deflate tops at ~1032:1)."""
    count = (2**32 - 4096) // 4
    header = npy_header((count,), "<f4")
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    held = header + bytes(1000)
    one_member_zip(path, "weight_ih_l0.npy", stream.compress(held) + stream.flush(), len(header) + 4 * count, DEFLATED,
                   zlib.crc32(held))


def deflate_bomb(path: Path) -> None:
    """About 2 MB that truly inflate to 2 GiB of zeros, under a name no layer has. Built in
    milliseconds: after a full flush a deflate block does not refer back, so one compressed
    block of 16 MiB of zeros is repeated 128 times. Its CRC is left 0: zipfile checks it only
    after inflating everything, which is the harm."""
    blocks = 128
    header = npy_header((blocks * 2**24 // 8,), "<f8")
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = stream.compress(header) + stream.flush(zlib.Z_FULL_FLUSH)
    zeros = stream.compress(bytes(2**24)) + stream.flush(zlib.Z_FULL_FLUSH)
    data = start + zeros * blocks + stream.flush()
    one_member_zip(path, "junk.npy", data, len(header) + blocks * 2**24, DEFLATED, 0)


def run_child(kind: str, path: Path, *argv) -> tuple[int, str, int]:
    """(exit code, error text, peak resident memory in KB) of reading ``path`` in a fresh process."""
    result = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), *map(str, argv)], capture_output=True,
                            text=True, timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                         "PYTHONPATH": ":".join(sys.path)})
    *lines, peak = result.stderr.strip().splitlines() or ["", "0"]
    return result.returncode, "\n".join(lines), int(peak) if peak.isdigit() else 10**9


LIE = 128 + 2**32 - 4096  # the bytes the lies claim: a 128-byte .npy header and about 4 GiB of float32
HOSTILE = {
    "stored-lie": (stored_lie, f"member 'weight_ih_l0.npy' is stored uncompressed but claims {LIE} bytes in 1128"),
    "deflated-lie": (deflated_lie, f"inflate to {LIE} bytes of arrays, more than {MAX_INFLATION} times the file"),
    "deflate-bomb": (deflate_bomb, f"inflate to 2147483776 bytes of arrays, more than {MAX_INFLATION} times the file"),
}


def test_the_hostile_files_are_what_they_claim(tmp_path):
    """The bomb really inflates to 2 GiB (checked on its first 16 MiB, and by its declared size),
    and the lies are a few KB."""
    for name, (build, _) in HOSTILE.items():
        build(tmp_path / f"{name}.npz")
    assert (tmp_path / "stored-lie.npz").stat().st_size < 1300
    assert (tmp_path / "deflated-lie.npz").stat().st_size < 1300
    assert (tmp_path / "deflate-bomb.npz").stat().st_size < 2_200_000
    with zipfile.ZipFile(tmp_path / "deflate-bomb.npz") as archive, archive.open("junk.npy") as member:
        assert archive.getinfo("junk.npy").file_size == 2**31 + 128
        assert np.lib.format.read_magic(member) == (1, 0)
        assert np.lib.format.read_array_header_1_0(member)[0] == (2**28,)
        assert not any(member.read(2**24))


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux)")
def test_a_hostile_npz_is_refused_from_its_headers_in_convert(tmp_path, hostile):
    build, message = HOSTILE[hostile]
    build(tmp_path / "w.npz")
    code, err, peak = run_child("cli", tmp_path / "w.npz", "convert", "--from", "torch", "--to", "canonical", *LAYER,
                                tmp_path / "w.npz", tmp_path / "c.npz")
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert peak < PEAK_LIMIT_KB, f"peak resident memory {peak} KB"
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux)")
def test_a_hostile_npz_is_refused_from_its_headers_without_a_layer(tmp_path, hostile):
    """Fixture files are read before their arrays are compared with the case: the zip entries
    and the inflation bound alone keep the reader small."""
    build, message = HOSTILE[hostile]
    build(tmp_path / "w.npz")
    code, err, peak = run_child("reader", tmp_path / "w.npz")
    assert code == 2 and message in err and "not a readable fixture" in err, err
    assert peak < PEAK_LIMIT_KB, f"peak resident memory {peak} KB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux)")
def test_a_torch_pt_deflate_bomb_is_refused_before_torch_reads_it(tmp_path):
    """A .pt is a zip too: a deflated 1 GiB tensor record in about 1 MB is refused from the
    archive's record sizes before torch.load (and before torch is even imported)."""
    torch = pytest.importorskip("torch")
    torch.save({"weight_ih_l0": torch.zeros(4)}, tmp_path / "small.pt")
    with zipfile.ZipFile(tmp_path / "small.pt") as small:
        records = {info.filename: small.read(info) for info in small.infolist()}
    data_record = next(name for name in records if "/data/" in name)
    with zipfile.ZipFile(tmp_path / "bomb.pt", "w") as archive:
        for name, content in records.items():
            if name != data_record:
                archive.writestr(name, content)
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = stream.compress(bytes(2**24)) + stream.flush(zlib.Z_FULL_FLUSH)
    append_deflated_member(tmp_path / "bomb.pt", data_record, zeros * 64 + stream.flush(), 2**30)  # 1 GiB
    assert (tmp_path / "bomb.pt").stat().st_size < 1_200_000
    code, err, peak = run_child("cli", tmp_path / "bomb.pt", "convert", "--from", "torch", "--to", "canonical",
                                "--mode", "lstm", tmp_path / "bomb.pt", tmp_path / "c.npz")
    assert code == 2 and "not a readable torch.save archive" in err and "times the file" in err, err
    assert len(err.splitlines()) == 1, err
    assert peak < PEAK_LIMIT_KB, f"peak resident memory {peak} KB"


def append_deflated_member(path: Path, name: str, stream: bytes, file_size: int) -> None:
    """Add a member given as its raw deflate stream to a zip file (zipfile cannot write one)."""
    content, name_bytes = path.read_bytes(), name.encode()
    directory_at, end_at = content.index(b"PK\x01\x02"), content.index(b"PK\x05\x06")
    count = struct.unpack_from("<H", content, end_at + 10)[0]
    body = content[:directory_at] + struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(stream),
                                                file_size, len(name_bytes), 0) + name_bytes + stream
    central = content[directory_at:end_at] + struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(stream), file_size, len(name_bytes), 0, 0, 0,
        0, 0, directory_at) + name_bytes
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count + 1, count + 1, len(central), len(body), 0)
    path.write_bytes(body + central + end)


def test_a_big_endian_npz_reads_as_the_same_numbers(tmp_path):
    spec = RNNSpec("gru", 3, 4)
    params = Params.random(spec, seed=3, dtype=np.float32)
    np.savez(tmp_path / "be.npz", **{key: block.astype(">f4") for key, block in params.items()})
    loaded = Params.load(tmp_path / "be.npz", spec)
    assert loaded.equal(params) and all(block.dtype == np.float32 for block in loaded.values())


def test_a_layer_mismatch_is_refused_before_any_data_is_read(tmp_path, monkeypatch):
    """Names and shapes come from the headers: a wrong file is refused with no member data read."""
    import rnn_ref.core.files as files_module

    spec = RNNSpec("gru", 3, 4)
    Params.random(spec).save(tmp_path / "p.npz")
    monkeypatch.setattr(files_module, "_read_data", lambda *a: pytest.fail("data was read before the check"))
    with pytest.raises(ParamsError, match=r"p\.npz: canonical \.npz arrays do not match .*\n  "
                                          r"l0\.fwd\.w_ih\.r: expected shape \(5, 3\), got \(4, 3\)"):
        Params.load(tmp_path / "p.npz", spec.replace(hidden_size=5))
    with pytest.raises(ParamsError, match=r"missing keys: l0\.bwd"):
        Params.load(tmp_path / "p.npz", spec.replace(bidirectional=True))
    write_params("torch", tmp_path / "t.npz", Params.random(spec))
    with np.load(tmp_path / "t.npz") as archive:
        np.savez(tmp_path / "extra.npz", **archive, junk=np.zeros(10))
    with pytest.raises(ParamsError, match=r"unexpected: junk"):
        read_params("torch", tmp_path / "extra.npz", spec)
    with pytest.raises(ParamsError, match=r"unexpected: junk"):
        read_params("torch", tmp_path / "extra.npz", spec.replace(input_size=1, hidden_size=1), infer=True)


def test_the_inflation_bound_passes_real_weights_and_refuses_zeros(tmp_path, monkeypatch):
    """Without the small-file allowance, compressed random weights (about 1.1:1) read, and
    compressed zeros (about 1000:1) are refused: the bound sits between what float data does
    and what a bomb does."""
    import rnn_ref.core.files as files_module

    monkeypatch.setattr(files_module, "INFLATION_ALLOWANCE", 0)
    spec = RNNSpec("lstm", 64, 128)
    params = Params.random(spec, seed=1)
    np.savez_compressed(tmp_path / "real.npz", **dict(params))
    assert Params.load(tmp_path / "real.npz", spec).equal(params)
    np.savez_compressed(tmp_path / "zeros.npz", **{key: np.zeros_like(block) for key, block in params.items()})
    with pytest.raises(ParamsError, match=f"more than {MAX_INFLATION} times the file"):
        Params.load(tmp_path / "zeros.npz", spec)

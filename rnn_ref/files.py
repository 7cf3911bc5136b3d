"""Reading and writing files safely: what every command of rnn_ref does with a path.

* ``read_npz`` reads an ``.npz`` without ever unpickling, and checks every member's ``.npy``
  header before reading its data: a broken zip or deflate stream, a member that is not
  ``.npy`` data, an object array, or a header claiming more data than the member holds (a
  "huge shape" that would otherwise allocate until the kernel kills the process) is one
  clear error naming the file and the member.
* ``atomic_write`` writes to a temporary file in the target's folder and renames it over the
  target, so a failed write (disk full, file too large, an exception in the writer) leaves the
  old file untouched and no temporary behind. An overwritten file keeps its permission bits;
  a new one gets the usual ``0666 & ~umask``.
* ``check_output_path`` refuses an output that is a directory, or whose folder is missing,
  before any work is done.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The largest array data one .npz may hold once inflated. A layer at the RNNSpec limits
#: holds at most MAX_PARAMETERS float64 values (8 GiB); nothing rnn_ref reads is larger.
MAX_NPZ_BYTES = 8 * 2**30


class FileProblem(ValueError):
    """A file cannot be read or written; the message names the file and the problem."""


def describe_input_path(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None when it is a readable regular file."""
    if path.is_dir():
        return "is a directory, not a file"
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "is not a regular file"
    return None


def check_input_path(path: Path, error: type[ValueError] = FileProblem) -> None:
    problem = describe_input_path(path)
    if problem:
        raise error(f"{path}: {problem}")


def check_output_path(path: Path, error: type[ValueError] = FileProblem) -> None:
    """Refuse an output path that cannot be written as a file, before any work is done."""
    if path.is_dir():
        raise error(f"{path}: is a directory; give a file name to write")
    if path.exists() and not path.is_file():
        raise error(f"{path}: exists and is not a regular file")
    if not path.parent.is_dir():
        raise error(f"{path}: the folder {path.parent} does not exist")


def same_file(first: Path, second: Path) -> bool:
    """True when both paths name one file (after resolving links; hard links included)."""
    if first.resolve() == second.resolve():
        return True
    try:
        return first.exists() and second.exists() and os.path.samefile(first, second)
    except OSError:
        return False


# --------------------------------------------------------------------------- reading .npz
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_member(name: str, info: zipfile.ZipInfo, shape: tuple[int, ...], dtype: np.dtype, header: int) -> None:
    if dtype.hasobject:
        raise ValueError(f"array {name!r} holds Python objects, which would need unpickling (allow_pickle=False)")
    if any(n < 0 for n in shape):
        raise ValueError(f"array {name!r} has a negative dimension {shape}")
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if needed != info.file_size - header:
        raise ValueError(f"array {name!r} claims shape {shape} of {dtype} ({needed} bytes) but holds "
                         f"{info.file_size - header} bytes")


def _open_npz(path: Path) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(path)
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_NPZ_BYTES:
        archive.close()
        raise ValueError(f"holds {total} bytes of arrays, more than the {MAX_NPZ_BYTES} bytes any layer needs")
    return archive


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, np.ndarray]:
    """(name, array) of one ``.npy`` member: its header is checked against the bytes it holds
    before anything is allocated, then its data is read in the same pass."""
    if not info.filename.endswith(".npy"):
        raise ValueError(f"member {info.filename!r} is not .npy data")
    name = info.filename[: -len(".npy")]
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in HEADER_READERS:
            raise ValueError(f"member {info.filename!r} is .npy version {version}, which rnn_ref does not read")
        shape, fortran_order, dtype = HEADER_READERS[version](member)
        shape, dtype = tuple(shape), np.dtype(dtype)
        _check_member(name, info, shape, dtype, member.tell())
        data = bytearray(info.file_size - member.tell())
        if member.readinto(data) != len(data):
            raise ValueError(f"array {name!r} ends early")
    return name, np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


#: What a broken .npz raises inside zipfile and numpy: bad zip or deflate data, a header that
#: is not a dict, a short read.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError, KeyError, TypeError,
                AttributeError, RuntimeError)


def read_npz(path: Path, error: type[ValueError] = FileProblem, what: str = ".npz file") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name; never unpickles, never allocates more than the file holds."""
    check_input_path(path, error)
    try:
        with _open_npz(path) as archive:
            return dict(_read_member(archive, info) for info in archive.infolist())
    except MemoryError:
        raise error(f"{path}: its arrays do not fit in memory") from None
    except _READ_ERRORS as problem:
        raise error(f"{path}: not a readable {what} ({_reason(problem)})") from None


def _reason(problem: BaseException) -> str:
    if isinstance(problem, zlib.error):
        return f"corrupt compressed data: {problem}"
    if isinstance(problem, (SyntaxError, KeyError, TypeError, AttributeError)):
        return f"malformed .npy header: {problem}"
    return f"{type(problem).__name__}: {problem}" if not isinstance(problem, ValueError) else str(problem)


# --------------------------------------------------------------------------- writing
def _mode_for(path: Path) -> int:
    if path.is_file():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[str], None], error: type[ValueError] = FileProblem) -> None:
    """Write ``path`` through ``write(temporary_name)`` and rename; a failure leaves ``path`` as it was.

    The temporary file lies in ``path``'s folder and ends like ``path`` (writers such as
    ``numpy.savez`` or Keras choose the format by the suffix).
    """
    path = Path(path)
    check_output_path(path, error)
    suffix = ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as problem:
        raise error(f"{path}: cannot write in {path.parent} ({problem.strerror or problem})") from None
    os.close(descriptor)
    try:
        try:
            write(temporary)
            os.chmod(temporary, _mode_for(path))
            os.replace(temporary, path)
        except OSError as problem:
            raise error(f"{path}: could not write the file ({problem.strerror or problem}); "
                        "nothing was changed") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write_text(path: Path, text: str, error: type[ValueError] = FileProblem) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write, error)


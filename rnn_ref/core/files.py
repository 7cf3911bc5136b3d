"""Reading and writing files safely: what every command of rnn_ref does with a path.

* ``read_npz`` reads an ``.npz`` without ever unpickling, and reads every member's zip entry
  and ``.npy`` header before any data: a broken zip or deflate stream, a member that is not
  ``.npy`` data, an object array, a header or zip entry claiming more data than the member or
  the file holds, an inflation no float data reaches (a "zip bomb"), or, where the caller
  knows the layer, a name or shape the layer does not have, is one clear error naming the
  file and the member, before anything large is allocated. Data is then inflated chunk by
  chunk into the arrays' own buffers: a file never makes rnn_ref allocate more than the arrays
  it was allowed to hold.
* ``write_npz`` writes what ``numpy.savez`` writes, and closes the archive when a write fails.
* ``atomic_write`` writes to a temporary file in the target's folder and renames it over the
  target, so a failed write (disk full, file too large, an exception in the writer) leaves the
  old file untouched and no temporary behind. An overwritten file keeps its permission bits;
  a new one gets the usual ``0666 & ~umask``.
* ``check_output_path`` refuses an output that is a directory, or whose folder is missing,
  before any work is done.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

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

#: How much an .npz may inflate: its members together may hold at most MAX_INFLATION times the
#: bytes of the file on disk, or INFLATION_ALLOWANCE bytes, whichever is more. Float arrays, the
#: only data rnn_ref reads, compress by well under 2:1 (their low mantissa bits are noise), so a
#: real weight or fixture file stays far below 32:1; deflate itself reaches about 1032:1, which
#: is what a "zip bomb" of zeros uses (2 GiB from 2 MB). Small files of mostly zeros (recorded
#: zero states, padded outputs) pass through the allowance whatever their ratio. So a file can
#: make rnn_ref allocate at most 32 times its own size (or 16 MiB), and, where the caller knows
#: the layer, no more than the layer it claims to hold.
MAX_INFLATION = 32
INFLATION_ALLOWANCE = 16 * 2**20

#: Bytes read per call while inflating a member into its array (the final buffer, no copy).
READ_CHUNK = 2**20


@dataclass(frozen=True)
class NpyHeader:
    """An ``.npz`` member's ``.npy`` header: what its data will be, read before any data.
    ``dtype`` is in native byte order (a big-endian member is converted when read)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    stored: np.dtype
    fortran_order: bool
    data_offset: int
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


#: A caller's check of an .npz's headers against the layer it must hold: raises to refuse the
#: file before any data is read, or returns the names to read (None: all of them).
HeaderCheck = Callable[[dict[str, NpyHeader]], Iterable[str] | None]


def layout_problems(expected: dict[str, tuple[int, ...]], headers: dict[str, NpyHeader], kind: str = "") -> list[str]:
    """What keeps an .npz whose headers are ``headers`` from holding exactly the float arrays
    ``expected`` (names, then shapes, then dtypes); ``kind`` words the names ("keys")."""
    missing = [name for name in expected if name not in headers]
    unexpected = sorted(name for name in headers if name not in expected)
    problems = [f"missing{kind}: {', '.join(missing)}"] if missing else []
    problems += [f"unexpected{kind}: {', '.join(unexpected)}"] if unexpected else []
    present = [name for name in expected if name in headers]
    problems += [f"{name}: expected shape {expected[name]}, got {headers[name].shape}" for name in present
                 if headers[name].shape != expected[name]]
    problems += [f"{name}: expected float32 or float64, got {headers[name].dtype}" for name in present
                 if headers[name].dtype not in (np.float32, np.float64)]
    return problems


def check_zip_entry(info: zipfile.ZipInfo, on_disk: int) -> None:
    """A member's zip entry must be one numpy or torch can have written, with sizes the file of
    ``on_disk`` bytes can hold: stored or deflated, a stored member as large as it claims."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"member {info.filename!r} is compressed with method {info.compress_type}; "
                         "rnn_ref reads stored or deflated members (as numpy.savez, savez_compressed and "
                         "PyTorch's save writes them)")
    if info.compress_size > on_disk:
        raise ValueError(f"member {info.filename!r} claims {info.compress_size} compressed bytes, more than "
                         f"the whole file ({on_disk} bytes)")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise ValueError(f"member {info.filename!r} is stored uncompressed but claims {info.file_size} bytes "
                         f"in {info.compress_size}")


def check_inflation(infos: Iterable[zipfile.ZipInfo], on_disk: int) -> None:
    """The members of a zip file of ``on_disk`` bytes may hold at most MAX_NPZ_BYTES together, and
    MAX_INFLATION times the file (checked on the zip entries, before any member is opened)."""
    total = sum(info.file_size for info in infos)
    if total > MAX_NPZ_BYTES:
        raise ValueError(f"holds {total} bytes of arrays, more than the {MAX_NPZ_BYTES} bytes any layer needs")
    if total > max(INFLATION_ALLOWANCE, MAX_INFLATION * on_disk):
        raise ValueError(f"its {on_disk} bytes inflate to {total} bytes of arrays, more than {MAX_INFLATION} "
                         "times the file; float weights compress far less (a zip bomb?). Save it uncompressed "
                         "(numpy.savez, PyTorch's save) if it is genuine")


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, NpyHeader]:
    """(name, header) of one ``.npy`` member, checked against the bytes its zip entry declares;
    reads (and inflates) only the first few KB of the member."""
    if not info.filename.endswith(".npy"):
        raise ValueError(f"member {info.filename!r} is not .npy data")
    name = info.filename[: -len(".npy")]
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in HEADER_READERS:
            raise ValueError(f"member {info.filename!r} is .npy version {version}, which rnn_ref does not read")
        shape, fortran_order, dtype = HEADER_READERS[version](member)
        offset = member.tell()
    shape, dtype = tuple(shape), np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"array {name!r} holds Python objects, which would need unpickling (allow_pickle=False)")
    if any(n < 0 for n in shape):
        raise ValueError(f"array {name!r} has a negative dimension {shape}")
    header = NpyHeader(shape, dtype if dtype.isnative else dtype.newbyteorder("="), dtype, fortran_order, offset, info)
    if header.nbytes != info.file_size - offset:
        raise ValueError(f"array {name!r} claims shape {shape} of {dtype} ({header.nbytes} bytes) but holds "
                         f"{info.file_size - offset} bytes")
    return name, header


def _read_data(archive: zipfile.ZipFile, name: str, header: NpyHeader) -> np.ndarray:
    """The array of one member, inflated chunk by chunk straight into its own buffer (a
    big-endian array is byte-swapped in place into native order)."""
    buffer = np.empty(header.nbytes, dtype=np.uint8)
    view = buffer.data  # the memoryview of the array's own buffer
    # ZipFile.open is typed IO[bytes], but read mode always gives a ZipExtFile, which has readinto
    with cast(zipfile.ZipExtFile, archive.open(header.info)) as member:
        member.seek(header.data_offset)  # inflates the few header bytes again, not the data
        done = 0
        while done < header.nbytes:
            count = member.readinto(view[done:done + READ_CHUNK])
            if not count:
                raise ValueError(f"array {name!r} ends early")
            done += count
    array = buffer.view(header.stored).reshape(header.shape, order="F" if header.fortran_order else "C")
    if not header.stored.isnative:
        array = array.byteswap(inplace=True).view(header.dtype)
    return array


#: What a broken .npz raises inside zipfile and numpy: bad zip or deflate data, a header that
#: is not a dict, a short read.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError, KeyError, TypeError,
               AttributeError, RuntimeError)


def read_npz(path: Path, error: type[ValueError] = FileProblem, what: str = ".npz file",
             check: HeaderCheck | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name (or those ``check`` names); never unpickles.

    Every member's zip entry and ``.npy`` header are read and checked first: sizes the entry
    cannot hold, a header that disagrees with its entry, more inflation than MAX_INFLATION
    allows. Then ``check`` (the caller's layer) sees every name, shape and dtype and may refuse
    the file. Only then is data read, chunk by chunk into the arrays' own buffers, so the file
    never makes rnn_ref allocate more than the arrays it was allowed to hold. A member listed
    twice counts once, its last copy (as numpy reads it).
    """
    check_input_path(path, error)
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                on_disk = path.stat().st_size
                entries = {info.filename: info for info in archive.infolist()}  # the last copy of a name
                for info in entries.values():
                    check_zip_entry(info, on_disk)
                check_inflation(entries.values(), on_disk)
                headers = dict(_read_header(archive, info) for info in entries.values())
            except MemoryError:
                raise error(f"{path}: its arrays do not fit in memory") from None
            except READ_ERRORS as problem:
                raise error(f"{path}: not a readable {what} ({reason(problem)})") from None
            wanted = check(headers) if check is not None else None
            selected = {name: headers[name] for name in (headers if wanted is None else wanted)}
            try:
                return {name: _read_data(archive, name, header) for name, header in selected.items()}
            except MemoryError:
                raise error(f"{path}: its arrays do not fit in memory") from None
            except READ_ERRORS as problem:
                raise error(f"{path}: not a readable {what} ({reason(problem)})") from None
    except (zipfile.BadZipFile, OSError) as problem:  # not a zip at all, or unreadable
        raise error(f"{path}: not a readable {what} ({reason(problem)})") from None


def reason(problem: BaseException) -> str:
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


def atomic_write(path: Path, write: Callable[[str], None], error: type[ValueError] = FileProblem,
                 suffix: str | None = None) -> None:
    """Write ``path`` through ``write(temporary_name)`` and rename; a failure leaves ``path`` as it was.

    The temporary file lies in ``path``'s folder and ends like ``path``, in ``suffix`` (default:
    its last suffix) where a format's suffix has several dots: writers such as ``numpy.savez``
    or Keras choose the format by the suffix.
    """
    path = Path(path)
    check_output_path(path, error)
    suffix = path.suffix if suffix is None else suffix
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


def write_npz(target: str | IO[bytes], arrays: dict[str, np.ndarray]) -> None:
    """What ``numpy.savez(target, **arrays)`` writes (uncompressed ``.npy`` members, zip64).

    Unlike numpy 1.x's savez, a failed write (a full disk, a file size limit) closes the
    archive before the error goes up: otherwise the garbage collector closes it later, tries
    to write its directory again and prints a second traceback from ``ZipFile.__del__``.
    """
    archive = zipfile.ZipFile(target, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)
    try:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    except BaseException:
        with contextlib.suppress(OSError, ValueError):  # the directory cannot be written either
            archive.close()
        raise
    archive.close()


def atomic_write_text(path: Path, text: str, error: type[ValueError] = FileProblem) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write, error)


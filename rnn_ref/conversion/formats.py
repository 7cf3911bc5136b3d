"""Which file format a weight file is, read off the declarations of the engine families.

Every engine family declares the formats of its weight files (``FORMATS``,
``rnn_ref/adapters/file_format.py``); this module answers the pipeline's questions from them,
knowing no suffix and no engine name: which suffixes an engine's files may have, which
format a path is, whether its arrays are named parameters (``--prefix``) or positional, and
which framework it needs. The canonical ``.npz`` and the named ``.npz`` of an engine without
an ``.npz`` flavour of its own are rnn_ref's own formats, generic here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rnn_ref.adapters import engine_info, engine_names
from rnn_ref.adapters.engine_registry import file_formats
from rnn_ref.adapters.file_format import NPZ, FileFormat
from rnn_ref.core.errors import ParamsError

CANONICAL = "canonical"

#: rnn_ref's own .npz flavours: canonical keys, and an engine's native names
CANONICAL_NPZ = FileFormat(NPZ, CANONICAL, (CANONICAL,), described="canonical .npz files", named=False)
NAMED_NPZ = FileFormat(NPZ, "", (), described="named .npz files")


class AsIs(ParamsError):
    """An error about the file as it is, found before any size was read off it (so without the
    note that sizes were inferred)."""


def early(message: str) -> ParamsError:
    return AsIs(message)


def format_engines() -> list[str]:
    return [CANONICAL, *engine_names()]


def framework_formats() -> dict[str, FileFormat]:
    """The formats whose files are a framework's own (not .npz), by suffix."""
    return {f.suffix: f for f in file_formats() if f.suffix != NPZ and f.converts}


def suffix_of(path: Path) -> str:
    """The suffix a format is known by: a declared suffix of several dots (``.weights.h5``) or the last one."""
    long = sorted((s for s in framework_formats() if s.count(".") > 1), key=len, reverse=True)
    return next((s for s in long if path.name.endswith(s)), path.suffix)


def engine_formats(engine: str) -> list[FileFormat]:
    """The formats ``engine``'s weight files may have: its family's, in their order, and an .npz."""
    if engine == CANONICAL:
        return [CANONICAL_NPZ]
    own = [f for f in file_formats() if engine in f.engines and f.converts]
    return own if any(f.suffix == NPZ for f in own) else [*own, NAMED_NPZ]


def npz_format(engine: str) -> FileFormat:
    """How ``engine``'s .npz files are keyed."""
    return next(f for f in engine_formats(engine) if f.suffix == NPZ)


def allowed_suffixes(engine: str) -> tuple[str, ...]:
    return tuple(f.suffix for f in engine_formats(engine))


def check_suffix(engine: str, path: Path) -> None:
    if suffix_of(path) not in allowed_suffixes(engine):
        raise ParamsError(f"{path}: a {engine} weight file must end in {' or '.join(allowed_suffixes(engine))}")


def format_of(engine: str, path: Path) -> FileFormat | None:
    """The format of ``path`` as a file of ``engine``: one of its own, else the framework format
    its suffix declares (an engine's file with another family's suffix), else None."""
    suffix = suffix_of(path)
    own = next((f for f in engine_formats(engine) if f.suffix == suffix), None)
    return own if own is not None else framework_formats().get(suffix)


def positional_order(engine: str, path: Path) -> str | None:
    """The order of the rows a positional file's arrays (``arr_i``) follow, or None: an engine
    whose .npz is positional, or a positional framework format."""
    fmt = format_of(engine, path)
    return npz_format(engine).positional or (fmt.positional if fmt is not None else None)


def positional(engine: str, path: Path) -> bool:
    """Files whose arrays are named by position (``arr_i``), not by parameter."""
    return positional_order(engine, path) is not None


def named(engine: str, path: Path) -> bool:
    """True for formats whose arrays are named parameters that --prefix can select (state_dicts, named .npz)."""
    fmt = format_of(engine, path)
    return engine != CANONICAL and not positional(engine, path) and (fmt is None or fmt.named)


def formats_text() -> str:
    """Every weight file format ``convert`` reads and writes, as its help lists them."""
    described = [f.described for f in file_formats() if f.converts] + [NAMED_NPZ.described, CANONICAL_NPZ.described]
    return ", ".join(dict.fromkeys(described))


def prefix_formats() -> str:
    """The formats --prefix applies to, as a message lists them."""
    return " and ".join([f.described for f in framework_formats().values() if f.named] + [NAMED_NPZ.described])


def require_framework(path: Path, engine: str | None = None) -> None:
    """A framework file format needs its framework; say which and how to get it. A format the
    engine's layer reads and writes needs the engine to run here (a Keras engine: Keras on its
    backend, which KERAS_BACKEND fixes before Keras is imported)."""
    fmt = framework_formats().get(suffix_of(path))
    if fmt is None:
        return
    if fmt.package is not None and importlib.util.find_spec(fmt.package) is None:
        raise ParamsError(f"{path}: {suffix_of(path)} files need {fmt.package} "
                          f"(pip install 'rnn-ref[{fmt.extra}]' or use tox -e {fmt.extra}); .npz needs NumPy alone")
    if engine is not None and engine != CANONICAL and fmt.through_engine:
        reason = engine_info(engine).unavailable_reason()
        if reason is not None:
            raise ParamsError(f"{path}: {engine} reads and writes {suffix_of(path)} files through its own layer, "
                              f"and it cannot run here: {reason}; .npz needs NumPy alone")

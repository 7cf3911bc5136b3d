"""``rnn-ref inspect FILE``: every recurrent layer a model file holds, with its inferred spec.

The command knows no format: a file's suffix picks the family's declared ``FileFormat`` whose
``inspector`` reads it (names and shapes only, never code from the file); an ``.npz`` (rnn_ref
reads the container itself, headers only) is shown to every family's ``names_inspector``.
Each layer or stack comes back as a ``FoundLayer`` (rnn_ref/core/inspection.py) and is
printed as a table, or as ``--format json``: a list of objects with the keys
``core.inspection.JSON_KEYS`` (``undetermined``: a list of ``{"field", "flag", "values",
"why"}``, each a spec field the file leaves open and the flag that settles it).

Bad input is one line and exit code 2, and nothing is written: a missing file, a suffix no
family inspects, a file that cannot be read as its format (a truncated archive), a reference
the file makes outside its folder, a file with no recurrent layer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from rnn_ref.adapters.engine_registry import file_formats
from rnn_ref.adapters.file_format import NPZ, FileFormat
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.files import FileProblem, check_input_path, read_npz
from rnn_ref.core.inspection import FoundLayer, render_table


def add_inspect(commands: Any) -> None:
    from rnn_ref.cli import sub_command

    inspector = sub_command(commands, "inspect", run_inspect,
        help="list the recurrent layers of a model file, with the spec its names and shapes determine",
        description=f"List every recurrent layer (or stack of layers that feed each other) in FILE: its location, "
        f"mode, sizes, layers, direction, projection, GRU variant, bias, and what the file leaves undetermined "
        f"(with the flag that settles it). Reads {inspected_text()}; never runs code from the file.")
    inspector.add_argument("file", metavar="FILE", type=Path)
    inspector.add_argument("--format", choices=("table", "json"), default="table")


def inspected_formats() -> list[FileFormat]:
    return [f for f in file_formats() if f.inspector is not None]


def inspected_suffixes() -> list[str]:
    return list(dict.fromkeys([*(f.suffix for f in inspected_formats()), NPZ]))


def inspected_text() -> str:
    return ", ".join(inspected_suffixes()) + " files"


def format_for(path: Path) -> FileFormat | None:
    """The declared format that inspects ``path`` (the longest declared suffix it ends in)."""
    for fmt in sorted(inspected_formats(), key=lambda f: len(f.suffix), reverse=True):
        if path.name.endswith(fmt.suffix):
            return fmt
    return None


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of an ``.npz``'s arrays, from their headers (no data read)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def keep(headers: dict[str, Any]) -> list[str]:
        shapes.update({name: header.shape for name, header in headers.items()})
        return []

    read_npz(path, ParamsError, check=keep)
    return shapes


def inspect_file(path: Path) -> list[FoundLayer]:
    """Every recurrent layer of ``path``; a ParamsError (one line) for any bad input."""
    try:
        check_input_path(path, ParamsError)
    except FileProblem as error:
        raise ParamsError(str(error)) from None
    if path.name.endswith(NPZ):
        shapes = npz_shapes(path)
        found = [layer for fmt in file_formats() for hook in [fmt.names_inspector] if hook is not None
                 for layer in fmt.call(hook, shapes)]
    else:
        fmt = format_for(path)
        if fmt is None or fmt.inspector is None:
            raise ParamsError(f"{path}: rnn-ref inspect reads {inspected_text()}; this suffix is none of them")
        if fmt.package is not None and importlib.util.find_spec(fmt.package) is None:
            raise ParamsError(f"{path}: inspecting {fmt.suffix} files needs {fmt.package} "
                              f"(pip install 'rnn-ref[{fmt.extra}]' or use tox -e {fmt.extra})")
        found = fmt.call(fmt.inspector, path)
    if not found:
        raise ParamsError(f"{path}: no recurrent layer found (no RNN, LSTM or GRU weights by the names and shapes "
                          "the frameworks give them)")
    return found


def run_inspect(args: argparse.Namespace) -> int:
    from rnn_ref.cli import CommandError

    try:
        found = inspect_file(args.file)
    except ParamsError as error:
        raise CommandError(str(error).splitlines()[0]) from None
    if args.format == "json":
        print(json.dumps([layer.to_json() for layer in found], indent=2))
    else:
        print(render_table(str(args.file), found))
    return 0

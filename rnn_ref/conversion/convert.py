"""Reading and writing weight files in each engine's native format, and conversion between engines.

Each engine family declares its weight file formats (``FORMATS`` in
``rnn_ref/adapters/<family>/__init__.py``; ``rnn_ref/adapters/file_format.py``): the suffixes,
how a file is read and written, which framework it needs. This pipeline reads those
declarations (``rnn_ref/conversion/formats.py``) and knows no engine and no suffix but
rnn_ref's own ``.npz``:

=========  ==============================================================================
engine     files
=========  ==============================================================================
canonical  ``.npz`` keyed by canonical keys (``l0.fwd.w_ih.i``, ...)
torch      ``.pt``: a state_dict saved with ``torch.save`` (read with ``weights_only=True``);
           ``.npz`` keyed by state_dict names (``weight_ih_l0``, ...)
gluon      ``.params`` written by ``save_parameters``; ``.npz`` keyed by structural names
           (``l0_i2h_weight``, ...)
keras      ``.npz`` whose arrays ``arr_0 ... arr_k`` are ``get_weights()`` of the model that
           ``rnn-ref map keras`` describes, in that order; ``.weights.h5`` written by that
           model's ``save_weights``
onnx       ``.onnx``: the RNN/LSTM/GRU nodes' W, R, B initializers (rnn_ref/adapters/onnx/files.py);
           ``.npz`` keyed ``l{k}.W``, ``l{k}.R``, ``l{k}.B`` per layer k (also onnx-reference)
flax       ``.npz`` keyed by the flattened NNX state paths (``layers.0.cell.ii.kernel``, ...)
=========  ==============================================================================

``torch-cell`` and ``gluon-cell`` read and write their own parameter names the same ways;
``keras-jax`` and ``keras-torch`` the keras files; ``flax-optimized`` its own paths.
A conversion goes native -> canonical -> native through the mapping rows, so A -> canonical
-> A is bit-exact; through Keras the two biases of a gate become their sum (Keras keeps one).
Files are never unpickled, and a file that does not match the declared layer fails with the
list of missing, unexpected and mis-shaped names before anything is written. An ``.npz`` and
a ``.weights.h5`` are checked against the layer from their headers alone, before any data is
read; a ``.pt`` archive's record sizes are checked before torch reads it (rnn_ref/core/files.py).
Sizes read off a file's shapes (``--infer``) are found by ``sizes.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.file_format import NPZ, Shapes
from rnn_ref.conversion.formats import (
    CANONICAL,
    AsIs,
    allowed_suffixes,
    check_suffix,
    early,
    format_engines,
    format_of,
    named,
    npz_format,
    positional,
    prefix_formats,
    require_framework,
    suffix_of,
)
from rnn_ref.conversion.sizes import describe, engine_mapping, infer_sizes, prefix_hint, shapes_of
from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params, expected_shapes
from rnn_ref.core.spec import RNNSpec

__all__ = [  # the pipeline, and the format questions the CLI and the tests ask through this module
    "CANONICAL", "allowed_suffixes", "check_output", "check_suffix", "convert", "engine_mapping", "format_engines",
    "named", "positional", "read_params", "require_framework", "suffix_of", "write_params",
]


# --------------------------------------------------------------------------- reading
def read_npz(path: Path) -> dict[str, np.ndarray]:
    return files.read_npz(path, ParamsError)


def raw_arrays(engine: str, path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
    """The arrays of a weight file, by the names the file uses (only their ``Shapes`` where the
    framework reads the data later; an .onnx file is checked against ``spec``)."""
    check_suffix(engine, path)
    files.check_input_path(path, ParamsError)
    require_framework(path, engine)
    fmt = format_of(engine, path)
    if fmt is not None and fmt.reader is not None:
        return fmt.call(fmt.reader, path, spec)
    return read_npz(path)


def select_prefix(engine: str, path: Path, arrays: dict, prefix: str) -> dict:
    """The arrays under ``prefix`` (a whole model's state_dict holds more than one layer), renamed without it."""
    if not prefix:
        return arrays
    if not named(engine, path):
        raise early(f"{path}: --prefix selects named parameters; a {engine} {suffix_of(path)} file has none")
    selected = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
    if not selected:
        raise early(f"{path}: no array name starts with {prefix!r}; names: {', '.join(sorted(arrays)[:8])}")
    return selected


def to_named(engine: str, spec: RNNSpec, path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays keyed by the mapping's native names (positional files by position; a file its
    framework's own layer must read, through that layer)."""
    names = list(shapes_of(engine, spec))
    fmt = format_of(engine, path)
    if fmt is not None and fmt.loader is not None:
        return fmt.call(fmt.loader, engine, spec, path, arrays, shapes_of(engine, spec))
    order = npz_format(engine).positional
    if order is not None:
        positions = [f"arr_{i}" for i in range(len(arrays))]
        if sorted(arrays) != sorted(positions):
            raise ParamsError(f"{path}: a {npz_format(engine).family} .npz holds arr_0 ... arr_k ({order} order), "
                              f"got {sorted(arrays)}")
        if len(arrays) != len(names):
            raise ParamsError(f"{path}: expected {len(names)} arrays ({order} of {spec}), got {len(arrays)}")
        return {name: arrays[f"arr_{i}"] for i, name in enumerate(names)}
    return arrays


def read_params(engine: str, path: str | Path, spec: RNNSpec, infer: bool = False, prefix: str = "") -> Params:
    """Canonical Params from an ``engine`` weight file.

    ``infer``: read I and H off the file's shapes. ``prefix``: take only the arrays whose
    names start with it (one layer of a whole model's state_dict), with the prefix removed.
    An ``.npz`` is checked against the layer (names, then shapes and dtypes) from its headers
    alone, before any data is read; only the layer's own arrays are then read.
    """
    path = Path(path)
    arrays = {} if suffix_of(path) == NPZ else select_prefix(engine, path, raw_arrays(engine, path, spec), prefix)
    try:
        if suffix_of(path) == NPZ:
            check_suffix(engine, path)
            settled: list[RNNSpec] = []

            def check(headers: dict[str, files.NpyHeader]) -> list[str]:
                layer, names = check_npz_headers(engine, path, spec, headers, infer, prefix)
                settled.append(layer)
                return names

            arrays = select_prefix(engine, path, files.read_npz(path, AsIs, check=check), prefix)
            spec = settled[0]
        else:
            spec = settle_layer(engine, path, spec, arrays, infer, bool(prefix))
        if engine == CANONICAL:
            return Params(spec, arrays)
        by_native_name = to_named(engine, spec, path, arrays)
        return engine_mapping(engine, spec).to_params(by_native_name, f"{path} ({engine})")
    except ParamsError as error:
        if not infer or isinstance(error, AsIs):
            raise
        raise ParamsError(f"{error}\n(input and hidden sizes were read off the file as the closest fit; check "
                          "--mode, --layers, --bidirectional, --proj-size, --no-bias and --gru-variant, or give "
                          "--input-size and --hidden-size)") from None


def settle_layer(engine: str, path: Path, spec: RNNSpec, shapes: dict, infer: bool, prefixed: bool) -> RNNSpec:
    """The layer a file's arrays (``shapes``: name -> array or shape, after --prefix) must hold:
    ``spec``, with I and H read off the shapes when ``infer``. A whole model's state_dict given
    without --prefix is refused with the prefix to give."""
    if not prefixed and named(engine, path):
        hint = prefix_hint(engine, spec, shapes)
        if hint is not None:
            raise early(f"{path}: the parameters of one {engine} layer lie under the prefix {hint!r} "
                        f"(a whole model's state_dict?): add --prefix {hint}")
    if not infer:
        return spec
    if isinstance(shapes, Shapes):
        sizes = dict(shapes)
    else:
        sizes = {name: tuple(np.shape(a)) if not isinstance(a, tuple) else a for name, a in shapes.items()}
    fmt = format_of(engine, path)
    if fmt is not None and fmt.size_names is not None:
        sizes = {fmt.call(fmt.size_names, name): shape for name, shape in sizes.items()}
    return infer_sizes(engine, spec, sizes, path)


def check_npz_headers(engine: str, path: Path, spec: RNNSpec, headers: dict[str, files.NpyHeader], infer: bool,
                      prefix: str) -> tuple[RNNSpec, list[str]]:
    """The layer an ``.npz`` holds and the members to read, from its headers alone: its names,
    shapes and dtypes must be those of the layer (read off the shapes when ``infer``)."""
    shapes = select_prefix(engine, path, {name: header.shape for name, header in headers.items()}, prefix)
    layer = settle_layer(engine, path, spec, shapes, infer, bool(prefix))
    by_name = {name: headers[prefix + name] for name in shapes}
    if positional(engine, path):
        natives, flavour = list(shapes_of(engine, layer)), npz_format(engine)
        if sorted(by_name) != sorted(f"arr_{i}" for i in range(len(by_name))):
            raise early(f"{path}: a {flavour.family} .npz holds arr_0 ... arr_k ({flavour.positional} order), "
                        f"got {sorted(by_name)}")
        if len(by_name) != len(natives):
            raise ParamsError(f"{path}: expected {len(natives)} arrays ({flavour.positional} of "
                              f"{describe(layer, infer)}), got {len(by_name)}")
        by_native = {f"{native} (arr_{i})": by_name[f"arr_{i}"] for i, native in enumerate(natives)}
        expected = {f"{native} (arr_{i})": shape for i, (native, shape) in enumerate(shapes_of(engine, layer).items())}
        problems = files.layout_problems(expected, by_native)
        heading = f"{path} ({engine}) do not match the {engine} layer of {layer}"
    elif engine == CANONICAL:
        problems = files.layout_problems(expected_shapes(layer), by_name, " keys")
        heading = f"{path}: canonical .npz arrays do not match {layer}"
    else:
        problems = files.layout_problems(shapes_of(engine, layer), by_name)
        heading = f"{path} ({engine}) do not match the {engine} layer of {layer}"
    if problems:
        raise ParamsError(f"{heading}:\n  " + "\n  ".join(problems))
    return layer, [prefix + name for name in shapes]


# --------------------------------------------------------------------------- writing
def write_npz(handle: Any, arrays: dict[str, np.ndarray]) -> None:
    files.write_npz(handle, arrays)


def writer(engine: str, path: Path, params: Params, prefix: str = "") -> Callable[[str], None]:
    """A function that writes ``params`` in ``engine``'s format for ``path`` to a given file name."""
    spec = params.spec
    suffix = suffix_of(path)
    if prefix and not named(engine, path):
        raise ParamsError(f"{path}: --prefix names parameters of a state_dict or named .npz; a {engine} {suffix} "
                          "file has no such names")
    if engine == CANONICAL:
        return lambda target: write_npz(target, dict(params))
    native = engine_mapping(engine, spec).to_native(params)
    fmt = format_of(engine, path)
    if suffix == NPZ and npz_format(engine).positional:
        return lambda target: write_npz(target, {f"arr_{i}": a for i, a in enumerate(native.values())})
    native = {prefix + name: array for name, array in native.items()}
    if fmt is not None and fmt.writer is not None:
        return fmt.call(fmt.writer, engine, path, params, native)
    return lambda target: write_npz(target, native)


def check_output(engine: str, path: Path) -> None:
    """Everything about an output path that can be checked before any work is done."""
    files.check_output_path(path, ParamsError)
    check_suffix(engine, path)
    require_framework(path, engine)


def write_params(engine: str, path: str | Path, params: Params, prefix: str = "") -> None:
    """Write atomically: a failure leaves no file behind (and never a half-written one); an
    overwritten file keeps its permission bits."""
    path = Path(path)
    check_output(engine, path)
    files.atomic_write(path, writer(engine, path, params, prefix), ParamsError, suffix=suffix_of(path))


def convert(source: str, target: str, spec: RNNSpec, in_path: str | Path, out_path: str | Path,
            infer: bool = False, prefix: str = "", out_prefix: str | None = None) -> Params:
    """Read ``in_path`` as ``source``, write ``out_path`` as ``target``; returns the canonical params.

    ``prefix`` (one layer inside a whole model's state_dict, e.g. ``lstm.``) selects the
    input's arrays when the input's names are parameter names, and is put on the output's
    names when those are; at least one side must be such a format. ``out_prefix`` (``--layer``:
    the layer read under ``prefix`` is written with plain names) replaces it on the output's
    side. Everything that can be checked about OUT is checked before IN is read; OUT may not be IN (through a one-bias
    engine that would lose the separate biases for good).
    """
    for engine in (source, target):
        if engine not in format_engines():
            raise ParamsError(f"unknown engine {engine!r}; known: {', '.join(format_engines())}")
    in_path, out_path = Path(in_path), Path(out_path)
    check_output(target, out_path)
    if files.same_file(in_path, out_path):
        raise ParamsError(f"{out_path}: is the input file itself; write the conversion to another file")
    in_prefix = prefix if named(source, in_path) else ""
    out_prefix = (prefix if named(target, out_path) else "") if out_prefix is None else out_prefix
    if prefix and not (in_prefix or out_prefix):
        raise ParamsError(f"--prefix {prefix!r}: neither {in_path} ({source}) nor {out_path} ({target}) names its "
                          f"parameters; --prefix applies to {prefix_formats()}")
    params = read_params(source, in_path, spec, infer=infer, prefix=in_prefix)
    write_params(target, out_path, params, out_prefix)
    return params

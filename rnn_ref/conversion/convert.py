"""Weight files in each engine's native format, and conversion between engines.

Formats (design section 4):

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
A ``.weights.h5`` is made in memory and written by Python, so a full disk is an ordinary error.
"""

from __future__ import annotations

import importlib.util
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters import adapter_call, adapter_object, engine_info, engine_names
from rnn_ref.adapters.keras.backend import KERAS_ENGINES
from rnn_ref.adapters.onnx.files import ONNX_FILE_ENGINES
from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError, SpecError
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params, expected_shapes
from rnn_ref.core.spec import RNNSpec

CANONICAL = "canonical"


def format_engines() -> list[str]:
    return [CANONICAL, *engine_names()]


def suffix_of(path: Path) -> str:
    return ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix


def allowed_suffixes(engine: str) -> tuple[str, ...]:
    if engine == CANONICAL:
        return (".npz",)
    if engine in KERAS_ENGINES:
        return (".npz", ".weights.h5")
    if engine in ONNX_FILE_ENGINES:
        return (".onnx", ".npz")
    family = engine_info(engine).requires
    return {"torch": (".pt", ".npz"), "mxnet": (".params", ".npz")}.get(family, (".npz",))


def check_suffix(engine: str, path: Path) -> None:
    if suffix_of(path) not in allowed_suffixes(engine):
        raise ParamsError(f"{path}: a {engine} weight file must end in {' or '.join(allowed_suffixes(engine))}")


# --------------------------------------------------------------------------- reading
def read_npz(path: Path) -> dict[str, np.ndarray]:
    return files.read_npz(path, ParamsError)


def check_torch_archive(path: Path) -> None:
    """The sizes of a ``torch.save`` zip archive, checked before torch reads it: its records must
    be stored or deflated, no larger than the file can hold, and inflate by at most
    ``files.MAX_INFLATION`` (a deflated 1 MB ``.pt`` once made torch allocate 1 GiB). The names
    lie in the pickle, which only torch's weights_only loader reads; they are checked after it.
    torch's legacy (non-zip) format holds its tensors uncompressed: it cannot inflate."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            on_disk = path.stat().st_size
            infos = archive.infolist()
            for info in infos:
                files.check_zip_entry(info, on_disk)
            files.check_inflation(infos, on_disk)
    except files.READ_ERRORS as problem:
        raise ParamsError(f"{path}: not a readable torch.save archive ({files.reason(problem)})") from None


def read_torch_pt(path: Path) -> dict[str, np.ndarray]:
    check_torch_archive(path)
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ParamsError(f"{path}: not a state_dict that loads with weights_only=True ({error})") from error
    if not isinstance(state, dict):
        raise ParamsError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(state).__name__}")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ParamsError(f"{path}: expected a state_dict (a mapping of names to tensors){checkpoint_hint(state)}")
    not_names = [repr(name) for name in state if not isinstance(name, str)]
    if not_names:
        raise ParamsError(f"{path}: a state_dict's keys are parameter names, got {', '.join(not_names[:5])}")
    meta = [name for name, t in state.items() if t.device.type == "meta"]
    if meta:
        raise ParamsError(f"{path}: {', '.join(meta[:5])} are meta tensors, which hold no values; save the "
                          "state_dict of a layer whose weights were loaded or initialised")
    unreadable = [f"{name} ({t.dtype}, {t.layout})" for name, t in state.items()
                  if t.dtype not in (torch.float32, torch.float64) or t.layout != torch.strided]
    if unreadable:
        raise ParamsError(f"{path}: only dense float32/float64 tensors convert; got {', '.join(unreadable)}")
    return {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}


def checkpoint_hint(state: dict) -> str:
    """Where the state_dict of a training checkpoint (``{"model": state_dict, ...}``) is, if anywhere."""
    import torch

    holders = [key for key, value in state.items()
               if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values())]
    if len(holders) == 1:
        return (f"; this looks like a checkpoint whose state_dict is under key {holders[0]!r}: "
                f"torch.save(checkpoint[{holders[0]!r}], PATH) and convert that file")
    if holders:
        return f"; this looks like a checkpoint with state_dicts under keys {holders}: save the one of the RNN layer"
    return ""


def read_gluon_params(path: Path) -> dict[str, np.ndarray]:
    """Raw arrays of a ``save_parameters`` file, under the keys Gluon wrote."""
    from rnn_ref.adapters.mxnet.fused import import_mxnet

    try:
        loaded = import_mxnet().nd.load(str(path))
    except Exception as error:  # MXNetError
        raise ParamsError(f"{path}: not a Gluon .params file ({error})") from error
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: holds an unnamed list of arrays, not the named parameters of save_parameters")
    return {name: array.asnumpy() for name, array in loaded.items()}


GLUON_SAVED_NAME = re.compile(r"^(?:_unfused\.)?(\d+)\.(?:([lr])_cell\.)?(i2h|h2h|h2r)_(weight|bias)$")


def gluon_structural_name(saved: str) -> str:
    """``save_parameters``'s key (``_unfused.1.r_cell.i2h_weight``, ``0.h2r_weight``) as the
    structural name the rows use (``r1_i2h_weight``, ``l0_h2r_weight``); other keys unchanged.
    Only size inference needs this: the weights themselves are loaded by Gluon."""
    match = GLUON_SAVED_NAME.match(saved)
    if match is None:
        return saved
    layer, direction, kind, what = match.groups()
    return f"{direction or 'l'}{layer}_{kind}_{what}"


class Shapes(dict):
    """Array names and shapes of a file read without its data (a Keras ``.weights.h5``), and its dtype."""

    dtype: np.dtype = np.dtype(np.float32)


def read_keras_h5_shapes(path: Path) -> Shapes:
    """The dataset shapes of a Keras ``.weights.h5`` file in storage order, as ``arr_i``.

    Only the metadata is read: the data is read later by Keras itself, once every shape has
    been checked against the declared layer (so a small file claiming huge datasets is refused
    before anything is allocated).
    """
    import h5py

    datasets: list[tuple[str, tuple[int, ...], np.dtype]] = []
    try:
        with h5py.File(path, "r") as archive:
            archive.visititems(lambda name, item: datasets.append((name, tuple(item.shape), item.dtype))
                               if isinstance(item, h5py.Dataset) else None)
    except OSError as error:
        raise ParamsError(f"{path}: not a readable .weights.h5 file ({error})") from error
    not_weights = [f"{name} ({dtype})" for name, _, dtype in datasets if dtype not in (np.float32, np.float64)]
    if not_weights:
        raise ParamsError(f"{path}: unexpected datasets that hold no float weights: {', '.join(not_weights[:5])}; "
                          "the keras model's .weights.h5 holds float32 or float64 datasets only")
    shapes = Shapes({f"arr_{i}": shape for i, (_, shape, _) in enumerate(datasets)})
    dtypes = {dtype for _, _, dtype in datasets}
    if len(dtypes) > 1:
        mixed = ", ".join(f"{name} {dtype}" for name, _, dtype in datasets[:6])
        raise ParamsError(f"{path}: its datasets mix float32 and float64 (use one): {mixed}")
    if dtypes:
        shapes.dtype = np.dtype(dtypes.pop())
    return shapes


FRAMEWORK_FORMATS = {".pt": ("torch", "torch"), ".params": ("mxnet", "mxnet"), ".weights.h5": ("keras", "tensorflow"),
                     ".onnx": ("onnx", "onnx")}


#: Formats the engine's own layer reads and writes (Gluon's load/save_parameters, the Keras
#: model's load/save_weights): the engine must run here, not only its package import.
ENGINE_RUN_FORMATS = (".params", ".weights.h5")


def require_framework(path: Path, engine: str | None = None) -> None:
    """A framework file format needs its framework; say which and how to get it. A format the
    engine's layer reads and writes needs the engine to run here (a Keras engine: Keras on its
    backend, which KERAS_BACKEND fixes before Keras is imported)."""
    package, extra = FRAMEWORK_FORMATS.get(suffix_of(path), (None, None))
    if package is not None and importlib.util.find_spec(package) is None:
        raise ParamsError(f"{path}: {suffix_of(path)} files need {package} "
                          f"(pip install 'rnn-ref[{extra}]' or use tox -e {extra}); .npz needs NumPy alone")
    if engine is not None and engine != CANONICAL and suffix_of(path) in ENGINE_RUN_FORMATS:
        reason = engine_info(engine).unavailable_reason()
        if reason is not None:
            raise ParamsError(f"{path}: {engine} reads and writes {suffix_of(path)} files through its own layer, "
                              f"and it cannot run here: {reason}; .npz needs NumPy alone")


def raw_arrays(engine: str, path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
    """The arrays of a weight file, by the names the file uses (shapes only for ``.weights.h5``; an
    .onnx file is checked against ``spec``)."""
    check_suffix(engine, path)
    files.check_input_path(path, ParamsError)
    require_framework(path, engine)
    suffix = suffix_of(path)
    if suffix == ".pt":
        return read_torch_pt(path)
    if suffix == ".params":
        return read_gluon_params(path)
    if suffix == ".weights.h5":
        return read_keras_h5_shapes(path)
    if suffix == ".onnx":
        from rnn_ref.adapters.onnx.files import read_onnx_weights

        return read_onnx_weights(path, spec)
    return read_npz(path)


def positional(engine: str, path: Path) -> bool:
    """Keras files name their arrays by position (``arr_i``), not by parameter."""
    return engine in KERAS_ENGINES or suffix_of(path) == ".weights.h5"


def named(engine: str, path: Path) -> bool:
    """True for formats whose arrays are named parameters that --prefix can select (state_dicts, named .npz)."""
    return engine != CANONICAL and not positional(engine, path) and suffix_of(path) not in (".params", ".onnx")


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


def prefix_hint(engine: str, spec: RNNSpec, names: Iterable[str]) -> str | None:
    """The ``--prefix`` under which exactly one layer's parameters lie, when the names are not bare."""
    expected = list(engine_mapping(engine, spec).native_shapes) if engine != CANONICAL else list(expected_shapes(spec))
    names = set(names)
    if set(expected) <= names:
        return None
    prefixes = {name[: -len(expected[0])] for name in names if name.endswith(expected[0])}
    fitting = sorted(p for p in prefixes if all(p + name in names for name in expected))
    return fitting[0] if len(fitting) == 1 else None


def engine_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """The rows of ``engine`` for ``spec``; a layer the engine cannot express is an error."""
    reason = adapter_call(engine, "layer_unsupported_reason", spec)  # a plug-in that raises: AdapterCallError
    if reason is not None:
        raise ParamsError(f"{engine} cannot express this {spec.mode} layer: {reason}")
    return adapter_call(engine, "mapping", spec)


def shapes_of(engine: str, spec: RNNSpec) -> dict[str, tuple[int, ...]]:
    return expected_shapes(spec) if engine == CANONICAL else engine_mapping(engine, spec).native_shapes


def infer_sizes(engine: str, spec: RNNSpec, shapes: dict[str, tuple[int, ...]], path: Path) -> RNNSpec:
    """``spec`` with input_size and hidden_size read off the file's shapes (everything else as given).

    Every native dimension is an affine function of (I, H) for a given mode, depth and
    direction; three probe layers give its coefficients, and each array of the file whose
    name the layer has then states I or H directly. Linear in the number of arrays. When the
    shapes contradict each other, the reading most arrays agree on is kept, so that the named
    check that follows lists the arrays that disagree with it; when no reading has a majority
    (``weight_ih_l0`` says I=5 and ``weight_ih_l0_reverse`` I=3), the file is refused naming both.
    """
    base_input, base_hidden = 2, spec.proj_size + 2  # any sizes do: the coefficients are differences
    probes = [probe_shapes(engine, spec, base_input + di, base_hidden + dh) for di, dh in ((0, 0), (1, 0), (0, 1))]
    names = list(probes[0])
    if positional(engine, path):
        if len(shapes) != len(names):
            raise ParamsError(f"{path}: expected {len(names)} arrays (get_weights of {describe(spec, True)}), "
                              f"got {len(shapes)}")
        shapes = {name: shapes[f"arr_{i}"] for i, name in enumerate(names) if f"arr_{i}" in shapes}
    readings: dict[str, list[tuple[int, str]]] = {"input_size": [], "hidden_size": []}
    for name in names:
        if name not in shapes or len(shapes[name]) != len(probes[0][name]):
            continue
        for axis, actual in enumerate(shapes[name]):
            offset = probes[0][name][axis]
            per_input = probes[1][name][axis] - offset
            per_hidden = probes[2][name][axis] - offset
            constant = offset - per_input * base_input - per_hidden * base_hidden
            if per_input and not per_hidden and (actual - constant) % per_input == 0:
                readings["input_size"].append(((actual - constant) // per_input, name))
            elif per_hidden and not per_input and (actual - constant) % per_hidden == 0:
                readings["hidden_size"].append(((actual - constant) // per_hidden, name))
    if not readings["hidden_size"]:  # no name in common: the named check that follows lists them all
        return spec
    hidden = majority_reading("hidden size", readings["hidden_size"], path)
    input_size = majority_reading("input size", readings["input_size"], path) if readings["input_size"] else 1
    try:
        return spec.replace(input_size=input_size, hidden_size=hidden)
    except SpecError as error:
        raise ParamsError(f"{path}: its shapes describe no valid layer ({error})") from None


def majority_reading(what: str, readings: list[tuple[int, str]], path: Path) -> int:
    """The size most of ``readings`` ((size, array name) pairs) state; a tie names the arrays of each side."""
    counts = Counter(size for size, _ in readings).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        sides = "; ".join(f"{', '.join(sorted({name for size, name in readings if size == value}))} "
                          f"say {value}" for value, count in counts if count == counts[0][1])
        raise early(f"{path}: its arrays disagree on the {what}, and no reading has a majority: {sides}. "
                    "Fix the file, or give --input-size and --hidden-size to have every array checked")
    return counts[0][0]


def probe_shapes(engine: str, spec: RNNSpec, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    return shapes_of(engine, spec.replace(input_size=input_size, hidden_size=hidden_size))


def to_named(engine: str, spec: RNNSpec, path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays keyed by the mapping's native names (Keras files are positional, Gluon's renamed)."""
    names = list(shapes_of(engine, spec))
    if isinstance(arrays, Shapes):  # .weights.h5: every shape is checked before Keras reads any data
        expected = {f"arr_{i}": shape for i, shape in enumerate(shapes_of(engine, spec).values())}
        if dict(arrays) != expected:
            wrong = [f"{name}: expected shape {shape}, got {arrays.get(name)}" for name, shape in expected.items()
                     if arrays.get(name) != shape]
            wrong += [f"{name}: unexpected" for name in arrays if name not in expected]
            raise ParamsError(f"{path}: the datasets do not match the keras model of {spec}:\n  " + "\n  ".join(wrong))
        return load_through_keras(engine, spec, path, arrays.dtype)
    if engine in KERAS_ENGINES:
        positional = [f"arr_{i}" for i in range(len(arrays))]
        if sorted(arrays) != sorted(positional):
            raise ParamsError(f"{path}: a keras .npz holds arr_0 ... arr_k (get_weights order), got {sorted(arrays)}")
        if len(arrays) != len(names):
            raise ParamsError(f"{path}: expected {len(names)} arrays (get_weights of {spec}), got {len(arrays)}")
        return {name: arrays[f"arr_{i}"] for i, name in enumerate(names)}
    if suffix_of(path) == ".params":
        dtype = next(iter(arrays.values())).dtype  # the loader needs a layer of the file's dtype
        return load_through_gluon(engine, spec, path, dtype)
    return arrays


def load_through_gluon(engine: str, spec: RNNSpec, path: Path, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A ``.params`` file read the way Gluon does (it undoes its own key renaming)."""
    adapter = adapter_object(engine)
    layer = adapter.build(spec, Params.random(spec, dtype=dtype))
    try:
        layer.load_parameters(str(path))
    except Exception as error:  # AssertionError / MXNetError naming the missing key
        raise ParamsError(f"{path}: does not load into the {engine} layer of {spec}: {error}") from error
    return adapter.native_arrays(spec, layer)


def load_through_keras(engine: str, spec: RNNSpec, path: Path, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A ``.weights.h5`` file loaded by Keras into the standard model (Keras matches the layers)."""
    adapter = adapter_object(engine)
    layer = adapter.build(spec, Params.random(spec, dtype=dtype))
    try:
        adapter.model(spec, layer).load_weights(str(path))
    except Exception as error:  # ValueError naming the layer whose weights do not fit
        raise ParamsError(
            f"{path}: does not load into the keras model of {spec} ({error}). A .weights.h5 file must come "
            "from the model `rnn-ref map keras` describes (RNN of cells, Bidirectional per level); for "
            "another Keras model save `model.get_weights()` with numpy.savez and convert that .npz"
        ) from error
    return adapter.native_arrays(spec, layer)


def read_params(engine: str, path: str | Path, spec: RNNSpec, infer: bool = False, prefix: str = "") -> Params:
    """Canonical Params from an ``engine`` weight file.

    ``infer``: read I and H off the file's shapes. ``prefix``: take only the arrays whose
    names start with it (one layer of a whole model's state_dict), with the prefix removed.
    An ``.npz`` is checked against the layer (names, then shapes and dtypes) from its headers
    alone, before any data is read; only the layer's own arrays are then read.
    """
    path = Path(path)
    arrays = {} if suffix_of(path) == ".npz" else select_prefix(engine, path, raw_arrays(engine, path, spec), prefix)
    try:
        if suffix_of(path) == ".npz":
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
    if suffix_of(path) == ".params":
        sizes = {gluon_structural_name(name): shape for name, shape in sizes.items()}
    return infer_sizes(engine, spec, sizes, path)


class AsIs(ParamsError):
    """An error about the file as it is, found before any size was read off it (so without the
    note that sizes were inferred)."""


def early(message: str) -> ParamsError:
    return AsIs(message)


def check_npz_headers(engine: str, path: Path, spec: RNNSpec, headers: dict[str, files.NpyHeader], infer: bool,
                      prefix: str) -> tuple[RNNSpec, list[str]]:
    """The layer an ``.npz`` holds and the members to read, from its headers alone: its names,
    shapes and dtypes must be those of the layer (read off the shapes when ``infer``)."""
    shapes = select_prefix(engine, path, {name: header.shape for name, header in headers.items()}, prefix)
    layer = settle_layer(engine, path, spec, shapes, infer, bool(prefix))
    by_name = {name: headers[prefix + name] for name in shapes}
    if positional(engine, path):
        natives = list(shapes_of(engine, layer))
        if sorted(by_name) != sorted(f"arr_{i}" for i in range(len(by_name))):
            raise early(f"{path}: a keras .npz holds arr_0 ... arr_k (get_weights order), got {sorted(by_name)}")
        if len(by_name) != len(natives):
            raise ParamsError(f"{path}: expected {len(natives)} arrays (get_weights of {describe(layer, infer)}), "
                              f"got {len(by_name)}")
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


def describe(spec: RNNSpec, unsized: bool) -> str:
    """``spec`` as the error messages show it; ``unsized``: its sizes are placeholders still to
    be read off the file, so they are left out."""
    if not unsized:
        return str(spec)
    fields = ", ".join(f"{name}={value!r}" for name, value in spec.to_dict().items()
                       if name not in ("input_size", "hidden_size"))
    return f"RNNSpec({fields}) of any input and hidden size"


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
    if engine in KERAS_ENGINES and suffix == ".npz":
        return lambda target: write_npz(target, {f"arr_{i}": a for i, a in enumerate(native.values())})
    native = {prefix + name: array for name, array in native.items()}
    if suffix == ".pt":
        import torch

        return lambda target: torch.save({name: torch.from_numpy(a) for name, a in native.items()}, target)
    if suffix == ".params":
        layer = adapter_object(engine).build(spec, params)
        from rnn_ref.adapters.mxnet.fused import save_parameters

        return lambda target: save_parameters(layer, target)
    if suffix == ".onnx":
        from rnn_ref.adapters.onnx.files import write_onnx_model

        return lambda target: write_onnx_model(target, params)
    if suffix == ".weights.h5":  # made in memory: a failed disk write is an OSError, not an HDF5 crash
        adapter = adapter_object(engine)
        content = adapter.weights_h5_bytes(spec, adapter.build(spec, params))
        return lambda target: Path(target).write_bytes(content)
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
    write = writer(engine, path, params, prefix)

    def guarded(temporary: str) -> None:
        try:
            write(temporary)
        except AttributeError as error:  # Gluon's save_parameters renames keys with one digit only
            raise ParamsError(f"{path}: {engine} could not save this layer ({error}); "
                              "Gluon 1.9.1 save_parameters fails above 10 layers: write .npz instead") from error

    files.atomic_write(path, guarded, ParamsError)


def convert(source: str, target: str, spec: RNNSpec, in_path: str | Path, out_path: str | Path,
            infer: bool = False, prefix: str = "") -> Params:
    """Read ``in_path`` as ``source``, write ``out_path`` as ``target``; returns the canonical params.

    ``prefix`` (one layer inside a whole model's state_dict, e.g. ``lstm.``) selects the
    input's arrays when the input's names are parameter names, and is put on the output's
    names when those are; at least one side must be such a format. Everything that can be
    checked about OUT is checked before IN is read; OUT may not be IN (through a one-bias
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
    out_prefix = prefix if named(target, out_path) else ""
    if prefix and not (in_prefix or out_prefix):
        raise ParamsError(f"--prefix {prefix!r}: neither {in_path} ({source}) nor {out_path} ({target}) names its "
                          "parameters; --prefix applies to state_dicts (.pt) and named .npz files")
    params = read_params(source, in_path, spec, infer=infer, prefix=in_prefix)
    write_params(target, out_path, params, out_prefix)
    return params

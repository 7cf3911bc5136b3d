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
flax       ``.npz`` keyed by the flattened NNX state paths (``layers.0.cell.ii.kernel``, ...)
=========  ==============================================================================

``torch-cell`` and ``gluon-cell`` read and write their own parameter names the same ways;
``keras-jax`` and ``keras-torch`` the keras files; ``flax-optimized`` its own paths.
A conversion goes native -> canonical -> native through the mapping rows, so A -> canonical
-> A is bit-exact; through Keras the two biases of a gate become their sum (Keras keeps one).
Files are never unpickled, and a file that does not match the declared layer fails with the
list of missing, unexpected and mis-shaped names before anything is written.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters import adapter_object, engine_info, engine_names
from rnn_ref.adapters.keras_backend import KERAS_ENGINES
from rnn_ref.errors import ParamsError
from rnn_ref.mapping import WeightMapping
from rnn_ref.params import Params, expected_shapes
from rnn_ref.spec import RNNSpec

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
    family = engine_info(engine).requires
    return {"torch": (".pt", ".npz"), "mxnet": (".params", ".npz")}.get(family, (".npz",))


def check_suffix(engine: str, path: Path) -> None:
    if suffix_of(path) not in allowed_suffixes(engine):
        raise ParamsError(f"{path}: a {engine} weight file must end in {' or '.join(allowed_suffixes(engine))}")


# --------------------------------------------------------------------------- reading
def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ParamsError(f"{path}: not a readable .npz file ({error})") from error


def read_torch_pt(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ParamsError(f"{path}: not a state_dict that loads with weights_only=True ({error})") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ParamsError(f"{path}: expected a state_dict (a mapping of names to tensors)")
    unreadable = [f"{name} ({t.dtype}, {t.layout})" for name, t in state.items()
                  if t.dtype not in (torch.float32, torch.float64) or t.layout != torch.strided]
    if unreadable:
        raise ParamsError(f"{path}: only dense float32/float64 tensors convert; got {', '.join(unreadable)}")
    return {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}


def read_gluon_params(path: Path) -> dict[str, np.ndarray]:
    """Raw arrays of a ``save_parameters`` file, under the keys Gluon wrote."""
    from rnn_ref.adapters.gluon import import_mxnet

    try:
        loaded = import_mxnet().nd.load(str(path))
    except Exception as error:  # MXNetError
        raise ParamsError(f"{path}: not a Gluon .params file ({error})") from error
    return {name: array.asnumpy() for name, array in loaded.items()}


def read_keras_h5(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Keras ``.weights.h5`` file in storage order, as ``arr_i`` (shapes only matter)."""
    import h5py

    arrays: list[np.ndarray] = []
    try:
        with h5py.File(path, "r") as archive:
            archive.visititems(lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    except OSError as error:
        raise ParamsError(f"{path}: not a readable .weights.h5 file ({error})") from error
    return {f"arr_{i}": array for i, array in enumerate(arrays)}


FRAMEWORK_FORMATS = {".pt": ("torch", "torch"), ".params": ("mxnet", "mxnet"), ".weights.h5": ("keras", "tensorflow")}


def require_framework(path: Path) -> None:
    """A framework file format needs its framework; say which and how to get it."""
    package, extra = FRAMEWORK_FORMATS.get(suffix_of(path), (None, None))
    if package is not None and importlib.util.find_spec(package) is None:
        raise ParamsError(f"{path}: {suffix_of(path)} files need {package} "
                          f"(pip install 'rnn-ref[{extra}]' or use tox -e {extra}); .npz needs NumPy alone")


def raw_arrays(engine: str, path: Path) -> dict[str, np.ndarray]:
    """The arrays of a weight file, by the names the file uses."""
    check_suffix(engine, path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such file")
    require_framework(path)
    suffix = suffix_of(path)
    if suffix == ".pt":
        return read_torch_pt(path)
    if suffix == ".params":
        return read_gluon_params(path)
    if suffix == ".weights.h5":
        return read_keras_h5(path)
    return read_npz(path)


def engine_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """The rows of ``engine`` for ``spec``; a layer the engine cannot express is an error."""
    adapter = adapter_object(engine)
    reason = adapter.layer_unsupported_reason(spec)
    if reason is not None:
        raise ParamsError(f"{engine} cannot express this {spec.mode} layer: {reason}")
    return adapter.mapping(spec)


def shapes_of(engine: str, spec: RNNSpec) -> dict[str, tuple[int, ...]]:
    return expected_shapes(spec) if engine == CANONICAL else engine_mapping(engine, spec).native_shapes


def infer_sizes(engine: str, spec: RNNSpec, arrays: dict[str, np.ndarray]) -> RNNSpec:
    """``spec`` with input_size and hidden_size read off the file's shapes (everything else as given).

    Tries every (I, H) that the file's dimensions allow and keeps the one whose layer has
    exactly the file's shapes. When none fits, it keeps the closest (the most arrays of the
    right name and shape), so that the named check that follows lists what is missing,
    unexpected or mis-shaped.
    """
    found = sorted(tuple(np.shape(a)) for a in arrays.values())
    dims = {d for shape in found for d in shape}
    gates = len(spec.gates)
    candidates = sorted(dims | {d // gates for d in dims if d % gates == 0} | {1})
    exact, closest, best_score = [], None, -1
    for input_size, hidden_size in itertools.product(candidates, candidates):
        if input_size < 1 or hidden_size < 1 or (spec.proj_size and spec.proj_size >= hidden_size):
            continue
        trial = spec.replace(input_size=input_size, hidden_size=hidden_size)
        shapes = shapes_of(engine, trial)
        if sorted(shapes.values()) == found:
            exact.append(trial)
        positional = {f"arr_{i}": shape for i, shape in enumerate(shapes.values())}
        named = positional if engine in KERAS_ENGINES else shapes
        score = sum(tuple(np.shape(arrays[name])) == shape for name, shape in named.items() if name in arrays)
        if score > best_score:
            closest, best_score = trial, score
    if len(exact) > 1:
        sizes = [(m.input_size, m.hidden_size) for m in exact]
        raise ParamsError(f"several (input, hidden) sizes {sizes} fit these shapes; "
                          "give --input-size and --hidden-size")
    return exact[0] if exact else closest


def to_named(engine: str, spec: RNNSpec, path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays keyed by the mapping's native names (Keras files are positional, Gluon's renamed)."""
    names = list(shapes_of(engine, spec))
    dtype = next(iter(arrays.values())).dtype  # the framework loaders need a layer of the file's dtype
    if suffix_of(path) == ".weights.h5":
        return load_through_keras(engine, spec, path, dtype)
    if engine in KERAS_ENGINES:
        positional = [f"arr_{i}" for i in range(len(arrays))]
        if sorted(arrays) != sorted(positional):
            raise ParamsError(f"{path}: a keras .npz holds arr_0 ... arr_k (get_weights order), got {sorted(arrays)}")
        if len(arrays) != len(names):
            raise ParamsError(f"{path}: expected {len(names)} arrays (get_weights of {spec}), got {len(arrays)}")
        return {name: arrays[f"arr_{i}"] for i, name in enumerate(names)}
    if suffix_of(path) == ".params":
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


def read_params(engine: str, path: str | Path, spec: RNNSpec, infer: bool = False) -> Params:
    """Canonical Params from an ``engine`` weight file; ``infer``: read I and H off the file."""
    path = Path(path)
    arrays = raw_arrays(engine, path)
    if infer:
        spec = infer_sizes(engine, spec, arrays)
    try:
        if engine == CANONICAL:
            return Params(spec, arrays)
        named = to_named(engine, spec, path, arrays)
        return engine_mapping(engine, spec).to_params(named, f"{path} ({engine})")
    except ParamsError as error:
        if not infer:
            raise
        raise ParamsError(f"{error}\n(input and hidden sizes were read off the file as the closest fit; check "
                          "--mode, --layers, --bidirectional, --proj-size, --no-bias and --gru-variant, or give "
                          "--input-size and --hidden-size)") from None


# --------------------------------------------------------------------------- writing
def write_npz(handle: Any, arrays: dict[str, np.ndarray]) -> None:
    np.savez(handle, **arrays)


def writer(engine: str, path: Path, params: Params) -> Callable[[str], None]:
    """A function that writes ``params`` in ``engine``'s format for ``path`` to a given file name."""
    spec = params.spec
    suffix = suffix_of(path)
    if engine == CANONICAL:
        return lambda target: write_npz(target, dict(params))
    native = engine_mapping(engine, spec).to_native(params)
    if engine in KERAS_ENGINES and suffix == ".npz":
        return lambda target: write_npz(target, {f"arr_{i}": a for i, a in enumerate(native.values())})
    if suffix == ".pt":
        import torch

        return lambda target: torch.save({name: torch.from_numpy(a) for name, a in native.items()}, target)
    if suffix == ".params":
        layer = adapter_object(engine).build(spec, params)
        return lambda target: layer.save_parameters(target)
    if suffix == ".weights.h5":
        adapter = adapter_object(engine)
        model = adapter.model(spec, adapter.build(spec, params))
        return lambda target: model.save_weights(target)
    return lambda target: write_npz(target, native)


def write_params(engine: str, path: str | Path, params: Params) -> None:
    """Write atomically: a failure leaves no file behind (and never a half-written one)."""
    path = Path(path)
    check_suffix(engine, path)
    if not path.parent.is_dir():
        raise ParamsError(f"{path}: the folder {path.parent} does not exist")
    require_framework(path)
    write = writer(engine, path, params)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix_of(path))
    os.close(descriptor)
    try:
        try:
            write(temporary)
        except AttributeError as error:  # Gluon's save_parameters renames keys with one digit only
            raise ParamsError(f"{path}: {engine} could not save this layer ({error}); "
                              "Gluon 1.9.1 save_parameters fails above 10 layers: write .npz instead") from error
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a weight file is an ordinary file
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def convert(source: str, target: str, spec: RNNSpec, in_path: str | Path, out_path: str | Path,
            infer: bool = False) -> Params:
    """Read ``in_path`` as ``source``, write ``out_path`` as ``target``; returns the canonical params."""
    for engine in (source, target):
        if engine not in format_engines():
            raise ParamsError(f"unknown engine {engine!r}; known: {', '.join(format_engines())}")
    params = read_params(source, in_path, spec, infer=infer)
    write_params(target, out_path, params)
    return params

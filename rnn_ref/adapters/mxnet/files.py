"""The Gluon family's weight file: ``.params``, written by ``save_parameters``.

Gluon renames the keys it saves (``_unfused.1.r_cell.i2h_weight``), so a file is read back
through the engine's own layer (``load_parameters``), which undoes the renaming; only size
inference reads the keys themselves (``gluon_structural_name``). Declared in ``FORMATS``
(``rnn_ref/adapters/mxnet/__init__.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnn_ref.adapters.engine_registry import adapter_object
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec


def read_gluon_params(path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
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


def load_through_gluon(engine: str, spec: RNNSpec, path: Path, arrays: dict[str, np.ndarray],
                       native_shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """A ``.params`` file read the way Gluon does (it undoes its own key renaming), into a layer
    of the file's dtype."""
    dtype = next(iter(arrays.values())).dtype  # the loader needs a layer of the file's dtype
    adapter = adapter_object(engine)
    layer = adapter.build(spec, Params.random(spec, dtype=dtype))
    try:
        layer.load_parameters(str(path))
    except Exception as error:  # AssertionError / MXNetError naming the missing key
        raise ParamsError(f"{path}: does not load into the {engine} layer of {spec}: {error}") from error
    return adapter.native_arrays(spec, layer)


def params_writer(engine: str, path: Path, params: Params, native: dict[str, np.ndarray]) -> Callable[[str], None]:
    """``save_parameters`` of the engine's layer built from ``params``."""
    layer = adapter_object(engine).build(params.spec, params)
    from rnn_ref.adapters.mxnet.fused import save_parameters

    def write(target: str) -> None:
        try:
            save_parameters(layer, target)
        except AttributeError as error:  # Gluon's save_parameters renames keys with one digit only
            raise ParamsError(f"{path}: {engine} could not save this layer ({error}); "
                              "Gluon 1.9.1 save_parameters fails above 10 layers: write .npz instead") from error

    return write

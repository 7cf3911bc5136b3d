"""The Keras family's weight files: the positional ``.npz`` and ``.weights.h5``.

Both hold the arrays of the model ``rnn-ref map keras`` describes, in ``get_weights()``
order: an ``.npz`` as ``arr_0 ... arr_k`` (rnn_ref reads and writes the container), a
``.weights.h5`` as that model's ``save_weights`` writes it. A ``.weights.h5`` is checked
against the layer from its dataset headers alone, then loaded by Keras into the model; it is
made in memory and written by Python, so a full disk is an ordinary error. Declared in
``FORMATS`` (``rnn_ref/adapters/keras/__init__.py``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.engine_registry import adapter_object
from rnn_ref.adapters.file_format import Shapes
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec


def read_keras_h5_shapes(path: Path, spec: RNNSpec | None = None) -> Shapes:
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


def load_h5(engine: str, spec: RNNSpec, path: Path, arrays: Shapes,
            native_shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The native arrays of a ``.weights.h5`` whose dataset shapes are ``arrays``: every shape is
    checked before Keras reads any data."""
    expected = {f"arr_{i}": shape for i, shape in enumerate(native_shapes.values())}
    if dict(arrays) != expected:
        wrong = [f"{name}: expected shape {shape}, got {arrays.get(name)}" for name, shape in expected.items()
                 if arrays.get(name) != shape]
        wrong += [f"{name}: unexpected" for name in arrays if name not in expected]
        raise ParamsError(f"{path}: the datasets do not match the keras model of {spec}:\n  " + "\n  ".join(wrong))
    return load_through_keras(engine, spec, path, arrays.dtype)


def load_through_keras(engine: str, spec: RNNSpec, path: Path, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A ``.weights.h5`` file loaded by Keras into the standard model (Keras matches the layers)."""
    adapter = adapter_object(engine)
    adapter.check_supported(spec, str(dtype), with_lengths=False)
    layer, model = adapter.file_model(spec, str(dtype))
    for cell in layer.cells():  # the model is reused: a weight the file did not set must show
        cell.set_weights([np.full(w.shape, np.nan, dtype) for w in cell.get_weights()])
    try:
        model.load_weights(str(path))
    except Exception as error:  # ValueError naming the layer whose weights do not fit
        raise ParamsError(
            f"{path}: does not load into the keras model of {spec} ({error}). A .weights.h5 file must come "
            "from the model `rnn-ref map keras` describes (RNN of cells, Bidirectional per level); for "
            "another Keras model save `model.get_weights()` with numpy.savez and convert that .npz"
        ) from error
    arrays = adapter.native_arrays(spec, layer)
    unset = [name for name, array in arrays.items() if np.isnan(array).all()]
    if unset:
        raise ParamsError(f"{path}: after Keras loaded it into the keras model of {spec}, {', '.join(unset)} "
                          "hold NaN only: the file does not set them, or holds NaN there")
    return arrays


def h5_writer(engine: str, path: Path, params: Params, native: dict[str, np.ndarray]) -> Callable[[str], None]:
    """The model's ``.weights.h5``, made in memory: a failed disk write is an OSError, not an HDF5 crash."""
    adapter = adapter_object(engine)
    adapter.check_supported(params.spec, str(params.dtype), with_lengths=False)
    content = weights_h5_bytes(adapter, params)

    def write(target: str) -> None:
        Path(target).write_bytes(content)

    return write


def weights_h5_bytes(adapter: Any, params: Params) -> bytes:
    """The ``.weights.h5`` file of ``params`` that ``model.save_weights`` writes, made in memory.

    ``save_weights`` lets h5py write the disk file itself, and when the disk refuses a
    write (full, a file size limit) HDF5 crashes the process while closing it (Keras
    3.15, h5py 3.16: a segmentation fault), leaving a temporary file behind. Made in
    memory through the same two steps ``save_weights_only`` takes (an ``H5IOStore`` on
    a BytesIO, which Keras supports, and ``_save_state``), the bytes are then written by
    Python, whose failure is an ordinary OSError.
    """
    layers, model = adapter.file_model(params.spec, str(params.dtype))  # imports Keras, on the right backend
    adapter.set_params(layers, params)
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    store.close()
    return buffer.getvalue()

"""The Keras 3 family: one adapter, three engines, one per backend (see ``backend.py``).

``ENGINES`` are the family's registry rows, ``FORMATS`` its weight files (``files.py``);
importing this package imports no Keras. Each row's condition asks whether Keras runs (or
will run) that row's backend in this process.
"""

from functools import partial

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import NPZ, FileFormat
from rnn_ref.adapters.keras.backend import backend_mismatch

ENGINES = (
    EngineInfo("keras", "layers:KerasAdapter", "tensorflow",
               "Keras 3 on TensorFlow: RNN(StackedRNNCells) and Bidirectional(RNN(cell)) per level",
               condition=partial(backend_mismatch, "tensorflow")),
    EngineInfo("keras-jax", "layers:KerasJaxAdapter", "keras-jax",
               "Keras 3 on JAX (KERAS_BACKEND=jax): the keras engine's layers and mapping",
               packages=("keras", "jax"), condition=partial(backend_mismatch, "jax")),
    EngineInfo("keras-torch", "layers:KerasTorchAdapter", "keras-torch",
               "Keras 3 on PyTorch (KERAS_BACKEND=torch): the keras engine's layers and mapping",
               packages=("keras", "torch"), condition=partial(backend_mismatch, "torch")),
)

FORMATS = (
    FileFormat(NPZ, described="keras .npz files (get_weights order)", named=False, positional="get_weights"),
    FileFormat(".weights.h5", described="Keras .weights.h5 files", package="keras", extra="tensorflow",
               reader="files:read_keras_h5_shapes", writer="files:h5_writer", loader="files:load_h5", named=False,
               positional="get_weights", through_engine=True, inspector="inspection:inspect_weights_h5",
               extractor="inspection:extract_weights_h5", injector="inspection:inject_weights_h5"),
    FileFormat(".keras", described="Keras .keras model files", package="h5py", extra="tensorflow",
               inspector="inspection:inspect_keras", extractor="inspection:extract_keras",
               injector="inspection:inject_keras"),
)

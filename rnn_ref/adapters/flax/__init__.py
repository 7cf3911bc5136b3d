"""The Flax NNX family: nnx cells unrolled by ``nnx.RNN``, ``nnx.Bidirectional`` per level.

``ENGINES`` are the family's registry rows; ``FORMATS`` the Flax state file that ``rnn-ref
inspect`` reads (``inspection.py``: msgpack, and Flax's names in an ``.npz``; ``convert`` takes
the flax engines' named ``.npz``). Importing this package imports no JAX.
"""

from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.file_format import FileFormat

ENGINES = (
    EngineInfo("flax", "nnx:FlaxAdapter", "flax",
               "Flax NNX SimpleCell / LSTMCell / GRUCell unrolled by nnx.RNN, nnx.Bidirectional per level"),
    EngineInfo("flax-optimized", "nnx:FlaxOptimizedAdapter", "flax",
               "Flax NNX OptimizedLSTMCell (stacked dense_i / dense_h) in the flax engine's containers"),
)

FORMATS = (
    FileFormat(".msgpack", described="Flax msgpack states (.msgpack)", package="flax", extra="flax",
               inspector="inspection:inspect_msgpack", names_inspector="inspection:inspect_names"),
)

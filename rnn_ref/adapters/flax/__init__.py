"""The Flax NNX family: nnx cells unrolled by ``nnx.RNN``, ``nnx.Bidirectional`` per level.

``ENGINES`` are the family's registry rows; importing this package imports no JAX.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("flax", "nnx:FlaxAdapter", "flax",
               "Flax NNX SimpleCell / LSTMCell / GRUCell unrolled by nnx.RNN, nnx.Bidirectional per level"),
    EngineInfo("flax-optimized", "nnx:FlaxOptimizedAdapter", "flax",
               "Flax NNX OptimizedLSTMCell (stacked dense_i / dense_h) in the flax engine's containers"),
)

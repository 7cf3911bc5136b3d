"""Why the Keras engines cannot run a case, or run it wrong: the reasons of their limit and defect records.

The records themselves are the adapters' ``declared_limits`` and ``declared_defects``
(rnn_ref/adapters/keras/layers.py; the options' in options.py); each reason is pinned by a
test that makes Keras say or do it again (tests/test_keras_backends.py,
tests/test_keras_conventions.py). ``SLOW_JAX_GRADIENTS`` is a cost, not a limit.
"""

from __future__ import annotations

NO_PROJECTION = "Keras LSTMCell has no projection (proj_size); no Keras RNN layer projects h"
TORCH_FLOAT64_MATMUL = (
    "Keras 3.15 on PyTorch computes keras.ops.matmul of two float64 tensors in float32 (dtypes.result_type maps "
    "float64 to float32 off TensorFlow), so a float64 cell is rounded to float32: keras-team/keras#23704"
)
JAX_FLOAT64_TANH = (
    "Keras 3.15 on JAX casts float64 to float32 in keras.ops.tanh (the dtypes.result_type demotion of "
    "keras-team/keras#23704; no report of this JAX path found), so float64 tanh, LSTM and GRU cells are rounded "
    "to float32"
)

TF_FLOAT64_LEAKY_RELU = (
    "no upstream report found: TensorFlow's LeakyRelu op holds its slope in a 32-bit float attribute "
    "(Attr(\"alpha: float\")), so Keras 3's leaky_relu on TensorFlow computes x · float32(0.2) = 0.20000000298·x "
    "below 0 in float64 too. Reproduction: keras.activations.leaky_relu(tf.constant([-1.0], tf.float64)) gives "
    "-0.20000000298023224"
)


SLOW_JAX_GRADIENTS = (
    "jax.vjp of the layers run op by op costs about 0.5 s a case (JAX 0.10 linearizes each primitive by tracing "
    "its JVP: about 1,300 of them for a 2-layer bidirectional LSTM of 6 steps) and 24 to 96 s for a T=200 case; "
    "the whole gradient matrix made this env's test phase 438 s instead of 116 s (2 cores, measured)"
)

"""tf2onnx of the ``keras`` engine's layers, run on onnxruntime (engine ``keras-tf2onnx``).

The weights go in exactly as for the ``keras`` engine (same rows: kernels (I, G·H) with
gates ``i f c o`` / ``z r h``, one bias, GRU reset_after's (2, 3H) bias); the Keras layers
are called inside a ``tf.function`` the way the ``keras`` adapter calls them (initial states,
a boolean mask for lengths) and converted by ``tf2onnx.convert.from_function`` (opset 14);
onnxruntime's CPU provider runs the result. tf2onnx 1.17 works with Keras 3 / TensorFlow
2.21 this way (``from_keras`` too).

* What tf2onnx writes: an unmasked LSTM whose activations are sigmoid, tanh or relu becomes
  ONNX ``LSTM`` nodes (a bidirectional level one node, its merge mode an ``Add``/``Mul`` after
  it; a ``go_backwards`` layer a forward node between two ``ReverseSequence``), with those
  activations named in the node; GRU, plain RNN, every masked layer and an LSTM with Keras 3's
  ``hard_sigmoid`` (relu6(x + 3) / 6, which tf2onnx's LSTM pattern, written for Keras 2's
  clip(0.2x + 0.5), does not match) become an ONNX ``Loop`` over the TensorFlow while-loop's
  body. Every option the Keras engines run converts correctly (measured over the option cases
  and tests/test_onnx_engines.py's unmasked LSTM forms).
* Padded steps: as in Keras (the converted graph keeps them): the last valid output repeated
  by a plain masked RNN, zeros from ``Bidirectional`` and from a ``go_backwards`` layer.
* Unsupported: what the Keras engines cannot express (projection, peepholes, clip,
  input_forget, activations Keras does not name: rnn_ref/adapters/keras/options.py); float64
  through an ONNX ``LSTM`` node, which onnxruntime's CPU provider cannot run (the ``Loop``
  forms run float64 fine); float64 leaky_relu, elu, softsign and softplus, which tf2onnx
  writes as the ONNX ops of those names, for which onnxruntime has float32 kernels only.
* A latent tf2onnx defect no Keras 3 name reaches: its LSTM pattern takes any clip(a·x + b)
  gate activation for ONNX ``HardSigmoid`` and writes the node with ONNX's defaults
  (alpha 0.2, beta 0.5), whatever a and b are (tests/test_onnx_engines.py reproduces it).
* Converted per case (several seconds each); a conversion of the same layer, weights and
  interface is reused within a process.

TensorFlow, tf2onnx and onnxruntime are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import ONNXRUNTIME, Conversion, ConversionTool, ConvertedAdapter
from rnn_ref.adapters.keras.layers import NO_PROJECTION, KerasAdapter, KerasLayers, quiet_import_keras
from rnn_ref.adapters.keras.options import (
    KERAS_OPTION_LIMITS,
    keras_activation_names,
    time_order,
    uses_keras_activation,
)
from rnn_ref.adapters.onnx.runtime import ORT_INFERENCE_ONLY
from rnn_ref.cases.limits import FLOAT64, PROJECTION, Conditions, Limit, When
from rnn_ref.cases.matrix import Case
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State

LSTM_NODE_NO_DOUBLE = (
    "tf2onnx turns an unmasked Keras LSTM into an ONNX LSTM node, which onnxruntime's CPU provider cannot run "
    "in float64: 'LSTM operator does not support double yet'"
)
ORT_NO_DOUBLE_ACTIVATION = (
    "tf2onnx writes Keras's leaky_relu, elu, softsign and softplus as the ONNX ops LeakyRelu, Elu, Softsign and "
    "Softplus, for which onnxruntime's CPU provider has no float64 kernel: 'Could not find an implementation for "
    "Softsign(1) node'"
)
#: the Keras activations tf2onnx's LSTM pattern matches (rnn_utils.insert_activation: Tanh|Relu|Sigmoid, and
#: Keras 2's hard_sigmoid graph, which Keras 3's is not)
LSTM_PATTERN_ACTIVATIONS = ("sigmoid", "tanh", "relu")


def _lstm_node(c: Conditions) -> bool:
    return (c.spec.mode == "lstm" and not c.with_lengths
            and set(keras_activation_names(c.spec)) <= set(LSTM_PATTERN_ACTIVATIONS))


#: the layer becomes ONNX LSTM nodes: an unmasked LSTM whose activations the LSTM pattern matches
LSTM_NODE = When(_lstm_node, "LSTM without lengths, activations sigmoid, tanh or relu")


def keras_call(spec: RNNSpec, layer: KerasLayers, seq: Any, states: list[Any] | None, mask: Any) -> list[Any]:
    """The keras adapter's calls on tensors: ``[output, h_0..h_{U-1}, (c_0..c_{U-1})]``, units in canonical order.

    ``states`` is flat, per unit ``h`` (and ``c``), in canonical unit order.
    """
    per = 2 if spec.has_cell_state else 1
    finals: list[list[Any]] = []
    if spec.bidirectional:
        for level_index, level in enumerate(layer.layers):
            given = None if states is None else states[2 * level_index * per:(2 * level_index + 2) * per]
            result = level(seq, initial_state=given, mask=mask)
            seq, returned = result[0], list(result[1:])
            finals += [returned[:per], returned[per:]]
    else:
        given = None
        if states is not None:
            given = [states[unit * per:(unit + 1) * per] for unit in range(spec.num_layers)]
            given = given[0] if spec.num_layers == 1 else given
        result = layer.layers[0](seq, initial_state=given, mask=mask)
        seq, returned = time_order(quiet_import_keras(), spec, result[0]), list(result[1:])
        finals = [returned] if spec.num_layers == 1 else [list(per_cell) for per_cell in returned]
    return [seq] + [unit[0] for unit in finals] + ([unit[1] for unit in finals] if spec.has_cell_state else [])


def convert(spec: RNNSpec, layer: KerasLayers, dtype: np.dtype, with_state: bool, with_lengths: bool) -> bytes:
    """The ONNX model tf2onnx writes for the layers' call, inputs ``x`` (N, T, I), ``s{u}`` states, ``mask``."""
    quiet_import_keras()
    import tensorflow as tf
    import tf2onnx

    float_type = tf.float32 if np.dtype(dtype) == np.float32 else tf.float64
    signature = [tf.TensorSpec((None, None, spec.input_size), float_type, name="x")]
    units = spec.num_layers * spec.num_directions
    if with_state:
        sizes = [spec.state_size, spec.hidden_size] if spec.has_cell_state else [spec.state_size]
        signature += [tf.TensorSpec((None, size), float_type, name=f"s{unit}_{k}")
                      for unit in range(units) for k, size in enumerate(sizes)]
    if with_lengths:
        signature.append(tf.TensorSpec((None, None), tf.bool, name="mask"))

    def call(*inputs):
        rest = list(inputs[1:])
        mask = rest.pop() if with_lengths else None
        return keras_call(spec, layer, inputs[0], rest if with_state else None, mask)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=signature, opset=14)
    return model.SerializeToString()


def tf2onnx_convert(layer: KerasLayers, conversion: Conversion) -> bytes:
    """``convert`` as the conversion tool of the engine: the layers' call for the run's interface."""
    return convert(conversion.spec, layer, np.dtype(conversion.dtype), conversion.with_state, conversion.with_lengths)


def tf2onnx_version() -> str:
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__}"


#: ``tf2onnx.convert.from_function`` (opset 14): the signature leaves the batch and time sizes open.
TF2ONNX = ConversionTool("tf2onnx", tf2onnx_convert, tf2onnx_version)


class KerasTf2OnnxAdapter(ConvertedAdapter):
    """The Keras layers converted by tf2onnx and run on onnxruntime."""

    name = "keras-tf2onnx"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    source_adapter = KerasAdapter
    tool = TF2ONNX
    runtime = ONNXRUNTIME
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        *KERAS_OPTION_LIMITS,
        Limit(LSTM_NODE_NO_DOUBLE, LSTM_NODE & FLOAT64, label="float64 LSTM without lengths"),
        Limit(ORT_NO_DOUBLE_ACTIVATION, FLOAT64 & uses_keras_activation("leaky_relu", "elu", "softsign", "softplus"),
              label="float64 leaky_relu, elu, softsign, softplus"),
        ORT_INFERENCE_ONLY,
    )

    def case_label(self, case: Case) -> str:
        """TNC cases run transposed at the boundary, as on the ``keras`` engine (the layers are batch-major)."""
        return self.source.case_label(case)

    def feeds(self, spec: RNNSpec, x: np.ndarray, initial_state: State | None,
              lengths: np.ndarray | None) -> list[np.ndarray]:
        """``x`` batch-major, the states per unit (``h``, then ``c`` for LSTM), the boolean mask of ``lengths``."""
        seq = np.ascontiguousarray(x if spec.layout == "NTC" else x.transpose(1, 0, 2))
        feeds = [seq]
        if initial_state is not None:
            states = [initial_state.h, initial_state.c] if spec.has_cell_state else [initial_state.h]
            for unit in range(spec.num_layers * spec.num_directions):
                feeds += [np.ascontiguousarray(np.asarray(state)[unit]) for state in states]
        if lengths is not None:
            feeds.append(np.arange(seq.shape[1])[None, :] < np.asarray(lengths)[:, None])
        return feeds

    def outputs(self, spec: RNNSpec, values: list[Any]) -> RNNOutput:
        units = spec.num_layers * spec.num_directions
        output = values[0] if spec.layout == "NTC" else values[0].transpose(1, 0, 2)
        return RNNOutput(np.ascontiguousarray(output), np.stack(values[1:1 + units]),
                         np.stack(values[1 + units:1 + 2 * units]) if spec.has_cell_state else None)

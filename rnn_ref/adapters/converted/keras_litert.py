"""tf.lite.TFLiteConverter of the ``keras`` engine's layers, run by the LiteRT interpreter (engine ``keras-litert``).

The weights go in exactly as for the ``keras`` engine (same rows: kernels (I, G·H) with gates
``i f c o`` / ``z r h``, one bias, GRU reset_after's (2, 3H) bias); the Keras layers are called
inside a ``tf.function`` the way ``keras-tf2onnx`` calls them (``keras_tf2onnx.keras_call``:
inputs ``x`` (N, T, I), states ``s{u}_{k}``, a boolean ``mask`` for lengths), converted by
``tf.lite.TFLiteConverter.from_concrete_functions([function], function)`` and run by a LiteRT
``ai_edge_litert.interpreter.Interpreter`` (its default XNNPACK delegate on), inputs fed by
name (the converter keeps the signature's names) and outputs read in order (``Identity``,
``Identity_1``, ...). ai-edge-litert 2.3 runs beside tensorflow-cpu 2.21 / Keras 3.15.

* What the converter writes under Keras 3: a ``WHILE`` loop over the cell's ops (FULLY_CONNECTED,
  LOGISTIC, TANH, ...) for LSTM, GRU and SimpleRNN alike; Keras 3 never emits the fused
  ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (the converter's fusion keys on Keras 2's ``api_implements``
  function attribute), and TFLite has no GRU op. So this engine checks the converter's lowering
  of Keras 3's loop and LiteRT's builtin kernels, not the fused LSTM kernel.
* Shapes: converted at the run's shapes (``fixed_shapes``). A dynamic batch size is refused by
  the converter (``'tf.TensorListReserve' op requires element_shape to be static``), so a model
  serves one batch size; the weights are baked into the model anyway, so each layer configuration
  converts once (the artifact cache: a TNC case shares its NTC twin's conversion).
* Padded steps: as in Keras (the converted graph keeps them).
* Unsupported: what the Keras engines cannot express (projection, peepholes, clip, input_forget,
  activations Keras does not name: rnn_ref/adapters/keras/options.py); float64, which LiteRT's
  builtin kernels do not compute (see ``NO_FLOAT64``); gradients (an inference runtime).
* Post-training quantization (``QUANTIZATIONS``) is the same conversion with the converter's
  ``optimizations``: the engines ``keras-litert-fp16`` and ``keras-litert-int8``
  (rnn_ref/adapters/converted/litert_quantized.py) use ``KerasLitertAdapter.quantization``.

TensorFlow and ai_edge_litert are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Conversion, ConversionTool, Runtime
from rnn_ref.adapters.converted.keras_tf2onnx import KerasTf2OnnxAdapter, keras_call
from rnn_ref.adapters.keras.layers import NO_PROJECTION, KerasAdapter, KerasLayers, quiet_import_keras
from rnn_ref.adapters.keras.options import KERAS_OPTION_LIMITS
from rnn_ref.cases.limits import ALWAYS, FLOAT64, PROJECTION, Limit
from rnn_ref.core.spec import OPTIONS, RNNSpec

NO_FLOAT64 = (
    "LiteRT's builtin kernels have no float64: TFLiteConverter refuses the float64 layers ('tf.Transpose' op is "
    "neither a custom op nor a flex op); with SELECT_TF_OPS it writes Flex ops, which the ai_edge_litert "
    "interpreter cannot run (it links no Flex delegate: 'Select TensorFlow op(s) ... not supported by this "
    "interpreter')"
)
LITERT_INFERENCE_ONLY = Limit(
    "LiteRT is an inference runtime: a converted model computes no gradients (the Keras layers it came from are "
    "differentiated on the keras engine)",
    ALWAYS, gradients_only=True, label="every case (an inference runtime)")


def input_names(spec: RNNSpec, with_state: bool, with_lengths: bool) -> list[str]:
    """The converted model's input names, in feed order: ``x``, ``s{unit}_{k}`` (h, then c), ``mask``."""
    names = ["x"]
    if with_state:
        per = 2 if spec.has_cell_state else 1
        names += [f"s{unit}_{k}" for unit in range(spec.num_layers * spec.num_directions) for k in range(per)]
    return names + (["mask"] if with_lengths else [])


def convert(layer: KerasLayers, conversion: Conversion, quantization: str | None = None) -> bytes:
    """The .tflite flatbuffer of the layers' call at the feeds' shapes (``quantization``: a ``QUANTIZATIONS`` key)."""
    quiet_import_keras()
    import tensorflow as tf

    spec = conversion.spec
    names = input_names(spec, conversion.with_state, conversion.with_lengths)
    signature = [tf.TensorSpec(feed.shape, tf.as_dtype(feed.dtype), name=name)
                 for feed, name in zip(conversion.feeds, names, strict=True)]

    def call(*inputs: Any) -> list[Any]:
        rest = list(inputs[1:])
        mask = rest.pop() if conversion.with_lengths else None
        return keras_call(spec, layer, inputs[0], rest if conversion.with_state else None, mask)

    function = tf.function(call, input_signature=signature)
    # trackable_obj is the function: with the Keras model there, LiteRT's READ_VARIABLE fails at run time
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    if quantization is not None:
        QUANTIZATIONS[quantization](tf, converter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(converter.convert())


def _float16(tf: Any, converter: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic_range_int8(tf: Any, converter: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


#: The converter's post-training quantizations: float16 weights; dynamic-range int8 (int8 weights, the
#: inputs of each quantized matmul quantized per row at run time).
QUANTIZATIONS = {"float16": _float16, "int8": _dynamic_range_int8}


def converter_version() -> str:
    import tensorflow as tf

    return f"tensorflow {tf.__version__} TFLiteConverter"


def interpreter(model: bytes) -> Any:
    """A LiteRT interpreter of the flatbuffer, its tensors allocated (one thread; XNNPACK on by default)."""
    from ai_edge_litert.interpreter import Interpreter

    session = Interpreter(model_content=model, num_threads=1)
    session.allocate_tensors()
    return session


def run_interpreter(session: Any, feeds: Sequence[np.ndarray]) -> list[Any]:
    """The model's outputs in order (``Identity``, ``Identity_1``, ...), its inputs fed by name in feed order."""
    details = session.get_input_details()
    by_name = {detail["name"]: detail["index"] for detail in details}
    if len(by_name) != len(feeds):
        raise ValueError(f"the LiteRT model has inputs {sorted(by_name)}, the run has {len(feeds)} feeds")
    # the names in feed order are input_names(...): x, then the states, then the mask
    ordered = sorted(by_name, key=lambda name: (name != "x", name == "mask", _state_order(name)))
    for name, feed in zip(ordered, feeds, strict=True):
        session.set_tensor(by_name[name], np.ascontiguousarray(feed))
    session.invoke()
    outputs = sorted(session.get_output_details(), key=lambda detail: (len(detail["name"]), detail["name"]))
    return [np.array(session.get_tensor(detail["index"]), copy=True) for detail in outputs]


def _state_order(name: str) -> tuple[int, int]:
    """``s{unit}_{k}`` -> (unit, k); other names (0, 0)."""
    if not name.startswith("s") or "_" not in name:
        return (0, 0)
    unit, k = name[1:].split("_", 1)
    return (int(unit), int(k))


def runtime_version() -> str:
    import ai_edge_litert

    return f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')} interpreter"


def litert_convert(layer: KerasLayers, conversion: Conversion) -> bytes:
    return convert(layer, conversion)


#: ``TFLiteConverter.from_concrete_functions``, at the run's shapes (the batch must be static).
TFLITE_CONVERTER = ConversionTool("tf.lite.TFLiteConverter", litert_convert, converter_version, fixed_shapes=True)
#: LiteRT's interpreter (ai_edge_litert), one thread.
LITERT = Runtime("litert interpreter", interpreter, run_interpreter, runtime_version)

#: What every LiteRT engine of the Keras layers declares: Keras's limits, float64, gradients.
LITERT_LIMITS: tuple[Limit, ...] = (
    Limit(NO_PROJECTION, PROJECTION, label="projection"),
    *KERAS_OPTION_LIMITS,
    Limit(NO_FLOAT64, FLOAT64, label="float64"),
    LITERT_INFERENCE_ONLY,
)


class KerasLitertAdapter(KerasTf2OnnxAdapter):
    """The Keras layers converted by TFLiteConverter and run by the LiteRT interpreter (float32)."""

    name = "keras-litert"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    source_adapter = KerasAdapter
    tool = TFLITE_CONVERTER
    runtime = LITERT
    declared_limits: ClassVar[tuple[Limit, ...]] = LITERT_LIMITS

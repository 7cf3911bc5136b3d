"""Post-training quantized LiteRT models of the Keras layers, each judged against the reference of its quantization.

``keras-litert-fp16`` and ``keras-litert-int8`` are ``keras-litert`` (rnn_ref/adapters/converted/keras_litert.py)
with the converter's post-training quantization on; each declares the reference it is held to
(``Adapter.reference``), at the ordinary float32 tolerance, so the check stays exact:

* **float16 weights** (``optimizations=[DEFAULT]``, ``supported_types=[tf.float16]``): the converter
  stores every weight and bias as float16 and the model dequantizes them once (DEQUANTIZE ops)
  and computes in float32. Reference: the NumPy reference on the Keras engine's native arrays
  rounded to float16, read back through the keras rows. The rounding applies to the one Keras
  bias, b_ih + b_hh folded, as the converter sees it (rounding the two canonical biases apart
  does not reproduce the model: tests/test_litert_engines.py). One constant is rounded too: Keras 3's
  hard_sigmoid divides by 6, which the model multiplies by float16(1/6) (``float16_constants``).
* **dynamic-range int8** (``optimizations=[DEFAULT]``): int8 weights with per-channel scales, the
  inputs of each quantized matmul quantized per row at run time. Reference: the NumPy emulation of
  rnn_ref/adapters/converted/litert_int8.py, on the int8 weights and scales read off the .tflite
  file (``held_arrays``: each FULLY_CONNECTED's int8 weight tensor, matched to the Keras kernel
  columns it quantizes by value: every element within half a step of ``q · scale``). The converter
  leaves matrices under 1024 elements in float32, so a layer with none that large (every small
  case of the matrix: I=3, H=5) would test keras-litert's float32 model again: those cases are a
  limit (``INT8_NOTHING_QUANTIZED``). Over the matrix's 200-step wide cases a quantized input
  somewhere lands within float32 rounding of a half step, where LiteRT and the emulation round
  apart (``INT8_ROUNDING_TIES``); so this engine is judged, exactly, on wide short layers in
  tests/test_litert_engines.py (I=32, H=64, T=8, every mode, uni and 2-layer bidirectional with
  states and lengths).

A quantized model's result against the plain reference fails at the float32 tolerance (errors
1e-4 for float16 weights, 1e-3 and more for int8; tests/test_litert_engines.py shows it), so the
quantization-aware reference is what makes these engines pass.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Conversion, ConversionTool, ConvertedLayer
from rnn_ref.adapters.converted.keras_litert import (
    LITERT_LIMITS,
    KerasLitertAdapter,
    convert,
    converter_version,
)
from rnn_ref.adapters.converted.litert_int8 import forward as int8_forward
from rnn_ref.adapters.converted.litert_int8 import operand, quantized_anywhere, unit_names, unit_operands
from rnn_ref.cases.limits import Conditions, Limit, When, first_limit
from rnn_ref.cases.matrix import large_cases
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.forward import forward

INT8_NOTHING_QUANTIZED = (
    "dynamic-range int8 quantizes only weight matrices of 1024 elements or more (TFLiteConverter's min_elements): "
    "this layer has none, so its model is keras-litert's float32 model and the case would test nothing of int8"
)
NOTHING_QUANTIZED = When(lambda c: not quantized_anywhere(c.spec), "no weight matrix of 1024 elements or more")
INT8_ROUNDING_TIES = (
    "the matrix's long cases run 200 steps, over which some quantized input lands within float32 rounding distance "
    "of a half step (measured on gru_reset_before-L1-bi-T200-H128: the backward direction, sample 3, step 144), "
    "where LiteRT's float32 arithmetic and the emulation round it to neighbouring integers; from that step on the "
    "two differ by 1e-4, so the emulation judges a model exactly only on short sequences: "
    "tests/test_litert_engines.py runs the wide short layers (I=32, H=64, T=8)"
)
LONG_CASES = When(lambda c: c.spec in {case.spec for case in large_cases()}, "the matrix's T=200 cases")


def float16_convert(layer: Any, conversion: Conversion) -> bytes:
    return convert(layer, conversion, "float16")


def int8_convert(layer: Any, conversion: Conversion) -> bytes:
    return convert(layer, conversion, "int8")


#: TFLiteConverter with float16 weights.
TFLITE_FLOAT16 = ConversionTool("tf.lite.TFLiteConverter float16", float16_convert, converter_version,
                                fixed_shapes=True)
#: TFLiteConverter with dynamic-range int8 quantization.
TFLITE_INT8 = ConversionTool("tf.lite.TFLiteConverter dynamic-range int8", int8_convert, converter_version,
                             fixed_shapes=True)


class KerasLitertFloat16Adapter(KerasLitertAdapter):
    """keras-litert with float16 weights, judged against the reference on the float16-rounded native arrays."""

    name = "keras-litert-fp16"
    tool = TFLITE_FLOAT16

    def reference(self, spec: RNNSpec, params: Params, x: np.ndarray, initial_state: State | None,
                  lengths: np.ndarray | None, held: dict[str, np.ndarray]) -> RNNOutput:
        mapping = self.mapping(spec)
        rounded = {name: value.astype(np.float16).astype(value.dtype)
                   for name, value in mapping.to_native(params).items()}
        weights = mapping.to_params(rounded, f"{self.name}'s float16 weights")
        held_spec = float16_constants(spec)
        return forward(held_spec, Params(held_spec, dict(weights.items())), x, initial_state, lengths)


def float16_constants(spec: RNNSpec) -> RNNSpec:
    """The layer with the constants the float16 model rounds: Keras 3's hard_sigmoid, relu6(x + 3) / 6, is
    written as relu6(x + 3) · 1/6 with 1/6 stored in float16, i.e. HardSigmoid(a, 3a), a = float16(1/6)
    (measured: 6.7e-8 from the model; 2e-4 with the exact 1/6)."""
    if spec.activations is None or "HardSigmoid" not in spec.activations:
        return spec
    alphas, betas = list(spec.activation_alpha or ()), list(spec.activation_beta or ())
    for index, name in enumerate(spec.activations):
        if name == "HardSigmoid" and np.isclose(alphas[index], 1 / 6) and np.isclose(betas[index], 0.5):
            alphas[index] = float(np.float16(1 / 6))
            betas[index] = 3 * alphas[index]
    return spec.replace(activation_alpha=tuple(alphas), activation_beta=tuple(betas))


class KerasLitertInt8Adapter(KerasLitertAdapter):
    """keras-litert with dynamic-range int8, judged against the hybrid-int8 emulation on the model's int8 weights."""

    name = "keras-litert-int8"
    tool = TFLITE_INT8
    # every case of the matrix is a forward limit here (small, float64 or T=200), so the gradient-only limit
    # of an inference runtime would answer no case: left out (a gradient run raises GRADIENTS_NOT_IMPLEMENTED)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        *(limit for limit in LITERT_LIMITS if not limit.gradients_only),
        Limit(INT8_NOTHING_QUANTIZED, NOTHING_QUANTIZED, label="layers under 1024-element weights (stay float32)"),
        Limit(INT8_ROUNDING_TIES, LONG_CASES, label="T=200 (input rounding ties: judged on T=8 in its tests)"),
    )

    def layer_unsupported_reason(self, spec: RNNSpec) -> str | None:
        """keras-litert's: every Keras layer it converts has these weights; the two int8 limits say which cases
        the emulation judges, not which layers exist (``rnn-ref map`` and ``convert`` take every one)."""
        reason = first_limit((*LITERT_LIMITS, *self.option_limits), Conditions(spec, "float32", False),
                             gradients=False)
        return reason or self.option_gap(spec)

    def reference(self, spec: RNNSpec, params: Params, x: np.ndarray, initial_state: State | None,
                  lengths: np.ndarray | None, held: dict[str, np.ndarray]) -> RNNOutput:
        mapping = self.mapping(spec)
        return int8_forward(spec, mapping, mapping.to_native(params), held, x, initial_state, lengths)

    def held_arrays(self, spec: RNNSpec, layer: ConvertedLayer) -> dict[str, np.ndarray]:
        """Each quantized matmul's int8 weights (out, in) and per-channel scales (out,), read off the .tflite file."""
        if layer.artifact is None:
            raise ValueError(f"{self.name}: the layer has not been converted yet (no .tflite file to read)")
        native = self.native_arrays(spec, layer)
        mapping = self.mapping(spec)
        tensors = int8_weights(layer.artifact)
        held: dict[str, np.ndarray] = {}
        for layer_index in range(spec.num_layers):
            for direction in spec.directions:
                kernel, recurrent, _ = unit_names(mapping, layer_index, direction)
                for _, name, start, stop in unit_operands(spec, kernel, recurrent, spec.hidden_size):
                    wanted = native[name][:, start:stop].T.astype(np.float64)
                    for q, scale in tensors:
                        if q.shape == wanted.shape and (np.abs(q * scale[:, None] - wanted)
                                                        <= 0.5001 * scale[:, None]).all():
                            held[f"{operand(name, start, stop)}.int8"] = q.astype(np.int8)
                            held[f"{operand(name, start, stop)}.scale"] = scale.astype(np.float32)
                            break
        return held


def int8_weights(model: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every FULLY_CONNECTED weight tensor of the flatbuffer stored as int8 per-channel (axis 0, zero points 0):
    (q (out, in) as float64, scale (out,) float64), from every subgraph (the WHILE body holds the cell)."""
    from ai_edge_litert import schema_py_generated as schema

    flat = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    found = []
    for subgraph in flat.subgraphs or []:
        for op in subgraph.operators or []:
            if flat.operatorCodes[op.opcodeIndex].builtinCode != schema.BuiltinOperator.FULLY_CONNECTED:
                continue
            tensor = subgraph.tensors[op.inputs[1]]
            quantization = tensor.quantization
            data = flat.buffers[tensor.buffer].data
            if tensor.type != schema.TensorType.INT8 or quantization is None or quantization.scale is None \
                    or data is None or len(data) == 0:
                continue
            if quantization.quantizedDimension != 0 or np.any(np.asarray(quantization.zeroPoint) != 0):
                raise ValueError("an int8 FULLY_CONNECTED weight tensor is not symmetric per output channel")
            q = np.frombuffer(bytes(np.asarray(data, np.uint8)), np.int8).reshape(tuple(tensor.shape))
            found.append((q.astype(np.float64), np.asarray(quantization.scale, np.float64)))
    return found

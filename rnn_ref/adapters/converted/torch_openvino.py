"""``openvino.convert_model`` of the ``torch`` engine's layer on OpenVINO's CPU plugin (engine ``torch-openvino``).

The weights go in exactly as for the ``torch`` engine (same rows: ``weight_ih_l{k}``, ...,
gates ``i f g o`` / ``r z n``); the module converted is ``torch-onnx``'s exporting module,
whose forward is the ``torch`` adapter's run — ``layer(x, hx)``, and for lengths
``pack_padded_sequence`` / ``pad_packed_sequence`` — traced by OpenVINO's PyTorch frontend
(``convert_model(module, example_input=feeds)``), reshaped to the run's static shapes (with
dynamic ones the CPU plugin ignores the lengths, as for the ``openvino-dynamic`` engine) and
compiled with ``INFERENCE_PRECISION_HINT=f32`` (the plugin's default is bf16 where the CPU has
avx512_bf16). So this engine checks the frontend's reading of torch's fused layers: gate order,
two biases, directions, state order, packed sequences.

What the frontend refuses, with the message observed (tests/test_openvino_engines.py checks each):
packed sequences into ``nn.RNN`` and ``nn.GRU`` (its ``PackedSequence`` support is ``aten::lstm``'s
only), and LSTM projection. GRU reset_before: torch has none. float64 converts and is computed in
float32, like the ``openvino`` engine's (a known defect, same signature).

torch and openvino are imported lazily: ``mapping`` works without them.

``openvino.convert_model`` sends usage telemetry from a child process (openvino-telemetry, a
dependency of openvino) unless the user opted out (``opt_in_out --opt_out``) or ``CI=true``;
without the package OpenVINO uses a no-op stub, which is how the openvino tox env runs it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Conversion, ConversionTool, Runtime
from rnn_ref.adapters.converted.torch_onnx import TORCH_HAS_NO_OPTIONS, TorchOnnxAdapter, exporting_module
from rnn_ref.adapters.onnx.openvino import COMPILE_CONFIG, FLOAT64_IN_FLOAT32, OPENVINO_INFERENCE_ONLY, openvino_core
from rnn_ref.adapters.torch.fused import GRU_RESET_BEFORE
from rnn_ref.cases.defects import COMPUTES_IN_FLOAT32
from rnn_ref.cases.limits import FLOAT64, LENGTHS, PROJECTION, RESET_BEFORE, VANILLA, Defect, Limit, modes


def convert(layer: Any, conversion: Conversion) -> Any:
    """The torch layer as the torch adapter runs it, converted at the run's feeds and reshaped to their shapes."""
    import openvino
    import torch

    module = exporting_module(conversion.spec, layer, conversion.with_lengths)
    example = tuple(torch.from_numpy(feed) for feed in conversion.feeds)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer warns about converting tensors to Python values
        model = openvino.convert_model(module, example_input=example)
    model.reshape({port: openvino.PartialShape(list(feed.shape))
                   for port, feed in zip(model.inputs, conversion.feeds, strict=True)})
    return model


def converter_version() -> str:
    import openvino
    import torch

    return f"torch {torch.__version__}, openvino {openvino.__version__} convert_model (PyTorch frontend)"


def compile_model(model: Any) -> Any:
    """The converted model compiled for the CPU with the ``openvino`` engines' options (f32 hint, one thread)."""
    return openvino_core().compile_model(model, "CPU", COMPILE_CONFIG)


def run_compiled(compiled: Any, feeds: Sequence[np.ndarray]) -> list[Any]:
    """The compiled model's outputs in order, its inputs fed in order, copied out of OpenVINO's buffers."""
    results = compiled.create_infer_request().infer(list(feeds))
    return [np.array(results[output], copy=True) for output in compiled.outputs]


def runtime_version() -> str:
    import openvino

    return f"openvino {openvino.__version__} CPU (f32 hint)"


#: ``openvino.convert_model`` traces the module at the example inputs (then reshaped static).
OPENVINO_CONVERT_MODEL = ConversionTool("openvino.convert_model", convert, converter_version, fixed_shapes=True)
#: OpenVINO's CPU plugin, on one thread, f32 inference precision.
OPENVINO_CPU = Runtime("openvino CPU", compile_model, run_compiled, runtime_version)

NO_PACKED_RNN_GRU = (
    "openvino.convert_model cannot convert pack_padded_sequence into torch.nn.RNN or GRU: its PyTorch frontend "
    "supports PackedSequence for aten::lstm only (openvinotoolkit/openvino PR #22586) and fails with "
    "\"prim::PackPadded\" (a PackedSequence pack operation it cannot translate)"
)
NO_PROJECTION = (
    "openvino.convert_model cannot convert an LSTM with proj_size: its PyTorch frontend fails on the layer "
    "(\"SequenceMark\", an internal type it cannot translate)"
)


class TorchOpenVinoAdapter(TorchOnnxAdapter):
    """The torch layer converted by ``openvino.convert_model`` and compiled by OpenVINO's CPU plugin."""

    name = "torch-openvino"
    tool = OPENVINO_CONVERT_MODEL
    runtime = OPENVINO_CPU
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        TORCH_HAS_NO_OPTIONS,
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(NO_PROJECTION, PROJECTION, label="projection (refused)"),
        Limit(NO_PACKED_RNN_GRU, LENGTHS & (VANILLA | modes("gru")), label="lengths on RNN and GRU (LSTM's only)"),
        OPENVINO_INFERENCE_ONLY,
    )
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(FLOAT64_IN_FLOAT32, FLOAT64, COMPUTES_IN_FLOAT32, label="float64 computed in float32"),
    )

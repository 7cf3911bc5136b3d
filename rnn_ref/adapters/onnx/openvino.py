"""The ONNX model compiled by OpenVINO's CPU plugin (engines ``openvino`` and ``openvino-dynamic``).

The model is the ``onnx`` engine's (``rnn_ref/adapters/onnx/model.py``: the same rows, one
``RNN``/``LSTM``/``GRU`` node per layer, ``W`` (D, G·H, I_l), ``R`` (D, G·H, H), ``B`` (D, 2·G·H),
gates LSTM ``i o f c``, GRU ``z r h``), read from its bytes by ``openvino.Core().read_model`` and
compiled by ``compile_model(..., "CPU")``. What OpenVINO 2026.4 does with it (measured;
tests/test_openvino_engines.py shows each on the real runtime):

* **Time-major only.** OpenVINO's ONNX frontend ignores ``layout=1`` on these nodes
  (openvinotoolkit/openvino#37820): a (N, T, I) input is read as (T, N, I). So no ``layout=1``
  node is ever written: an NTC layer runs as its TNC model, ``x`` transposed to (T, N, I) and
  ``Y`` back to (N, T, D·H) at the adapter's boundary (states are (L·D, N, H) in both layouts).
  A TNC case and its NTC twin (the same numbers, ``Case.data_id``) then compile one model.
* **f32 inference precision, always.** On a CPU with ``avx512_bf16`` the plugin's default
  ``INFERENCE_PRECISION_HINT`` is ``bf16`` (errors up to ~1e-2 on these layers); the engines set
  ``f32``, so the result does not depend on the machine. ``INFERENCE_NUM_THREADS`` is 1
  (pytest-xdist runs two workers on two cores).
* **float64 is computed in float32**: the CPU plugin converts f64 models to f32 (by design,
  openvinotoolkit/openvino PR #4681) and returns float64 tensors holding float32-accurate values
  — a known defect with the ``COMPUTES_IN_FLOAT32`` signature.
* **``sequence_lens`` needs static shapes** (engine ``openvino``): the model is reshaped to the
  run's input shapes before compiling, and the plugin then masks each sample after its length
  (zeros at padded steps, the state after the last valid step). Compiled with the model's
  dynamic dims (engine ``openvino-dynamic``, what a user gets from a symbolic-dim ONNX file),
  the plugin runs the oneDNN sequence primitive, which has no per-sample lengths: every sample
  runs all T steps — a known defect with the ``LENGTHS_IGNORED`` signature (no upstream report
  found; the plugin skips the check for dynamic shapes, ``intel_cpu/src/nodes/rnn.cpp``
  ``RNN::isSupportedOperation``, since PR #10710). Only where the node goes to that primitive,
  though: the same function sends a node with a ``clip``, or an LSTM or GRU with other than its
  own activations, to the TensorIterator decomposition, which honours the lengths (measured:
  the clip and relu option cases with lengths are right on ``openvino-dynamic``).
* **Options** (measured; tests/test_openvino_engines.py): ``clip`` (every gate's pre-activation,
  as onnxruntime) and ``direction="reverse"`` are computed as the reference does, and so are the
  activations ``Sigmoid``, ``Tanh`` and ``Relu`` in any slot. Any other activation fails the
  compile (``Unsupported activation function`` for HardSigmoid, ``Unknown activation function:
  affine`` and the like for the others): a limit. The ONNX frontend turns an ONNX LSTM into
  ``v5::LSTMSequence``, which has neither peepholes nor coupled gates: it reads ``P`` and
  ``input_forget`` and passes neither on (``src/frontends/onnx/frontend/src/op/lstm.cpp``,
  ``opset_1::lstm``), so the layer is computed without them — a known defect, no upstream report
  found (the frontend's own ``DynamicQuantizeLSTM`` refuses a ``P`` for this reason, "Reject rather
  than silently ignore"). No ``merge_mode`` (ONNX has none).
* No LSTM projection (ONNX has none); an inference runtime (no gradients).

A compile takes 0.03–0.1 s, so compiled models are kept in one bounded cache (``COMPILED``),
keyed by the digest of everything a compile depends on: the engine, the time-major spec, the
interface, the input shapes where the model is static, and the native weights by name and
bytes. openvino and onnx are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters._support.run_memo import digest
from rnn_ref.adapters.converted.base import ArtifactCache
from rnn_ref.adapters.onnx.model import Interface, OnnxLayer, build_layer, feeds
from rnn_ref.adapters.onnx.runtime import NO_MERGE_LIMIT, NO_PROJECTION_LIMIT, OnnxModelAdapter, outputs_of
from rnn_ref.cases.defects import COMPUTES_IN_FLOAT32, LENGTHS_IGNORED, DefectSignature
from rnn_ref.cases.limits import ALWAYS, FLOAT64, LENGTHS, Defect, Limit, When, activations_other_than, uses
from rnn_ref.cases.matrix import Case
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State

#: The compile options of both engines: f32 precision whatever the CPU (see the module docstring), one thread.
COMPILE_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}

OPENVINO_INFERENCE_ONLY = Limit(
    "OpenVINO is an inference runtime: a compiled model computes no gradients (its training extensions are not "
    "run here); the frameworks that train these layers are checked on their own engines",
    ALWAYS, gradients_only=True, label="every case (an inference runtime)")
FLOAT64_IN_FLOAT32 = (
    "OpenVINO's CPU plugin accepts a float64 model and returns float64 tensors but computes in float32 (the plugin "
    "converts f64 to f32 by design: openvinotoolkit/openvino PR #4681; the same loss reported for Reshape: "
    "openvinotoolkit/openvino#35822); reproduction: "
    "tests/test_openvino_engines.py::test_openvino_computes_float64_in_float32"
)
DYNAMIC_IGNORES_SEQUENCE_LENS = (
    "OpenVINO's CPU plugin ignores sequence_lens when the input shape is dynamic (intel_cpu/src/nodes/rnn.cpp "
    "RNN::isSupportedOperation returns early for dynamic shapes, PR #10710, so the node goes to the oneDNN "
    "sequence primitive, which has no per-sample lengths): every sample runs all T steps; no upstream report "
    "found, reproduction: tests/test_openvino_engines.py::test_openvino_dynamic_shapes_ignore_sequence_lens"
)
NO_ACTIVATION = (
    "OpenVINO 2026.4 knows the recurrent activations sigmoid, tanh and relu only: compiling fails with "
    "\"[LSTMCellDecomposition] ... Unsupported activation function\" (HardSigmoid) or \"[ConvertLSTMSequenceTo"
    "TensorIterator] ... Unknown activation function: affine\" (and the same for GRU, RNN and the other ONNX "
    "activations)"
)
DROPS_PEEPHOLES_AND_COUPLING = (
    "OpenVINO's ONNX frontend builds an ONNX LSTM as v5::LSTMSequence, which has no peepholes and no coupled gates: "
    "it reads P and input_forget and passes neither on (src/frontends/onnx/frontend/src/op/lstm.cpp, opset_1::lstm), "
    "so it computes the layer without them; no upstream report found, reproduction: "
    "tests/test_openvino_engines.py::test_openvino_drops_peepholes_and_input_forget"
)
#: Where the frontend drops an option, and what the plugin then computes (float64 rounded through float32; a
#: float32 case meets its own tolerance, the same).
DROPPED = uses("peepholes", "input_forget")
#: Where the CPU plugin runs a node on the oneDNN sequence primitive (RNN::isSupportedOperation): no clip, and an
#: LSTM or GRU with its own activations (an RNN's sigmoid, tanh or relu all go there); elsewhere the node is
#: decomposed into a TensorIterator, which honours sequence_lens at dynamic shapes too.
ONEDNN_SEQUENCE = When(lambda c: c.spec.clip is None and (c.spec.mode in ("rnn_tanh", "rnn_relu")
                                                           or c.spec.activations is None),
                       "no clip and (RNN or the mode's own activations)")
DYNAMIC_LENGTHS_IGNORED = LENGTHS & ONEDNN_SEQUENCE
WITHOUT_PEEPHOLES_AND_COUPLING = DefectSignature(
    "equals the reference of the layer without peepholes and coupled gates (within the float32 tolerance)",
    computes_in="float32", ignores=("peepholes", "input_forget"))
WITHOUT_THEM_NOR_LENGTHS = DefectSignature(
    "equals the reference of the layer without peepholes and coupled gates, run without lengths (within the float32 "
    "tolerance)", ignores_lengths=True, computes_in="float32", ignores=("peepholes", "input_forget"))
#: openvino-dynamic's float64 cases with lengths: both defects at once.
LENGTHS_IGNORED_IN_FLOAT32 = DefectSignature(
    "equals the reference run without lengths (every sample runs all T steps), within the float32 tolerance",
    ignores_lengths=True, computes_in="float32",
)

_CORE: list[Any] = []
_CORE_LOCK = threading.Lock()


def openvino_core() -> Any:
    """The process's one ``openvino.Core`` (creating one loads the plugins: done once)."""
    with _CORE_LOCK:
        if not _CORE:
            import openvino

            _CORE.append(openvino.Core())
        return _CORE[0]


def compile_onnx(model: Any, inputs: dict[str, np.ndarray] | None) -> Any:
    """``model`` (an ``onnx.ModelProto``) compiled for the CPU with ``COMPILE_CONFIG``; with ``inputs``,
    reshaped to their shapes first (static), else with the model's symbolic dims (dynamic)."""
    import openvino

    core = openvino_core()
    read = core.read_model(model.SerializeToString(), b"")
    if inputs is not None:
        read.reshape({name: openvino.PartialShape(list(value.shape)) for name, value in inputs.items()})
    return core.compile_model(read, "CPU", COMPILE_CONFIG)


def run_compiled(compiled: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The compiled model's outputs in its output order (Y, Y_h[, Y_c]), copied out of OpenVINO's buffers."""
    results = compiled.create_infer_request().infer(inputs)
    return [np.array(results[output], copy=True) for output in compiled.outputs]


#: The compiled models of both engines (the key names the engine).
COMPILED = ArtifactCache()


def time_major(spec: RNNSpec) -> RNNSpec:
    """The TNC layer the engines compile for ``spec`` (the same weights; OpenVINO ignores ``layout=1``)."""
    return spec.replace(layout="TNC")


class OpenVinoAdapter(OnnxModelAdapter):
    """The ONNX model compiled by OpenVINO's CPU plugin at the run's static shapes (f32 precision)."""

    name = "openvino"
    #: reshape to the run's shapes before compiling (honours ``sequence_lens``)
    static_shapes: ClassVar[bool] = True
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        NO_PROJECTION_LIMIT, NO_MERGE_LIMIT,
        Limit(NO_ACTIVATION, activations_other_than("Sigmoid", "Tanh", "Relu"),
              label="activations other than Sigmoid, Tanh, Relu"),
        OPENVINO_INFERENCE_ONLY)
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(f"{DROPS_PEEPHOLES_AND_COUPLING}; and, in float64, {FLOAT64_IN_FLOAT32}", DROPPED,
               WITHOUT_PEEPHOLES_AND_COUPLING, label="peepholes and `input_forget` dropped (no upstream report found)"),
        Defect(FLOAT64_IN_FLOAT32, FLOAT64, COMPUTES_IN_FLOAT32,
               label="float64 computed in float32 (by design, PR #4681; #35822)"),
    )
    compiled: ClassVar[ArtifactCache] = COMPILED

    def case_label(self, case: Case) -> str:
        return case.id.replace("-NTC", "-NTC-transposed") if case.spec.layout == "NTC" else case.id

    def version(self) -> str:
        import onnx
        import openvino

        shapes = "static" if self.static_shapes else "dynamic"
        return f"openvino {openvino.__version__} CPU ({shapes} shapes, f32 hint), onnx {onnx.__version__}, opset 14"

    def build(self, spec: RNNSpec, params: Params) -> OnnxLayer:
        """The ONNX layer of the time-major spec (its models are what the runs compile, NTC or not)."""
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        return build_layer(self.mapping(spec), time_major(spec), params)

    def compile_key(self, spec: RNNSpec, layer: OnnxLayer, interface: Interface,
                    inputs: dict[str, np.ndarray]) -> bytes:
        """The digest of everything one compile depends on (rnn_ref/adapters/_support/run_memo.py)."""
        shapes = [part for name, value in inputs.items()
                  for part in (name, value.dtype.str, *(value.shape if self.static_shapes else ()), "|")]
        weights = [part for name, array in layer.native.items() for part in (name, array)]
        return digest([self.name, time_major(spec), "state", interface.initial_state, "lengths", interface.lengths,
                       "inputs", *shapes, "weights", *weights])

    def run(self, spec: RNNSpec, layer: OnnxLayer, x: np.ndarray, initial_state: State | None = None,
            lengths: np.ndarray | None = None) -> RNNOutput:
        """``x`` (T, N, I) or (N, T, I) → the canonical outputs; NTC is transposed here, around the TNC model."""
        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        batch_major = spec.layout == "NTC"
        steps_first = np.ascontiguousarray(x.transpose(1, 0, 2)) if batch_major else x
        inputs = feeds(time_major(spec), steps_first, initial_state, lengths)
        interface = Interface(initial_state=initial_state is not None, lengths=lengths is not None)
        key = self.compile_key(spec, layer, interface, inputs)
        static = inputs if self.static_shapes else None
        compiled = self.compiled.value(
            key, lambda: compile_onnx(layer.model(interface), static))
        output = outputs_of(spec, run_compiled(compiled, inputs))
        if batch_major:
            output = RNNOutput(np.ascontiguousarray(output.output.transpose(1, 0, 2)), output.h_n, output.c_n)
        return output


class OpenVinoDynamicAdapter(OpenVinoAdapter):
    """The same model compiled with its dynamic dims (``N``, ``T``), as a symbolic-dim ONNX file is."""

    name = "openvino-dynamic"
    static_shapes = False
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(f"{DROPS_PEEPHOLES_AND_COUPLING}; and {DYNAMIC_IGNORES_SEQUENCE_LENS}; and, in float64, "
               f"{FLOAT64_IN_FLOAT32}", DROPPED & DYNAMIC_LENGTHS_IGNORED, WITHOUT_THEM_NOR_LENGTHS,
               label="peepholes or `input_forget` with lengths (both defects at once)"),
        Defect(f"{DYNAMIC_IGNORES_SEQUENCE_LENS}; and {FLOAT64_IN_FLOAT32}", DYNAMIC_LENGTHS_IGNORED & FLOAT64,
               LENGTHS_IGNORED_IN_FLOAT32, label="float64 with lengths (both defects at once)"),
        Defect(DYNAMIC_IGNORES_SEQUENCE_LENS, DYNAMIC_LENGTHS_IGNORED, LENGTHS_IGNORED,
               label="`sequence_lens` ignored (dynamic shapes; no upstream report found)"),
        *OpenVinoAdapter.declared_defects,
    )

"""ONNX on onnxruntime's CPU provider (engine ``onnx``).

The model is the one ``rnn_ref/adapters/onnx/model.py`` builds from canonical params: one
``RNN``/``LSTM``/``GRU`` node per layer. Conventions (all visible in the mapping rows):

* Per layer ``W`` (D, G·H, I_l), ``R`` (D, G·H, H), ``B`` (D, 2·G·H) = ``[Wb, Rb]``, the
  direction as leading index (0 forward, 1 backward); gate order LSTM ``i o f c``, GRU
  ``z r h``. Two biases, like the canonical form.
* GRU ``linear_before_reset=1`` is reset_after and ``0`` is reset_before: ONNX is the one
  engine here that runs both GRU variants. RNN relu is ``activations=["Relu"]``.
* The options are the node's own (``model.node_attributes``), and onnxruntime computes each as
  the reference does (measured; tests/test_onnx_options.py): every activation, in each of the f,
  g, h slots, with ``activation_alpha``/``activation_beta`` given only to the activations that
  take them; ``clip`` on every gate's pre-activation, the peephole term included, and not on
  the cell state before h; peepholes ``P`` = ``[p_i, p_o, p_f]`` (i and f see c_{t-1}, o sees
  c_t); ``input_forget=1`` as f = 1 - i; ``direction="reverse"`` with its output in original
  time order. ONNX has no ``merge_mode``.
* ``layout=0`` is TNC, ``layout=1`` NTC; with layout 1 the node's states are (N, D, H) and
  its Y is (N, T, D, H) — the model transposes to the canonical (L·D, N, H) at its boundary.
* ``sequence_lens`` (N,) int32: onnxruntime writes zeros at padded steps and returns the
  state after each sample's last valid step (backward: after step 0).
* float32 and float64 both run on the CPU provider. No LSTM projection.

onnx and onnxruntime are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.adapters.onnx.model import (
    NO_MERGE,
    NO_PROJECTION,
    Interface,
    OnnxLayer,
    build_layer,
    feeds,
    onnx_mapping,
)
from rnn_ref.cases.limits import ALWAYS, FLOAT64, PROJECTION, Limit, uses
from rnn_ref.cases.matrix import Case
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput

#: What no ONNX model of these nodes expresses (every engine that runs the model declares them).
NO_PROJECTION_LIMIT = Limit(NO_PROJECTION, PROJECTION, label="projection")
NO_MERGE_LIMIT = Limit(NO_MERGE, uses("merge_mode"), label="merge_mode (ONNX has no merge)")


def ort_session(model: Any) -> Any:
    """An onnxruntime CPU session of an in-memory model, on one thread (pytest-xdist runs two)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def outputs_of(spec: RNNSpec, values: list[np.ndarray]) -> RNNOutput:
    """(Y, Y_h[, Y_c]) of the canonical-interface model as an RNNOutput."""
    return RNNOutput(np.asarray(values[0]), np.asarray(values[1]),
                     np.asarray(values[2]) if spec.has_cell_state else None)


class OnnxModelAdapter(Adapter):
    """What the engines that run the ONNX model share: its rows and how it is built."""

    inference_runtime = True  # the judge runs each case twice: no state may survive a call

    #: every option is the node's own attribute or input, except merge_mode (a declared limit)
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (NO_PROJECTION_LIMIT, NO_MERGE_LIMIT)

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return onnx_mapping(self.name, spec)

    def build(self, spec: RNNSpec, params: Params) -> OnnxLayer:
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        return build_layer(self.mapping(spec), spec, params)

    def native_arrays(self, spec: RNNSpec, layer: OnnxLayer) -> dict[str, np.ndarray]:
        from rnn_ref.adapters.onnx.model import initializer_arrays

        return initializer_arrays(layer.model(), list(self.mapping(spec).native_shapes))

    def runner(self, model: Any) -> Any:
        """A callable ``feeds -> [Y, Y_h, (Y_c)]`` for one model."""
        raise NotImplementedError

    def run(self, spec, layer: OnnxLayer, x, initial_state=None, lengths=None) -> RNNOutput:
        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        interface = Interface(initial_state=initial_state is not None, lengths=lengths is not None)
        if interface not in layer.runners:
            layer.runners[interface] = self.runner(layer.model(interface))
        return outputs_of(spec, layer.runners[interface](feeds(spec, x, initial_state, lengths)))


#: onnxruntime 1.32's CPU kernels, in their own words (observed; tests/test_onnx_engines.py
#: checks that each is still what onnxruntime says).
#: onnxruntime, the inference package this engine runs, computes no gradients (training is the
#: separate onnxruntime-training package, with a training graph built offline): declared, not missing.
ORT_INFERENCE_ONLY = Limit(
    "onnxruntime is an inference runtime: it computes no gradients (training is the separate onnxruntime-training "
    "package, not run here); the frameworks that train these layers are checked on their own engines",
    ALWAYS, gradients_only=True, label="every case (an inference runtime)")
ORT_NO_DOUBLE = (
    "onnxruntime's CPU provider has no float64 recurrent kernels: 'Could not find an implementation for "
    "RNN(14)' and, when running, 'LSTM operator does not support double yet' / 'GRU operator does not "
    "support double yet'"
)


class OnnxRuntimeAdapter(OnnxModelAdapter):
    """The ONNX model on onnxruntime's CPUExecutionProvider."""

    name = "onnx"
    declared_limits: ClassVar[tuple[Limit, ...]] = (*OnnxModelAdapter.declared_limits,
                       Limit(ORT_NO_DOUBLE, FLOAT64, label="float64 (no CPU kernels)"), ORT_INFERENCE_ONLY)

    def case_label(self, case: Case) -> str:
        return case.id.replace("-NTC", "-NTC-transposed") if case.spec.layout == "NTC" else case.id

    def version(self) -> str:
        import onnx
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}, opset 14"

    def runner(self, model: Any) -> Any:
        session = ort_session(model)
        return lambda inputs: session.run(None, inputs)

"""ONNX's own NumPy reference, ``onnx.reference.ReferenceEvaluator`` (engine ``onnx-reference``).

It runs the same model as the ``onnx`` engine (``rnn_ref/adapters/onnx/model.py``: same
rows, W/R/B per layer, gate orders LSTM ``i o f c``, GRU ``z r h``), with ``layout=1``
nodes for NTC layers (the evaluator swaps the axes itself) and in float32 and float64. What
its RNN/LSTM/GRU ops do not do, read off their source (onnx 1.23.2,
``onnx/reference/ops/``):

* ``sequence_lens`` is accepted and never read (``op_rnn.py:110``, ``op_lstm.py:153``,
  ``op_gru.py:142``, each ``sequence_lens=None,  # noqa: ARG002``): every sample runs all T
  steps, so the outputs at padded steps and the final states are wrong — a known defect
  (strict xfail) for every case with lengths; no upstream report found, the reproduction
  is ``tests/test_onnx_engines.py::test_onnx_reference_ignores_sequence_lens``;
* ``RNN`` knows the activations ``Tanh`` and ``Affine`` only (``op_rnn.py:68-73``,
  ``CommonRNN.choose_act``): an rnn_relu model, or an RNN with any other activation, is refused
  when the evaluator is built (``Unknown activation function 'Relu'.``); its ``Affine`` takes
  ``activation_alpha[k]``/``activation_beta[k]`` of the k-th listed activation (``op_rnn.py:22-66``,
  which also requires as many values as directions: ONNX's consumption rule gives the same);
* ``clip`` (all three ops), and ``activations``, ``activation_alpha``, ``activation_beta`` of
  LSTM and GRU, and ``input_forget`` are accepted and ignored (``op_lstm.py:157-166``,
  ``op_gru.py:144-153``, ``op_rnn.py:115-120``: ``# noqa: ARG002`` and "TODO: support overridden
  attributes"): the result is the reference of the layer without them — a known defect
  (``IGNORES_ATTRIBUTES``) with that signature; no upstream report found, the reproduction is
  ``tests/test_onnx_options.py::test_onnx_reference_ignores_clip_activations_and_input_forget``;
* peepholes ``P`` (``[p_i, p_o, p_f]``, ``op_lstm.py:43``) and ``direction="reverse"`` (the
  input flipped in time, the output flipped back) are computed as the reference does.

onnx is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rnn_ref.adapters.onnx.model import OnnxLayer, build_layer
from rnn_ref.adapters.onnx.runtime import NO_MERGE_LIMIT, NO_PROJECTION_LIMIT, OnnxModelAdapter
from rnn_ref.cases.defects import LENGTHS_IGNORED, DefectSignature
from rnn_ref.cases.limits import (
    ALWAYS,
    LENGTHS,
    VANILLA,
    Defect,
    Limit,
    activations_other_than,
    modes,
    uses,
)
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec

#: onnx.reference evaluates a graph forward; an ONNX model holds no backward.
REFERENCE_FORWARD_ONLY = Limit(
    "onnx.reference evaluates an ONNX graph forward only (a model holds no backward, and the evaluator "
    "differentiates nothing)", ALWAYS, gradients_only=True, label="every case (a forward evaluator)")
NO_RELU = (
    "onnx.reference's RNN knows the activations Tanh and Affine only (onnx/reference/ops/op_rnn.py:68-73, "
    "CommonRNN.choose_act): \"Unknown activation function 'Relu'.\""
)
NO_RNN_ACTIVATION = (
    "onnx.reference's RNN knows the activations Tanh and Affine only (onnx/reference/ops/op_rnn.py:68-73, "
    "CommonRNN.choose_act): \"Unknown activation function 'Elu'.\" when the evaluator is built"
)
IGNORES_ATTRIBUTES = (
    "onnx.reference accepts and ignores clip (RNN, LSTM, GRU), activations, activation_alpha and activation_beta "
    "(LSTM, GRU) and input_forget (onnx 1.23.2 onnx/reference/ops/op_lstm.py:157-166, op_gru.py:144-153, "
    "op_rnn.py:115-120: accepted, never read, \"TODO: support overridden attributes\"), so it computes the layer "
    "without them; no upstream report found, reproduction: "
    "tests/test_onnx_options.py::test_onnx_reference_ignores_clip_activations_and_input_forget"
)
IGNORES_SEQUENCE_LENS = (
    "onnx.reference ignores sequence_lens (onnx 1.23.2 onnx/reference/ops/op_rnn.py:110, op_lstm.py:153, "
    "op_gru.py:142: accepted, never read), so every sample runs all T steps; no upstream report found, "
    "reproduction: tests/test_onnx_engines.py::test_onnx_reference_ignores_sequence_lens"
)


#: The attributes the evaluator ignores, where a layer uses them: LSTM's and GRU's options, an RNN's clip.
IGNORED_BY_LSTM_GRU = modes("lstm", "gru") & uses("clip", "input_forget", "activations")
IGNORED_BY_RNN = VANILLA & uses("clip")
#: What the evaluator computes there: the layer without those attributes, every sample over all T steps (a
#: case without lengths runs them anyway).
WITHOUT_LSTM_GRU_ATTRIBUTES = DefectSignature(
    "equals the reference of the layer without clip, input_forget and its activations (the mode's own), run "
    "without lengths", ignores_lengths=True, ignores=("clip", "input_forget", "activations"))
WITHOUT_RNN_CLIP = DefectSignature("equals the reference of the layer without clip, run without lengths",
                                   ignores_lengths=True, ignores=("clip",))


class OnnxReferenceAdapter(OnnxModelAdapter):
    """The ONNX model run by ``onnx.reference.ReferenceEvaluator``."""

    name = "onnx-reference"
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        NO_PROJECTION_LIMIT,
        NO_MERGE_LIMIT,
        Limit(NO_RELU, modes("rnn_relu"), label="rnn_relu (no `Relu` for RNN)"),
        Limit(NO_RNN_ACTIVATION, VANILLA & activations_other_than("Tanh", "Affine"),
              label="RNN activations other than Tanh, Affine"),
        REFERENCE_FORWARD_ONLY,
    )
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(f"{IGNORES_ATTRIBUTES}; and, where lengths are given, {IGNORES_SEQUENCE_LENS}", IGNORED_BY_LSTM_GRU,
               WITHOUT_LSTM_GRU_ATTRIBUTES,
               label="LSTM/GRU `clip`, `activations`, `input_forget` ignored (no upstream report found)"),
        Defect(f"{IGNORES_ATTRIBUTES}; and, where lengths are given, {IGNORES_SEQUENCE_LENS}", IGNORED_BY_RNN,
               WITHOUT_RNN_CLIP, label="RNN `clip` ignored (no upstream report found)"),
        Defect(IGNORES_SEQUENCE_LENS, LENGTHS, LENGTHS_IGNORED,
               label="`sequence_lens` ignored (its source lines; no upstream report found)"),
    )

    def version(self) -> str:
        import onnx

        return f"onnx {onnx.__version__} ReferenceEvaluator, opset 14"

    def build(self, spec: RNNSpec, params: Params) -> OnnxLayer:
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        return build_layer(self.mapping(spec), spec, params, node_layout=1 if spec.layout == "NTC" else 0)

    def runner(self, model: Any) -> Any:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        return lambda inputs: evaluator.run(None, inputs)

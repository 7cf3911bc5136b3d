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
  ``CommonRNN.choose_act``): an rnn_relu model is refused when the evaluator is built;
* ``clip``, ``activations`` of LSTM and GRU, ``input_forget`` are accepted and ignored
  (``op_lstm.py:159-163``) — the models here never set them.

onnx is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rnn_ref.adapters.onnx.model import NO_PROJECTION, OnnxLayer, build_layer
from rnn_ref.adapters.onnx.runtime import OnnxModelAdapter
from rnn_ref.cases.defects import LENGTHS_IGNORED
from rnn_ref.cases.limits import ALWAYS, LENGTHS, PROJECTION, Defect, Limit, modes
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
IGNORES_SEQUENCE_LENS = (
    "onnx.reference ignores sequence_lens (onnx 1.23.2 onnx/reference/ops/op_rnn.py:110, op_lstm.py:153, "
    "op_gru.py:142: accepted, never read), so every sample runs all T steps; no upstream report found, "
    "reproduction: tests/test_onnx_engines.py::test_onnx_reference_ignores_sequence_lens"
)


class OnnxReferenceAdapter(OnnxModelAdapter):
    """The ONNX model run by ``onnx.reference.ReferenceEvaluator``."""

    name = "onnx-reference"
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        Limit(NO_RELU, modes("rnn_relu"), label="rnn_relu (no `Relu` for RNN)"),
        REFERENCE_FORWARD_ONLY,
    )
    declared_defects: ClassVar[tuple[Defect, ...]] = (
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

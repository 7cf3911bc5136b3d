"""``torch.onnx.export`` of the ``torch`` engine's layer, run on ``onnx.reference`` (engine ``torch-onnx-reference``).

The same export as the ``torch-onnx`` engine (same rows, the same exporting module, the same
tool: torch 2.13's dynamo exporter), run by ONNX's own NumPy evaluator instead of onnxruntime.
Beside ``torch-onnx`` it tells whose a wrong number is: the exporter's (both engines wrong) or
the runtime's (only one). Read off the two runs:

* float64 runs: the exporter writes float64 models correctly (within the float64 tolerance;
  1.1e-16 measured on a 2-layer bidirectional LSTM); ``torch-onnx``'s float64 limit is
  onnxruntime's, not the exporter's;
* rnn_relu runs: the exporter unrolls a relu RNN into MatMul / Add / Relu nodes, so the
  evaluator's RNN op, which knows Tanh and Affine only (the ``onnx-reference`` engine's
  limit), is never asked;
* the rest stays unsupported with ``torch-onnx``'s reasons: lengths (the exporter cannot export
  packed sequences) and GRU reset_before (torch has no such layer); an LSTM with projection,
  which the exporter writes without it, the evaluator refuses with a NumPy broadcast error.

tests/test_onnx_engines.py checks each of these on the real tools.

torch, onnxscript and onnx are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Runtime
from rnn_ref.adapters.converted.torch_onnx import EXPORT_NO_PACKED_SEQUENCE, TORCH_HAS_NO_OPTIONS, TorchOnnxAdapter
from rnn_ref.adapters.onnx.reference import REFERENCE_FORWARD_ONLY
from rnn_ref.adapters.torch.fused import GRU_RESET_BEFORE
from rnn_ref.cases.limits import LENGTHS, PROJECTION, RESET_BEFORE, Limit


def evaluator(model: bytes) -> Any:
    """``onnx.reference.ReferenceEvaluator`` of a serialized model."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(onnx.load_from_string(model))


def run_evaluator(session: Any, feeds: Sequence[np.ndarray]) -> list[Any]:
    """The evaluator's outputs, its graph inputs fed in order."""
    return list(session.run(None, dict(zip(session.input_names, feeds, strict=True))))


def evaluator_version() -> str:
    import onnx

    return f"onnx {onnx.__version__} ReferenceEvaluator"


#: ONNX's reference evaluator: NumPy, float32 and float64.
ONNX_REFERENCE = Runtime("onnx.reference", evaluator, run_evaluator, evaluator_version)

EXPORT_DROPS_PROJECTION_REFERENCE = (
    "torch.onnx.export (dynamo) writes an LSTM with proj_size as an ONNX LSTM of hidden_size P without the "
    "projection (ONNX has none) instead of refusing it; onnx.reference then fails: \"operands could not be "
    "broadcast together\" — no upstream report found, reproduction: "
    "tests/test_onnx_engines.py::test_onnx_reference_fails_on_the_export_without_projection"
)


class TorchOnnxReferenceAdapter(TorchOnnxAdapter):
    """The torch layer exported to ONNX by ``torch.onnx.export`` and run on ``onnx.reference``."""

    name = "torch-onnx-reference"
    runtime = ONNX_REFERENCE
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        TORCH_HAS_NO_OPTIONS,
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(EXPORT_DROPS_PROJECTION_REFERENCE, PROJECTION, label="projection (the exporter drops it)"),
        Limit(EXPORT_NO_PACKED_SEQUENCE, LENGTHS, label="lengths (packed sequences do not export)"),
        REFERENCE_FORWARD_ONLY,
    )

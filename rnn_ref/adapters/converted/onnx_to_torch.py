"""onnx2torch: the ``onnx`` engine's model converted to a torch module (engine ``onnx2torch``).

The model is the one ``rnn_ref/adapters/onnx/model.py`` builds (same rows as the ``onnx``
engine: W/R/B per layer, gate orders LSTM ``i o f c``, GRU ``z r h``), handed to
``onnx2torch.convert``. onnx2torch 1.5.15, its latest release, registers no converter for
``RNN``, ``LSTM`` or ``GRU``, so ``convert`` raises for every recurrent model::

    NotImplementedError: Converter is not implemented
    (OperationDescription(domain='', operation_type='LSTM', version=14))

Every case is therefore unsupported (``rnn-ref map onnx2torch`` and ``convert`` show the
ONNX model it is handed, the ``onnx`` engine's W/R/B), citing the upstream requests
(ENOT-AutoDL/onnx2torch#136 for LSTM, #233 for GRU; PR #256, open, adds all three).
``tests/test_onnx_engines.py::test_onnx2torch_registers_no_recurrent_converter`` reads the
installed package's converter registrations and fails the day one appears, so that this
declaration is revisited and the engine runs the matrix.

onnx2torch is not imported: on a machine where torch is the CPU build and torchvision the
PyPI (CUDA) build, ``import onnx2torch`` itself fails (``operator torchvision::nms does not
exist``, from onnx2torch's NMS converter importing torchvision).
"""

from __future__ import annotations

from importlib.metadata import version as distribution_version
from typing import Any

from rnn_ref.adapters.onnx.model import NO_PROJECTION
from rnn_ref.adapters.onnx.runtime import OnnxModelAdapter
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput

NO_RECURRENT_CONVERTER = (
    "onnx2torch has no converter for RNN, LSTM or GRU: convert() raises \"NotImplementedError: Converter is not "
    "implemented (OperationDescription(domain='', operation_type='LSTM', version=14))\", and the same for GRU and "
    "RNN (ENOT-AutoDL/onnx2torch#136, #233)"
)


class OnnxToTorchAdapter(OnnxModelAdapter):
    """The ONNX model converted by onnx2torch (which cannot convert recurrent nodes)."""

    name = "onnx2torch"
    limits = (NO_RECURRENT_CONVERTER,)

    def version(self) -> str:
        return f"onnx2torch {distribution_version('onnx2torch')}"

    def unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        return NO_RECURRENT_CONVERTER

    def layer_unsupported_reason(self, spec: RNNSpec) -> str | None:
        """The ONNX model onnx2torch is handed has the onnx engine's parameters (``map``, ``convert``)."""
        return NO_PROJECTION if spec.proj_size else None

    def build(self, spec: RNNSpec, params: Params) -> Any:
        raise UnsupportedCase(self.name, NO_RECURRENT_CONVERTER)

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        raise UnsupportedCase(self.name, NO_RECURRENT_CONVERTER)

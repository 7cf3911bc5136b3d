"""onnx2torch: the ``onnx`` engine's model converted to a torch module (engine ``onnx2torch``).

The model is the one ``rnn_ref/adapters/onnx/model.py`` builds (same rows as the ``onnx``
engine: W/R/B per layer, gate orders LSTM ``i o f c``, GRU ``z r h``), handed to
``onnx2torch.convert``. onnx2torch 1.5.15, its latest release, registers no converter for
``RNN``, ``LSTM`` or ``GRU``, so ``convert`` raises for every recurrent model::

    NotImplementedError: Converter is not implemented
    (OperationDescription(domain='', operation_type='LSTM', version=14))

Every case is therefore unsupported (``rnn-ref map onnx2torch`` and ``convert`` show the
ONNX model it is handed, the ``onnx`` engine's W/R/B, and P), citing the upstream requests
(ENOT-AutoDL/onnx2torch#136 for LSTM, #233 for GRU; PR #256, open, adds all three). The
option cases too: the model carries them as the ``onnx`` engine writes them, and with no
recurrent converter nothing reads them, so ``options`` lists every option and the reason is
this one.
``tests/test_onnx_engines.py::test_onnx2torch_registers_no_recurrent_converter`` reads the
installed package's converter registrations and fails the day one appears, so that this
declaration is revisited and the engine runs the matrix.

onnx2torch is not imported: on a machine where torch is the CPU build and torchvision the
PyPI (CUDA) build, ``import onnx2torch`` itself fails (``operator torchvision::nms does not
exist``, from onnx2torch's NMS converter importing torchvision).
"""

from __future__ import annotations

from importlib.metadata import version as distribution_version
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Conversion, ConversionTool, ConvertedAdapter, Runtime
from rnn_ref.adapters.onnx.model import Interface, OnnxLayer, feeds
from rnn_ref.adapters.onnx.runtime import OnnxRuntimeAdapter
from rnn_ref.cases.limits import ALWAYS, Limit
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State

NO_RECURRENT_CONVERTER = (
    "onnx2torch has no converter for RNN, LSTM or GRU: convert() raises \"NotImplementedError: Converter is not "
    "implemented (OperationDescription(domain='', operation_type='LSTM', version=14))\", and the same for GRU and "
    "RNN (ENOT-AutoDL/onnx2torch#136, #233)"
)


def onnx2torch_convert(layer: OnnxLayer, conversion: Conversion) -> Any:
    """``onnx2torch.convert`` of the onnx engine's model with the run's optional inputs (a ``torch.fx`` module)."""
    import onnx2torch

    interface = Interface(initial_state=conversion.with_state, lengths=conversion.with_lengths)
    return onnx2torch.convert(layer.model(interface))


def onnx2torch_version() -> str:
    return f"onnx2torch {distribution_version('onnx2torch')}"


def run_torch_module(module: Any, inputs: Any) -> list[Any]:
    """The module on the feeds as torch tensors; its outputs as NumPy arrays."""
    import torch

    with torch.no_grad():
        values = module(*(torch.from_numpy(feed) for feed in inputs))
    return [value.numpy() for value in (values if isinstance(values, (tuple, list)) else [values])]


def torch_version() -> str:
    import torch

    return f"torch {torch.__version__}"


ONNX2TORCH = ConversionTool("onnx2torch", onnx2torch_convert, onnx2torch_version)
#: the converted ``torch.nn.Module``, called in torch
TORCH_MODULE = Runtime("torch", lambda module: module.eval(), run_torch_module, torch_version)


class OnnxToTorchAdapter(ConvertedAdapter):
    """The ONNX model converted by onnx2torch (which cannot convert recurrent nodes)."""

    name = "onnx2torch"
    source_adapter = OnnxRuntimeAdapter
    tool = ONNX2TORCH
    runtime = TORCH_MODULE
    #: the version of the tool alone: onnx2torch is not imported (nor torch, which it would run in)
    version_from = ("tool",)
    #: every option reaches the one limit below (no recurrent converter at all)
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (Limit(NO_RECURRENT_CONVERTER, ALWAYS,
                             label="every case: no `RNN`/`LSTM`/`GRU` converter (ENOT-AutoDL/onnx2torch#136, #233)"),)

    def layer_unsupported_reason(self, spec: RNNSpec) -> str | None:
        """The ONNX model onnx2torch is handed has the onnx engine's parameters (``map``, ``convert``)."""
        return self.source.layer_unsupported_reason(spec)

    def feeds(self, spec: RNNSpec, x: np.ndarray, initial_state: State | None,
              lengths: np.ndarray | None) -> list[np.ndarray]:
        """The onnx engine's model inputs in graph order: ``X``, ``sequence_lens``, ``initial_h``, ``initial_c``."""
        return list(feeds(spec, x, initial_state, lengths).values())

    def outputs(self, spec: RNNSpec, values: list[Any]) -> RNNOutput:
        return RNNOutput(np.asarray(values[0]), np.asarray(values[1]),
                         np.asarray(values[2]) if spec.has_cell_state else None)

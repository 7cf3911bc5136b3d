"""``torch.onnx.export`` of the ``torch`` engine's layer, run on onnxruntime (engine ``torch-onnx``).

The weights go in exactly as for the ``torch`` engine (same rows: ``weight_ih_l{k}``, ...,
gates ``i f g o`` / ``r z n``); the layer is wrapped in a module whose forward is the
``torch`` adapter's run — ``layer(x, hx)``, and for lengths ``pack_padded_sequence`` /
``pad_packed_sequence`` — and exported by ``torch.onnx.export`` with torch 2.13's default
exporter (``dynamo=True``: ``torch.export`` then onnxscript's translation and optimizer).
What the exporter writes is run by onnxruntime's CPU provider, so this engine checks the
exporter's gate reordering, bias layout, direction handling and state order.

* Exported per case (about two seconds each); an export of the same layer, weights and
  interface is reused within a process.
* What the exporter cannot export, or onnxruntime cannot run, is unsupported, with the
  message observed (tests/test_onnx_engines.py checks each is still what the tools say):
  per-sample lengths (``pack_padded_sequence`` does not pass ``torch.export``), float64
  (onnxruntime's CPU kernels), GRU reset_before (torch has none), and LSTM projection,
  which the exporter silently drops, writing a model onnxruntime refuses.
* No option (design section 2a) has a torch layer to export: ``torch.nn.RNN``/``LSTM``/``GRU``
  have no peepholes, cell clip, coupled gates, reverse-only layers, merge modes or activations
  beyond ``nn.RNN``'s ``nonlinearity`` (the mode rnn_relu), so every option case is unsupported
  (``TORCH_HAS_NO_OPTIONS``; the same for every engine that starts from the torch layer).

torch, onnxscript and onnxruntime are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import ONNXRUNTIME, Conversion, ConversionTool, ConvertedAdapter
from rnn_ref.adapters.onnx.runtime import ORT_INFERENCE_ONLY, ORT_NO_DOUBLE
from rnn_ref.adapters.torch.fused import GRU_RESET_BEFORE, TorchAdapter
from rnn_ref.cases.limits import FLOAT64, LENGTHS, PROJECTION, RESET_BEFORE, Limit, uses_other_than
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State


def exporting_module(spec: RNNSpec, layer: Any, with_lengths: bool) -> Any:
    """A module whose forward is what the torch adapter runs: ``(x, [lengths], [h0, [c0]]) -> (y, h_n, [c_n])``."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    batch_first = spec.layout == "NTC"

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = layer

        def forward(self, x, *rest):
            lengths, rest = (rest[0], rest[1:]) if with_lengths else (None, rest)
            hx = None if not rest else (rest[0] if len(rest) == 1 else tuple(rest))
            if lengths is None:
                output, final = self.rnn(x, hx)
            else:
                packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)
                packed_output, final = self.rnn(packed, hx)
                steps = x.shape[1 if batch_first else 0]
                output, _ = pad_packed_sequence(packed_output, batch_first, total_length=steps)
            return (output, *final) if spec.has_cell_state else (output, final)

    return Exported().eval()


def export_to_onnx(module: Any, inputs: tuple[Any, ...]) -> bytes:
    """``torch.onnx.export(module, inputs)`` with the default (dynamo) exporter, as serialized bytes."""
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter narrates and warns about deprecated pytree helpers
        program = torch.onnx.export(module, inputs, dynamo=True, verbose=False)
        buffer.write(program.model_proto.SerializeToString())
    return buffer.getvalue()


def export(layer: Any, conversion: Conversion) -> bytes:
    """The torch layer exported as the torch adapter runs it, traced on the run's feeds (as torch tensors)."""
    import torch

    module = exporting_module(conversion.spec, layer, conversion.with_lengths)
    return export_to_onnx(module, tuple(torch.from_numpy(feed) for feed in conversion.feeds))


def exporter_version() -> str:
    import onnxscript
    import torch

    return f"torch {torch.__version__} (dynamo exporter), onnxscript {onnxscript.__version__}"


#: ``torch.onnx.export`` (dynamo): ``torch.export`` traces at the example inputs' sizes.
TORCH_ONNX_EXPORT = ConversionTool("torch.onnx.export", export, exporter_version, fixed_shapes=True)

#: What no converter that starts from a torch layer can be handed (torch-onnx, torch-onnx-reference, torch-openvino).
TORCH_HAS_NO_OPTIONS = Limit(
    "torch.nn.RNN, LSTM and GRU have none of the options: no peepholes, cell clip, coupled input and forget gates, "
    "reverse-only layers, merge modes of the two directions, or activations beyond nn.RNN's nonlinearity (the mode "
    "rnn_relu), so there is no torch layer of such a spec to convert",
    uses_other_than(), label="every option (torch's layers have none)")

EXPORT_NO_PACKED_SEQUENCE = (
    "torch.onnx.export (dynamo) cannot export pack_padded_sequence: torch.export fails with \"TypeError: "
    "zeros(): argument 'size' failed to unpack the object at pos 2 with error 'type must be tuple of ints,but "
    "got FakeTensor'\" (pytorch/pytorch#171978; #112044)"
)
EXPORT_DROPS_PROJECTION = (
    "torch.onnx.export (dynamo) writes an LSTM with proj_size as an ONNX LSTM of hidden_size P without the "
    "projection (ONNX has none) instead of refusing it; onnxruntime then refuses the model: \"Input initial_c "
    "must have shape {D,N,P}. Actual:{D,N,H}\" — no upstream report found, reproduction: "
    "tests/test_onnx_engines.py::test_torch_onnx_export_drops_the_projection"
)


class TorchOnnxAdapter(ConvertedAdapter):
    """The torch layer exported to ONNX by ``torch.onnx.export`` and run on onnxruntime."""

    name = "torch-onnx"
    source_adapter = TorchAdapter
    tool = TORCH_ONNX_EXPORT
    runtime = ONNXRUNTIME
    #: the exporter is torch's own: its version says the source's
    version_from = ("tool", "runtime")
    #: every option is handled: none exists in torch (TORCH_HAS_NO_OPTIONS)
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        TORCH_HAS_NO_OPTIONS,
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(EXPORT_DROPS_PROJECTION, PROJECTION, label="projection (the exporter drops it)"),
        Limit(EXPORT_NO_PACKED_SEQUENCE, LENGTHS, label="lengths (packed sequences do not export)"),
        Limit(ORT_NO_DOUBLE, FLOAT64),
        ORT_INFERENCE_ONLY,
    )

    def feeds(self, spec: RNNSpec, x: np.ndarray, initial_state: State | None,
              lengths: np.ndarray | None) -> list[np.ndarray]:
        """What the exporting module takes: ``x``, ``lengths`` (int64), ``h0`` and, for LSTM, ``c0``."""
        feeds = [np.ascontiguousarray(x)]
        if lengths is not None:
            feeds.append(np.asarray(lengths, dtype=np.int64))
        if initial_state is not None:
            feeds.append(np.ascontiguousarray(initial_state.h))
            if spec.has_cell_state:
                feeds.append(np.ascontiguousarray(initial_state.c))
        return feeds

    def outputs(self, spec: RNNSpec, values: list[Any]) -> RNNOutput:
        return RNNOutput(values[0], values[1], values[2] if spec.has_cell_state else None)

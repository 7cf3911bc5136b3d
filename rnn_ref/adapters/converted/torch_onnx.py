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

torch, onnxscript and onnxruntime are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.runtime import ORT_NO_DOUBLE
from rnn_ref.adapters.torch.fused import GRU_RESET_BEFORE, TorchAdapter, to_torch_state
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput


@dataclass
class ExportedLayer:
    """The torch layer the export starts from."""

    module: Any


#: onnxruntime sessions of the exports made in this process, by layer, dtype, interface, input
#: shape and weights: recording fixtures twice (tests/test_fixtures_fresh.py) exports once.
EXPORTS: dict[tuple, Any] = {}


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


class TorchOnnxAdapter(TorchAdapter):
    """The torch layer exported to ONNX by ``torch.onnx.export`` and run on onnxruntime."""

    #: A converted model is run for inference only: the ONNX engines are checked forward (the
    #: gradients of the layer it came from are the source engine's), so its gradients are
    #: GRADIENTS_NOT_IMPLEMENTED (declared, not un-inherited).
    differentiable = False

    name = "torch-onnx"
    limits = (GRU_RESET_BEFORE, EXPORT_DROPS_PROJECTION, EXPORT_NO_PACKED_SEQUENCE, ORT_NO_DOUBLE)

    def unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        if spec.mode == "gru" and spec.gru_variant == "reset_before":
            return GRU_RESET_BEFORE
        if spec.proj_size:
            return EXPORT_DROPS_PROJECTION
        if with_lengths:
            return EXPORT_NO_PACKED_SEQUENCE
        return ORT_NO_DOUBLE if dtype == "float64" else None

    def version(self) -> str:
        import onnxruntime
        import onnxscript
        import torch

        return f"torch {torch.__version__} (dynamo exporter), onnxscript {onnxscript.__version__}, " \
               f"onnxruntime {onnxruntime.__version__}"

    def build(self, spec: RNNSpec, params: Params) -> ExportedLayer:
        return ExportedLayer(super().build(spec, params))

    def native_arrays(self, spec: RNNSpec, layer: ExportedLayer) -> dict[str, np.ndarray]:
        return super().native_arrays(spec, layer.module)

    def run(self, spec, layer: ExportedLayer, x, initial_state=None, lengths=None) -> RNNOutput:
        import torch

        from rnn_ref.adapters.onnx.runtime import ort_session

        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        inputs: list[Any] = [torch.from_numpy(np.ascontiguousarray(x))]
        if lengths is not None:
            inputs.append(torch.as_tensor(lengths, dtype=torch.int64))
        hx = to_torch_state(spec, initial_state)
        if hx is not None:
            inputs += list(hx) if isinstance(hx, tuple) else [hx]
        weights = hashlib.sha256(b"".join(a.tobytes() for a in self.native_arrays(spec, layer).values()))
        key = (spec, str(x.dtype), initial_state is not None, lengths is not None, x.shape, weights.hexdigest())
        if key not in EXPORTS:
            module = exporting_module(spec, layer.module, lengths is not None)
            EXPORTS[key] = ort_session_from_bytes(export_to_onnx(module, tuple(inputs)), ort_session)
        session = EXPORTS[key]
        names = [i.name for i in session.get_inputs()]
        values = session.run(None, dict(zip(names, [t.numpy() for t in inputs], strict=True)))
        return RNNOutput(values[0], values[1], values[2] if spec.has_cell_state else None)


def ort_session_from_bytes(model: bytes, make_session: Any) -> Any:
    import onnx

    return make_session(onnx.load_from_string(model))

"""PyTorch's unfused cells, unrolled in Python (engine ``torch-cell``).

``torch.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` compute one step of one direction of one
layer. This adapter keeps one cell per (layer, direction) in a ``ModuleDict`` keyed
``l{k}_{fwd|bwd}`` and does itself what the fused layer does: loops over time, runs the
backward direction from the last valid step, feeds layer k's concatenated outputs to layer
k+1, and holds the state (writing zeros to the output) at padded steps. Checking it next to
the fused engine shows that both code paths of one framework agree with the reference.

Each cell's parameters are named like the fused layer's, without the layer suffix:
``weight_ih`` (G·H, I_k), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh``; gate order is
torch's. ``LSTMCell`` has no projection. A cell takes and returns one unit's state, (N, H)
(``(h, c)`` for LSTM); the adapter keeps them in canonical order. Padded steps: zeros, as
the fused layer with packed sequences.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.adapters.torch.fused import (
    GRU_RESET_BEFORE,
    NO_OPTIONS,
    OPTIONS_BUT_NONLINEARITY,
    autograd_gradients,
    fused_unit_rows,
    load_state,
    nonlinearity,
    torch_dtype,
)
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import PROJECTION, RESET_BEFORE, Limit
from rnn_ref.core.mapping import WeightMapping, build_mapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput

NO_PROJECTION = "torch.nn.LSTMCell has no proj_size (only the fused torch.nn.LSTM projects)"
CELL_RESET_BEFORE = GRU_RESET_BEFORE.replace("torch.nn.GRU", "torch.nn.GRUCell")


def cell_name(layer: int, direction: str) -> str:
    return f"l{layer}_{direction}"


class TorchCellAdapter(Adapter):
    """``torch.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` unrolled by the adapter."""

    name = "torch-cell"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(CELL_RESET_BEFORE, RESET_BEFORE),
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        Limit(NO_OPTIONS, OPTIONS_BUT_NONLINEARITY, label="options (only RNNCell's `nonlinearity`)"),
    )

    def version(self) -> str:
        import torch

        return torch.__version__

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        def unit(layer: int, direction: str):
            prefix = cell_name(layer, direction)
            return fused_unit_rows(spec, layer, direction, lambda kind: f"{prefix}.{kind}")

        return build_mapping(self.name, spec, unit)

    def build(self, spec: RNNSpec, params: Params) -> Any:
        import torch

        self.check_supported(spec, str(params.dtype), with_lengths=False)
        cells = torch.nn.ModuleDict()
        for layer, direction in spec.units():
            common = dict(
                input_size=spec.layer_input_size(layer),
                hidden_size=spec.hidden_size,
                bias=spec.bias,
                dtype=torch_dtype(params.dtype),
            )
            if spec.mode == "lstm":
                cells[cell_name(layer, direction)] = torch.nn.LSTMCell(**common)
            elif spec.mode == "gru":
                cells[cell_name(layer, direction)] = torch.nn.GRUCell(**common)
            else:
                cells[cell_name(layer, direction)] = torch.nn.RNNCell(nonlinearity=nonlinearity(spec), **common)
        load_state(cells, self.mapping(spec).to_native(params))
        return cells.eval()

    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        return {name: tensor.detach().cpu().numpy().copy() for name, tensor in layer.state_dict().items()}

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        import torch

        seq = torch.from_numpy(np.ascontiguousarray(x if spec.layout == "TNC" else x.transpose(1, 0, 2)))
        states = None if initial_state is None else [torch.from_numpy(s.copy()) for s in initial_state if s is not None]
        with torch.no_grad():
            output, h_n, c_n = unroll(spec, layer, seq, states, lengths)
        output = output.numpy() if spec.layout == "TNC" else output.numpy().transpose(1, 0, 2)
        return RNNOutput(np.ascontiguousarray(output), h_n.numpy(), None if c_n is None else c_n.numpy())

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents: Cotangents) -> EngineGradients:
        """torch.autograd through the adapter's unrolled loop of cells."""
        import torch

        inputs = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        states = [] if initial_state is None else [torch.from_numpy(np.ascontiguousarray(s)).requires_grad_()
                                                   for s in initial_state if s is not None]
        with torch.enable_grad():
            seq = inputs if spec.layout == "TNC" else inputs.transpose(0, 1)
            output, h_n, c_n = unroll(spec, layer, seq, states or None, lengths)
            output = output if spec.layout == "TNC" else output.transpose(0, 1)
        return autograd_gradients(spec, layer, inputs, states, (output, h_n, c_n), cotangents)


def unroll(spec: RNNSpec, layer: Any, seq: Any, states: list | None, lengths: np.ndarray | None) -> tuple:
    """The time loop over (T, N, I) tensors: (output (T, N, D·H), h_n, c_n or None).

    ``states``: None (zeros) or [h0] / [h0, c0], each (L·D, N, H).
    """
    import torch

    steps, batch = seq.shape[:2]
    dtype = seq.dtype
    valid = torch.ones(steps, batch, 1, dtype=torch.bool)
    if lengths is not None:
        valid = (torch.arange(steps)[:, None] < torch.as_tensor(lengths)[None, :])[..., None]
    h_finals: list[Any] = []
    c_finals: list[Any] = []
    for layer_index in range(spec.num_layers):
        outputs = []
        for direction in spec.directions:
            unit = len(h_finals)
            if states is None:
                h = torch.zeros(batch, spec.hidden_size, dtype=dtype)
                c = torch.zeros(batch, spec.hidden_size, dtype=dtype)
            else:
                h = states[0][unit]
                c = states[1][unit] if spec.has_cell_state else None
            cell = layer[cell_name(layer_index, direction)]
            out = [None] * steps
            order = range(steps - 1, -1, -1) if direction == "bwd" else range(steps)
            for t in order:
                if spec.has_cell_state:
                    h_next, c_next = cell(seq[t], (h, c))
                    c = torch.where(valid[t], c_next, c)
                else:
                    h_next = cell(seq[t], h)
                h = torch.where(valid[t], h_next, h)
                out[t] = torch.where(valid[t], h_next, torch.zeros_like(h_next))
            outputs.append(torch.stack(out))
            h_finals.append(h)
            c_finals.append(c)
        seq = torch.cat(outputs, dim=-1)
    return seq, torch.stack(h_finals), torch.stack(c_finals) if spec.has_cell_state else None

"""The rnn_ref adapter of ``numpy_lstm_adapter.layers`` (engine ``numpy-lstm``).

Conventions, each visible in the mapping rows (``rnn-ref map numpy-lstm --mode lstm``):

* ``layer{k}/{fw|bw}/kernel`` (I_k, G·H) holds ``w_ih`` transposed, ``recurrent_kernel``
  (H, G·H) holds ``w_hh`` transposed, gates along the columns.
* Gate order, in canonical names: LSTM ``o i f g``; GRU ``z r n`` (the library calls them
  ``u r c``).
* One bias per gate: imported as ``b_ih = bias, b_hh = 0``, exported as ``b_ih + b_hh``
  (rows with two canonical keys: a ``sum``).
* GRU reset_before only; no LSTM projection (both declared in ``limits``).
* Batch-major only: TNC cases are transposed at the boundary. Zeros at padded steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numpy_lstm_adapter import __version__
from numpy_lstm_adapter.layers import RecurrentStack
from rnn_ref.adapters import (
    Adapter,
    MappingRow,
    Params,
    RNNOutput,
    RNNSpec,
    State,
    WeightMapping,
    build_mapping,
    stacked_gate_rows,
)

#: The library's gate order along the columns, in canonical gate names.
GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("o", "i", "f", "g"), "gru": ("z", "r", "n")}

NO_PROJECTION = "numpy_lstm_adapter.layers has no LSTM projection"
NO_RESET_AFTER = ("numpy_lstm_adapter.layers implements the original GRU only (reset gate before the "
                  "recurrent matmul, one bias): use gru_variant='reset_before'")


class NumpyLSTMAdapter(Adapter):
    """numpy_lstm_adapter.layers.RecurrentStack: gates o i f g / u r c, (I, G·H) kernels, one bias."""

    name = "numpy-lstm"
    limits = (NO_PROJECTION, NO_RESET_AFTER)
    gate_order = GATE_ORDER

    def version(self) -> str:
        return f"numpy-lstm-adapter {__version__} (numpy {np.__version__})"

    def unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        if spec.proj_size:
            return NO_PROJECTION
        if spec.mode == "gru" and spec.gru_variant == "reset_after":
            return NO_RESET_AFTER
        return None

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        order = self.gate_order[spec.mode]
        stacked = len(order) * spec.hidden_size

        def unit(layer: int, direction: str) -> tuple[dict[str, tuple[int, ...]], list[MappingRow]]:
            prefix = f"layer{layer}/{'fw' if direction == 'fwd' else 'bw'}"
            shapes = {f"{prefix}/kernel": (spec.layer_input_size(layer), stacked),
                      f"{prefix}/recurrent_kernel": (spec.hidden_size, stacked)}
            rows = stacked_gate_rows(spec, f"{prefix}/kernel", layer, direction, "w_ih", order,
                                     gate_axis=1, transpose=True)
            rows += stacked_gate_rows(spec, f"{prefix}/recurrent_kernel", layer, direction, "w_hh", order,
                                      gate_axis=1, transpose=True)
            if spec.bias:
                shapes[f"{prefix}/bias"] = (stacked,)
                rows += stacked_gate_rows(spec, f"{prefix}/bias", layer, direction, "b_ih", order, also="b_hh")
            return shapes, rows

        return build_mapping(self.name, spec, unit)

    def build(self, spec: RNNSpec, params: Params) -> RecurrentStack:
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        cell, _, activation = spec.mode.partition("_")
        layer = RecurrentStack(cell, spec.input_size, spec.hidden_size, spec.num_layers, spec.bidirectional,
                               spec.bias, activation or "tanh", str(params.dtype))
        layer.set_weights(self.mapping(spec).to_native(params))
        return layer

    def native_arrays(self, spec: RNNSpec, layer: RecurrentStack) -> dict[str, np.ndarray]:
        return {name: array.copy() for name, array in layer.weights.items()}

    def run(self, spec: RNNSpec, layer: RecurrentStack, x: np.ndarray, initial_state: State | None = None,
            lengths: np.ndarray | None = None) -> RNNOutput:
        batch_major = x if spec.layout == "NTC" else x.transpose(1, 0, 2)
        given: list[Any] | None = None
        if initial_state is not None:  # canonical (L·D, N, ·) -> one entry per cell
            units = range(initial_state.h.shape[0])
            given = [(initial_state.h[u], initial_state.c[u]) if spec.has_cell_state else initial_state.h[u]
                     for u in units]
        output, finals = layer(batch_major, lengths, given)
        h_n = np.stack([f[0] if spec.has_cell_state else f for f in finals])
        c_n = np.stack([f[1] for f in finals]) if spec.has_cell_state else None
        output = output if spec.layout == "NTC" else output.transpose(1, 0, 2)
        return RNNOutput(np.ascontiguousarray(output), h_n, c_n)

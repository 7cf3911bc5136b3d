"""Where each weight lives in the Keras objects the adapter builds, as mapping rows.

``KerasLayers`` is what ``KerasAdapter.build`` returns: one ``RNN`` over stacked cells, or one
``Bidirectional`` per level. ``keras_unit_rows`` says, for one (layer, direction) cell, which
native arrays it holds (``kernel``, ``recurrent_kernel``, ``bias``, in ``get_weights`` order)
and which canonical blocks they hold: gates stacked along columns in Keras's order, kernels
the transpose of torch's, one bias (two for GRU ``reset_after``). Needs NumPy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnn_ref.core.mapping import MappingRow, stacked_gate_rows
from rnn_ref.core.spec import RNNSpec

#: Keras's gate stacking order, in canonical gate names (Keras names: LSTM i f c o, GRU z r h).
KERAS_GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n")}
KERAS_GATE_NAMES = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "c", "o"), "gru": ("z", "r", "h")}


def keras_unit_name(spec: RNNSpec, layer: int, direction: str) -> str:
    """Where one (layer, direction) cell lives in the Keras objects the adapter builds."""
    if spec.bidirectional:
        side = "forward_layer" if direction == "fwd" else "backward_layer"
        return f"bidirectional[{layer}].{side}.cell"
    return "rnn.cell" if spec.num_layers == 1 else f"rnn.cell.cells[{layer}]"


def keras_unit_rows(spec: RNNSpec, layer: int, direction: str) -> tuple[dict, list[MappingRow]]:
    """Native shapes (in get_weights order: kernel, recurrent_kernel, bias) and rows of one cell."""
    order = KERAS_GATE_ORDER[spec.mode]
    stacked = len(order) * spec.hidden_size
    cell = keras_unit_name(spec, layer, direction)
    kernel, recurrent, bias = f"{cell}.kernel", f"{cell}.recurrent_kernel", f"{cell}.bias"
    shapes: dict[str, tuple[int, ...]] = {kernel: (spec.layer_input_size(layer), stacked),
                                         recurrent: (spec.state_size, stacked)}
    rows = stacked_gate_rows(spec, kernel, layer, direction, "w_ih", order, gate_axis=1, transpose=True)
    rows += stacked_gate_rows(spec, recurrent, layer, direction, "w_hh", order, gate_axis=1, transpose=True)
    if spec.bias and spec.mode == "gru" and spec.gru_variant == "reset_after":
        shapes[bias] = (2, stacked)  # row 0: input bias, row 1: recurrent bias
        rows += stacked_gate_rows(spec, bias, layer, direction, "b_ih", order, leading=(0,))
        rows += stacked_gate_rows(spec, bias, layer, direction, "b_hh", order, leading=(1,))
    elif spec.bias:
        shapes[bias] = (stacked,)
        rows += stacked_gate_rows(spec, bias, layer, direction, "b_ih", order, also="b_hh")
    return shapes, rows


@dataclass
class KerasLayers:
    """What the adapter builds: one RNN over stacked cells, or one Bidirectional per level."""

    spec: RNNSpec
    layers: list[Any]

    def cells(self) -> list[Any]:
        """Cells in canonical unit order (l0.fwd, l0.bwd, l1.fwd, ...), i.e. get_weights order."""
        if self.spec.bidirectional:
            return [cell for level in self.layers for cell in (level.forward_layer.cell, level.backward_layer.cell)]
        cell = self.layers[0].cell
        return list(cell.cells) if self.spec.num_layers > 1 else [cell]

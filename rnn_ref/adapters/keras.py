"""Keras 3 (TensorFlow backend): cells in ``StackedRNNCells`` and ``Bidirectional`` (engine ``keras``).

The faithful Keras forms of a stacked layer:

* unidirectional: ``keras.layers.RNN(StackedRNNCells([cell_0, ..., cell_{L-1}]),
  return_sequences=True, return_state=True)``, and ``RNN(cell_0)`` for one layer (Keras
  3.15's ``StackedRNNCells`` of a single cell fails under a mask with a nested-structure
  error; tests/test_keras_conventions.py keeps that as a strict xfail);
* bidirectional: one ``Bidirectional(RNN(cell, return_sequences=True, return_state=True))``
  per level, level k+1 reading level k's concatenated output (what ``Bidirectional`` of a
  stacked cell would *not* do: it would run a whole forward stack and a whole backward stack).

Conventions, each visible in the mapping rows:

* Kernels are (input, gates·H) and recurrent kernels (R, gates·H): the transpose of
  torch's, gates stacked along columns.
* Gate order: LSTM ``i f c o`` (Keras's ``c`` is the canonical ``g``); GRU ``z r h``
  (``h`` is the canonical ``n``), i.e. update gate first.
* One bias of (gates·H,): imported as ``b_ih = bias, b_hh = 0``, exported as ``b_ih + b_hh``.
  GRU ``reset_after=True`` keeps two: bias (2, 3H), row 0 the input bias, row 1 the
  recurrent bias, which map exactly. GRU ``reset_after=False`` is the canonical reset_before
  (Keras is the only one of the three frameworks that has it); its one bias is b_in + b_hn.
* No LSTM projection. Batch-major only: TNC cases are transposed at the boundary.
* ``LSTMCell(unit_forget_bias=True)`` (the default) initialises the forget bias to 1.0; the
  adapter overwrites every weight, so it does not matter here, but it does in a fresh model.
* Initial states: per cell ``[[h, c], ...]`` for StackedRNNCells; forward then backward,
  flat, ``[h_f, c_f, h_b, c_b]`` for Bidirectional.
* Per-sample lengths go in as a boolean mask (N, T). Padded steps: a plain masked ``RNN``
  repeats the last valid output; ``Bidirectional`` writes zeros. Final states are those
  after the last valid step (forward) and after step 0 (backward) in both forms.
* float64 needs ``dtype="float64"`` on every cell, on StackedRNNCells, on RNN and on
  Bidirectional; a cell alone in float64 gets float32 outputs from its wrapper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref.adapters.base import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.cases import Case
from rnn_ref.gradients import Cotangents, EngineGradients
from rnn_ref.mapping import MappingRow, WeightMapping, build_mapping, stacked_gate_rows
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput
from rnn_ref.spec import RNNSpec

#: Keras's gate stacking order, in canonical gate names (Keras names: LSTM i f c o, GRU z r h).
KERAS_GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n")}
KERAS_GATE_NAMES = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "c", "o"), "gru": ("z", "r", "h")}

NO_PROJECTION = "Keras LSTMCell has no projection (proj_size); no Keras RNN layer projects h"


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
    shapes = {kernel: (spec.layer_input_size(layer), stacked), recurrent: (spec.state_size, stacked)}
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


def quiet_import_keras() -> Any:
    """Import Keras with TensorFlow's start-up and retracing chatter silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return keras


class KerasAdapter(Adapter):
    """Keras 3 ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell`` in their standard containers."""

    name = "keras"
    limits = (NO_PROJECTION,)

    def version(self) -> str:
        keras = quiet_import_keras()
        import tensorflow as tf

        return f"keras {keras.__version__}, tensorflow {tf.__version__}"

    def unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        return NO_PROJECTION if spec.proj_size else None

    def case_label(self, case: Case) -> str:
        return case.id.replace("-TNC", "-TNC-transposed") if case.spec.layout == "TNC" else case.id

    def padded_steps(self, spec: RNNSpec) -> str:
        return PADDED_ZEROS if spec.bidirectional else PADDED_REPEAT_LAST

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return build_mapping(self.name, spec, lambda layer, direction: keras_unit_rows(spec, layer, direction))

    def make_cell(self, spec: RNNSpec, dtype: str) -> Any:
        keras = quiet_import_keras()
        common = dict(units=spec.hidden_size, use_bias=spec.bias, dtype=dtype)
        if spec.mode == "lstm":
            return keras.layers.LSTMCell(**common)
        if spec.mode == "gru":
            return keras.layers.GRUCell(reset_after=spec.gru_variant == "reset_after", **common)
        return keras.layers.SimpleRNNCell(activation=spec.mode.removeprefix("rnn_"), **common)

    def build(self, spec: RNNSpec, params: Params) -> KerasLayers:
        keras = quiet_import_keras()
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        dtype = str(params.dtype)
        options = dict(return_sequences=True, return_state=True, dtype=dtype)
        if spec.bidirectional:
            layers = []
            for layer in range(spec.num_layers):
                rnn = keras.layers.RNN(self.make_cell(spec, dtype), **options)
                level = keras.layers.Bidirectional(rnn, dtype=dtype)
                level.build((None, None, spec.layer_input_size(layer)))
                layers.append(level)
        else:
            cells = [self.make_cell(spec, dtype) for _ in range(spec.num_layers)]
            cell = keras.layers.StackedRNNCells(cells, dtype=dtype) if spec.num_layers > 1 else cells[0]
            rnn = keras.layers.RNN(cell, **options)
            rnn.build((None, None, spec.input_size))
            layers = [rnn]
        built = KerasLayers(spec, layers)
        arrays = list(self.mapping(spec).to_native(params).values())
        for cell in built.cells():
            count = len(cell.weights)
            cell.set_weights(arrays[:count])
            arrays = arrays[count:]
        return built

    def model(self, spec: RNNSpec, layer: KerasLayers) -> Any:
        """The standard Keras model around the built layers (what ``.weights.h5`` files hold)."""
        keras = quiet_import_keras()
        inputs = keras.Input((None, spec.input_size), dtype=layer.cells()[0].dtype)
        features = inputs
        for level in layer.layers:
            features = level(features)[0]
        return keras.Model(inputs, features)

    def native_arrays(self, spec: RNNSpec, layer: KerasLayers) -> dict[str, np.ndarray]:
        names = list(self.mapping(spec).native_shapes)
        values = [np.asarray(w) for cell in layer.cells() for w in cell.get_weights()]
        return dict(zip(names, values, strict=True))

    def run(self, spec, layer: KerasLayers, x, initial_state=None, lengths=None) -> RNNOutput:
        keras = quiet_import_keras()
        to_numpy = keras.ops.convert_to_numpy
        seq = x if spec.layout == "NTC" else x.transpose(1, 0, 2)  # Keras is batch-major only
        states = None if initial_state is None else [s for s in initial_state if s is not None]
        output, h_n, c_n = self.forward_tensors(spec, layer, seq, states, lengths)
        output = to_numpy(output)
        return RNNOutput(
            np.ascontiguousarray(output if spec.layout == "NTC" else output.transpose(1, 0, 2)),
            to_numpy(h_n),
            to_numpy(c_n) if spec.has_cell_state else None,
        )

    def forward_tensors(self, spec: RNNSpec, layer: KerasLayers, seq: Any, states: list | None,
                        lengths: np.ndarray | None) -> tuple[Any, Any, Any]:
        """The built layers on batch-major ``seq`` (N, T, I): (output (N, T, D·R), h_n, c_n or None),
        as backend tensors. ``states``: None or [h0] / [h0, c0], each (L·D, N, ·), arrays or tensors."""
        keras = quiet_import_keras()
        steps = seq.shape[1]
        mask = None if lengths is None else np.arange(steps)[None, :] < np.asarray(lengths)[:, None]

        def state_of(unit: int) -> list[Any]:
            return [state[unit] for state in states]

        finals: list[list[Any]] = []  # per unit: [h] or [h, c]
        if spec.bidirectional:
            per_state = 2 if spec.has_cell_state else 1
            for level_index, level in enumerate(layer.layers):
                given = None
                if states is not None:
                    given = state_of(2 * level_index) + state_of(2 * level_index + 1)  # forward, then backward
                result = level(seq, initial_state=given, mask=mask)
                seq, level_states = result[0], list(result[1:])
                finals += [level_states[:per_state], level_states[per_state:]]
        else:
            given = None
            if states is not None:  # one cell: [h, c]; a stack: per cell [[h, c], ...]
                given = [state_of(unit) for unit in range(spec.num_layers)]
                given = given[0] if spec.num_layers == 1 else given
            result = layer.layers[0](seq, initial_state=given, mask=mask)
            seq, cell_states = result[0], list(result[1:])
            finals = [cell_states] if spec.num_layers == 1 else [list(per_cell) for per_cell in cell_states]
        h_n = keras.ops.stack([unit_states[0] for unit_states in finals])
        c_n = keras.ops.stack([unit_states[1] for unit_states in finals]) if spec.has_cell_state else None
        return seq, h_n, c_n

    def run_gradients(self, spec, layer: KerasLayers, x, initial_state, lengths,
                      cotangents: Cotangents) -> EngineGradients:
        """tf.GradientTape around the layers; x and the given states are watched constants, the
        weights are the cells' variables (in get_weights order, i.e. the native names' order)."""
        quiet_import_keras()
        import tensorflow as tf

        def batch_major(array: np.ndarray) -> np.ndarray:
            return array if spec.layout == "NTC" else array.transpose(1, 0, 2)

        seq = tf.constant(np.ascontiguousarray(batch_major(x)))
        states = [] if initial_state is None else [tf.constant(s) for s in initial_state if s is not None]
        variables = [w for cell in layer.cells() for w in cell.weights]
        with tf.GradientTape() as tape:
            tape.watch([seq, *states])
            output, h_n, c_n = self.forward_tensors(spec, layer, seq, states or None, lengths)
        targets = [output, h_n] + ([c_n] if spec.has_cell_state else [])
        given = [batch_major(cotangents.output), cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])
        given = [tf.constant(np.ascontiguousarray(g)) for g in given]
        grads = tape.gradient(targets, [seq, *states, *variables], output_gradients=given,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        dx, *rest = [np.asarray(g) for g in grads]
        d_states, d_weights = rest[:len(states)], rest[len(states):]
        names = list(self.mapping(spec).native_shapes)
        return EngineGradients(
            x=np.ascontiguousarray(batch_major(dx)),
            h0=d_states[0] if states else None,
            c0=d_states[1] if len(states) > 1 else None,
            native=dict(zip(names, d_weights, strict=True)),
        )

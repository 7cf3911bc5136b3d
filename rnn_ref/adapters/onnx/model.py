"""The ONNX model of a layer, built from canonical params through mapping rows.

Shared by the engines ``onnx`` (onnxruntime), ``onnx-reference`` (``onnx.reference``) and
``onnx2torch``, and by ``rnn-ref convert`` for ``.onnx`` files. ONNX keeps, per layer and for
both directions at once (D = 1 or 2, direction index 0 forward, 1 backward):

* ``W`` (D, G·H, I_l) input weights and ``R`` (D, G·H, H) recurrent weights, gates stacked
  along rows: LSTM ``i o f c`` (``c`` is the canonical ``g``), GRU ``z r h`` (``h`` is the
  canonical ``n``), RNN one block;
* ``B`` (D, 2·G·H) = ``[Wb, Rb]``: the input biases of every gate, then the recurrent ones —
  two biases, like the canonical form; without biases the input is left out (zeros);
* ``P`` (D, 3·H), LSTM peepholes only: ``[p_i, p_o, p_f]`` — ONNX's order ``i o f``, not the
  canonical ``i f o`` (the canonical ``w_peep.{i,f,o}``).

The model holds them as initializers ``l{k}.W``, ``l{k}.R``, ``l{k}.B``, ``l{k}.P`` (the native
names of the mapping rows, and the keys of an ONNX ``.npz`` weight file). One
``RNN``/``LSTM``/``GRU`` node per layer, ``direction="bidirectional"`` for two directions and
``"reverse"`` for a reverse layer (its one direction, the canonical ``bwd``, is index 0 of W, R,
B and P), ``linear_before_reset`` 1 for reset_after and 0 for reset_before. The options are the
node's attributes (``node_attributes``): ``activations`` (ONNX's own names, listed once per
direction; ``Relu`` for rnn_relu), ``activation_alpha`` / ``activation_beta`` in ONNX's
consumption rule — one value for each listed activation that takes the parameter, in order, none
for the others (what onnxruntime 1.32 reads, measured: a value listed for an activation without
the parameter would be given to the next one), always written out, never left to defaults
(onnxruntime's defaults for ``Affine``, ``ThresholdedRelu`` and ``ScaledTanh`` are 0, not ONNX's);
``clip``; ``input_forget=1``. Those numbers are FLOAT attributes, so a model holds them in
float32 whatever its dtype (a float64 layer's alpha 0.1 runs as float32(0.1)). ONNX has no merge
of the two directions (``merge_mode``). ``layout`` is 0 (an NTC input is transposed at the
model's boundary) unless the engine runs ``layout=1`` nodes (then an NTC layer's nodes run
batch-major). Its interface is canonical:

* inputs ``X`` (T, N, I) or (N, T, I); optional ``sequence_lens`` (N,) int32; optional
  ``initial_h`` (L·D, N, H) and ``initial_c`` (L·D, N, H), sliced per layer (and transposed to
  ONNX's (N, D, H) when layout is 1);
* outputs ``Y`` (T, N, D·H) or (N, T, D·H), ``Y_h`` and ``Y_c`` (L·D, N, H).

ONNX has no LSTM projection. onnx is imported lazily: the rows need NumPy alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_ref.core.activations import KINDS
from rnn_ref.core.mapping import MappingRow, WeightMapping, build_mapping, stacked_gate_rows
from rnn_ref.core.params import Params, unit_prefix
from rnn_ref.core.spec import RNNSpec

#: ONNX's gate stacking order, in canonical gate names (ONNX names: LSTM i o f c, GRU z r h).
ONNX_GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "o", "f", "g"), "gru": ("z", "r", "n")}
#: ONNX's order of the peepholes in P (the canonical order is i f o).
ONNX_PEEPHOLE_ORDER = ("i", "o", "f")
OP_TYPES = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}

#: The opset the models are written in: ``layout`` needs 14; onnxruntime, onnx.reference and
#: onnx2torch all run it. IR version 8 is the one that goes with opset 14.
OPSET = 14
IR_VERSION = 8

NO_PROJECTION = "ONNX LSTM has no projection (proj_size): no W_proj input or attribute"
NO_MERGE = ("ONNX's RNN, LSTM and GRU have no merge of the two directions (merge_mode): a bidirectional node's Y "
            "holds both directions apart, (T, 2, N, H), and the next layer reads both")


def native_names(layer: int) -> tuple[str, str, str]:
    """The initializer names of one layer: ``('l0.W', 'l0.R', 'l0.B')``."""
    return f"l{layer}.W", f"l{layer}.R", f"l{layer}.B"


def peephole_name(layer: int) -> str:
    """The initializer name of one layer's peepholes: ``'l0.P'``."""
    return f"l{layer}.P"


def onnx_unit_rows(spec: RNNSpec, layer: int, direction: str) -> tuple[dict, list[MappingRow]]:
    """Native shapes and rows of one (layer, direction): index ``d`` of the layer's W, R, B (and P):
    0 for the first of ``spec.directions`` (forward, or a reverse layer's one), 1 for the backward."""
    order = ONNX_GATE_ORDER[spec.mode]
    hidden, gates = spec.hidden_size, len(order)
    d = spec.directions.index(direction)
    w, r, b = native_names(layer)
    shapes: dict[str, tuple[int, ...]] = {w: (spec.num_directions, gates * hidden, spec.layer_input_size(layer)),
              r: (spec.num_directions, gates * hidden, spec.state_size)}
    rows = stacked_gate_rows(spec, w, layer, direction, "w_ih", order, leading=(d,))
    rows += stacked_gate_rows(spec, r, layer, direction, "w_hh", order, leading=(d,))
    if spec.bias:
        shapes[b] = (spec.num_directions, 2 * gates * hidden)
        prefix = unit_prefix(layer, direction)
        for half, kind in enumerate(("b_ih", "b_hh")):  # B = [Wb, Rb]
            for position, gate in enumerate(order):
                start = (half * gates + position) * hidden
                rows.append(MappingRow(b, (d, slice(start, start + hidden)), (f"{prefix}.{kind}.{gate}",)))
    if spec.peepholes:
        p = peephole_name(layer)
        shapes[p] = (spec.num_directions, len(ONNX_PEEPHOLE_ORDER) * hidden)
        rows += stacked_gate_rows(spec, p, layer, direction, "w_peep", ONNX_PEEPHOLE_ORDER, ndim=1, leading=(d,))
    return shapes, rows


def onnx_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """The rows of the ONNX model of ``spec`` (``engine`` names whose rows they are)."""
    return build_mapping(engine, spec, lambda layer, direction: onnx_unit_rows(spec, layer, direction))


def node_direction(spec: RNNSpec) -> str:
    """ONNX's ``direction`` of the layer's nodes."""
    return "bidirectional" if spec.bidirectional else "reverse" if spec.reverse else "forward"


def activation_attributes(spec: RNNSpec) -> dict[str, list]:
    """``activations``, ``activation_alpha``, ``activation_beta`` of the nodes ({} for the default ones).

    ONNX's consumption rule (onnxruntime 1.32, measured): the activations are listed once per
    direction; each alpha (beta) value goes to the next listed activation that takes an alpha
    (beta), so only those get one. Every parameter is written, defaults included (onnxruntime's
    own defaults differ from ONNX's for Affine, ThresholdedRelu and ScaledTanh).
    """
    if spec.activations is None and spec.mode != "rnn_relu":
        return {}
    acts = spec.resolved_activations * spec.num_directions
    attributes: dict[str, list] = {"activations": [act.name for act in acts]}
    for name, parameter in (("activation_alpha", "alpha"), ("activation_beta", "beta")):
        values = [float(getattr(act, parameter)) for act in acts if getattr(KINDS[act.name], parameter) is not None]
        if values:
            attributes[name] = values
    return attributes


def node_attributes(spec: RNNSpec, node_layout: int = 0) -> dict[str, Any]:
    """The attributes of one layer's node (the same for every layer)."""
    attributes: dict[str, Any] = {"hidden_size": spec.hidden_size, "direction": node_direction(spec)}
    if node_layout:
        attributes["layout"] = node_layout
    attributes |= activation_attributes(spec)
    if spec.clip is not None:
        attributes["clip"] = spec.clip
    if spec.input_forget:
        attributes["input_forget"] = 1
    if spec.mode == "gru":
        attributes["linear_before_reset"] = int(spec.gru_variant == "reset_after")
    return attributes


@dataclass(frozen=True)
class Interface:
    """Which optional graph inputs a model has (the outputs are always Y, Y_h and, for LSTM, Y_c)."""

    initial_state: bool = False
    lengths: bool = False


def build_model(spec: RNNSpec, native: dict[str, np.ndarray], interface: Interface = Interface(),
                node_layout: int = 0) -> Any:
    """An ``onnx.ModelProto`` of ``spec`` holding the ``native`` arrays as initializers.

    ``native`` is what ``onnx_mapping(...).to_native(params)`` returns (float32 or float64).
    ``node_layout`` 1 (NTC only) runs the nodes batch-major; 0 (the default, the only one
    onnxruntime's CPU kernels accept) transposes an NTC input to TNC and the output back.
    The model passes ``onnx.checker.check_model(model, full_check=True)``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if spec.proj_size:
        raise ValueError(NO_PROJECTION)
    if spec.merge_mode != "concat":
        raise ValueError(NO_MERGE)
    dtype = np.dtype(next(iter(native.values())).dtype)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[dtype]
    units, D, H = spec.num_layers * spec.num_directions, spec.num_directions, spec.hidden_size
    if node_layout and spec.layout != "NTC":
        raise ValueError("node_layout=1 is for NTC layers")
    batch_major = node_layout == 1
    seq_dims = ["N", "T"] if spec.layout == "NTC" else ["T", "N"]
    inputs = [helper.make_tensor_value_info("X", elem, [*seq_dims, spec.input_size])]
    if interface.lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]))
    state_names = ["initial_h", "initial_c"] if spec.has_cell_state else ["initial_h"]
    if interface.initial_state:
        inputs += [helper.make_tensor_value_info(name, elem, [units, "N", H]) for name in state_names]
    outputs = [helper.make_tensor_value_info("Y", elem, [*seq_dims, D * H]),
               helper.make_tensor_value_info("Y_h", elem, [units, "N", H])]
    if spec.has_cell_state:
        outputs.append(helper.make_tensor_value_info("Y_c", elem, [units, "N", H]))

    initializers = [numpy_helper.from_array(np.ascontiguousarray(array), name) for name, array in native.items()]
    constants = {"flatten": np.array([0, 0, -1], np.int64), "axes0": np.array([0], np.int64)}
    nodes = []
    finals: dict[str, list[str]] = {"h": [], "c": []}
    x = "X"
    if spec.layout == "NTC" and not batch_major:
        nodes.append(helper.make_node("Transpose", ["X"], ["X.TNC"], perm=[1, 0, 2]))
        x = "X.TNC"
    for layer in range(spec.num_layers):
        w, r, b = native_names(layer)
        states = []
        for kind, name in zip("hc", state_names, strict=False):
            if not interface.initial_state:
                states.append("")
                continue
            starts, ends = f"l{layer}.start", f"l{layer}.end"
            constants[starts], constants[ends] = np.array([layer * D], np.int64), np.array([(layer + 1) * D], np.int64)
            sliced = f"l{layer}.initial_{kind}"
            nodes.append(helper.make_node("Slice", [name, starts, ends, "axes0"], [sliced + ".DNH" * batch_major]))
            if batch_major:  # ONNX layout 1 takes states as (N, D, H)
                nodes.append(helper.make_node("Transpose", [sliced + ".DNH"], [sliced], perm=[1, 0, 2]))
            states.append(sliced)
        node_inputs = [x, w, r, b if spec.bias else "", "sequence_lens" if interface.lengths else "", *states]
        if spec.peepholes:  # P is input 7, after initial_h and initial_c
            node_inputs += [""] * (7 - len(node_inputs)) + [peephole_name(layer)]
        node_outputs = [f"l{layer}.Y", f"l{layer}.Y_h"] + ([f"l{layer}.Y_c"] if spec.has_cell_state else [])
        while node_inputs[-1] == "":
            node_inputs.pop()
        nodes.append(helper.make_node(OP_TYPES[spec.mode], node_inputs, node_outputs, name=f"l{layer}",
                                      **node_attributes(spec, node_layout)))
        # Y is (T, D, N, H) for layout 0 and (N, T, D, H) for layout 1: to (..., D·H), forward first.
        y = f"l{layer}.Y"
        if not batch_major:
            nodes.append(helper.make_node("Transpose", [y], [y + ".TNDH"], perm=[0, 2, 1, 3]))
            y += ".TNDH"
        last = layer == spec.num_layers - 1
        x = "Y" if last and (batch_major or spec.layout == "TNC") else f"l{layer}.output"
        nodes.append(helper.make_node("Reshape", [y, "flatten"], [x]))
        if last and x != "Y":  # back to NTC
            nodes.append(helper.make_node("Transpose", [x], ["Y"], perm=[1, 0, 2]))
        for kind, output in zip("hc", node_outputs[1:], strict=False):
            if batch_major:  # (N, D, H) -> (D, N, H)
                nodes.append(helper.make_node("Transpose", [output], [output + ".DNH"], perm=[1, 0, 2]))
                output += ".DNH"
            finals[kind].append(output)
    for kind, name in (("h", "Y_h"), ("c", "Y_c")):
        if finals[kind]:
            nodes.append(helper.make_node("Concat", finals[kind], [name], axis=0))
    initializers += [numpy_helper.from_array(value, name) for name, value in constants.items()]
    graph = helper.make_graph(nodes, f"rnn_ref_{spec.mode}", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="rnn_ref", ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model


def initializer_arrays(model: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The named initializers of ``model`` as NumPy arrays (read back through protobuf)."""
    from onnx import numpy_helper

    found = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer if init.name in names}
    return {name: found[name] for name in names}


def feeds(spec: RNNSpec, x: np.ndarray, initial_state: Any, lengths: np.ndarray | None) -> dict[str, np.ndarray]:
    """The input dict of a model built with the matching ``Interface``."""
    inputs = {"X": np.ascontiguousarray(x)}
    if lengths is not None:
        inputs["sequence_lens"] = np.asarray(lengths, dtype=np.int32)
    if initial_state is not None:
        inputs["initial_h"] = np.ascontiguousarray(initial_state.h)
        if spec.has_cell_state:
            inputs["initial_c"] = np.ascontiguousarray(initial_state.c)
    return inputs


@dataclass
class OnnxLayer:
    """What the ONNX-model engines build: the spec, the native arrays and one model per interface."""

    spec: RNNSpec
    native: dict[str, np.ndarray]
    node_layout: int = 0
    models: dict[Interface, Any] = field(default_factory=dict)
    runners: dict[Interface, Any] = field(default_factory=dict)

    def model(self, interface: Interface = Interface()) -> Any:
        if interface not in self.models:
            self.models[interface] = build_model(self.spec, self.native, interface, self.node_layout)
        return self.models[interface]


def build_layer(mapping: WeightMapping, spec: RNNSpec, params: Params, node_layout: int = 0) -> OnnxLayer:
    """The ONNX layer of ``params`` (its default model, without optional inputs, built and checked)."""
    layer = OnnxLayer(spec, mapping.to_native(params), node_layout)
    layer.model()
    return layer

"""``.onnx`` weight files for ``rnn-ref convert``: read the recurrent nodes' initializers, write a model.

Reading parses the protobuf (``onnx.load`` without external data) and looks at the graph; it
runs nothing from the file. A readable model holds one chain of ``RNN``/``LSTM``/``GRU``
nodes — node k+1 reads (through reshaping) what node k wrote — of one op type, with
``W``, ``R`` and (optionally) ``B`` stored as initializers, and around them only the ops
that move data (``GLUE_OPS``: transposes, reshapes, slices, concatenations, shapes, casts,
constants). Anything else is refused by name: other ops, several chains, a ``reverse``
direction, peepholes, ``clip``, ``input_forget``, activations other than the mode's own,
weights computed in the graph or stored as external data. The nodes' ``W``, ``R``, ``B``
come back as ``l{k}.W``, ``l{k}.R``, ``l{k}.B`` (k = position in the chain), the native
names of the ``onnx`` engine's mapping rows and the keys of an ONNX ``.npz`` weight file.

Writing builds the model of ``rnn_ref/adapters/onnx_model.py`` (``X`` -> ``Y``, ``Y_h``,
``Y_c``; no optional inputs) for the params, checked by ``onnx.checker`` with
``full_check=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx_model import build_model, native_names, onnx_mapping
from rnn_ref.errors import ParamsError
from rnn_ref.params import Params
from rnn_ref.spec import RNNSpec

#: Engines whose native weights are the ONNX model's W, R, B (they read and write .onnx files).
ONNX_FILE_ENGINES = ("onnx", "onnx-reference")

#: Ops that only move, reshape or describe data: allowed around the recurrent nodes.
GLUE_OPS = frozenset({"Transpose", "Reshape", "Slice", "Concat", "Squeeze", "Unsqueeze", "Identity", "Constant",
                      "Shape", "Gather", "Cast", "Expand", "ConstantOfShape"})
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


@dataclass(frozen=True)
class OnnxLayer:
    """What an ONNX file's chain of recurrent nodes describes."""

    mode: str
    gru_variant: str | None
    num_layers: int
    bidirectional: bool
    bias: bool
    arrays: dict[str, np.ndarray]


def load_model(path: Path) -> Any:
    """The ModelProto of ``path``: protobuf parsing only, external data never followed."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError, RuntimeError) as error:
        raise ParamsError(f"{path}: not a readable ONNX model ({type(error).__name__}: {error})") from error
    if not model.graph.node:
        raise ParamsError(f"{path}: not an ONNX model with a graph (no nodes)")
    return model


def attributes_of(node: Any) -> dict[str, Any]:
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else [x.decode() if isinstance(x, bytes) else x for x in v]
            if isinstance(v, list) else v for k, v in values.items()}


def recurrent_ancestors(model: Any, recurrent: list[Any]) -> dict[str, frozenset[int]]:
    """For every tensor, the indices (in ``recurrent``) of the recurrent nodes it depends on."""
    index = {id(node): k for k, node in enumerate(recurrent)}
    found: dict[str, frozenset[int]] = {}
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        depends = frozenset().union(*(found.get(name, frozenset()) for name in node.input))
        if id(node) in index:
            depends |= {index[id(node)]}
        for name in node.output:
            found[name] = depends
    return found


def describe(node: Any) -> str:
    return f"{node.op_type} {node.name!r}" if node.name else node.op_type


def check_graph(path: Path, model: Any) -> list[Any]:
    """The recurrent nodes, in chain order; refuses unknown ops and anything but one chain."""
    standard = [n for n in model.graph.node if n.domain in ("", "ai.onnx")]
    recurrent = [n for n in standard if n.op_type in ("RNN", "LSTM", "GRU")]
    unknown = [describe(n) for n in model.graph.node
               if n.op_type not in ("RNN", "LSTM", "GRU", *GLUE_OPS) or n.domain not in ("", "ai.onnx")]
    if unknown:
        raise ParamsError(f"{path}: nodes other than one chain of RNN/LSTM/GRU layers: {', '.join(unknown)} "
                          f"(rnn-ref reads models whose other nodes only move data: {', '.join(sorted(GLUE_OPS))})")
    if not recurrent:
        raise ParamsError(f"{path}: no RNN, LSTM or GRU node")
    kinds = sorted({n.op_type for n in recurrent})
    if len(kinds) > 1:
        raise ParamsError(f"{path}: mixes {' and '.join(kinds)} nodes; rnn-ref reads one kind of layer")
    ancestors = recurrent_ancestors(model, recurrent)
    for k, node in enumerate(recurrent):
        feeding = ancestors.get(node.input[0], frozenset())
        if feeding != frozenset(range(k)):
            earlier = ", ".join(describe(recurrent[j]) for j in sorted(feeding)) or "no recurrent node"
            raise ParamsError(f"{path}: more than one chain of recurrent layers: {describe(node)} reads the output "
                              f"of {earlier}, not of every layer before it (one stack of layers is expected)")
    return recurrent


def initializer(path: Path, model: Any, node: Any, position: int, what: str) -> np.ndarray | None:
    """Input ``position`` of ``node`` as an array (None when the input is absent)."""
    from onnx import TensorProto, numpy_helper

    if len(node.input) <= position or not node.input[position]:
        return None
    name = node.input[position]
    stored = [t for t in model.graph.initializer if t.name == name]
    if not stored:
        raise ParamsError(f"{path}: {what} of {describe(node)} ({name!r}) is not stored as an initializer "
                          "(a graph input or a computed tensor); rnn-ref reads stored weights only")
    if stored[0].data_location == TensorProto.EXTERNAL:
        raise ParamsError(f"{path}: {what} of {describe(node)} is stored as external data, which is not read")
    return numpy_helper.to_array(stored[0])


def mode_of(path: Path, node: Any, attributes: dict[str, Any], directions: int) -> str:
    """The canonical mode of one node, refusing what the canonical form cannot hold."""
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attributes:
            raise ParamsError(f"{path}: {describe(node)} sets {name}, which has no canonical form")
    if attributes.get("input_forget", 0):
        raise ParamsError(f"{path}: {describe(node)} sets input_forget=1 (coupled input and forget gates), "
                          "which has no canonical form")
    activations = attributes.get("activations")
    if node.op_type == "RNN":
        names = {a.lower() for a in (activations or ["Tanh"])}
        if names not in ({"tanh"}, {"relu"}):
            raise ParamsError(f"{path}: {describe(node)} has activations {activations}; only Tanh or Relu")
        return "rnn_" + names.pop()
    if activations is not None and [a.lower() for a in activations] != \
            [a.lower() for a in DEFAULT_ACTIVATIONS[node.op_type]] * directions:
        raise ParamsError(f"{path}: {describe(node)} has activations {activations}; only the defaults "
                          f"{DEFAULT_ACTIVATIONS[node.op_type]} have a canonical form")
    return node.op_type.lower()


def read_layer(path: Path) -> OnnxLayer:
    """The layer an ONNX file's recurrent chain describes, with its W, R, B by native name."""
    return layer_of_model(path, load_model(path))


def layer_of_model(path: Path | str, model: Any) -> OnnxLayer:
    """The layer a parsed model's recurrent chain describes (``path`` only names it in messages)."""
    recurrent = check_graph(path, model)
    arrays: dict[str, np.ndarray] = {}
    described = []
    for k, node in enumerate(recurrent):
        attributes = attributes_of(node)
        direction = attributes.get("direction", "forward")
        if direction not in ("forward", "bidirectional"):
            raise ParamsError(f"{path}: {describe(node)} has direction={direction!r}; a layer that only runs "
                              "backward has no canonical form (forward or bidirectional)")
        directions = 2 if direction == "bidirectional" else 1
        mode = mode_of(path, node, attributes, directions)
        variant = None
        if mode == "gru":
            variant = "reset_after" if attributes.get("linear_before_reset", 0) else "reset_before"
        if node.op_type == "LSTM":
            peepholes = initializer(path, model, node, 7, "P") if len(node.input) > 7 and node.input[7] else None
            if peepholes is not None and np.any(peepholes):
                raise ParamsError(f"{path}: {describe(node)} has peephole weights P, which have no canonical form")
        w, r, b = native_names(k)
        arrays[w] = initializer(path, model, node, 1, "W")
        arrays[r] = initializer(path, model, node, 2, "R")
        bias = initializer(path, model, node, 3, "B")
        if bias is not None:
            arrays[b] = bias
        described.append((mode, variant, directions, bias is not None))
    if len(set(described)) > 1:
        raise ParamsError(f"{path}: the recurrent nodes differ (mode, GRU variant, directions, bias): {described}")
    mode, variant, directions, bias = described[0]
    return OnnxLayer(mode, variant, len(recurrent), directions == 2, bias, arrays)


def read_onnx_weights(path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
    """``l{k}.W/R/B`` of an ONNX file; with ``spec``, the file's layer must be the one declared
    (mode, GRU variant, layers, directions, bias: sizes are read off the arrays)."""
    layer = read_layer(Path(path))
    if spec is not None:
        found = {"mode": layer.mode, "gru_variant": layer.gru_variant, "num_layers": layer.num_layers,
                 "bidirectional": layer.bidirectional, "bias": layer.bias}
        wrong = [f"{name} is {value!r} in the file, {getattr(spec, name)!r} as declared"
                 for name, value in found.items() if getattr(spec, name) != value]
        if wrong:
            raise ParamsError(f"{path}: the ONNX layer is not the one declared: {'; '.join(wrong)} "
                              "(check --mode, --gru-variant, --layers, --bidirectional and --no-bias)")
    return layer.arrays


def write_onnx_model(target: str, params: Params) -> None:
    """Write the ONNX model of ``params`` (W, R, B per layer as initializers) to ``target``."""
    spec = params.spec
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params))
    Path(target).write_bytes(model.SerializeToString())


"""``.onnx`` weight files for ``rnn-ref convert``: read the recurrent nodes' initializers, write a model.

Reading parses the protobuf (at most ``MAX_ONNX_BYTES``, without external data) and looks at
the graph; it runs nothing from the file. A readable model holds one chain of
``RNN``/``LSTM``/``GRU`` nodes of one op type, with ``W``, ``R`` and (optionally) ``B``
stored as initializers, and around them only ops that move data (``GLUE_OPS``). Reading
refuses, by name, what the canonical layer cannot hold:

* other ops, several chains, nodes that differ in their options, options the canonical layer
  cannot hold (``options.py``: the two directions with different activations, activation
  parameters no activation takes), a ``hidden_size`` that is not R's, weights computed in the
  graph, stored as external data, or whose declared shape and type are not what the tensor
  holds;
* (``read_layer``, for files) anything that makes the graph compute something other than
  the stack: stored or fed sequence lengths and initial states (stored zeros excepted),
  glue that permutes, drops or mixes values, graph inputs other than X, graph outputs
  other than the layer's output, h_n and c_n. ``rnn_ref/adapters/onnx/glue.py`` proves the glue is
  the identity by following element ids through it.

The nodes' options (``activations`` with their ``activation_alpha``/``activation_beta``,
``clip``, ``input_forget``, ``direction="reverse"``) are read by ``options.py`` into the layer's
``options`` (RNNSpec fields), and peepholes are the input ``P``: a layer has them when P is
stored and not all zeros (a zero P computes the layer without them, and reads as it). The nodes'
``W``, ``R``, ``B``, ``P`` come back as ``l{k}.W``, ``l{k}.R``, ``l{k}.B``, ``l{k}.P`` (k =
position in the chain), the native names of the ``onnx`` engine's mapping rows and the keys of
an ONNX ``.npz`` weight file.

Writing builds the model of ``rnn_ref/adapters/onnx/model.py`` (``X`` -> ``Y``, ``Y_h``,
``Y_c``; no optional inputs) for the params, checked by ``onnx.checker`` with
``full_check=True``.

The protobuf messages themselves (attribute types, tensor values and shapes) are read by
``protos.py``; the format's declaration (``FORMATS``) and its ``--verify`` program are in
``formats.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.model import build_model, native_names, onnx_mapping, peephole_name
from rnn_ref.adapters.onnx.options import checked_options, option_fields
from rnn_ref.adapters.onnx.protos import (
    ATTRIBUTE_TYPES,
    FLOAT,
    FLOATS,
    INT,
    INTS,
    OP_ATTRIBUTES,
    STRING,
    TENSOR,
    TENSOR_TYPES,
    WEIGHT_TYPES,
    a_kind,
    attribute_values,
    decoded,
    describe,
    stored_tensor,
    tensor_array,
    tensor_shape,
    tensor_type_name,
)
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import MAX_LAYERS, RNNSpec

__all__ = [  # the readers of this module, and the message readers of protos.py that glue.py imports from here
    "FLOAT", "FLOATS", "INT", "INTS", "MAX_ONNX_BYTES", "ONNX_FILE_ENGINES", "TENSOR", "TENSOR_TYPES", "OnnxLayer",
    "attribute_values", "attributes_of", "cannot_run_file", "describe", "layer_of_model", "load_model", "read_file",
    "read_layer", "read_onnx_weights", "tensor_array", "tensor_type_name", "write_onnx_model",
]

#: Engines whose native weights are the ONNX model's W, R, B (they read and write .onnx files).
ONNX_FILE_ENGINES = ("onnx", "onnx-reference")

#: Ops that only move, reshape or describe data: allowed around the recurrent nodes.
GLUE_OPS = frozenset({"Transpose", "Reshape", "Slice", "Concat", "Squeeze", "Unsqueeze", "Identity", "Constant",
                      "Shape", "Gather", "Cast", "Expand", "ConstantOfShape"})
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}

#: Protobuf cannot parse a message of 2 GiB or more (a model that large keeps its weights as
#: external data, which rnn_ref does not read), so a larger file is refused before it is read.
MAX_ONNX_BYTES = 2**31 - 1
#: A graph of more nodes is refused before it is looked at; rnn_ref's own files have 4 to 6 per layer.
MAX_NODES = 100 * MAX_LAYERS


@dataclass(frozen=True)
class OnnxLayer:
    """What an ONNX file's chain of recurrent nodes describes (``layouts``: each node's ``layout``;
    ``options``: the RNNSpec option fields its nodes use, ``peepholes`` included)."""

    mode: str
    gru_variant: str | None
    num_layers: int
    bidirectional: bool
    bias: bool
    arrays: dict[str, np.ndarray]
    layouts: tuple[int, ...] = field(default=())
    options: dict[str, Any] = field(default_factory=dict)

    def spec(self, input_size: int, hidden_size: int, layout: str = "TNC") -> RNNSpec:
        """The canonical layer of these nodes, at the given sizes and layout."""
        return RNNSpec(self.mode, input_size, hidden_size, num_layers=self.num_layers,
                       bidirectional=self.bidirectional, layout=layout, bias=self.bias,
                       gru_variant=self.gru_variant, **self.options)


def load_model(path: Path, external: bool = False) -> Any:
    """The ModelProto of ``path``: at most MAX_ONNX_BYTES read, protobuf parsing only, external data never followed
    (refused, unless ``external``: then the caller checks the references, ``inspection.check_external_data``)."""
    import onnx
    from google.protobuf.message import DecodeError

    size = 0
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_ONNX_BYTES:
                raise ParamsError(f"{path}: holds {size} bytes, more than the {MAX_ONNX_BYTES} bytes protobuf can "
                                  "parse (such a model keeps its weights as external data, which rnn-ref does not "
                                  "read)")
            data = handle.read(MAX_ONNX_BYTES + 1)
    except OSError as error:
        raise ParamsError(f"{path}: could not be read ({error.strerror or error})") from None
    except MemoryError:
        raise ParamsError(f"{path}: a {size}-byte ONNX model does not fit in memory here") from None
    if len(data) > MAX_ONNX_BYTES:
        raise ParamsError(f"{path}: grew past {MAX_ONNX_BYTES} bytes while it was read")
    try:
        model = onnx.load_model_from_string(data)
    except MemoryError:
        raise ParamsError(f"{path}: a {size}-byte ONNX model does not fit in memory here") from None
    except (DecodeError, ValueError, RuntimeError) as error:
        raise ParamsError(f"{path}: not a readable ONNX model ({type(error).__name__}: {error})") from error
    if not model.graph.node:
        raise ParamsError(f"{path}: not an ONNX model with a graph (no nodes)")
    if len(model.graph.node) > MAX_NODES:
        raise ParamsError(f"{path}: has {len(model.graph.node)} nodes, more than the {MAX_NODES} rnn-ref looks at "
                          f"({MAX_LAYERS} layers of 100 nodes)")
    if not external:
        check_no_external_data(path, model)
    return model


def check_no_external_data(path: Path | str, model: Any) -> None:
    """No tensor of the graph (initializer or node attribute) points to external data; sparse ones are refused.

    The file may be run (``--verify``), and a runtime would open what external data names."""
    from onnx import TensorProto

    if model.graph.sparse_initializer:
        raise ParamsError(f"{path}: holds sparse initializers, which rnn-ref does not read")
    tensors = [(f"the initializer {t.name!r}", t) for t in model.graph.initializer]
    for node in model.graph.node:
        for attribute in node.attribute:
            tensors += [(f"the attribute {attribute.name!r} of {describe(node)}", t)
                        for t in ([attribute.t] if attribute.HasField("t") else []) + list(attribute.tensors)]
            if attribute.HasField("g") or attribute.graphs or attribute.HasField("sparse_tensor"):
                raise ParamsError(f"{path}: {describe(node)} has a graph or sparse tensor attribute "
                                  f"{attribute.name!r}, which rnn-ref does not read")
    for what, tensor in tensors:
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            raise ParamsError(f"{path}: {what} is stored as external data, which is not read")


def attributes_of(node: Any, path: Path | str = "the model") -> dict[str, Any]:
    """A recurrent node's attributes, by name; refuses unknown attributes and wrong types.

    ``direction`` comes first, so that a wrong value of any type says what the values are.
    """
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == "direction":
            value = decoded(helper.get_attribute_value(attribute))
            if attribute.type != STRING or value not in DIRECTIONS:
                kind = ATTRIBUTE_TYPES.get(attribute.type, f"type {attribute.type}")
                shown = f"={value!r}" if attribute.type in (FLOAT, INT, STRING) else ""
                raise ParamsError(f"{path}: {describe(node)} has direction{shown} ({a_kind(kind)} attribute), which "
                                  "is not one of the STRING values 'forward', 'reverse', 'bidirectional'")
    return attribute_values(path, node, OP_ATTRIBUTES[node.op_type])


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


def check_inputs_present(path: Path | str, node: Any) -> None:
    """A recurrent node has its inputs X, W and R (ONNX's required inputs 0-2) and at most its 3 outputs."""
    missing = [name for position, name in enumerate(("X", "W", "R"))
               if len(node.input) <= position or not node.input[position]]
    if missing:
        raise ParamsError(f"{path}: {describe(node)} lacks its input{'s' * (len(missing) > 1)} {', '.join(missing)} "
                          f"(ONNX {node.op_type} needs X, W and R: rnn-ref reads W and R as the layer's weights)")
    outputs = 3 if node.op_type == "LSTM" else 2
    if len(node.input) > (8 if node.op_type == "LSTM" else 6) or len(node.output) > outputs:
        raise ParamsError(f"{path}: {describe(node)} has {len(node.input)} inputs and {len(node.output)} outputs, "
                          f"more than ONNX {node.op_type} has")


def check_graph(path: Path | str, model: Any) -> list[Any]:
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
    for node in recurrent:
        check_inputs_present(path, node)
    ancestors = recurrent_ancestors(model, recurrent)
    for k, node in enumerate(recurrent):
        feeding = ancestors.get(node.input[0], frozenset())
        if feeding != frozenset(range(k)):
            earlier = ", ".join(describe(recurrent[j]) for j in sorted(feeding)) or "no recurrent node"
            raise ParamsError(f"{path}: more than one chain of recurrent layers: {describe(node)} reads the output "
                              f"of {earlier}, not of every layer before it (one stack of layers is expected)")
    return recurrent


def weight_shapes(path: Path | str, node: Any, tensors: dict[str, Any], directions: int,
                  hidden_size: int | None) -> None:
    """W (D, G·H, I), R (D, G·H, H), B (D, 2·G·H), P (D, 3·H) as declared, and hidden_size == H."""
    shapes = {what: tensor_shape(path, t, f"{what} of {describe(node)} ({t.name!r})", WEIGHT_TYPES)
              for what, t in tensors.items()}
    gates = GATES[node.op_type]
    r = shapes["R"]
    if len(r) != 3 or r[0] != directions or r[2] == 0 or r[1] != gates * r[2]:
        raise ParamsError(f"{path}: R of {describe(node)} has the shape {r}; expected (D={directions}, "
                          f"{gates}·H, H) for a {'bidirectional' if directions == 2 else 'one-direction'} "
                          f"{node.op_type}")
    hidden = r[2]
    if hidden_size is not None and hidden_size != hidden:
        raise ParamsError(f"{path}: {describe(node)} has hidden_size={hidden_size}, but its R {r} holds hidden size "
                          f"{hidden} (onnxruntime refuses such a model)")
    expected = {"W": (directions, gates * hidden, None), "B": (directions, 2 * gates * hidden),
                "P": (directions, 3 * hidden)}
    for what, shape in shapes.items():
        if what in expected and (len(shape) != len(expected[what]) or any(
                e is not None and s != e for s, e in zip(shape, expected[what], strict=True)) or 0 in shape):
            wanted = ", ".join("I" if e is None else str(e) for e in expected[what])
            raise ParamsError(f"{path}: {what} of {describe(node)} has the shape {shape}; expected ({wanted}) "
                              f"with hidden size {hidden} from R")


def layer_of_model(path: Path | str, model: Any, spec: RNNSpec | None = None) -> OnnxLayer:
    """The layer a parsed model's recurrent chain describes (``path`` only names it in messages).

    Structure, attributes and every weight's declared shape are checked (and, with ``spec``,
    compared with the declared layer) before any weight's data is decoded.
    """
    recurrent = check_graph(path, model)
    described, tensors, layouts = [], [], []
    for node in recurrent:
        attributes = attributes_of(node, path)
        directions = DIRECTIONS[attributes.get("direction", "forward")]
        mode, options = option_fields(path, node, attributes, directions)
        if node.op_type == "LSTM" and len(node.input) > 7 and node.input[7]:
            options["peepholes"] = True  # until P's values are read: a zero P is no peepholes
        variant = None
        if mode == "gru":
            variant = "reset_after" if attributes.get("linear_before_reset", 0) else "reset_before"
        if attributes.get("layout", 0) not in (0, 1):
            raise ParamsError(f"{path}: {describe(node)} has layout={attributes['layout']}; ONNX knows 0 and 1")
        stored = {what: stored_tensor(path, model, node, position, what)
                  for position, what in ((1, "W"), (2, "R"), (3, "B"), (7, "P"))}
        stored = {what: tensor for what, tensor in stored.items() if tensor is not None}
        weight_shapes(path, node, stored, directions, attributes.get("hidden_size"))
        described.append((mode, variant, directions, "B" in stored, sorted(options.items())))
        tensors.append(stored)
        layouts.append(attributes.get("layout", 0))
    if any(d != described[0] for d in described):
        raise ParamsError(f"{path}: the recurrent nodes differ (mode, GRU variant, directions, bias, options): "
                          f"{described}")
    mode, variant, directions, bias, listed = described[0]
    options = checked_options(path, recurrent[0], mode, dict(listed))
    if spec is not None:
        check_declared(path, spec, {"mode": mode, "gru_variant": variant, "num_layers": len(recurrent),
                                    "bidirectional": directions == 2, "bias": bias,
                                    **declared_options(options, spec, peepholes=False)})
    arrays: dict[str, np.ndarray] = {}
    for k, (node, stored) in enumerate(zip(recurrent, tensors, strict=True)):
        for what, name in zip("WRBP", (*native_names(k), peephole_name(k)), strict=True):
            if what in stored:
                arrays[name] = tensor_array(path, stored[what], f"{what} of {describe(node)}", WEIGHT_TYPES)
    if options.get("peepholes") and not (spec is not None and spec.peepholes) and \
            not any(np.any(arrays[peephole_name(k)]) for k in range(len(recurrent))):
        del options["peepholes"]  # a stored zero P: the layer without peepholes
        arrays = {name: array for name, array in arrays.items() if not name.endswith(".P")}
    if spec is not None:
        check_declared(path, spec, declared_options(options, spec, peepholes=True))
    return OnnxLayer(mode, variant, len(recurrent), directions == 2, bias, arrays, tuple(layouts), options)


#: The option fields a file's layer is compared on with the declared one, and their defaults.
OPTION_DEFAULTS = {"activations": None, "activation_alpha": None, "activation_beta": None, "clip": None,
                   "input_forget": False, "reverse": False}


def declared_options(options: dict[str, Any], spec: RNNSpec, *, peepholes: bool) -> dict[str, Any]:
    """The option fields of the file's layer to compare with ``spec``'s (peepholes apart: they need P's values)."""
    if peepholes:
        return {"peepholes": bool(options.get("peepholes", False))}
    return {name: options.get(name, default) for name, default in OPTION_DEFAULTS.items()}


def same_value(found: Any, declared: Any) -> bool:
    """Equal, numbers compared as the float32 an ONNX FLOAT(S) attribute holds them in."""
    if isinstance(found, tuple) and isinstance(declared, tuple) and len(found) == len(declared):
        return all(same_value(a, b) for a, b in zip(found, declared, strict=True))
    if isinstance(found, float) and isinstance(declared, float):
        return bool(np.float32(found) == np.float32(declared))
    return found == declared


def check_declared(path: Path | str, spec: RNNSpec, found: dict[str, Any]) -> None:
    """The file's layer is the declared one in every field of ``found``; else one line naming each difference."""
    wrong = [f"{name} is {value!r} in the file, {getattr(spec, name)!r} as declared"
             for name, value in found.items() if not same_value(value, getattr(spec, name))]
    if wrong:
        raise ParamsError(f"{path}: the ONNX layer is not the one declared: {'; '.join(wrong)} "
                          "(check --mode, --gru-variant, --layers, --bidirectional, --no-bias and the option flags)")


#: What keeps an ONNX runtime engine from running a file's graph that its own models never hit.
#: (onnxruntime 1.32, observed for RNN, LSTM and GRU when the session is made.)
ORT_LAYOUT_0_ONLY = ("onnxruntime's CPU kernels refuse layout=1 nodes: \"layout_ == 0 was false. Batchwise recurrent "
                     "operations (layout == 1) are not supported\"")


def cannot_run_file(engine: str, layer: OnnxLayer) -> str | None:
    """Why ``engine`` (one of ONNX_FILE_ENGINES) cannot run the file whose layer is ``layer``, or None."""
    return ORT_LAYOUT_0_ONLY if engine == "onnx" and 1 in layer.layouts else None


def read_file(path: Path, spec: RNNSpec | None = None) -> tuple[Any, OnnxLayer, Any]:
    """(the parsed model, its layer, its ``onnx_glue.FileInterface``) of an ``.onnx`` file.

    Refuses, besides what ``layer_of_model`` refuses, any graph that computes something other
    than the recurrent stack (``onnx_glue.check_interface``).
    """
    from rnn_ref.adapters.onnx.glue import check_interface

    model = load_model(path)
    layer = layer_of_model(path, model, spec)
    return model, layer, check_interface(path, model, layer)


def read_layer(path: Path) -> OnnxLayer:
    """The layer an ONNX file's recurrent chain describes, with its W, R, B by native name."""
    return read_file(Path(path))[1]


def read_onnx_weights(path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
    """``l{k}.W/R/B`` of an ONNX file; with ``spec``, the file's layer must be the one declared
    (mode, GRU variant, layers, directions, bias: sizes are read off the arrays)."""
    return read_file(Path(path), spec)[1].arrays


def write_onnx_model(target: str, params: Params) -> None:
    """Write the ONNX model of ``params`` (W, R, B per layer as initializers) to ``target``."""
    spec = params.spec
    model = build_model(spec, onnx_mapping("onnx", spec).to_native(params))
    Path(target).write_bytes(model.SerializeToString())

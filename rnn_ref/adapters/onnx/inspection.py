"""Which recurrent layers a whole ``.onnx`` model holds, for ``rnn-ref inspect``.

The protobuf is parsed (``files.load_model``: bounded, nothing run); any op may surround the
``RNN``/``LSTM``/``GRU`` nodes (an embedding, a head, shape arithmetic). Each node's spec comes
from its attributes and the declared dims of its initializers, W (D, G·H, I) and R (D, G·H, H)
(B present: bias), never from their values. A node whose input X is, through ops that only
move data (Transpose, Reshape, Squeeze, ...), the output Y of a node of the same kind is the
next level of that node's stack (``torch.onnx.export`` writes a 2-layer LSTM as two LSTM nodes
joined by a Transpose and a Reshape); the location is the nodes' names joined by ``+``.

Weights stored as external data (``torch.onnx.export``'s default) are checked, not read: each
reference must name a file inside the model's folder (no absolute path, no ``..``, no link
leading out), which exists and holds the ``offset`` + ``length`` bytes the tensor's dims and
type need. A reference outside the folder is refused, naming the tensor and the path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.files import GATES, attributes_of, load_model
from rnn_ref.adapters.onnx.options import option_fields
from rnn_ref.adapters.onnx.protos import TENSOR_TYPES, WEIGHT_TYPES, describe, tensor_array
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import FoundLayer, chain_stacks

RECURRENT = ("RNN", "LSTM", "GRU")
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
#: Ops whose first input is their data and which only move it (a stack's levels are joined through them).
MOVING = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast", "Flatten"})


def external_file(path: Path, tensor: Any) -> Path:
    """The file inside ``path``'s folder that an external tensor's ``location`` names, checked to hold its bytes."""
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")
    folder = path.resolve().parent
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or ".." in Path(location).parts or \
            not target.is_relative_to(folder):
        raise ParamsError(f"{path}: the initializer {tensor.name!r} names external data at {location!r}, outside "
                          f"the model's folder {folder}: refused (rnn-ref reads external data beside the model only)")
    if not target.is_file():
        raise ParamsError(f"{path}: the external data of {tensor.name!r} ({location!r}) is not a file beside the model")
    try:
        offset, length = int(entries.get("offset", 0)), int(entries.get("length", -1))
    except ValueError:
        raise ParamsError(f"{path}: the external data of {tensor.name!r} has an offset or length that is not a "
                          "number") from None
    itemsize = np.dtype(TENSOR_TYPES[tensor.data_type][1]).itemsize if tensor.data_type in TENSOR_TYPES else 0
    needed = math.prod(int(d) for d in tensor.dims) * itemsize
    if itemsize and length not in (-1, needed):
        raise ParamsError(f"{path}: the external data of {tensor.name!r} claims {length} bytes; its dims "
                          f"{tuple(tensor.dims)} need {needed}")
    if offset < 0 or offset + (needed if length == -1 else length) > target.stat().st_size:
        raise ParamsError(f"{path}: the external data of {tensor.name!r} lies past the end of {location!r}")
    return target


def check_external_data(path: Path, model: Any) -> None:
    """Every external reference of the graph's initializers names bytes inside the model's folder."""
    from onnx import TensorProto

    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            external_file(path, tensor)


def declared_dims(path: Path, model: Any, node: Any, position: int) -> tuple[int, ...] | None:
    """The dims of the initializer a recurrent node takes at input ``position`` (None: absent or not stored)."""
    if len(node.input) <= position or not node.input[position]:
        return None
    stored = [t for t in model.graph.initializer if t.name == node.input[position]]
    return tuple(int(d) for d in stored[-1].dims) if stored else None


def node_layer(path: Path, model: Any, node: Any) -> FoundLayer | None:
    """One recurrent node as a layer (None: its weights are not stored, or their dims fit no layer)."""
    attributes = attributes_of(node, path)
    directions = DIRECTIONS[attributes.get("direction", "forward")]
    mode, _ = option_fields(path, node, attributes, directions)
    w, r = declared_dims(path, model, node, 1), declared_dims(path, model, node, 2)
    if w is None or r is None or len(w) != 3 or len(r) != 3 or r[0] != directions or r[1] != GATES[node.op_type] * r[2]:
        return None
    variant = None
    if mode == "gru":
        variant = "reset_after" if attributes.get("linear_before_reset", 0) else "reset_before"
    bias = len(node.input) > 3 and bool(node.input[3])
    return FoundLayer(node.name or describe(node), mode, w[2], r[2], bidirectional=directions == 2,
                      gru_variant=variant, bias=bias)


def producers(model: Any) -> dict[str, Any]:
    return {output: node for node in model.graph.node for output in node.output}


def fed_by(node: Any, made_by: dict[str, Any]) -> Any | None:
    """The recurrent node whose output Y reaches ``node``'s X through data-moving ops only, or None."""
    tensor = node.input[0]
    for _ in range(len(made_by) + 1):
        source = made_by.get(tensor)
        if source is None:
            return None
        if source.op_type in RECURRENT:
            return source if source.output and source.output[0] == tensor else None
        if source.op_type not in MOVING or not source.input:
            return None
        tensor = source.input[0]
    return None


def inspect_onnx(path: Path) -> list[FoundLayer]:
    """The recurrent layers of an ``.onnx`` model, stacks joined, in graph order."""
    model = load_model(path, external=True)
    check_external_data(path, model)
    made_by = producers(model)
    nodes = [n for n in model.graph.node if n.op_type in RECURRENT and n.domain in ("", "ai.onnx")]
    layers = {id(n): layer for n in nodes if (layer := node_layer(path, model, n)) is not None}
    feeding = {layers[id(n)].location: source.name or describe(source) for n in nodes if id(n) in layers
               and (source := fed_by(n, made_by)) is not None and id(source) in layers}

    def feeds(lower: FoundLayer, upper: FoundLayer) -> bool:
        return feeding.get(upper.location) == lower.location.split("+")[-1]

    return chain_stacks([layers[id(n)] for n in nodes if id(n) in layers], feeds)


def initializer_array(path: Path, tensor: Any, what: str) -> np.ndarray:
    """An initializer's values: inline (``protos.tensor_array``'s checks), or read from its external data
    file inside the model's folder (``external_file``'s checks), little-endian as ONNX stores them."""
    from onnx import TensorProto

    if not (tensor.data_location == TensorProto.EXTERNAL or tensor.external_data):
        return tensor_array(path, tensor, what, WEIGHT_TYPES)
    if tensor.data_type not in WEIGHT_TYPES:
        raise ParamsError(f"{path}: {what} is not float32 or float64")
    target = external_file(path, tensor)
    offset = int({entry.key: entry.value for entry in tensor.external_data}.get("offset", 0))
    dims = tuple(int(d) for d in tensor.dims)
    dtype = np.dtype(TENSOR_TYPES[tensor.data_type][1])
    with open(target, "rb") as handle:
        handle.seek(offset)
        data = handle.read(math.prod(dims) * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)


def extract_onnx(path: Path, layer: FoundLayer) -> dict[str, np.ndarray]:
    """The W, R, B of the recurrent nodes at ``layer.location`` (``a+b``: a stack's levels) of a whole
    model, inline or external, keyed ``l{k}.W``, ``l{k}.R``, ``l{k}.B`` as rnn_ref's ONNX ``.npz``."""
    model = load_model(path, external=True)
    check_external_data(path, model)
    stored = {tensor.name: tensor for tensor in model.graph.initializer}
    nodes = {node.name or describe(node): node for node in model.graph.node if node.op_type in RECURRENT}
    arrays: dict[str, np.ndarray] = {}
    for k, name in enumerate(layer.location.split("+")):
        node = nodes[name]
        for position, key in ((1, "W"), (2, "R"), (3, "B")):
            if len(node.input) > position and node.input[position] in stored:
                arrays[f"l{k}.{key}"] = initializer_array(path, stored[node.input[position]], f"{key} of {name!r}")
    return arrays

"""The glue ops of an ``.onnx`` file's graph, evaluated on element ids or folded constants.

Each ``op_*`` evaluates one ONNX op (the ops ``rnn_ref.adapters.onnx.files.GLUE_OPS`` names)
with NumPy on ``Value``s: the ids of the layer's data, or constants folded as the walk goes
(``rnn_ref.adapters.onnx.glue_walk.Glue``, which hands each op its inputs and refuses what the
proof cannot follow). ``OPS`` maps an op type to its evaluation. A constant folded from a data
tensor's shape is ``sized``: it may decide shapes only (see rnn_ref/adapters/onnx/glue.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_ref.adapters.onnx.files import (
    FLOAT,
    FLOATS,
    INT,
    INTS,
    TENSOR,
    TENSOR_TYPES,
    attribute_values,
    describe,
    tensor_array,
    tensor_type_name,
)

if TYPE_CHECKING:
    from rnn_ref.adapters.onnx.glue_walk import Glue


@dataclass(frozen=True)
class Value:
    """A tensor while the glue is followed: ids of the data (``data``) or a folded constant."""

    array: np.ndarray
    data: bool
    elem: int = 0  # the ONNX element type of a data tensor
    sized: bool = False  # a constant folded from a data tensor's shape: it may decide shapes only



def op_identity(glue: Glue, node: Any) -> Value:
    attribute_values(glue.path, node, {})
    return glue.required(node, 1, 1)[0]


def op_transpose(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"perm": INTS})
    (x,) = glue.required(node, 1, 1)
    perm = attributes.get("perm", list(range(x.array.ndim))[::-1])
    return Value(np.transpose(x.array, perm), x.data, x.elem, x.sized)


def op_reshape(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"allowzero": INT, "shape": INTS})
    x = glue.required(node, 1 if "shape" in attributes else 2, 2)[0]
    shape = (attributes["shape"] if "shape" in attributes else
             glue.constant(node, node.input[1], "shape", shape_only=True).tolist())
    if not attributes.get("allowzero", 0):
        shape = [x.array.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return Value(x.array.reshape([int(d) for d in shape]), x.data, x.elem, x.sized)


def int_list(glue: Glue, node: Any, position: int, attributes: dict, name: str,
             shape_only: bool = False) -> list[int] | None:
    """An INTS attribute ``name`` where the opset has it, else the constant input ``position`` (None if absent)."""
    if name in attributes:
        return [int(v) for v in attributes[name]]
    if len(node.input) > position and node.input[position]:
        return [int(v) for v in glue.constant(node, node.input[position], name, shape_only=shape_only).ravel().tolist()]
    return None


def onnx_slice(dim: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice's clamping of one axis as a Python slice."""
    if step == 0:
        raise ValueError("a Slice step is 0")
    start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


def op_slice(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"starts": INTS, "ends": INTS, "axes": INTS})
    x = glue.required(node, 1 if "starts" in attributes else 3, 5)[0]
    starts, ends = int_list(glue, node, 1, attributes, "starts"), int_list(glue, node, 2, attributes, "ends", True)
    sized_ends = len(node.input) > 2 and bool(node.input[2]) and "ends" not in attributes and \
        glue.value(node, node.input[2]).sized
    axes = int_list(glue, node, 3, attributes, "axes") or list(range(len(starts or [])))
    steps = int_list(glue, node, 4, {}, "steps") or [1] * len(axes)
    if starts is None or ends is None or not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("starts, ends, axes and steps differ in length")
    index = [slice(None)] * x.array.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = onnx_slice(x.array.shape[axis], start, end, step)
        if sized_ends and (step < 0 or index[axis].stop < x.array.shape[axis]):
            raise glue.fail(glue.size_dependent(node, "ends (short of the axis's end)"))
    return Value(x.array[tuple(index)], x.data, x.elem, x.sized)


def op_concat(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axis": INT})
    parts = glue.required(node, len(node.input) or 1, len(node.input) or 1)  # every input given: none is optional
    if len({p.data for p in parts}) > 1:
        raise glue.fail(f"{describe(node)} joins constants to the layer's data (it adds values the layer does not "
                        "compute)")
    glue.bounded((sum(p.array.size for p in parts),), f"the output of {describe(node)}")
    return Value(np.concatenate([p.array for p in parts], axis=attributes["axis"]), parts[0].data, parts[0].elem,
                 any(p.sized for p in parts))


def op_squeeze(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axes": INTS})
    x = glue.required(node, 1, 2)[0]
    axes = int_list(glue, node, 1, attributes, "axes")
    squeezed = np.squeeze(x.array) if axes is None else np.squeeze(x.array, axis=tuple(axes))
    return Value(squeezed, x.data, x.elem, x.sized)


def op_unsqueeze(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axes": INTS})
    x = glue.required(node, 1 if "axes" in attributes else 2, 2)[0]
    axes = int_list(glue, node, 1, attributes, "axes") or []
    rank = x.array.ndim + len(axes)
    return Value(np.expand_dims(x.array, tuple(sorted(a + rank if a < 0 else a for a in axes))), x.data, x.elem,
                 x.sized)


def op_shape(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"start": INT, "end": INT})
    (x,) = glue.required(node, 1, 1)
    shape = list(x.array.shape)[attributes.get("start", 0):attributes.get("end", x.array.ndim)]
    return Value(np.array(shape, np.int64), False, sized=x.data or x.sized)


def op_gather(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axis": INT})
    x = glue.required(node, 2, 2)[0]
    indices = glue.constant(node, node.input[1], "indices").astype(np.int64)
    axis = attributes.get("axis", 0)
    glue.bounded((indices.size * x.array.size // max(x.array.shape[axis], 1),), f"the output of {describe(node)}")
    return Value(np.take(x.array, indices, axis=axis), x.data, x.elem, x.sized)


def op_cast(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"to": INT, "saturate": INT})
    (x,) = glue.required(node, 1, 1)
    to = attributes.get("to", 0)
    if x.data:
        if to != x.elem:
            raise glue.fail(f"{describe(node)} casts the layer's data from {tensor_type_name(x.elem)} to "
                            f"{tensor_type_name(to)}, which changes its values")
        return x
    if to not in TENSOR_TYPES:
        raise glue.fail(f"{describe(node)} casts a constant to {tensor_type_name(to)}, which rnn-ref does not follow")
    return Value(x.array.astype(TENSOR_TYPES[to][1]), False, sized=x.sized)


def op_expand(glue: Glue, node: Any) -> Value:
    attribute_values(glue.path, node, {})
    x = glue.required(node, 2, 2)[0]
    target = glue.constant(node, node.input[1], "shape", shape_only=True)
    shape = np.broadcast_shapes(x.array.shape, tuple(int(d) for d in target))
    glue.bounded(shape, f"the output of {describe(node)}")
    sized = x.sized or glue.value(node, node.input[1]).sized
    return Value(np.broadcast_to(x.array, shape).copy(), x.data, x.elem, sized)


def op_constant_of_shape(glue: Glue, node: Any) -> Value:
    attributes = {a.name: a for a in node.attribute}
    attribute_values(glue.path, node, {"value": TENSOR})
    glue.inputs(node, 1, 1)
    shape = tuple(int(d) for d in glue.constant(node, node.input[0], "shape", shape_only=True))
    fill = np.zeros(1, np.float32)
    if "value" in attributes:
        fill = tensor_array(glue.path, attributes["value"].t, f"the value of {describe(node)}").ravel()
        if fill.size != 1:
            raise glue.fail(f"{describe(node)} has a value of {fill.size} elements; ONNX takes one")
    if any(d < 0 for d in shape):
        raise glue.fail(f"{describe(node)} makes a tensor of the negative shape {shape}")
    glue.bounded(shape, f"the output of {describe(node)}")
    return Value(np.full(shape, fill[0], fill.dtype), False, sized=glue.value(node, node.input[0]).sized)


def op_constant(glue: Glue, node: Any) -> Value:
    attributes = {a.name: a for a in node.attribute}
    values = attribute_values(glue.path, node, {"value": TENSOR, "value_float": FLOAT, "value_floats": FLOATS,
                                                 "value_int": INT, "value_ints": INTS})
    glue.inputs(node, 0, 0)
    if len(values) != 1:
        raise glue.fail(f"{describe(node)} sets {len(values)} of Constant's value attributes; ONNX takes one")
    name = next(iter(values))
    if name == "value":
        array = tensor_array(glue.path, attributes["value"].t, f"the value of {describe(node)}")
    else:
        array = np.array(values[name], np.float32 if "float" in name else np.int64)
    glue.bounded(array.shape, f"the value of {describe(node)}")
    return Value(array, False)


OPS: dict[str, Callable[[Glue, Any], Value]] = {
    "Identity": op_identity, "Transpose": op_transpose, "Reshape": op_reshape, "Slice": op_slice,
    "Concat": op_concat, "Squeeze": op_squeeze, "Unsqueeze": op_unsqueeze, "Shape": op_shape, "Gather": op_gather,
    "Cast": op_cast, "Expand": op_expand, "ConstantOfShape": op_constant_of_shape, "Constant": op_constant,
}

"""ONNX protobuf messages as rnn_ref reads them: attribute and tensor types, values and shapes.

Nothing here runs or trusts the file: an attribute's value is taken only when its type is
the one ONNX defines, a tensor's values only once its type, dims and stored count agree
(``tensor_shape``), and external or segmented data is refused. Used by ``files.py`` (the
recurrent nodes) and ``glue.py`` (the data-moving ops around them).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.core.errors import ParamsError
from rnn_ref.core.spec import MAX_PARAMETERS

# ONNX's AttributeProto and TensorProto type numbers (onnx.proto), so that messages name them.
ATTRIBUTE_TYPES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH", 6: "FLOATS", 7: "INTS", 8: "STRINGS",
                   9: "TENSORS", 10: "GRAPHS", 11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO",
                   14: "TYPE_PROTOS"}
FLOAT, INT, STRING, TENSOR, FLOATS, INTS, STRINGS = 1, 2, 3, 4, 6, 7, 8
#: The recurrent ops' attributes (ONNX opset 22) and their types.
RECURRENT_ATTRIBUTES = {"activation_alpha": FLOATS, "activation_beta": FLOATS, "activations": STRINGS,
                        "clip": FLOAT, "direction": STRING, "hidden_size": INT, "layout": INT}
OP_ATTRIBUTES = {"RNN": RECURRENT_ATTRIBUTES, "LSTM": {**RECURRENT_ATTRIBUTES, "input_forget": INT},
                 "GRU": {**RECURRENT_ATTRIBUTES, "linear_before_reset": INT}}
#: Tensor element types rnn_ref decodes: ONNX number -> (name, NumPy type, the typed field that may hold the values).
TENSOR_TYPES = {1: ("FLOAT", np.float32, "float_data"), 11: ("DOUBLE", np.float64, "double_data"),
                6: ("INT32", np.int32, "int32_data"), 7: ("INT64", np.int64, "int64_data"),
                9: ("BOOL", np.bool_, "int32_data")}
WEIGHT_TYPES = (1, 11)


def a_kind(kind: str) -> str:
    """``'an INT'``, ``'a STRING'``: an attribute type with its article."""
    return f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind}"


def tensor_type_name(number: int) -> str:
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(number)
    except ValueError:
        return f"type {number}"


def decoded(value: Any) -> Any:
    """An attribute value with bytes decoded (undecodable bytes shown escaped, never raised)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, list):
        return [decoded(v) for v in value]
    return value


def attribute_values(path: Path | str, node: Any, expected: dict[str, int]) -> dict[str, Any]:
    """``{name: value}`` of ``node``'s attributes, each of the type ``expected`` gives it; refuses others."""
    from onnx import helper

    values = {}
    for attribute in node.attribute:
        kind = ATTRIBUTE_TYPES.get(attribute.type, f"type {attribute.type}")
        if attribute.name not in expected:
            raise ParamsError(f"{path}: {describe(node)} has an attribute {attribute.name!r} ({kind}) that "
                              f"{node.op_type} does not have (it has {', '.join(sorted(expected)) or 'none'})")
        if attribute.ref_attr_name:
            raise ParamsError(f"{path}: {describe(node)} takes its attribute {attribute.name!r} from a function "
                              "attribute, which rnn-ref does not resolve")
        if attribute.type != expected[attribute.name]:
            raise ParamsError(f"{path}: {describe(node)} has {attribute.name} as {a_kind(kind)} attribute; ONNX "
                              f"defines it as {ATTRIBUTE_TYPES[expected[attribute.name]]}")
        values[attribute.name] = decoded(helper.get_attribute_value(attribute))
    return values


def describe(node: Any) -> str:
    return f"{node.op_type} {node.name!r}" if node.name else node.op_type


def stored_tensor(path: Path | str, model: Any, node: Any, position: int, what: str) -> Any | None:
    """The TensorProto of input ``position`` of ``node`` (None when the input is absent); nothing decoded."""
    from onnx import TensorProto

    if len(node.input) <= position or not node.input[position]:
        return None
    name = node.input[position]
    stored = [t for t in model.graph.initializer if t.name == name]
    if not stored:
        raise ParamsError(f"{path}: {what} of {describe(node)} ({name!r}) is not stored as an initializer "
                          "(a graph input or a computed tensor); rnn-ref reads stored weights only")
    if stored[-1].data_location == TensorProto.EXTERNAL:
        raise ParamsError(f"{path}: {what} of {describe(node)} is stored as external data, which is not read")
    return stored[-1]  # a name stored twice: the last one, as onnxruntime takes it


def tensor_shape(path: Path | str, tensor: Any, what: str, types: tuple[int, ...] = tuple(TENSOR_TYPES)) -> tuple:
    """The shape a TensorProto declares, once its type, dims and stored values agree (nothing decoded).

    Refuses external data, segments, element types outside ``types``, negative dims, more than
    MAX_PARAMETERS elements, and a value count (raw bytes or typed field) that is not the dims' product.
    """
    from onnx import TensorProto

    if tensor.data_location == TensorProto.EXTERNAL:
        raise ParamsError(f"{path}: {what} is stored as external data, which is not read")
    if tensor.HasField("segment"):
        raise ParamsError(f"{path}: {what} is stored in segments, which rnn-ref does not read")
    if tensor.data_type not in types:
        names = [TENSOR_TYPES[t][0] for t in types]
        allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ParamsError(f"{path}: {what} holds {tensor_type_name(tensor.data_type)} values; expected {allowed}"
                          + (" (float32 or float64)" if types == WEIGHT_TYPES else ""))
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims):
        raise ParamsError(f"{path}: {what} declares the shape {dims}, with a negative dimension")
    count = math.prod(dims)
    if count > MAX_PARAMETERS:
        raise ParamsError(f"{path}: {what} declares the shape {dims}: {count} values, more than the "
                          f"{MAX_PARAMETERS} of the largest layer rnn-ref reads")
    name, dtype, typed = TENSOR_TYPES[tensor.data_type]
    held = getattr(tensor, typed)
    if tensor.raw_data and len(held):
        raise ParamsError(f"{path}: {what} holds its values twice (raw_data and {typed})")
    stored = len(tensor.raw_data) / np.dtype(dtype).itemsize if tensor.raw_data else len(held)
    if stored != count:
        raise ParamsError(f"{path}: {what} declares the shape {dims} of {name}, {count} values, but holds {stored:g}")
    return dims


def tensor_array(path: Path | str, tensor: Any, what: str, types: tuple[int, ...] = tuple(TENSOR_TYPES)) -> np.ndarray:
    """A TensorProto's values as a NumPy array, after ``tensor_shape`` checked them against its dims."""
    dims = tensor_shape(path, tensor, what, types)
    _, dtype, typed = TENSOR_TYPES[tensor.data_type]
    array: np.ndarray
    if tensor.raw_data:
        array = np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    else:
        array = np.asarray(getattr(tensor, typed)).astype(dtype)
    return array.reshape(dims)

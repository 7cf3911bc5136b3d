"""The graph of an ``.onnx`` file computes its recurrent stack and nothing else: a proof by element ids.

``onnx_file.layer_of_model`` reads the recurrent nodes' weights; this module checks what the
ops around them do, so that converting the weights converts the file's computation. It
follows *element ids* through the graph: the graph input X is an array of distinct integer
ids, every recurrent node's outputs are fresh ids, and the glue ops (``onnx_file.GLUE_OPS``)
are evaluated on those arrays with NumPy, constants folded as they go. Then

* recurrent node 0 must read X itself, or X with its time and batch axes swapped (that
  decides whether the file is TNC or NTC); node k must read node k-1's output with its
  directions side by side (``Y`` (T, D, N, H) -> (T, N, D·H), either layout), id for id;
* its ``sequence_lens`` must be absent or a constant equal to T for every sample, and its
  ``initial_h``/``initial_c`` absent or stored zeros (the canonical layer then starts from
  zeros); anything fed from a graph input or stored otherwise is refused by name;
* the graph has one input (X, of the weights' element type) and its outputs are the layer's
  output (in X's layout, or as the last node's ``Y`` is), h_n and c_n ((L·D, N, H), layer
  by layer), each id for id.

Where X's type leaves T or N open the proof runs at the sizes ``PROBE_SIZES``. No finite set of
sizes proves a glue whose effect changes at other sizes, so a rule closes that: a constant
computed from a data tensor's shape (``Shape``, and what is folded from it: ``Value.sized``) may
decide shapes only (Reshape's and Expand's shape, ConstantOfShape's, a Slice end that reaches the
axis's end), as ``torch.onnx.export`` and ``rnn_ref.onnx_model`` write them; a graph that selects or
reorders values by one (Gather indices, Slice starts and steps, ...) is refused. Inputs ONNX types
as integers (indices, shapes, axes) must be integers. Tensors are bounded (``MAX_PROBE_ELEMENTS``
elements of int32 ids: 64 MiB a tensor, ``MAX_PROBE_TOTAL``: 256 MiB in all), so a graph cannot
make the proof allocate much, and a file whose graph input fixes sizes as large as a static
``torch.onnx.export`` writes (T=200, N=64, 256 features, bidirectional) still reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.files import (
    FLOAT,
    FLOATS,
    INT,
    INTS,
    TENSOR,
    TENSOR_TYPES,
    OnnxLayer,
    attribute_values,
    describe,
    tensor_array,
    tensor_type_name,
)
from rnn_ref.core.errors import ParamsError

#: (size of X's axis 0, of its axis 1) where X's type leaves them open: unequal, so a transpose shows,
#: and each axis once of size 1, where an axis-less Squeeze or a broadcast would change what the glue does.
PROBE_SIZES = ((3, 2), (4, 5), (1, 2), (2, 1))
#: The most elements one tensor may have while the glue is followed, and all of them together.
MAX_PROBE_ELEMENTS = 2**24
MAX_PROBE_TOTAL = 2**26
STATE_INPUTS = {4: "sequence_lens", 5: "initial_h", 6: "initial_c"}


@dataclass(frozen=True)
class Value:
    """A tensor while the glue is followed: ids of the data (``data``) or a folded constant."""

    array: np.ndarray
    data: bool
    elem: int = 0  # the ONNX element type of a data tensor
    sized: bool = False  # a constant folded from a data tensor's shape: it may decide shapes only


@dataclass(frozen=True)
class FileInterface:
    """How to run the file: its graph input, the layout of X and Y, its outputs, sizes fixed by its type."""

    input: str
    layout: str  # "TNC" or "NTC"
    outputs: dict[str, str]  # {"output" | "onnx_y" | "h_n" | "c_n": graph output name}
    last_layout: int = 0  # the last node's layout: the shape of an "onnx_y" output
    steps: int | None = None
    batch: int | None = None

    def canonical(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{"output", "h_n", "c_n": array} of the file's outputs by graph output name (``onnx_y`` merged to
        ``output``: (T, D, N, H) or, for layout 1, (N, T, D, H) -> (T, N, D·H) or (N, T, D·H) in X's layout)."""
        found = {kind: np.asarray(values[name]) for kind, name in self.outputs.items()}
        if "onnx_y" in found:
            y = found.pop("onnx_y")
            by_step = y.transpose(0, 2, 1, 3) if self.last_layout == 0 else y.transpose(1, 0, 2, 3)  # (T, N, D, H)
            merged = by_step.reshape(*by_step.shape[:2], -1)
            found.setdefault("output", merged if self.layout == "TNC" else merged.transpose(1, 0, 2))
        return found


class Glue:
    """One evaluation of a graph on element ids (one probe size)."""

    def __init__(self, path: Path | str, model: Any, layer: OnnxLayer) -> None:
        self.path, self.model, self.layer = path, model, layer
        self.initializers = {t.name: t for t in model.graph.initializer}
        self.env: dict[str, Value] = {}
        self.next_id = 0
        self.total = 0
        self.elem = {np.dtype(np.float32): 1, np.dtype(np.float64): 11}[next(iter(layer.arrays.values())).dtype]

    # ---------------------------------------------------------------- tensors
    def fail(self, message: str) -> ParamsError:
        return ParamsError(f"{self.path}: {message}")

    def ids(self, shape: tuple[int, ...], what: str = "an output of a recurrent node") -> np.ndarray:
        count = self.bounded(shape, what)
        array = np.arange(self.next_id, self.next_id + count, dtype=np.int32).reshape(shape)
        self.next_id += count
        return array

    def bounded(self, shape: tuple[int, ...], what: str) -> int:
        """The element count of ``shape``, refused above MAX_PROBE_ELEMENTS (or all tensors above MAX_PROBE_TOTAL)."""
        count = math.prod(shape)
        self.total += count
        if count > MAX_PROBE_ELEMENTS or self.total > MAX_PROBE_TOTAL:
            raise self.fail(f"{what} would have the shape {tuple(shape)} while rnn-ref follows the graph's ops; it "
                            f"follows tensors of at most {MAX_PROBE_ELEMENTS} elements")
        return count

    def value(self, node: Any, name: str) -> Value:
        if name in self.env:
            return self.env[name]
        if name in self.initializers:
            tensor = self.initializers[name]
            array = tensor_array(self.path, tensor, f"the initializer {name!r} that {describe(node)} reads")
            self.bounded(array.shape, f"the initializer {name!r}")
            self.env[name] = Value(array, False)
            return self.env[name]
        raise self.fail(f"{describe(node)} reads {name!r}, which no earlier node, graph input or initializer "
                        "makes (the graph is not sorted, or incomplete)")

    def constant(self, node: Any, name: str, what: str, integer: bool = True, shape_only: bool = False) -> np.ndarray:
        """A constant input; ``integer``: ONNX types it as integers; ``shape_only``: it only decides a shape, so it
        may be folded from the input's shape (anything else that is, is refused: it would select or reorder values
        differently at sizes the proof does not run)."""
        found = self.value(node, name)
        if found.data:
            raise self.fail(f"{describe(node)} computes its {what} from the layer's data; rnn-ref follows glue "
                            "whose shapes and indices are constants")
        if integer and found.array.dtype.kind not in "iu":
            raise self.fail(f"{describe(node)} has {what} of type {found.array.dtype}; ONNX {node.op_type} takes "
                            "integers")
        if found.sized and not shape_only:
            raise self.fail(self.size_dependent(node, what))
        return found.array

    def size_dependent(self, node: Any, what: str) -> str:
        return (f"the glue depends on the input's size: {describe(node)} takes its {what} from the shape of the "
                "layer's data, which may only decide shapes, never which values are selected or how they are "
                "ordered (rnn-ref proves the glue at a few sizes only)")

    def inputs(self, node: Any, least: int, most: int) -> list[Value | None]:
        """The node's inputs (None where an optional input is empty), between ``least`` and ``most`` of them."""
        if not least <= len(node.input) <= most or any(not name for name in node.input[:least]):
            raise self.fail(f"{describe(node)} has {len(node.input)} inputs; ONNX {node.op_type} takes "
                            f"{least}{'' if least == most else f' to {most}'}")
        return [self.value(node, name) if name else None for name in node.input]

    # ---------------------------------------------------------------- the walk
    def run(self, x_name: str, x_shape: tuple[int, int, int]) -> dict[str, Any]:
        """Follow the graph from X (``x_shape`` as the probe has it); returns what ``check_interface`` needs."""
        x = Value(self.ids(x_shape, f"the graph input {x_name!r}"), True, self.elem)
        self.env[x_name] = x
        found: dict[str, Any] = {"x": x, "x_name": x_name, "h": [], "c": []}
        k = 0
        for node in self.model.graph.node:
            if node.op_type in ("RNN", "LSTM", "GRU"):
                self.recurrent(node, k, found)
                k += 1
                continue
            if len(node.output) != 1 or not node.output[0]:
                raise self.fail(f"{describe(node)} has {len(node.output)} outputs; ONNX {node.op_type} has one")
            try:
                self.env[node.output[0]] = OPS[node.op_type](self, node)
            except (ValueError, IndexError, KeyError, TypeError, OverflowError) as error:
                if isinstance(error, ParamsError):
                    raise
                raise self.fail(f"{describe(node)} cannot be evaluated on its inputs ({type(error).__name__}: "
                                f"{error})") from None
        return found

    def recurrent(self, node: Any, k: int, found: dict[str, Any]) -> None:
        """Check what node k reads against what the stack hands it; give its outputs fresh ids."""
        layout = self.layer.layouts[k]
        directions, hidden = 2 if self.layer.bidirectional else 1, self.layer.arrays[f"l{k}.R"].shape[2]
        got = self.value(node, node.input[0])
        if k == 0:
            x = found["x"].array
            candidates = {"TNC": x if layout == 0 else x.transpose(1, 0, 2),
                          "NTC": x.transpose(1, 0, 2) if layout == 0 else x}
            matching = [name for name, want in candidates.items() if same(got, want)]
            if not matching:
                done = difference(got, candidates["TNC" if layout == 0 else "NTC"], "the input")
                raise self.fail(f"{describe(node)} does not read the graph input as it is: the ops between them "
                                f"{done} at an input of shape {x.shape} (only a transpose of its time and batch axes "
                                "may stand between them)")
            found["layout"] = matching[0]
            found["tnc"] = x if matching[0] == "TNC" else x.transpose(1, 0, 2)
        else:
            previous = found["tnc"]
            want = previous if layout == 0 else previous.transpose(1, 0, 2)
            if not same(got, want):
                done = difference(got, want, "that output")
                raise self.fail(f"{describe(node)} does not read the layer before's output as it is: the ops between "
                                f"them {done} at an input of shape {found['x'].array.shape} (each layer passes its "
                                "output, directions side by side, to the next)")
        steps, batch = found["tnc"].shape[:2]
        self.states(node, steps, batch)
        y = self.ids((steps, directions, batch, hidden) if layout == 0 else (batch, steps, directions, hidden))
        by_step = y.transpose(0, 2, 1, 3) if layout == 0 else y.transpose(1, 0, 2, 3)  # (T, N, D, H)
        found["tnc"] = by_step.reshape(steps, batch, directions * hidden)
        outputs = [y]
        found["y"] = y
        for kind in ("h", "c")[:len(node.output) - 1]:
            final = self.ids((directions, batch, hidden) if layout == 0 else (batch, directions, hidden))
            outputs.append(final)
            found[kind].append(final if layout == 0 else final.transpose(1, 0, 2))
        for name, ids in zip(node.output, outputs, strict=False):
            if name:
                self.env[name] = Value(ids, True, self.elem)

    def states(self, node: Any, steps: int, batch: int) -> None:
        """sequence_lens: absent or T for every sample; initial_h, initial_c: absent or stored zeros."""
        for position, what in STATE_INPUTS.items():
            if len(node.input) <= position or not node.input[position]:
                continue
            name = node.input[position]
            given = self.value(node, name)
            if given.data:
                source = "a graph input" if name in {i.name for i in self.model.graph.input} else "the layer's data"
                raise self.fail(f"{describe(node)} takes its {what} from {source} ({name!r}); the layer rnn-ref "
                                "converts starts from zero states and runs every sample's full length, and a "
                                "weight file holds no such input")
            array = given.array
            if what == "sequence_lens":
                if array.dtype != np.int32:
                    raise self.fail(f"{describe(node)} stores sequence_lens of type {array.dtype}; ONNX "
                                    f"{node.op_type} takes int32")
                if array.shape != (batch,) or np.any(array != steps):
                    raise self.fail(f"{describe(node)} stores sequence_lens {array.tolist()!r}; the layer rnn-ref "
                                    "converts runs every sample's full length")
                continue
            if np.any(array != 0):  # zeros of any shape: the layer's own start (onnxruntime checks the shape)
                raise self.fail(f"{describe(node)} starts from a stored {what} that is not zero ({name!r}); the "
                                "layer rnn-ref converts starts from zero states (a weight file holds no state)")


def same(got: Value, want: np.ndarray) -> bool:
    return got.data and got.array.shape == want.shape and bool(np.array_equal(got.array, want))


def difference(got: Value, want: np.ndarray, source: str) -> str:
    """What the glue did to ``want`` (ids) to give ``got``, in words: permute features, drop values, ..."""
    if not got.data:
        return f"hand it a constant, not computed from {source}"
    have, wanted = got.array.ravel(), want.ravel()
    if not np.isin(have, wanted).all():
        return f"mix into it values that are not {source}'s"
    if got.array.shape == want.shape and np.array_equal(np.sort(have), np.sort(wanted)):
        features = want.shape[-1]
        rows_got, rows_want = got.array.reshape(-1, features), want.reshape(-1, features)
        if np.array_equal(np.sort(rows_got, axis=1), np.sort(rows_want, axis=1)):
            return "permute its features"
        return "reorder its values"
    repeated, dropped = np.unique(have).size < have.size, not np.isin(wanted, have).all()
    done = {(True, True): "repeat some of its values and drop others", (True, False): "repeat some of its values",
            (False, True): "drop some of its values", (False, False): "reshape it"}[repeated, dropped]
    return done + ("" if got.array.shape == want.shape else f" (shape {got.array.shape}, not {want.shape})")


# --------------------------------------------------------------------------- the glue ops, on ids or constants
def op_identity(glue: Glue, node: Any) -> Value:
    attribute_values(glue.path, node, {})
    return glue.inputs(node, 1, 1)[0]


def op_transpose(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"perm": INTS})
    (x,) = glue.inputs(node, 1, 1)
    perm = attributes.get("perm", list(range(x.array.ndim))[::-1])
    return Value(np.transpose(x.array, perm), x.data, x.elem, x.sized)


def op_reshape(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"allowzero": INT, "shape": INTS})
    x = glue.inputs(node, 1 if "shape" in attributes else 2, 2)[0]
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
    x = glue.inputs(node, 1 if "starts" in attributes else 3, 5)[0]
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
    parts = glue.inputs(node, len(node.input) or 1, len(node.input) or 1)  # every input given: none is optional
    if len({p.data for p in parts}) > 1:
        raise glue.fail(f"{describe(node)} joins constants to the layer's data (it adds values the layer does not "
                        "compute)")
    glue.bounded((sum(p.array.size for p in parts),), f"the output of {describe(node)}")
    return Value(np.concatenate([p.array for p in parts], axis=attributes["axis"]), parts[0].data, parts[0].elem,
                 any(p.sized for p in parts))


def op_squeeze(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axes": INTS})
    x = glue.inputs(node, 1, 2)[0]
    axes = int_list(glue, node, 1, attributes, "axes")
    squeezed = np.squeeze(x.array) if axes is None else np.squeeze(x.array, axis=tuple(axes))
    return Value(squeezed, x.data, x.elem, x.sized)


def op_unsqueeze(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axes": INTS})
    x = glue.inputs(node, 1 if "axes" in attributes else 2, 2)[0]
    axes = int_list(glue, node, 1, attributes, "axes") or []
    rank = x.array.ndim + len(axes)
    return Value(np.expand_dims(x.array, tuple(sorted(a + rank if a < 0 else a for a in axes))), x.data, x.elem,
                 x.sized)


def op_shape(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"start": INT, "end": INT})
    (x,) = glue.inputs(node, 1, 1)
    shape = list(x.array.shape)[attributes.get("start", 0):attributes.get("end", x.array.ndim)]
    return Value(np.array(shape, np.int64), False, sized=x.data or x.sized)


def op_gather(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"axis": INT})
    x = glue.inputs(node, 2, 2)[0]
    indices = glue.constant(node, node.input[1], "indices").astype(np.int64)
    axis = attributes.get("axis", 0)
    glue.bounded((indices.size * x.array.size // max(x.array.shape[axis], 1),), f"the output of {describe(node)}")
    return Value(np.take(x.array, indices, axis=axis), x.data, x.elem, x.sized)


def op_cast(glue: Glue, node: Any) -> Value:
    attributes = attribute_values(glue.path, node, {"to": INT, "saturate": INT})
    (x,) = glue.inputs(node, 1, 1)
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
    x = glue.inputs(node, 2, 2)[0]
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


# --------------------------------------------------------------------------- the file's interface
def graph_input(path: Path | str, model: Any, layer: OnnxLayer) -> tuple[str, list[int | None]]:
    """The one graph input that is not an initializer (X), and its dims (None where open)."""
    stored = {t.name for t in model.graph.initializer}
    fed = [i for i in model.graph.input if i.name not in stored]
    if len(fed) != 1:
        uses = []
        for given in fed:
            for node in model.graph.node:
                for position, name in enumerate(node.input):
                    if name == given.name and node.op_type in ("RNN", "LSTM", "GRU") and position in STATE_INPUTS:
                        raise ParamsError(f"{path}: {describe(node)} takes its {STATE_INPUTS[position]} from the graph "
                                          f"input {name!r}; the layer rnn-ref converts starts from zero states and "
                                          "runs every sample's full length, and a weight file holds no such input")
            uses.append(repr(given.name))
        raise ParamsError(f"{path}: the graph has {len(fed)} inputs ({', '.join(uses) or 'none'}); a recurrent "
                          "layer has one, X")
    tensor = fed[0].type.tensor_type
    elem = {np.dtype(np.float32): 1, np.dtype(np.float64): 11}[next(iter(layer.arrays.values())).dtype]
    if not fed[0].type.HasField("tensor_type") or tensor.elem_type != elem:
        kind = tensor_type_name(tensor.elem_type) if fed[0].type.HasField("tensor_type") else "not a tensor"
        raise ParamsError(f"{path}: the graph input {fed[0].name!r} is {kind}; the layer's weights are "
                          f"{tensor_type_name(elem)}, and so must its input be")
    if not tensor.HasField("shape"):
        return fed[0].name, [None, None, None]
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim]
    features = layer.arrays["l0.W"].shape[2]
    if len(dims) != 3 or dims[2] not in (None, features):
        raise ParamsError(f"{path}: the graph input {fed[0].name!r} has the shape {dims}; the layer takes "
                          f"(T, N, {features}) or (N, T, {features})")
    return fed[0].name, dims


def graph_outputs(path: Path | str, model: Any, glue: Glue, found: dict[str, Any]) -> dict[str, str]:
    """{"output" | "h_n" | "c_n": graph output name}: each graph output must be one of them, id for id."""
    expected = {"output": found["tnc"] if found["layout"] == "TNC" else found["tnc"].transpose(1, 0, 2),
                "onnx_y": found["y"]}
    if len(found["h"]) == glue.layer.num_layers:
        expected["h_n"] = np.concatenate(found["h"])
    if found["c"] and len(found["c"]) == glue.layer.num_layers:
        expected["c_n"] = np.concatenate(found["c"])
    named: dict[str, str] = {}
    for output in model.graph.output:
        got = glue.env.get(output.name)
        matching = [kind for kind, want in expected.items() if got is not None and same(got, want)][:1]
        if not matching:
            closest = max(expected, key=lambda kind: 0 if got is None or not got.data else
                          int(np.isin(got.array, expected[kind]).sum()))
            what = "is not computed by the graph's nodes"
            x = found["x"].array
            if got is not None and got.data and np.isin(got.array, x).all():
                what = (f"is the graph input {found['x_name']!r} itself" if same(got, x) else
                        "is computed from the graph input alone")
                what += ", not the layer's output, h_n or c_n"
            elif got is not None:
                done = difference(got, expected[closest], closest)
                what = f"is not the layer's output, h_n or c_n: the ops before it {done}"
            raise ParamsError(f"{path}: the graph output {output.name!r} {what}")
        if matching[0] in named or {matching[0], *named} >= {"output", "onnx_y"}:
            kind = {"onnx_y": "the layer's output", "output": "the layer's output"}.get(matching[0], matching[0])
            other = named.get(matching[0], named.get("output", named.get("onnx_y")))
            raise ParamsError(f"{path}: the graph outputs {other!r} and {output.name!r} are both {kind}")
        named[matching[0]] = output.name
    if not named:
        raise ParamsError(f"{path}: the graph has no output")
    return named


def check_interface(path: Path | str, model: Any, layer: OnnxLayer) -> FileInterface:
    """The file's interface, once the glue is proved to hand the stack X and to output what it computes."""
    x_name, dims = graph_input(path, model, layer)
    features = layer.arrays["l0.W"].shape[2]
    probes = sorted({(dims[0] or a, dims[1] or b) for a, b in PROBE_SIZES})
    interfaces = set()
    for first, second in probes:
        glue = Glue(path, model, layer)
        found = glue.run(x_name, (first, second, features))
        outputs = graph_outputs(path, model, glue, found)
        interfaces.add((found["layout"], tuple(sorted(outputs.items()))))
    if len(interfaces) > 1:
        raise ParamsError(f"{path}: the graph reads or writes its tensors differently at different sizes of X")
    layout, outputs = interfaces.pop()
    steps, batch = (dims[0], dims[1]) if layout == "TNC" else (dims[1], dims[0])
    return FileInterface(x_name, layout, dict(outputs), layer.layouts[-1], steps, batch)

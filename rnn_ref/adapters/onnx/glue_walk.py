"""The walk of an ``.onnx`` file's graph on element ids: one evaluation of its ops at one probe size.

``Glue.run`` gives the graph input X distinct integer ids and every recurrent node's outputs
fresh ids, evaluates the glue ops between them (rnn_ref/adapters/onnx/glue_ops.py) and checks
that each recurrent node reads what the stack hands it, id for id, with its state inputs absent
or neutral. Every tensor is bounded (``MAX_PROBE_ELEMENTS``, ``MAX_PROBE_TOTAL``). What the
walk finds is what ``rnn_ref.adapters.onnx.glue.check_interface`` turns into the file's
interface; the rules are in that module's docstring.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.files import OnnxLayer, describe, tensor_array
from rnn_ref.adapters.onnx.glue_ops import OPS, Value
from rnn_ref.core.errors import ParamsError

#: (size of X's axis 0, of its axis 1) where X's type leaves them open: unequal, so a transpose shows,
#: and each axis once of size 1, where an axis-less Squeeze or a broadcast would change what the glue does.
PROBE_SIZES = ((3, 2), (4, 5), (1, 2), (2, 1))
#: The most elements one tensor may have while the glue is followed, and all of them together.
MAX_PROBE_ELEMENTS = 2**24
MAX_PROBE_TOTAL = 2**26
STATE_INPUTS = {4: "sequence_lens", 5: "initial_h", 6: "initial_c"}


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

    def required(self, node: Any, least: int, most: int) -> list[Value]:
        """The node's first ``least`` inputs (required: ``inputs`` refuses an empty one), checked as ``inputs``."""
        return [value for value in self.inputs(node, least, most)[:least] if value is not None]

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

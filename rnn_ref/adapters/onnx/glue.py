"""The graph of an ``.onnx`` file computes its recurrent stack and nothing else: a proof by element ids.

``files.layer_of_model`` reads the recurrent nodes' weights; this module checks what the ops
around them do, so that converting the weights converts the file's computation
(``check_interface``, the file's ``FileInterface``). It follows *element ids* through the
graph: the graph input X is an array of distinct integer ids, every recurrent node's outputs
are fresh ids, and the glue ops (``files.GLUE_OPS``) are evaluated on those arrays with NumPy,
constants folded as they go (the walk: ``glue_walk.Glue``; the ops: ``glue_ops``). Then

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
axis's end), as ``torch.onnx.export`` and ``rnn_ref.adapters.onnx.model`` write them; a graph that selects or
reorders values by one (Gather indices, Slice starts and steps, ...) is refused. Inputs ONNX types
as integers (indices, shapes, axes) must be integers. Tensors are bounded (``MAX_PROBE_ELEMENTS``
elements of int32 ids: 64 MiB a tensor, ``MAX_PROBE_TOTAL``: 256 MiB in all), so a graph cannot
make the proof allocate much, and a file whose graph input fixes sizes as large as a static
``torch.onnx.export`` writes (T=200, N=64, 256 features, bidirectional) still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.onnx.files import OnnxLayer, describe, tensor_type_name
from rnn_ref.adapters.onnx.glue_ops import OPS, Value
from rnn_ref.adapters.onnx.glue_walk import (
    MAX_PROBE_ELEMENTS,
    MAX_PROBE_TOTAL,
    PROBE_SIZES,
    STATE_INPUTS,
    Glue,
    difference,
    same,
)
from rnn_ref.core.errors import ParamsError

__all__ = [
    "MAX_PROBE_ELEMENTS", "MAX_PROBE_TOTAL", "OPS", "PROBE_SIZES", "STATE_INPUTS", "FileInterface", "Glue", "Value",
    "check_interface", "graph_input", "graph_outputs",
]


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
    layout, named = interfaces.pop()
    steps, batch = (dims[0], dims[1]) if layout == "TNC" else (dims[1], dims[0])
    return FileInterface(x_name, layout, dict(named), layer.layouts[-1], steps, batch)

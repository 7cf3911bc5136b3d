"""Which recurrent cells a Flax state (msgpack, or an ``.npz`` of its flattened paths) holds, for ``rnn-ref inspect``.

A ``.msgpack`` is ``flax.serialization.msgpack_serialize`` / ``to_bytes`` of a state (NNX's
``nnx.state(model).to_pure_dict()``, or Linen's variables); ``msgpack_restore`` decodes it
(plain msgpack and NumPy buffers: no pickle, no code). Nested keys are joined by ``.``; an
``.npz``'s names may use ``.`` or ``/``. A cell is recognised by its parameters' names and
shapes (kernels are (inputs, outputs)):

* ``LSTMCell`` (NNX and Linen): ``ii if_|if ig io`` kernels (I, H), ``hi hf hg ho`` kernels
  (H, H) with the biases (Linen's ``OptimizedLSTMCell`` saves the same names);
* NNX ``OptimizedLSTMCell``: ``dense_i`` (I, 4H), ``dense_h`` (H, 4H) and its bias; NNX
  ``GRUCell``: ``dense_i`` (I, 3H) with the bias, ``dense_h`` (H, 3H); NNX ``SimpleCell``:
  ``dense_i`` (I, H), ``dense_h`` (H, H) (tanh or relu: its ``activation_fn`` is not saved);
* Linen ``GRUCell``: ``ir iz in`` (I, H) with biases, ``hr hz hn`` (H, H), ``hn`` with a bias.

Flax's GRU is reset_after. Around the cells, NNX's containers name the structure: an
``nnx.RNN`` holds its cell as ``cell``; ``nnx.Bidirectional`` its halves as ``forward_rnn`` and
``backward_rnn`` (joined into one bidirectional level); numbered siblings (``layers.0``,
``layers.1``) whose sizes chain are taken as one stack, and, a state keeping no graph,
``num_layers`` is marked as read off the names and shapes. Linen's flat cell names
(``GRUCell_0``, ``GRUCell_1``) say neither direction nor order: each is listed alone.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import FoundLayer, Open, chain_stacks, mode_of_gates

LSTM_INPUT, LSTM_RECURRENT = ("ii", "ig", "io"), ("hi", "hf", "hg", "ho")
GRU_INPUT, GRU_RECURRENT = ("ir", "iz", "in"), ("hr", "hz", "hn")
ACTIVATION = "a Flax SimpleCell's activation_fn (tanh by default, or relu) is not in its state"
NO_GRAPH = "a Flax state keeps no graph: these numbered layers were joined as their sizes chain"
MAX_MSGPACK = 2**31


def inspect_msgpack(path: Path) -> list[FoundLayer]:
    """The recurrent cells of a Flax msgpack state."""
    from flax.serialization import msgpack_restore

    size = path.stat().st_size
    if size > MAX_MSGPACK:
        raise ParamsError(f"{path}: holds {size} bytes, more than the {MAX_MSGPACK} rnn-ref reads")
    try:
        state = msgpack_restore(path.read_bytes())
    except Exception as error:  # msgpack's ExtraData, ValueError, UnpackValueError, ...
        raise ParamsError(f"{path}: not a readable Flax msgpack state ({type(error).__name__}: {error})") from None
    shapes: dict[str, tuple[int, ...]] = {}
    flatten(state, "", shapes)
    return inspect_names(shapes)


def flatten(value: Any, prefix: str, shapes: dict[str, tuple[int, ...]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}{key}.", shapes)
    elif isinstance(value, np.ndarray) or hasattr(value, "shape"):
        shapes[prefix.removesuffix(".")] = tuple(value.shape)


def cell_of(params: dict[str, tuple[int, ...]], location: str) -> FoundLayer | None:
    """A cell from its parameters (``"ii.kernel"``: shape), or None when they are no Flax cell's."""
    def kernel(name: str) -> tuple[int, ...] | None:
        shape = params.get(f"{name}.kernel")
        return shape if shape is not None and len(shape) == 2 else None

    forget = kernel("if_") or kernel("if")
    if forget and all(kernel(g) for g in LSTM_INPUT + LSTM_RECURRENT):
        return FoundLayer(location, "lstm", forget[0], forget[1], bias="hi.bias" in params)
    if all(kernel(g) for g in GRU_INPUT + GRU_RECURRENT):
        return FoundLayer(location, "gru", kernel("ir")[0], kernel("ir")[1], gru_variant="reset_after",  # type: ignore[index]
                          bias="ir.bias" in params)
    for inputs, recurrent in (("dense_i", "dense_h"), ("i", "h")):
        w_i, w_h = kernel(inputs), kernel(recurrent)
        if w_i and w_h and w_h[0] and w_i[1] == w_h[1] and w_h[1] % w_h[0] == 0 and w_h[1] // w_h[0] in (1, 3, 4):
            mode, opens = mode_of_gates(w_h[1] // w_h[0], why=ACTIVATION)
            bias = any(name.endswith(".bias") for name in params)
            return FoundLayer(location, mode, w_i[0], w_h[0], gru_variant="reset_after" if mode == "gru" else None,
                              bias=bias, undetermined=opens)
    return None


def parts(name: str) -> list[str]:
    return [part for part in re.split(r"[./]", name) if part]


def inspect_names(shapes: dict[str, tuple[int, ...]]) -> list[FoundLayer]:
    """The cells among a Flax state's flattened names, joined by NNX's containers (module docstring)."""
    cells: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in shapes.items():
        split = parts(name)
        if len(split) >= 2 and split[-1] in ("kernel", "bias"):
            cells.setdefault(".".join(split[:-2]), {})[".".join(split[-2:])] = shape
    found = [cell for location, params in cells.items() if (cell := cell_of(params, location)) is not None]
    layers = [replace(c, location=c.location.removesuffix(".cell")) if c.location.endswith(".cell") or
              c.location == "cell" else c for c in found]
    return stacks(bidirectional(layers))


def bidirectional(layers: list[FoundLayer]) -> list[FoundLayer]:
    """``X.forward_rnn`` and ``X.backward_rnn`` of one spec as the bidirectional level ``X``."""
    by_location = {layer.location: layer for layer in layers}
    result = []
    for layer in layers:
        if layer.location.endswith(".backward_rnn") and \
                by_location.get(layer.location.replace(".backward_rnn", ".forward_rnn")) == \
                replace(layer, location=layer.location.replace(".backward_rnn", ".forward_rnn")):
            continue
        if layer.location.endswith(".forward_rnn"):
            twin = by_location.get(layer.location.replace(".forward_rnn", ".backward_rnn"))
            if twin is not None and replace(twin, location=layer.location) == layer:
                layer = replace(layer, location=layer.location.removesuffix(".forward_rnn"), bidirectional=True)
        result.append(layer)
    return result


def stacks(layers: list[FoundLayer]) -> list[FoundLayer]:
    """Numbered siblings (``P.0``, ``P.1``, ...) whose sizes chain, joined in number order."""
    def order(layer: FoundLayer) -> tuple[Any, ...]:
        head, _, tail = layer.location.rpartition(".")
        return (head, int(tail)) if tail.isdigit() else (layer.location, -1)

    runs: list[list[FoundLayer]] = []
    for layer in sorted(layers, key=order):
        head, _, tail = layer.location.rpartition(".")
        if runs and tail.isdigit() and order(runs[-1][-1]) == (head, int(tail) - 1):
            joined = chain_stacks([runs[-1][-1], layer])
            if len(joined) == 1:
                runs[-1].append(layer)
                continue
        runs.append([layer])
    result = []
    for run in runs:
        if len(run) == 1:
            result.append(run[0])
        else:
            result.append(chain_stacks(run)[0].leaving_open(Open("num_layers", "--layers", NO_GRAPH)))
    return result

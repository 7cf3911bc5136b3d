"""Which recurrent layers a Gluon ``.params`` file (or ``.npz`` of Gluon names) holds, for ``rnn-ref inspect``.

A whole network's ``save_parameters`` file is read by MXNet's ``nd.load`` (its own binary
NDArray format: no pickle, no code); only names and shapes are looked at. Gluon 1.9.1 saves a
fused ``rnn.RNN/LSTM/GRU`` under the block's attribute path as
``{path}._unfused.{k}[.{l|r}_cell].{i2h|h2h|h2r}_{weight|bias}``, a cell as
``{path}.{i2h|h2h}_{weight|bias}``; ``collect_params()`` names them ``{prefix}{l|r}{k}_i2h_weight``
and ``{prefix}i2h_weight``. Shapes: i2h_weight (G·H, I_k), h2h_weight (G·H, R), h2r_weight
(P, H); G is 4 (LSTM), 3 (GRU, Gluon's is reset_after) or 1 (RNN: relu or tanh, a constructor
argument the file does not hold: ``--mode``). The location is the path (or prefix) without
its trailing ``.`` or ``_``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.core.inspection import GATES_MODES, FoundLayer, check_named_shapes, mode_of_gates

SAVED = re.compile(r"^(?P<prefix>(?:.*\.)?)_unfused\.(?P<layer>\d+)\.(?:(?P<side>[lr])_cell\.)?"
                   r"(?P<kind>i2h|h2h|h2r)_(?P<what>weight|bias)$")
STRUCTURAL = re.compile(r"^(?P<prefix>.*?)(?P<side>[lr])(?P<layer>\d+)_(?P<kind>i2h|h2h|h2r)_(?P<what>weight|bias)$")
CELL = re.compile(r"^(?P<prefix>.*?)(?P<kind>i2h|h2h)_(?P<what>weight|bias)$")
ACTIVATION = "Gluon rnn.RNN's activation (relu or tanh) is a constructor argument, not in the saved parameters"

Key = tuple[str, int, str]  # (kind_what, layer, side)


def inspect_params(path: Path) -> list[FoundLayer]:
    """The recurrent layers of a ``save_parameters`` file."""
    from rnn_ref.adapters.mxnet.files import read_gluon_params

    return inspect_names({name: array.shape for name, array in read_gluon_params(path).items()})


def inspect_names(shapes: dict[str, tuple[int, ...]]) -> list[FoundLayer]:
    """The fused layers and cells among Gluon's parameter names, by location."""
    fused: dict[str, dict[Key, tuple[int, ...]]] = {}
    structural: set[str] = set()  # prefixes of collect_params names (l0_i2h_weight ...), which convert reads
    cells: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in shapes.items():
        match = SAVED.match(name) or STRUCTURAL.match(name)
        if match is not None and match.re is STRUCTURAL:
            structural.add(match["prefix"])
        if match is not None:
            key = (f"{match['kind']}_{match['what']}", int(match["layer"]), match["side"] or "l")
            fused.setdefault(match["prefix"], {})[key] = shape
        elif (cell := CELL.match(name)) is not None:
            cells.setdefault(cell["prefix"], {})[f"{cell['kind']}_{cell['what']}"] = shape
    found = [replace(layer, prefix=prefix if prefix in structural else None) for prefix, params in fused.items()
             if (layer := level_layer(prefix, params)) is not None]
    found += [layer for prefix, params in cells.items() if (layer := cell_layer(prefix, params)) is not None]
    return sorted(found, key=lambda layer: layer.location)


def located(prefix: str) -> str:
    return prefix.removesuffix(".").removesuffix("_")


def spec_of(i2h: tuple[int, ...], h2h: tuple[int, ...], h2r: tuple[int, ...] | None) -> tuple[int, int] | None:
    """(G, H) of a level's i2h and h2h (and h2r) shapes, or None when they fit no recurrent cell."""
    if len(i2h) != 2 or len(h2h) != 2 or i2h[0] != h2h[0]:
        return None
    hidden = h2r[1] if h2r is not None and len(h2r) == 2 else h2h[1]
    if hidden == 0 or h2h[0] % hidden or h2h[0] // hidden not in GATES_MODES:
        return None
    return h2h[0] // hidden, hidden


def level_layer(prefix: str, params: dict[Key, tuple[int, ...]]) -> FoundLayer | None:
    """The fused layer whose levels lie under ``prefix`` (None: not one)."""
    i2h, h2h = params.get(("i2h_weight", 0, "l")), params.get(("h2h_weight", 0, "l"))
    h2r = params.get(("h2r_weight", 0, "l"))
    if i2h is None or h2h is None or (fit := spec_of(i2h, h2h, h2r)) is None:
        return None
    mode, opens = mode_of_gates(fit[0], why=ACTIVATION)
    return FoundLayer(located(prefix), mode, i2h[1], fit[1], num_layers=1 + max(layer for _, layer, _ in params),
                      bidirectional=any(side == "r" for _, _, side in params),
                      proj_size=h2r[0] if h2r is not None else 0,
                      gru_variant="reset_after" if mode == "gru" else None,
                      bias=("i2h_bias", 0, "l") in params, undetermined=opens)


def cell_layer(prefix: str, params: dict[str, tuple[int, ...]]) -> FoundLayer | None:
    """A Gluon cell (``rnn.LSTMCell`` ...) under ``prefix``: one level, one direction."""
    i2h, h2h = params.get("i2h_weight"), params.get("h2h_weight")
    if i2h is None or h2h is None or (fit := spec_of(i2h, h2h, None)) is None:
        return None
    mode, opens = mode_of_gates(fit[0], why=ACTIVATION.replace("rnn.RNN", "rnn.RNNCell"))
    return FoundLayer(located(prefix), mode, i2h[1], fit[1], gru_variant="reset_after" if mode == "gru" else None,
                      bias="i2h_bias" in params, undetermined=opens)


def extract_params(path: Path, layer: FoundLayer) -> dict[str, np.ndarray]:
    """The arrays of the layer at ``layer.location`` of a whole network's ``save_parameters`` file, by
    Gluon's structural names (``l0_i2h_weight``, ``r1_h2h_bias``; a cell's ``i2h_weight``)."""
    from rnn_ref.adapters.mxnet.files import read_gluon_params

    stored = read_gluon_params(path)
    return {name: stored[key] for name, key in layer_keys(list(stored), layer.location).items()}


def layer_keys(names: list[str], location: str) -> dict[str, str]:
    """The file's keys of the layer at ``location``, by Gluon's structural name (``l0_i2h_weight`` -> the key)."""
    keys: dict[str, str] = {}
    for name in names:
        match = SAVED.match(name) or STRUCTURAL.match(name)
        if match is not None and located(match["prefix"]) == location:
            keys[f"{match['side'] or 'l'}{match['layer']}_{match['kind']}_{match['what']}"] = name
        elif match is None and (cell := CELL.match(name)) is not None and located(cell["prefix"]) == location:
            keys[f"{cell['kind']}_{cell['what']}"] = name
    return keys


def inject_params(path: Path, layer: FoundLayer, arrays: dict[str, np.ndarray]) -> Any:
    """``write(target)``: the whole network's ``save_parameters`` file with the layer at ``layer.location``
    replaced (names and shapes checked first; dtypes stay the file's), every other parameter kept, so
    ``net.load_parameters`` takes it as it took the file."""
    from rnn_ref.adapters.mxnet.files import read_gluon_params
    from rnn_ref.adapters.mxnet.fused import import_mxnet, saving

    stored = read_gluon_params(path)
    keys = layer_keys(list(stored), layer.location)
    own = {name: tuple(stored[key].shape) for name, key in keys.items()}
    given = {name: tuple(array.shape) for name, array in arrays.items()}
    check_named_shapes(path, layer.location, own, given)
    updated = dict(stored)
    updated.update({keys[name]: array.astype(stored[keys[name]].dtype) for name, array in arrays.items()})
    mx = import_mxnet()
    return lambda target: saving(lambda: mx.nd.save(target, {key: mx.nd.array(value, dtype=value.dtype)
                                                             for key, value in updated.items()}))

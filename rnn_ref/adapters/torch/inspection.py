"""Which recurrent layers a torch state_dict (or training checkpoint) holds, for ``rnn-ref inspect``.

A ``.pt`` is loaded with ``weights_only=True`` after its archive's sizes were checked (torch's
restricted unpickler builds tensors, dicts, lists and numbers only: no code from the file
runs), at any nesting: a checkpoint ``{"model": state_dict, "optimizer": ...}`` is flattened,
nested keys joined by ``.`` (``model.encoder.lstm.weight_ih_l0``). Only names and shapes are
looked at. The layers are the fused modules' parameter names under one prefix:
``weight_ih_l{k}[_reverse]`` (G·H, I_k), ``weight_hh_l{k}`` (G·H, R), ``weight_hr_l{k}`` (P, H),
``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,); and the cells' ``weight_ih``/``weight_hh`` (one
level). G is 4 (LSTM), 3 (GRU, torch's is reset_after) or 1 (RNN: tanh or relu, which the
state_dict does not say: ``--mode``). The location is the prefix without its dot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import GATES_MODES, FoundLayer, check_named_shapes, mode_of_gates

FUSED = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|weight_hr|bias_ih|bias_hh)"
                   r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
CELL = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh)$")
NONLINEARITY = "torch.nn.RNN's nonlinearity (tanh or relu) is a constructor argument, not in the state_dict"


def inspect_pt(path: Path) -> list[FoundLayer]:
    """The recurrent layers of a ``.pt`` state_dict or checkpoint, by prefix."""
    from rnn_ref.adapters.torch.files import check_torch_archive

    check_torch_archive(path)
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError (a type weights_only will not build), RuntimeError, EOFError
        raise ParamsError(f"{path}: not a state_dict or checkpoint that loads with weights_only=True "
                          f"({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    shapes: dict[str, tuple[int, ...]] = {}
    flatten(state, "", shapes, torch.Tensor)
    return inspect_names(shapes)


def flatten(value: Any, prefix: str, shapes: dict[str, Any], tensor: type, keep: Any = None) -> None:
    """Every tensor under ``value`` by its dotted path (dict keys and list positions), into ``shapes``:
    its shape, or ``keep(tensor)``."""
    if isinstance(value, tensor):
        shapes[prefix.removesuffix(".")] = tuple(getattr(value, "shape", ())) if keep is None else keep(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, (str, int)):
                flatten(item, f"{prefix}{key}.", shapes, tensor, keep)
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            flatten(item, f"{prefix}{k}.", shapes, tensor, keep)


def inspect_names(shapes: dict[str, tuple[int, ...]]) -> list[FoundLayer]:
    """The fused layers and cells among state_dict names (``shapes``: name -> shape), in name order."""
    fused: dict[str, dict[tuple[str, int, bool], tuple[int, ...]]] = {}
    cells: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in shapes.items():
        if (match := FUSED.match(name)) is not None:
            key = (match["kind"], int(match["layer"]), bool(match["reverse"]))
            fused.setdefault(match["prefix"], {})[key] = shape
        elif (match := CELL.match(name)) is not None:
            cells.setdefault(match["prefix"], {})[match["kind"]] = shape
    found = [layer for prefix, params in fused.items() if (layer := fused_layer(prefix, params)) is not None]
    found += [layer for prefix, params in cells.items() if (layer := cell_layer(prefix, params)) is not None]
    return sorted(found, key=lambda layer: layer.location)


def fused_layer(prefix: str, params: dict[tuple[str, int, bool], tuple[int, ...]]) -> FoundLayer | None:
    """The ``torch.nn.RNN/LSTM/GRU`` whose parameters lie under ``prefix`` (None: not such a layer)."""
    w_ih, w_hh = params.get(("weight_ih", 0, False)), params.get(("weight_hh", 0, False))
    if w_ih is None or w_hh is None or len(w_ih) != 2 or len(w_hh) != 2:
        return None
    w_hr = params.get(("weight_hr", 0, False))
    hidden = w_hr[1] if w_hr is not None and len(w_hr) == 2 else w_hh[1]
    if hidden == 0 or w_hh[0] % hidden or w_hh[0] // hidden not in GATES_MODES:
        return None
    mode, opens = mode_of_gates(w_hh[0] // hidden, why=NONLINEARITY)
    return FoundLayer(prefix.removesuffix("."), mode, w_ih[1], hidden,
                      num_layers=1 + max(layer for _, layer, _ in params),
                      bidirectional=any(reverse for _, _, reverse in params),
                      proj_size=w_hr[0] if w_hr is not None else 0,
                      gru_variant="reset_after" if mode == "gru" else None,
                      bias=("bias_ih", 0, False) in params, undetermined=opens, prefix=prefix)


def cell_layer(prefix: str, params: dict[str, tuple[int, ...]]) -> FoundLayer | None:
    """A ``torch.nn.RNNCell/LSTMCell/GRUCell`` under ``prefix`` (one level, one direction)."""
    w_ih, w_hh = params.get("weight_ih"), params.get("weight_hh")
    if w_ih is None or w_hh is None or len(w_ih) != 2 or len(w_hh) != 2 or w_hh[1] == 0 or w_hh[0] % w_hh[1] \
            or w_hh[0] // w_hh[1] not in GATES_MODES or w_ih[0] != w_hh[0]:
        return None
    mode, opens = mode_of_gates(w_hh[0] // w_hh[1], why=NONLINEARITY.replace("torch.nn.RNN", "torch.nn.RNNCell"))
    return FoundLayer(prefix.removesuffix("."), mode, w_ih[1], w_hh[1],
                      gru_variant="reset_after" if mode == "gru" else None, bias="bias_ih" in params,
                      undetermined=opens)


def extract_pt(path: Path, layer: FoundLayer) -> dict[str, Any]:
    """The arrays of the layer ``inspect`` found at ``layer.location`` of a ``.pt`` (any nesting), by their
    plain state_dict names (``weight_ih_l0`` ...: the names under its prefix), as NumPy arrays."""
    from rnn_ref.adapters.torch.files import check_torch_archive

    check_torch_archive(path)
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    tensors: dict[str, Any] = {}
    flatten(state, "", tensors, torch.Tensor, keep=lambda tensor: tensor.detach().cpu().numpy())
    prefix = f"{layer.location}." if layer.location else ""
    return {name: tensors[prefix + name] for name in layer_names(tensors, prefix)}


def layer_names(names: Any, prefix: str) -> list[str]:
    """The layer's own parameter names under ``prefix`` (``weight_ih_l0`` ..., not a nested module's)."""
    plain = [name[len(prefix):] for name in names if name.startswith(prefix)]
    return [name for name in plain if (m := FUSED.match(name) or CELL.match(name)) is not None and not m["prefix"]]


def inject_pt(path: Path, layer: FoundLayer, arrays: dict[str, Any]) -> Any:
    """``write(target)``: the ``.pt`` at ``path`` (state_dict or checkpoint) with the tensors of the layer at
    ``layer.location`` replaced by ``arrays`` (plain names), every other entry kept. The layer's names and
    shapes must be exactly ``arrays``' (checked here, before anything is written); dtypes stay the file's."""
    from rnn_ref.adapters.torch.files import check_torch_archive

    check_torch_archive(path)
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    shapes: dict[str, tuple[int, ...]] = {}
    flatten(state, "", shapes, torch.Tensor)
    prefix = f"{layer.location}." if layer.location else ""
    own = {name: shapes[prefix + name] for name in layer_names(shapes, prefix)}
    given = {name: tuple(array.shape) for name, array in arrays.items()}
    check_named_shapes(path, layer.location, own, given)

    def replaced(value: Any, where: str) -> Any:
        if isinstance(value, torch.Tensor):
            name = where.removesuffix(".")
            if name.startswith(prefix) and name[len(prefix):] in arrays:
                return torch.from_numpy(np.ascontiguousarray(arrays[name[len(prefix):]])).to(value.dtype)
            return value
        if isinstance(value, dict):
            for key in list(value):
                if isinstance(key, (str, int)):
                    value[key] = replaced(value[key], f"{where}{key}.")
        elif isinstance(value, list):
            value[:] = [replaced(item, f"{where}{k}.") for k, item in enumerate(value)]
        return value

    updated = replaced(state, "")
    return lambda target: torch.save(updated, target)

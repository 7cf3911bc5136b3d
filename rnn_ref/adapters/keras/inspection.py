"""Which recurrent layers a Keras 3 ``.weights.h5`` or ``.keras`` file holds, for ``rnn-ref inspect``.

Only HDF5 metadata (group names, dataset shapes, the ``vars`` groups' ``name`` attribute) and,
in a ``.keras`` (a zip of ``config.json`` and ``model.weights.h5``), the JSON config are read:
Keras never loads the model, so no code from the file (a ``Lambda``, a custom class) runs.

In the weights file every layer is a group named after its attribute path (``layers/lstm_1``,
``encoder`` in a subclassed model) whose ``vars`` group carries the layer's own name. A
recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN(cell)``) has a ``cell`` group whose
``vars`` are 0: kernel (I, G·H), 1: recurrent kernel (H, G·H), 2: bias (G·H,) or, for a GRU
with ``reset_after``, (2, 3H); ``StackedRNNCells`` holds ``cell/cells/<cell>/vars`` per level;
``Bidirectional`` holds ``forward_layer`` and ``backward_layer``. G is 4 (LSTM), 3 (GRU) or
1 (SimpleRNN: tanh or relu, only the config says which). Layers that feed each other form one
stack: in a ``.keras``, consecutive layers of a Sequential or a layer whose one input is the
previous layer's output; a ``.weights.h5`` keeps no graph, so there layers of one class whose
sizes chain are taken as one stack and ``num_layers`` is marked as read off the shapes.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import GATES_MODES, FoundLayer, Open, chain_stacks, mode_of_gates

RELU_TANH = {"tanh": "rnn_tanh", "relu": "rnn_relu"}
NO_CONFIG_ACTIVATION = "a .weights.h5 holds no config: SimpleRNN's activation is in the model's .keras"
NO_CONFIG_VARIANT = "a GRU without bias shows reset_after in no shape; the model's .keras config says it"
NO_GRAPH = ("a .weights.h5 keeps no graph: these layers were joined as their sizes chain; the model's .keras "
            "says whether they feed each other")
#: config.json and model.weights.h5 are read into memory; a larger member is refused first.
MAX_MEMBER = files.MAX_NPZ_BYTES


def natural(name: str) -> tuple[Any, ...]:
    """``lstm_10`` after ``lstm_2``: Keras numbers a class's layers in creation order."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def cell_layer(location: str, cell: Any) -> FoundLayer | None:
    """One cell's level from its ``vars`` group (None: not a recurrent cell's variables)."""
    import h5py

    variables = cell.get("vars")
    if not isinstance(variables, h5py.Group):
        return None
    shapes = [tuple(variables[key].shape) for key in sorted(variables, key=natural)
              if isinstance(variables[key], h5py.Dataset)]
    if len(shapes) not in (2, 3) or len(shapes[0]) != 2 or len(shapes[1]) != 2:
        return None
    (inputs, columns), (hidden, recurrent) = shapes[0], shapes[1]
    if hidden == 0 or columns != recurrent or recurrent % hidden or recurrent // hidden not in GATES_MODES:
        return None
    mode, opens = mode_of_gates(recurrent // hidden, why=NO_CONFIG_ACTIVATION)
    variant = None
    if mode == "gru":
        if len(shapes) == 3:
            variant = "reset_after" if len(shapes[2]) == 2 else "reset_before"
        else:
            opens += (Open("gru_variant", "--gru-variant", NO_CONFIG_VARIANT, ("reset_after", "reset_before")),)
    return FoundLayer(location, mode, inputs, hidden, gru_variant=variant, bias=len(shapes) == 3, undetermined=opens)


def layer_name(group: Any, fallback: str) -> str:
    """The layer's own name (``vars``' attribute), else its attribute path."""
    variables = group.get("vars")
    name = variables.attrs.get("name") if variables is not None else None
    return name.decode() if isinstance(name, bytes) else str(name) if name is not None else fallback


def recurrent_levels(group: Any, location: str) -> list[FoundLayer] | None:
    """The levels of the recurrent layer ``group`` (None: not one): its cell, each stacked cell,
    or a Bidirectional's two halves as one bidirectional level."""
    import h5py

    if isinstance(group.get("forward_layer"), h5py.Group) and isinstance(group.get("backward_layer"), h5py.Group):
        halves = [recurrent_levels(group[side], location) for side in ("forward_layer", "backward_layer")]
        if not halves[0] or not halves[1] or len(halves[0]) != 1 or halves[0][0] != halves[1][0]:
            return None
        return [replace(halves[0][0], bidirectional=True)]
    cell = group.get("cell")
    if not isinstance(cell, h5py.Group):
        return None
    cells = cell.get("cells")
    if isinstance(cells, h5py.Group):
        levels = [cell_layer(location, cells[name]) for name in sorted(cells, key=natural)]
        return levels if levels and all(levels) else None  # type: ignore[return-value]
    level = cell_layer(location, cell)
    return [level] if level is not None else None


def walk(group: Any, path: str, found: list[tuple[str, str, list[FoundLayer]]]) -> None:
    """Every recurrent layer under ``group``: (its attribute path, its name, its levels), in natural order."""
    import h5py

    for key in sorted(group, key=natural):
        child = group[key]
        if key == "vars" or not isinstance(child, h5py.Group):
            continue
        where = f"{path}/{key}" if path else key
        name = layer_name(child, where)
        levels = recurrent_levels(child, name)
        if levels is not None:
            found.append((where, name, levels))
        else:
            walk(child, where, found)


def h5_layers(path: Path, source: Any) -> list[tuple[str, str, list[FoundLayer]]]:
    import h5py

    found: list[tuple[str, str, list[FoundLayer]]] = []
    try:
        with h5py.File(source, "r") as archive:
            walk(archive, "", found)
    except OSError as error:
        raise ParamsError(f"{path}: not a readable Keras weights file ({str(error).splitlines()[0]})") from None
    return found


def layer_of(name: str, levels: list[FoundLayer]) -> list[FoundLayer]:
    """One Keras layer's levels as found layers: one, or a StackedRNNCells' cells as one stack
    (each cell apart, ``NAME/cells/K``, when they are not one canonical stack)."""
    joined = chain_stacks(levels)
    if len(joined) == 1:
        return [replace(joined[0], location=name)]
    return [replace(level, location=f"{name}/cells/{k}") for k, level in enumerate(levels)]


def klass(where: str) -> str:
    """The class part of an attribute path's last name (``layers/lstm_1`` -> ``layers/lstm``)."""
    return re.sub(r"_\d+$", "", where)


def with_shape_stacks(found: list[tuple[str, str, list[FoundLayer]]]) -> list[FoundLayer]:
    """A ``.weights.h5``'s layers; consecutive layers of one class whose sizes chain joined (and marked so)."""
    runs: list[tuple[str, FoundLayer]] = []  # (attribute path of the last layer joined, the layer or stack)
    for where, name, levels in found:
        for layer in layer_of(name, levels):
            if runs and klass(runs[-1][0]) == klass(where) and len(chain_stacks([runs[-1][1], layer])) == 1:
                runs[-1] = (where, chain_stacks([runs[-1][1], layer])[0])
            else:
                runs.append((where, layer))
    return [layer.leaving_open(Open("num_layers", "--layers", NO_GRAPH)) if "+" in layer.location else layer
            for _, layer in runs]


def inspect_weights_h5(path: Path) -> list[FoundLayer]:
    """The recurrent layers of a ``model.save_weights`` file (shapes only)."""
    return with_shape_stacks(h5_layers(path, str(path)))


# --------------------------------------------------------------------------- .keras (config + weights)
def keras_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    """One member of a ``.keras`` zip, its sizes checked before it is inflated."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ParamsError(f"{path}: not a .keras file (no {name} in the archive)") from None
    files.check_zip_entry(info, path.stat().st_size)
    files.check_inflation([info], path.stat().st_size)
    return archive.read(info)


def inspect_keras(path: Path) -> list[FoundLayer]:
    """The recurrent layers of a ``model.save`` file: the weights' shapes, settled and stacked by the config."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(keras_member(path, archive, "config.json"))
            weights = keras_member(path, archive, "model.weights.h5")
    except files.READ_ERRORS as error:
        raise ParamsError(f"{path}: not a readable .keras file ({files.reason(error)})") from None
    found = h5_layers(path, io.BytesIO(weights))
    from rnn_ref.adapters.keras.config import config_layers, settled

    layers = config_layers(config)
    if layers is None:  # a subclassed model: no layer graph in the config
        return with_shape_stacks(found)
    return settled(found, layers)


# --------------------------------------------------------------------------- one layer's arrays (convert --layer)
def cell_datasets(cell: Any) -> list[Any]:
    """A cell's ``vars`` in their order (kernel, recurrent kernel, bias)."""
    variables = cell["vars"]
    return [variables[key] for key in sorted(variables, key=natural)]


def level_datasets(group: Any, cells: str | None) -> list[Any]:
    """A recurrent layer's variables in ``get_weights`` order of rnn_ref's Keras model: per level, the
    forward cell's then (a Bidirectional) the backward one's; ``cells``: one cell of a StackedRNNCells."""
    if "forward_layer" in group and "backward_layer" in group:
        return [*level_datasets(group["forward_layer"], cells), *level_datasets(group["backward_layer"], cells)]
    cell = group["cell"]
    if "cells" in cell:
        names = sorted(cell["cells"], key=natural)
        chosen = names if cells is None else [names[int(cells)]]
        return [dataset for name in chosen for dataset in cell_datasets(cell["cells"][name])]
    return cell_datasets(cell)


def layer_datasets(path: Path, archive: Any, layer: FoundLayer) -> list[Any]:
    """The variables of the layer (or stack, ``a+b``) at ``layer.location``, in ``get_weights`` order."""
    found: list[tuple[str, str, list[FoundLayer]]] = []
    walk(archive, "", found)
    where = {name: attribute_path for attribute_path, name, _ in found}
    datasets: list[Any] = []
    for part in layer.location.split("+"):
        name, _, cells = part.partition("/cells/")
        if name not in where:
            raise ParamsError(f"{path}: no recurrent layer {name!r} in the weights")
        datasets += level_datasets(archive[where[name]], cells or None)
    return datasets


def keras_arrays(path: Path, source: Any, layer: FoundLayer) -> dict[str, Any]:
    import h5py

    with h5py.File(source, "r") as archive:
        return {f"arr_{k}": dataset[()] for k, dataset in enumerate(layer_datasets(path, archive, layer))}


def extract_weights_h5(path: Path, layer: FoundLayer) -> dict[str, Any]:
    """The arrays of the layer (or stack, ``a+b``) at ``layer.location`` of a ``save_weights`` file, as
    ``arr_0 ... arr_k`` in the ``get_weights`` order of the model ``rnn-ref map keras`` describes."""
    return keras_arrays(path, str(path), layer)


def keras_weights(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            return keras_member(path, archive, "model.weights.h5")
    except files.READ_ERRORS as error:
        raise ParamsError(f"{path}: not a readable .keras file ({files.reason(error)})") from None


def extract_keras(path: Path, layer: FoundLayer) -> dict[str, Any]:
    """Those arrays of a ``model.save`` file (its ``model.weights.h5`` member)."""
    return keras_arrays(path, io.BytesIO(keras_weights(path)), layer)


# --------------------------------------------------------------------------- writing one layer into a user's file
def checked_names(path: Path, source: Any, layer: FoundLayer, arrays: dict[str, Any]) -> list[str]:
    """The HDF5 names of the layer's variables, each checked to have the shape of ``arr_k``."""
    import h5py

    with h5py.File(source, "r") as archive:
        datasets = layer_datasets(path, archive, layer)
        names = [dataset.name for dataset in datasets]
        shapes = [tuple(dataset.shape) for dataset in datasets]
    given = [tuple(arrays[f"arr_{k}"].shape) for k in range(len(arrays))]
    if shapes != given:
        raise ParamsError(f"{path}: the layer at {layer.location!r} does not take the converted weights "
                          f"(its variables' shapes {shapes}, converted {given})")
    return names


def overwrite(target: str, names: list[str], arrays: dict[str, Any]) -> None:
    import h5py

    with h5py.File(target, "r+") as archive:
        for k, name in enumerate(names):
            archive[name][...] = arrays[f"arr_{k}"]


def inject_weights_h5(path: Path, layer: FoundLayer, arrays: dict[str, Any]) -> Any:
    """``write(target)``: the ``save_weights`` file with the layer's variables replaced (every other layer's
    bytes kept), so ``model.load_weights`` takes it as it took the file."""
    names = checked_names(path, str(path), layer, arrays)

    def write(target: str) -> None:
        shutil.copyfile(path, target)
        overwrite(target, names, arrays)

    return write


def inject_keras(path: Path, layer: FoundLayer, arrays: dict[str, Any]) -> Any:
    """``write(target)``: the ``.keras`` zip with its ``model.weights.h5`` so rewritten, every other member
    (the config, the metadata) copied as it is."""
    weights = keras_weights(path)
    names = checked_names(path, io.BytesIO(weights), layer, arrays)

    def write(target: str) -> None:
        scratch = f"{target}.weights.h5"
        try:
            Path(scratch).write_bytes(weights)
            overwrite(scratch, names, arrays)
            with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as result:
                for info in source.infolist():
                    data = Path(scratch).read_bytes() if info.filename == "model.weights.h5" else source.read(info)
                    result.writestr(info, data)
        finally:
            Path(scratch).unlink(missing_ok=True)

    return write

"""What a ``.keras`` file's ``config.json`` says of its recurrent layers, for ``rnn-ref inspect``.

The config is JSON, read as data (no class it names is imported). A Sequential's or
Functional's ``layers`` give each layer's class, its settings and (Functional) the layers it
reads (``inbound_nodes[..].args[..].config.keras_history[0]``); a Sequential's layer reads the
one before it; a nested model's layers are taken in place. ``settled`` completes what the
weights' shapes left open (a SimpleRNN's ``activation``, a bias-free GRU's ``reset_after``)
and joins into one stack the recurrent layers that read each other's output.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from rnn_ref.core.inspection import FoundLayer, Open, same_kind, stacked

MODELS = ("Sequential", "Functional", "Model")
RELU_TANH = {"tanh": "rnn_tanh", "relu": "rnn_relu"}


@dataclass(frozen=True)
class ConfigLayer:
    """One layer of the config: its name, class, settings, and the layers it reads."""

    name: str
    class_name: str
    config: dict[str, Any]
    reads: tuple[str, ...] = field(default=())


def config_layers(config: Any) -> list[ConfigLayer] | None:
    """The layers of a Sequential or Functional model's config, in order (None: a subclassed model)."""
    if not isinstance(config, dict) or config.get("class_name") not in MODELS:
        return None
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        return None
    found: list[ConfigLayer] = []
    sequential = config.get("class_name") == "Sequential"
    for entry in inner["layers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            continue
        nested = config_layers(entry)
        if nested is not None:
            found += nested
            continue
        settings = entry["config"]
        name = str(entry.get("name", settings.get("name", "")))
        reads = (found[-1].name,) if sequential and found else tuple(inbound(entry.get("inbound_nodes")))
        found.append(ConfigLayer(name, str(entry.get("class_name")), settings, reads))
    return found


def inbound(nodes: Any) -> list[str]:
    """The names of the layers whose outputs a Functional layer reads (``keras_history``)."""
    names: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") if value.get("class_name") == \
                "__keras_tensor__" and isinstance(value.get("config"), dict) else None
            if isinstance(history, list) and history:
                names.append(str(history[0]))
            else:
                for item in value.values():
                    visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(nodes)
    return names


def cell_configs(layer: ConfigLayer) -> list[dict[str, Any]]:
    """The settings of the cells of a recurrent layer, one per level (a StackedRNNCells: each cell)."""
    settings = layer.config
    if layer.class_name == "Bidirectional" and isinstance(settings.get("layer"), dict):
        return cell_configs(ConfigLayer(layer.name, str(settings["layer"].get("class_name")),
                                        settings["layer"].get("config") or {}))
    cell = settings.get("cell")
    if isinstance(cell, dict):
        inner = cell.get("config") or {}
        if cell.get("class_name") == "StackedRNNCells":
            return [c.get("config") or {} for c in inner.get("cells", []) if isinstance(c, dict)]
        return [inner]
    return [settings]


def settle(layer: FoundLayer, cells: list[dict[str, Any]]) -> FoundLayer:
    """``layer`` with what its cells' settings say: a SimpleRNN's activation, a GRU's reset_after."""
    cell = cells[0] if cells else {}
    opens = [o for o in layer.undetermined]
    if layer.mode is None and any(o.field == "mode" for o in opens) and cell.get("activation") in RELU_TANH:
        layer = replace(layer, mode=RELU_TANH[cell["activation"]])
        opens = [o for o in opens if o.field != "mode"]
    elif layer.mode is None and any(o.field == "mode" for o in opens):
        opens = [Open("mode", "--mode", f"SimpleRNN activation {cell.get('activation')!r} is neither tanh nor relu",
                      ("rnn_tanh", "rnn_relu")) if o.field == "mode" else o for o in opens]
    if layer.mode == "gru" and "reset_after" in cell:
        layer = replace(layer, gru_variant="reset_after" if cell["reset_after"] else "reset_before")
        opens = [o for o in opens if o.field != "gru_variant"]
    return replace(layer, undetermined=tuple(opens))


def settled(found: list[tuple[str, str, list[FoundLayer]]], layers: list[ConfigLayer]) -> list[FoundLayer]:
    """The weights' layers, settled by the config and in its order; a layer that reads only the
    previous recurrent layer's output (of the same kind) joins its stack."""
    by_name = {layer.name: layer for layer in layers}
    order = {layer.name: k for k, layer in enumerate(layers)}
    ranked = sorted(found, key=lambda item: order.get(item[1], len(order)))
    result: list[tuple[str, FoundLayer]] = []  # (the name of the last layer joined, the layer or stack)
    for _, name, levels in ranked:
        described = by_name.get(name)
        cells = cell_configs(described) if described is not None else []
        settled_levels = [settle(level, [cells[k]] if k < len(cells) else cells) for k, level in enumerate(levels)]
        layer = settled_levels[0]
        if len(settled_levels) > 1:  # a StackedRNNCells: its cells feed each other
            joined = all(same_kind(a, b) for a, b in itertools.pairwise(settled_levels))
            layer = replace(stacked(settled_levels), location=name) if joined else layer
        layer = replace(layer, location=name)
        if result and described is not None and described.reads == (result[-1][0],) \
                and same_kind(result[-1][1], layer):
            result[-1] = (name, stacked([result[-1][1], layer]))
        else:
            result.append((name, layer))
    return [layer for _, layer in result]

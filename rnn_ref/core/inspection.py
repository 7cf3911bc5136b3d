"""What ``rnn-ref inspect`` finds in a model file: one ``FoundLayer`` per recurrent layer or stack.

A family's inspector (``FileFormat.inspector``, ``FileFormat.names_inspector``) reads its own
file layout and reports each recurrent layer (or stack of layers that feed each other) as a
``FoundLayer``: where it lies (``location``, in the file's own words: a state_dict prefix, a
layer name, node names), the spec its names and shapes determine, and what they leave open
(``undetermined``: each open field with the flag that settles it). Nothing here reads a file.

Conventions (the canonical ones of design §2): ``hidden_size`` is H (the cell size; with a
projection, R = ``proj_size``), ``input_size`` is the first layer's input, ``num_layers`` the
depth of the stack, ``bidirectional`` two directions per level. A field the file leaves open
is ``None`` (or its default) and named in ``undetermined``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from rnn_ref.core.errors import ParamsError

#: The keys of ``inspect --format json``'s objects, in order (contract).
JSON_KEYS = ("location", "mode", "input_size", "hidden_size", "num_layers", "bidirectional", "proj_size",
             "gru_variant", "bias", "undetermined")

#: Gate blocks per mode family: a recurrent matrix with G·H rows (or columns) of H says the mode.
GATES_MODES = {4: "lstm", 3: "gru", 1: "rnn"}
PLAIN_RNN_MODES = ("rnn_tanh", "rnn_relu")


@dataclass(frozen=True)
class Open:
    """A spec field the file does not determine: which flag settles it, its values, and why it is open."""

    field: str
    flag: str
    why: str
    values: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "flag": self.flag, "values": list(self.values), "why": self.why}

    def text(self) -> str:
        values = f" {'|'.join(self.values)}" if self.values else ""
        return f"{self.field}: {self.flag}{values} ({self.why})"


@dataclass(frozen=True)
class FoundLayer:
    """One recurrent layer or stack found in a file (see the module docstring for the fields)."""

    location: str
    mode: str | None
    input_size: int | None
    hidden_size: int | None
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    gru_variant: str | None = None
    bias: bool | None = True
    undetermined: tuple[Open, ...] = field(default=())
    #: the exact name prefix of the layer's arrays, where they are named parameters a converter reads
    #: under a prefix (``encoder.lstm.``; None: not such a file). Not part of the JSON.
    prefix: str | None = None

    def to_json(self) -> dict[str, Any]:
        values = {key: getattr(self, key) for key in JSON_KEYS}
        values["undetermined"] = [open_field.to_json() for open_field in self.undetermined]
        return values

    def output_size(self) -> int | None:
        """The features of the stack's output (D·R), or None when H is not known."""
        if self.hidden_size is None:
            return None
        return (2 if self.bidirectional else 1) * (self.proj_size or self.hidden_size)

    def leaving_open(self, *opens: Open) -> FoundLayer:
        """This layer with ``opens`` added to what it leaves undetermined (each field once)."""
        known = {o.field for o in self.undetermined}
        return replace(self, undetermined=self.undetermined + tuple(o for o in opens if o.field not in known))


def mode_of_gates(gates: int, plain: str | None = None, why: str = "") -> tuple[str | None, tuple[Open, ...]]:
    """The mode of a layer whose weights stack ``gates`` gate blocks, and what stays open.

    A plain RNN's nonlinearity (tanh or relu) is not in its weights: ``plain`` when the file
    says it, else the mode is open (``--mode``), ``why`` saying where it would be."""
    kind = GATES_MODES.get(gates)
    if kind is None:
        return None, (Open("mode", "--mode", f"{gates} gate blocks fit no RNN, LSTM or GRU"),)
    if kind != "rnn":
        return kind, ()
    if plain in PLAIN_RNN_MODES:
        return plain, ()
    return None, (Open("mode", "--mode", why or "a plain RNN's nonlinearity is not in its weights",
                       PLAIN_RNN_MODES),)


def same_kind(lower: FoundLayer, upper: FoundLayer) -> bool:
    """``upper`` can be the next level of a stack ending in ``lower``: the same cell, and it reads
    ``lower``'s output (its input size is lower's D·R)."""
    return (lower.mode, lower.bidirectional, lower.proj_size, lower.gru_variant, lower.bias, lower.hidden_size) == \
        (upper.mode, upper.bidirectional, upper.proj_size, upper.gru_variant, upper.bias, upper.hidden_size) \
        and upper.input_size is not None and upper.input_size == lower.output_size() \
        and not lower.undetermined and not upper.undetermined


def stacked(levels: list[FoundLayer], separator: str = "+") -> FoundLayer:
    """Levels that feed each other (in order) as one stack, located by their locations joined."""
    first = levels[0]
    return replace(first, location=separator.join(level.location for level in levels),
                   num_layers=sum(level.num_layers for level in levels), prefix=None)


def chain_stacks(layers: Iterable[FoundLayer], feeds: Any = None) -> list[FoundLayer]:
    """Consecutive layers that feed each other joined into stacks. ``feeds(lower, upper)`` says
    whether ``upper`` reads ``lower``'s output (default: always, when ``same_kind``)."""
    stacks: list[list[FoundLayer]] = []
    for layer in layers:
        if stacks and same_kind(stacks[-1][-1], layer) and (feeds is None or feeds(stacks[-1][-1], layer)):
            stacks[-1].append(layer)
        else:
            stacks.append([layer])
    return [stacked(levels) if len(levels) > 1 else levels[0] for levels in stacks]


def render_table(path: str, found: list[FoundLayer]) -> str:
    """The text table of ``inspect``: one row per layer, then what each leaves open."""
    header = ("location", "mode", "I", "H", "layers", "bidir", "proj", "gru_variant", "bias")
    rows = [(f.location or "(top level)", f.mode or "?", _shown(f.input_size), _shown(f.hidden_size),
             str(f.num_layers), "yes" if f.bidirectional else "no", str(f.proj_size), f.gru_variant or "-",
             _shown(f.bias, yes_no=True)) for f in found]
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
    lines = [f"{path}: {len(found)} recurrent layer{'s' * (len(found) != 1)}"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
              for row in [header, *rows]]
    for f in found:
        lines += [f"  {f.location or '(top level)'}: undetermined {o.text()}" for o in f.undetermined]
    return "\n".join(lines)


def _shown(value: Any, yes_no: bool = False) -> str:
    if value is None:
        return "?"
    if yes_no:
        return "yes" if value else "no"
    return str(value)


def check_named_shapes(path: Any, location: str, own: dict[str, tuple[int, ...]],
                       given: dict[str, tuple[int, ...]]) -> None:
    """Before a layer is written into a user's file: its parameters there (``own``, native name ->
    shape) must be exactly the converted ones (``given``); else one ParamsError naming each that differs."""
    if own != given:
        differ = sorted(f"{n}: {own.get(n)} in the file, {given.get(n)} converted" for n in set(own) | set(given)
                        if own.get(n) != given.get(n))
        raise ParamsError(f"{path}: the layer at {location!r} does not take the converted weights "
                          f"({'; '.join(differ)})")

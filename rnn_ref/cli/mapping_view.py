"""Views of mapping rows for people and tools: the ``rnn-ref map`` table, markdown and JSON.

Sizes are shown symbolically (``4H``, ``I``, ``[H:2H]``) unless the caller gives concrete
input and hidden sizes. Symbolic views are computed with the prime sizes below and every
number is written back as ``k·symbol``: with primes larger than any multiplier in a layer
(at most 4 gates × 2 directions), each number has exactly one such spelling.

JSON schema (``--format json``), one object::

    {"engine": str, "spec": {RNNSpec fields; when symbolic, input_size "I", hidden_size "H"
                             and proj_size the number given (shapes show it as "P")},
     "symbolic": bool,
     "parameters": [{"name": str, "shape": [int | str, ...],
                     "blocks": [{"region": str, "canonical": [str, ...],
                                 "layer": int, "direction": "fwd" | "bwd",
                                 "kind": "w_ih" | "w_hh" | "b_ih" | "b_hh" | "w_proj" | "w_peep",
                                 "gate": str | null, "transpose": bool,
                                 "combine": "copy" | "sum"}]}]}

and with ``--to OTHER``::

    {"from": str, "to": str, "spec": {...}, "symbolic": bool,
     "pairs": [{"target": {"name": str, "region": str},
                "sources": [{"name": str, "region": str, "transpose": bool}],
                "note": str | null}]}

``canonical`` lists more than one key when the native block holds their sum (a one-bias
engine's ``b_ih + b_hh``); ``transpose`` is true when the native block is the canonical
block transposed. In a pair, a source's ``transpose`` says whether it must be transposed
to give the target block.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rnn_ref.core.mapping import MappingRow, WeightMapping, format_region
from rnn_ref.core.spec import RNNSpec

#: Sizes used to draw symbolic views: primes above any multiplier (gates × directions <= 8).
SYMBOLIC_SIZES = {"I": 11, "H": 13, "P": 7}


@dataclass(frozen=True)
class Sizes:
    """How numbers are written: symbolically (``2H``) or as they are.

    ``proj_size`` is the projection size the user gave when the sizes are symbolic (shapes
    then show it as ``P``; the JSON ``spec`` carries the number given).
    """

    symbolic: bool
    proj_size: int = 0

    def spec_json(self, spec: RNNSpec) -> dict:
        """The spec as the user gave it: symbolic sizes as their symbols, never placeholder numbers."""
        fields = spec.to_dict()
        if self.symbolic:
            fields |= {"input_size": "I", "hidden_size": "H", "proj_size": self.proj_size}
        return fields

    def number(self, value: int) -> str:
        if not self.symbolic or value == 0:
            return str(value)
        for symbol, size in SYMBOLIC_SIZES.items():
            if value % size == 0 and value // size <= 8:
                factor = value // size
                return symbol if factor == 1 else f"{factor}{symbol}"
        return str(value)

    def shape(self, shape: tuple[int, ...]) -> str:
        inner = ", ".join(self.number(n) for n in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    def region(self, row: MappingRow) -> str:
        items = tuple(
            item if isinstance(item, int) or item == slice(None)
            else slice(self.number(item.start), self.number(item.stop))
            for item in row.region
        )
        return format_region(items)


def block_fields(key: str) -> dict:
    """``'l1.bwd.w_hh.f'`` -> layer 1, direction bwd, kind w_hh, gate f."""
    layer, direction, kind, *gate = key.split(".")
    return {"layer": int(layer[1:]), "direction": direction, "kind": kind, "gate": gate[0] if gate else None}


def grouped(mapping: WeightMapping) -> dict[str, list[MappingRow]]:
    """Rows by native parameter, in native order."""
    groups: dict[str, list[MappingRow]] = {name: [] for name in mapping.native_shapes}
    for row in mapping.rows:
        groups[row.native].append(row)
    return groups


def header(mapping: WeightMapping, sizes: Sizes) -> str:
    spec = mapping.spec
    parts = [spec.mode + (f" {spec.gru_variant}" if spec.gru_variant else ""), f"{spec.num_layers} layer(s)",
             "bidirectional" if spec.bidirectional else "unidirectional"]
    if spec.proj_size:
        parts.append("projection")
    if sizes.symbolic:
        size_line = "sizes: I input, H hidden" + (", P projection" if spec.proj_size else "")
        size_line += " (symbolic)"
    else:
        size_line = f"sizes: I={spec.input_size} H={spec.hidden_size}"
        size_line += f" P={spec.proj_size}" if spec.proj_size else ""
    return f"{mapping.engine}: " + ", ".join(parts) + "\n" + size_line


def canonical_text(row: MappingRow) -> str:
    text = " + ".join(row.canonical)
    if row.transpose:
        text += " (transposed)"
    return text


def render_table(mapping: WeightMapping, sizes: Sizes) -> str:
    """Plain text for an 80-column terminal: each native parameter, then its blocks."""
    lines = [header(mapping, sizes), ""]
    for name, rows in grouped(mapping).items():
        lines.append(f"{name}  {sizes.shape(mapping.native_shapes[name])}")
        for row in rows:
            lines.append(f"    {sizes.region(row) or '(all)':<12} = {canonical_text(row)}")
    lines.append("")
    lines.append("(transposed): the native block is the canonical block transposed.")
    lines.append("a + b: the native block holds the sum (imported as a, with b = 0).")
    return "\n".join(lines)


def render_markdown(mapping: WeightMapping, sizes: Sizes) -> str:
    lines = ["**" + header(mapping, sizes).replace("\n", "**<br>") + "", "",
             "| native parameter | shape | block | canonical | transposed | combine |", "|---|---|---|---|---|---|"]
    for name, rows in grouped(mapping).items():
        shape = sizes.shape(mapping.native_shapes[name])
        for index, row in enumerate(rows):
            first = index == 0
            lines.append(
                f"| {'`' + name + '`' if first else ''} | {shape if first else ''} | "
                f"`{sizes.region(row) or '[:]'}` | {' + '.join(f'`{k}`' for k in row.canonical)} | "
                f"{'yes' if row.transpose else ''} | {row.combine} |"
            )
    return "\n".join(lines)


def mapping_json(mapping: WeightMapping, sizes: Sizes) -> dict:
    return {
        "engine": mapping.engine,
        "spec": sizes.spec_json(mapping.spec),
        "symbolic": sizes.symbolic,
        "parameters": [
            {
                "name": name,
                "shape": [sizes.number(n) if sizes.symbolic else n for n in mapping.native_shapes[name]],
                "blocks": [
                    {"region": sizes.region(row), "canonical": list(row.canonical), **block_fields(row.canonical[0]),
                     "transpose": row.transpose, "combine": row.combine}
                    for row in rows
                ],
            }
            for name, rows in grouped(mapping).items()
        ],
    }


# --------------------------------------------------------------------------- native -> native
@dataclass(frozen=True)
class Pair:
    """One target block and the source blocks that give it."""

    target: MappingRow
    sources: tuple[MappingRow, ...]
    note: str | None


def correspondence(source: WeightMapping, target: WeightMapping) -> list[Pair]:
    """For every block of ``target``, the blocks of ``source`` that hold the same canonical keys."""
    by_key = {key: row for row in source.rows for key in row.canonical}
    pairs = []
    for row in target.rows:
        sources: list[MappingRow] = []
        for key in row.canonical:
            if by_key[key] not in sources:
                sources.append(by_key[key])
        note = None
        if any(len(s.canonical) > 1 and not set(s.canonical) <= set(row.canonical) for s in sources):
            if row.canonical[0] == sources[0].canonical[0]:
                note = f"{source.engine} keeps one bias, b_ih + b_hh: all of it goes here"
            else:
                note = f"{source.engine} keeps one bias, b_ih + b_hh: this one gets zeros"
        elif len(row.canonical) > 1 and len(sources) > 1:
            note = "sum of the sources"
        pairs.append(Pair(row, tuple(sources), note))
    return pairs


def zeroed(pair: Pair) -> bool:
    return pair.note is not None and pair.note.endswith("gets zeros")


def render_pairs_table(source: WeightMapping, target: WeightMapping, sizes: Sizes) -> str:
    """Each block of the target engine, then (indented) the source engine's blocks that give it."""
    title, layer = f"{target.engine} <- {source.engine}", header(target, sizes).split(": ", 1)[1]
    # one line where it fits a terminal's 80 columns; long engine names put the layer on its own line
    fits = len(title) + len(layer.split("\n", 1)[0]) + 2 <= 80
    lines = [f"{title}: {layer}" if fits else f"{title}:\n  {layer}", ""]
    for pair in correspondence(source, target):
        lines.append(f"{pair.target.native}{sizes.region(pair.target)}")
        if zeroed(pair):
            lines.append("  = 0")
        else:
            for src in pair.sources:
                line = f"  {'+' if src is not pair.sources[0] else '='} {src.native}{sizes.region(src)}"
                if src.transpose != pair.target.transpose:  # on its own line when the line would pass 80
                    line += " (transposed)" if len(line) <= 80 - len(" (transposed)") else "\n    (transposed)"
                lines.append(line)
        if pair.note:
            lines.append(f"    ({pair.note})")
    return "\n".join(lines)


def render_pairs_markdown(source: WeightMapping, target: WeightMapping, sizes: Sizes) -> str:
    lines = [f"**{target.engine} <- {source.engine}**", "", f"| {target.engine} | {source.engine} | note |",
             "|---|---|---|"]
    for pair in correspondence(source, target):
        sources = "0" if zeroed(pair) else " + ".join(
            f"`{s.native}{sizes.region(s)}`" + ("ᵀ" if s.transpose != pair.target.transpose else "")
            for s in pair.sources)
        lines.append(f"| `{pair.target.native}{sizes.region(pair.target)}` | {sources} | {pair.note or ''} |")
    return "\n".join(lines)


def pairs_json(source: WeightMapping, target: WeightMapping, sizes: Sizes) -> dict:
    return {
        "from": source.engine,
        "to": target.engine,
        "spec": sizes.spec_json(target.spec),
        "symbolic": sizes.symbolic,
        "pairs": [
            {
                "target": {"name": p.target.native, "region": sizes.region(p.target)},
                "sources": [] if zeroed(p) else [
                    {"name": s.native, "region": sizes.region(s), "transpose": s.transpose != p.target.transpose}
                    for s in p.sources
                ],
                "note": p.note,
            }
            for p in correspondence(source, target)
        ],
    }


def render(mapping: WeightMapping, fmt: str, sizes: Sizes, source: WeightMapping | None = None) -> str:
    """``fmt`` is table, markdown or json; with ``source``, the source -> mapping correspondence."""
    if source is None:
        views: dict[str, Callable[[WeightMapping, Sizes], str]] = {
            "table": render_table, "markdown": render_markdown,
            "json": lambda m, s: json.dumps(mapping_json(m, s), indent=2)}
        return views[fmt](mapping, sizes)
    pair_views: dict[str, Callable[[WeightMapping, WeightMapping, Sizes], str]] = {
        "table": render_pairs_table, "markdown": render_pairs_markdown,
        "json": lambda a, b, s: json.dumps(pairs_json(a, b, s), indent=2)}
    return pair_views[fmt](source, mapping, sizes)

"""Weight mappings as data: which region of which native parameter holds which canonical block.

An adapter describes its engine's parameters with ``MappingRow``s; the generic code here
copies weights in both directions from those rows alone (``WeightMapping.to_native`` and
``WeightMapping.to_params``), so the table that ``rnn-ref map`` prints is exactly what the
equivalence tests prove.

A row reads: ``native[region]`` equals ``canonical`` (transposed when ``transpose``). When a
row names several canonical keys, the native region holds their **sum** (a one-bias engine's
bias is ``b_ih + b_hh``); importing such a region puts it in the first key and zeros in the
others.

Gradients come back through the same rows (``WeightMapping.gradients_to_params``): a ``copy``
row's native gradient region is the canonical block's gradient (transposed when the row
transposes), and a ``sum`` row's native gradient is the gradient of **each** summand — the
native value is ``b_ih + b_hh``, so d loss / d b_ih = d loss / d b_hh = d loss / d native. (It is
not split, and it is not put in the first key as weights are: that is the rule for values.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import FLOAT_DTYPES, Params, expected_shapes, unit_prefix
from rnn_ref.core.spec import RNNSpec

Region = tuple[slice | int, ...]


def format_region(region: Region) -> str:
    """``(slice(0, 4), slice(None))`` -> ``'[0:4]'``; ``(slice(None), slice(4, 8))`` -> ``'[:, 4:8]'``.

    Trailing full slices are dropped, as in NumPy indexing (``w[0:4]`` is ``w[0:4, :]``).
    """
    region = tuple(region)
    while region and region[-1] == slice(None):
        region = region[:-1]
    parts = []
    for item in region:
        if isinstance(item, int):
            parts.append(str(item))
        elif item.start is None and item.stop is None:
            parts.append(":")
        else:
            parts.append(f"{item.start}:{item.stop}")
    return "[" + ", ".join(parts) + "]" if parts else ""


@dataclass(frozen=True)
class MappingRow:
    """``native[region]`` holds ``canonical`` (their sum if several), transposed if ``transpose``."""

    native: str
    region: Region
    canonical: tuple[str, ...]
    transpose: bool = False

    @property
    def combine(self) -> str:
        """``'copy'`` for one canonical block, ``'sum'`` for a region that holds several."""
        return "copy" if len(self.canonical) == 1 else "sum"

    def describe(self) -> str:
        """``'weight_ih_l0[0:4] = l0.fwd.w_ih.i'`` — one line for messages and docs."""
        source = " + ".join(self.canonical)
        return f"{self.native}{format_region(self.region)} = {source}{'ᵀ' if self.transpose else ''}"


@dataclass(frozen=True)
class WeightMapping:
    """All rows of one engine for one spec, and the native parameters in native order."""

    engine: str
    spec: RNNSpec
    native_shapes: dict[str, tuple[int, ...]]
    rows: tuple[MappingRow, ...]

    def to_native(self, params: Params) -> dict[str, np.ndarray]:
        """Native arrays (in native order) filled from canonical ``params``."""
        arrays = {name: np.zeros(shape, dtype=params.dtype) for name, shape in self.native_shapes.items()}
        for row in self.rows:
            # every row names at least one canonical key, so the sum is an array, never the start 0
            block = cast(np.ndarray, sum(params[key] for key in row.canonical))
            arrays[row.native][row.region] = block.T if row.transpose else block
        return arrays

    def to_params(self, arrays: Mapping[str, np.ndarray], what: str = "native weights") -> Params:
        """Canonical Params from native arrays; names and shapes are checked first."""
        self.check_native(arrays, what)
        dtype = np.asarray(arrays[next(iter(self.native_shapes))]).dtype
        blocks: dict[str, np.ndarray] = {}
        for row in self.rows:
            region = np.asarray(arrays[row.native])[row.region]
            first, *rest = row.canonical
            blocks[first] = np.array(region.T if row.transpose else region, dtype=dtype)
            for key in rest:
                blocks[key] = np.zeros_like(blocks[first])
        return Params(self.spec, blocks)

    def gradients_to_params(self, gradients: Mapping[str, np.ndarray], what: str = "native gradients") -> Params:
        """Canonical gradients from an engine's native parameter gradients, through the rows.

        The chain rule through ``to_native``: each canonical block's gradient is its row's native
        gradient region (transposed back); a ``sum`` row gives every summand the whole region.
        """
        self.check_native(gradients, what)
        dtype = np.asarray(gradients[next(iter(self.native_shapes))]).dtype
        blocks: dict[str, np.ndarray] = {}
        for row in self.rows:
            region = np.asarray(gradients[row.native])[row.region]
            for key in row.canonical:
                blocks[key] = np.array(region.T if row.transpose else region, dtype=dtype)
        return Params(self.spec, blocks)

    def check_native(self, arrays: Mapping[str, npt.ArrayLike], what: str = "native weights") -> None:
        """Raise ParamsError listing missing, unexpected and mis-shaped native names."""
        missing = [name for name in self.native_shapes if name not in arrays]
        unexpected = sorted(name for name in arrays if name not in self.native_shapes)
        misshaped = [
            f"{name}: expected shape {shape}, got {np.shape(arrays[name])}"
            for name, shape in self.native_shapes.items()
            if name in arrays and np.shape(arrays[name]) != shape
        ]
        problems = []
        if missing:
            problems.append(f"missing: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected: {', '.join(unexpected)}")
        problems += misshaped
        present = [name for name in self.native_shapes if name in arrays]
        dtypes = {name: np.asarray(arrays[name]).dtype for name in present}
        problems += [f"{name}: expected float32 or float64, got {dtype}" for name, dtype in dtypes.items()
                     if dtype not in FLOAT_DTYPES]
        if len({d for d in dtypes.values() if d in FLOAT_DTYPES}) > 1:
            mixed = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
            problems.append(f"arrays mix float32 and float64 (use one): {mixed}")
        problems += [f"{name}: contains NaN or Inf" for name in present
                     if dtypes[name] in FLOAT_DTYPES and not np.isfinite(np.asarray(arrays[name])).all()]
        if problems:
            raise ParamsError(
                f"{what} do not match the {self.engine} layer of {self.spec}:\n  " + "\n  ".join(problems)
            )

    def coverage_problems(self) -> list[str]:
        """Self-check: every native element written once, every canonical block used once."""
        problems = []
        counts = {name: np.zeros(shape, dtype=int) for name, shape in self.native_shapes.items()}
        used: dict[str, int] = {}
        shapes = expected_shapes(self.spec)
        for row in self.rows:
            counts[row.native][row.region] += 1
            region_shape = counts[row.native][row.region].shape
            for key in row.canonical:
                used[key] = used.get(key, 0) + 1
                block_shape = shapes[key][::-1] if row.transpose else shapes[key]
                if region_shape != block_shape:
                    problems.append(f"{row.describe()}: region {region_shape} vs block {block_shape}")
        for name, count in counts.items():
            if (count != 1).any():
                problems.append(f"{name}: elements written {sorted(set(count.ravel().tolist()))} times")
        problems += [f"{key}: used {used.get(key, 0)} times" for key in shapes if used.get(key, 0) != 1]
        return problems


# --------------------------------------------------------------------------- row builders
def stacked_gate_rows(
    spec: RNNSpec,
    native: str,
    layer: int,
    direction: str,
    kind: str,
    native_gate_order: Sequence[str],
    gate_axis: int = 0,
    transpose: bool = False,
    ndim: int | None = None,
    leading: Region = (),
    also: str | None = None,
) -> list[MappingRow]:
    """Rows for one native matrix or vector that stacks all gates of one kind along ``gate_axis``.

    ``native_gate_order`` lists canonical gate names in the engine's stacking order (torch
    LSTM ``i f g o``, Keras ``i f g o`` named i f c o, Keras GRU ``z r n``). ``leading`` is
    an index prefix (Keras's (2, 3H) GRU bias uses ``(0,)`` and ``(1,)``). ``also`` names a
    second canonical kind summed into the same region (a one-bias engine: ``b_hh``).
    """
    hidden = spec.hidden_size
    ndim = ndim if ndim is not None else (1 if kind.startswith("b_") else 2)
    rows = []
    prefix = unit_prefix(layer, direction)
    for position, gate in enumerate(native_gate_order):
        region: list[slice | int] = [slice(None)] * ndim
        region[gate_axis] = slice(position * hidden, (position + 1) * hidden)
        canonical = (f"{prefix}.{kind}.{gate}",) + ((f"{prefix}.{also}.{gate}",) if also else ())
        rows.append(MappingRow(native, (*leading, *region), canonical, transpose))
    return rows


#: Gate stacking order of cuDNN, torch and Gluon, in canonical gate names (the canonical order).
CUDNN_GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def fused_unit_rows(
    spec: RNNSpec, layer: int, direction: str, name: Callable[[str], str]
) -> tuple[dict[str, tuple[int, ...]], list[MappingRow]]:
    """Native shapes and rows of one (layer, direction) of a cuDNN-style layer (torch, Gluon).

    Such a layer keeps, per unit, ``weight_ih`` (G·H, I_l), ``weight_hh`` (G·H, R) and biases
    ``bias_ih``, ``bias_hh`` (G·H,) with gates stacked along rows in ``CUDNN_GATE_ORDER``, plus
    ``weight_hr`` (P, H) when projecting. ``name(kind)`` gives the engine's name for each kind.
    """
    gates = CUDNN_GATE_ORDER[spec.mode]
    stacked = len(gates) * spec.hidden_size
    shapes: dict[str, tuple[int, ...]] = {
        name("weight_ih"): (stacked, spec.layer_input_size(layer)),
        name("weight_hh"): (stacked, spec.state_size),
    }
    rows = stacked_gate_rows(spec, name("weight_ih"), layer, direction, "w_ih", gates)
    rows += stacked_gate_rows(spec, name("weight_hh"), layer, direction, "w_hh", gates)
    if spec.bias:
        shapes[name("bias_ih")] = shapes[name("bias_hh")] = (stacked,)
        rows += stacked_gate_rows(spec, name("bias_ih"), layer, direction, "b_ih", gates)
        rows += stacked_gate_rows(spec, name("bias_hh"), layer, direction, "b_hh", gates)
    if spec.proj_size:
        shapes[name("weight_hr")] = (spec.proj_size, spec.hidden_size)
        rows.append(MappingRow(name("weight_hr"), (), (f"l{layer}.{direction}.w_proj",)))
    return shapes, rows


def build_mapping(
    engine: str,
    spec: RNNSpec,
    unit_rows: Callable[[int, str], tuple[dict[str, tuple[int, ...]], list[MappingRow]]],
) -> WeightMapping:
    """Assemble a WeightMapping from a per-(layer, direction) function of native shapes and rows."""
    native_shapes: dict[str, tuple[int, ...]] = {}
    rows: list[MappingRow] = []
    for layer, direction in spec.units():
        shapes, unit = unit_rows(layer, direction)
        native_shapes |= shapes
        rows += unit
    return WeightMapping(engine, spec, native_shapes, tuple(rows))

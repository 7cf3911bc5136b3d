"""Canonical parameters: one NumPy block per (layer, direction, kind, gate).

Keys (design section 2)::

    l{layer}.{fwd|bwd}.w_ih.{gate}   (H, I_l)   input weights of one gate
    l{layer}.{fwd|bwd}.w_hh.{gate}   (H, R)     recurrent weights of one gate
    l{layer}.{fwd|bwd}.b_ih.{gate}   (H,)       input bias      (only when spec.bias)
    l{layer}.{fwd|bwd}.b_hh.{gate}   (H,)       recurrent bias  (only when spec.bias)
    l{layer}.{fwd|bwd}.w_proj        (P, H)     LSTM projection (only when proj_size > 0)
    l{layer}.{fwd|bwd}.w_peep.{gate} (H,)       LSTM peephole of gate i, f or o (only with peepholes)

Gates are LSTM ``i f g o``, GRU ``r z n`` and plain RNN ``h``. Blocks are never stored as a
stacked matrix, so no gate order is implied by the storage. Blocks are read-only once checked
(``sealed``): the weights the reference and an engine are given are the weights that were
validated (design section 2f).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rnn_ref.core.errors import ParamsError
from rnn_ref.core.files import NpyHeader, atomic_write, layout_problems, read_npz, write_npz
from rnn_ref.core.spec import PEEPHOLE_GATES, RNNSpec

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def unit_prefix(layer: int, direction: str) -> str:
    """``'l1.bwd'`` — the key prefix of one (layer, direction) unit."""
    return f"l{layer}.{direction}"


def expected_shapes(spec: RNNSpec) -> dict[str, tuple[int, ...]]:
    """Every canonical key of ``spec`` with its shape, in canonical order."""
    hidden, state = spec.hidden_size, spec.state_size
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, direction in spec.units():
        prefix = unit_prefix(layer, direction)
        layer_input = spec.layer_input_size(layer)
        for gate in spec.gates:
            shapes[f"{prefix}.w_ih.{gate}"] = (hidden, layer_input)
            shapes[f"{prefix}.w_hh.{gate}"] = (hidden, state)
            if spec.bias:
                shapes[f"{prefix}.b_ih.{gate}"] = (hidden,)
                shapes[f"{prefix}.b_hh.{gate}"] = (hidden,)
        if spec.proj_size:
            shapes[f"{prefix}.w_proj"] = (spec.proj_size, hidden)
        if spec.peepholes:
            for gate in PEEPHOLE_GATES:
                shapes[f"{prefix}.w_peep.{gate}"] = (hidden,)
    return shapes


def check_blocks(spec: RNNSpec, blocks: Mapping[str, np.ndarray], what: str = "params") -> None:
    """Raise ``ParamsError`` listing every missing, unexpected, mis-shaped or bad block."""
    shapes = expected_shapes(spec)
    missing = [k for k in shapes if k not in blocks]
    unexpected = sorted(k for k in blocks if k not in shapes)
    problems: list[str] = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    for key, shape in shapes.items():
        if key not in blocks:
            continue
        block = blocks[key]
        if not isinstance(block, np.ndarray):
            problems.append(f"{key}: expected a numpy array, got {type(block).__name__}")
        elif block.shape != shape:
            problems.append(f"{key}: expected shape {shape}, got {block.shape}")
        elif block.dtype not in FLOAT_DTYPES:
            problems.append(f"{key}: expected float32 or float64, got {block.dtype}")
        elif not np.isfinite(block).all():
            problems.append(f"{key}: contains NaN or Inf")
    if problems:
        raise ParamsError(f"{what} do not match {spec}:\n  " + "\n  ".join(problems))


def sealed(block: np.ndarray) -> np.ndarray:
    """``block`` as Params keep it: a read-only array that no one else holds writable.

    A read-only array that owns its memory (a block of other Params) is kept as it is, so making
    Params from Params copies nothing; any other array is copied and the copy marked read-only.
    Neither a write through the Params (``p[key][0, 0] = nan``) nor one by the caller into the
    array it passed in changes the weights after they were checked. (An owner can still turn the
    flag back on with ``setflags(write=True)``: that is deliberate, not an accident this catches.)
    """
    if type(block) is np.ndarray and block.base is None and not block.flags.writeable:
        return block
    copy = np.array(block)  # a plain ndarray that owns its memory, in the block's order
    copy.setflags(write=False)
    return copy


class Params(Mapping[str, np.ndarray]):
    """Canonical weights of one ``RNNSpec``: a read-only mapping ``key -> ndarray`` of read-only blocks.

    Iteration follows canonical order (layer, direction, gate). All blocks share one dtype. The
    blocks are checked, then ``sealed``: to change weights, make new Params from changed copies.
    """

    def __init__(self, spec: RNNSpec, blocks: Mapping[str, np.ndarray]) -> None:
        check_blocks(spec, blocks)
        dtypes = {blocks[k].dtype for k in blocks}
        if len(dtypes) > 1:
            raise ParamsError(f"params mix dtypes {sorted(str(d) for d in dtypes)}; use one")
        self.spec = spec
        self._blocks = {k: sealed(blocks[k]) for k in expected_shapes(spec)}
        # unit prefix -> [(key without the prefix, key)]: ``unit`` is called per unit and forward call
        self._unit_keys: dict[str, list[tuple[str, str]]] = {}
        for key in self._blocks:
            layer, direction, rest = key.split(".", 2)
            self._unit_keys.setdefault(f"{layer}.{direction}", []).append((rest, key))

    # Mapping protocol
    def __getitem__(self, key: str) -> np.ndarray:
        return self._blocks[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def __repr__(self) -> str:
        return f"Params({self.spec}, {len(self)} blocks, dtype={self.dtype})"

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self._blocks.values())).dtype

    def astype(self, dtype: np.dtype | type) -> Params:
        """These weights with every block cast to ``dtype`` (the same read-only blocks if already it)."""
        return Params(self.spec, {k: v.astype(dtype, copy=False) for k, v in self._blocks.items()})

    def unit(self, layer: int, direction: str) -> dict[str, np.ndarray]:
        """The blocks of one unit with the prefix stripped: ``{'w_ih.i': ..., ...}``."""
        return {short: self._blocks[key] for short, key in self._unit_keys.get(unit_prefix(layer, direction), ())}

    def equal(self, other: Params) -> bool:
        """Bit-exact equality of spec, keys, dtypes and values."""
        return (
            self.spec == other.spec
            and list(self) == list(other)
            and all(
                self[k].dtype == other[k].dtype and np.array_equal(self[k], other[k])
                for k in self
            )
        )

    # ---------------------------------------------------------------- construction
    @classmethod
    def random(cls, spec: RNNSpec, seed: int = 0, dtype: npt.DTypeLike = np.float64) -> Params:
        """Seeded weights, uniform in ±1/sqrt(H) like PyTorch's default init.

        Values are drawn in float64 in canonical key order and then cast, so one seed gives
        the same numbers (up to rounding) in every dtype.
        """
        if np.dtype(dtype) not in FLOAT_DTYPES:
            raise ParamsError(f"dtype={np.dtype(dtype)} must be float32 or float64")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(spec.hidden_size)
        blocks = {
            key: rng.uniform(-bound, bound, size=shape).astype(dtype)
            for key, shape in expected_shapes(spec).items()
        }
        return cls(spec, blocks)

    # ---------------------------------------------------------------- file io
    def save(self, path: str | Path) -> None:
        """Write an uncompressed canonical ``.npz`` (keys are canonical keys).

        Written to a temporary file beside ``path`` and renamed, so a failed write leaves any
        earlier file intact; an overwritten file keeps its permission bits. Like
        ``numpy.savez``, ``.npz`` is appended to a name that lacks it.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")

        def write(temporary: str) -> None:
            with open(temporary, "wb") as handle:
                write_npz(handle, self._blocks)

        atomic_write(path, write, ParamsError)

    @classmethod
    def load(cls, path: str | Path, spec: RNNSpec) -> Params:
        """Read a canonical ``.npz`` written by :meth:`save`; never unpickles. Its names, shapes
        and dtypes are checked against ``spec`` before any data is read."""
        path = Path(path)

        def check(headers: dict[str, NpyHeader]) -> None:
            problems = layout_problems(expected_shapes(spec), headers, " keys")
            if problems:
                raise ParamsError(f"{path}: canonical .npz arrays do not match {spec}:\n  " + "\n  ".join(problems))

        return cls(spec, read_npz(path, ParamsError, "canonical .npz file", check))

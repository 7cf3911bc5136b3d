"""The mistake catalog, weights part: each slip of a conversion as a change to what a correct one writes.

A ``Candidate`` is one mistake (``Mistake``: kind, parameters, sentence) and how to make it, at
the stage where it happens (each hook is optional; a candidate uses one or two):

* ``params``: on the canonical blocks of the source (a dict key -> array; gates, biases,
  directions, layers), before the target's rows write them;
* ``rows``: on the target's ``WeightMapping`` (a slip in the rows, as ``rnn-ref selftest``
  seeds them: rnn_ref.judge.mutations);
* ``native``: on the native arrays the rows wrote (a kernel reshaped where a transpose was meant);
* ``run`` and ``result``: on what the reference is asked and what it gives back (the outputs
  form only; rnn_ref/diagnosis/conventions.py).

Which mistakes exist for a layer depends on its spec (no direction swap without two
directions, no layer swap between layers of different shapes). In the weights form, gate orders
and transposed square blocks are found directly (rnn_ref/diagnosis/gates.py), so
``weight_candidates(spec, solved=True)`` leaves them out; the outputs form enumerates them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.diagnosis.findings import Mistake
from rnn_ref.diagnosis.gates import MODE_NAMES, block_kinds, every_order, moves, reorder
from rnn_ref.judge.mutations import drop_summand, key_parts

Blocks = dict[str, np.ndarray]


@dataclass(frozen=True)
class Run:
    """What the reference is asked in the outputs form: the layer, x (spec's layout), the initial
    state, the lengths and the σ of the gates (None: the logistic)."""

    spec: RNNSpec
    x: np.ndarray
    state: State | None
    lengths: np.ndarray | None
    gate_activation: Callable[..., np.ndarray] | None = None


@dataclass(frozen=True)
class Observed:
    """What the implementation gave: ``output`` in the spec's layout, ``h_n`` and ``c_n`` where known."""

    output: np.ndarray
    h_n: np.ndarray | None = None
    c_n: np.ndarray | None = None


@dataclass(frozen=True)
class Candidate:
    """One catalog mistake and the hooks that make it (see the module docstring)."""

    mistake: Mistake
    params: Callable[[Blocks], Blocks] | None = None
    rows: Callable[[WeightMapping], WeightMapping | None] | None = None
    native: Callable[[WeightMapping, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    run: Callable[[Run], Run] | None = None
    result: Callable[[Run, Blocks, RNNOutput], RNNOutput] | None = None

    @property
    def kind(self) -> str:
        return self.mistake.kind


def renamed(blocks: Blocks, rename: Callable[[str], str]) -> Blocks:
    """The block of ``rename(key)`` at every ``key``."""
    return {key: blocks[rename(key)] for key in blocks}


# --------------------------------------------------------------------------- biases
def bias_change(blocks: Blocks, change: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Blocks:
    """Every gate's (b_ih, b_hh) replaced by ``change(b_ih, b_hh)``."""
    changed = dict(blocks)
    for key in blocks:
        layer, direction, kind, gate = key_parts(key)
        if kind == "b_ih":
            other = f"{layer}.{direction}.b_hh.{gate}"
            changed[key], changed[other] = change(blocks[key], blocks[other])
    return changed


BIAS_MISTAKES: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]] = {
    "b_hh dropped": ("b_hh is dropped (b_ih alone where b_ih and b_hh, or their sum, belong)",
                     lambda b_ih, b_hh: (b_ih, np.zeros_like(b_hh))),
    "b_ih dropped": ("b_ih is dropped (b_hh alone where b_ih and b_hh, or their sum, belong)",
                     lambda b_ih, b_hh: (np.zeros_like(b_ih), b_hh)),
    "folded into b_ih": ("biases are folded into b_ih (b_ih + b_hh there, zeros in b_hh)",
                         lambda b_ih, b_hh: (b_ih + b_hh, np.zeros_like(b_hh))),
    "folded into b_hh": ("biases are folded into b_hh (b_ih + b_hh there, zeros in b_ih)",
                         lambda b_ih, b_hh: (np.zeros_like(b_ih), b_ih + b_hh)),
    "exchanged": ("b_ih and b_hh are exchanged", lambda b_ih, b_hh: (b_hh, b_ih)),
    "summed twice": ("biases both hold b_ih + b_hh (the sum counted twice)",
                     lambda b_ih, b_hh: (b_ih + b_hh, b_ih + b_hh)),
}


def bias_candidates(spec: RNNSpec) -> list[Candidate]:
    if not spec.bias:
        return []
    return [Candidate(Mistake("bias", {"fold": name}, f"the target's {says} in every layer and direction"),
                      params=functools.partial(bias_change, change=change))
            for name, (says, change) in BIAS_MISTAKES.items()]


def forget_bias_candidates(spec: RNNSpec, both_biases: bool) -> list[Candidate]:
    """The LSTM forget gate's bias off by +1 or -1 (in b_ih; in b_hh too where the two can be told apart)."""
    if spec.mode != "lstm" or not spec.bias:
        return []
    candidates = []
    for kind in ("b_ih", "b_hh") if both_biases else ("b_ih",):
        for offset in (1.0, -1.0):
            def shift(blocks: Blocks, kind: str = kind, offset: float = offset) -> Blocks:
                changed = dict(blocks)
                for key in blocks:
                    if key_parts(key)[2:] == (kind, "f"):
                        changed[key] = blocks[key] + np.asarray(offset, blocks[key].dtype)
                return changed

            where = f" (in {kind})" if both_biases else ""
            says = (f"the target's forget-gate bias is off by {offset:+g}{where} in every layer and direction: a unit "
                    f"forget bias {'added on top of' if offset > 0 else 'taken off'} the converted weights")
            candidates.append(Candidate(Mistake("forget-bias", {"offset": offset, "bias": kind}, says), params=shift))
    return candidates


# --------------------------------------------------------------------------- directions and layers
def direction_candidates(spec: RNNSpec) -> list[Candidate]:
    if not spec.bidirectional:
        return []
    everywhere = list(range(spec.num_layers))
    choices = [everywhere] + ([[layer] for layer in everywhere] if spec.num_layers > 1 else [])
    candidates = []
    for layers in choices:
        swapped = {f"l{layer}.{a}": f"l{layer}.{b}" for layer in layers for a, b in (("fwd", "bwd"), ("bwd", "fwd"))}

        def swap(blocks: Blocks, swapped: dict[str, str] = swapped) -> Blocks:
            def rename(key: str) -> str:
                layer, direction, rest = key.split(".", 2)
                return f"{swapped.get(f'{layer}.{direction}', f'{layer}.{direction}')}.{rest}"
            return renamed(blocks, rename)

        where = "in every layer" if layers == everywhere else f"in layer {layers[0]}"
        says = f"the target's forward and backward directions are exchanged {where}"
        candidates.append(Candidate(Mistake("direction", {"layers": layers}, says), params=swap))
    return candidates


def layer_candidates(spec: RNNSpec) -> list[Candidate]:
    """Two layers exchanged (where their blocks have the same shapes), and all layers reversed."""
    from rnn_ref.core.params import expected_shapes

    shapes = expected_shapes(spec)

    def alike(a: int, b: int) -> bool:
        return all(shapes[key] == shapes[f"l{b}.{key.split('.', 1)[1]}"] for key in shapes if key.startswith(f"l{a}."))

    orders = [tuple(b if i == a else a if i == b else i for i in range(spec.num_layers))
              for a in range(spec.num_layers) for b in range(a + 1, spec.num_layers) if alike(a, b)]
    reverse = tuple(reversed(range(spec.num_layers)))
    if spec.num_layers > 2 and all(alike(i, j) for i, j in enumerate(reverse)):
        orders.append(reverse)
    candidates = []
    for order in orders:
        def restack(blocks: Blocks, order: tuple[int, ...] = order) -> Blocks:
            return renamed(blocks, lambda key: f"l{order[int(key.split('.', 1)[0][1:])]}.{key.split('.', 1)[1]}")

        moved = [i for i in range(len(order)) if order[i] != i]
        says = (f"the target's layers {moved[0]} and {moved[1]} are exchanged" if len(moved) == 2
                else f"the target's layers are in the order {', '.join(map(str, order))}")
        candidates.append(Candidate(Mistake("layer-order", {"order": list(order)}, says), params=restack))
    return candidates


# --------------------------------------------------------------------------- what the solver finds in the weights form
def gate_order_candidates(spec: RNNSpec) -> list[Candidate]:
    """One candidate per non-canonical gate order, the same in every unit and kind (the outputs form)."""
    gates, units = spec.gates, [f"l{layer}.{d}" for layer, d in spec.units()]
    kinds = block_kinds(spec)
    return [Candidate(Mistake("gate-order", {"permutation": {unit: {kind: list(order) for kind in kinds}
                                                             for unit in units}},
                              f"the target's {MODE_NAMES[spec.mode]} gates are in {','.join(order)} order: "
                              f"{moves(gates, order)} in every layer and direction (canonical {','.join(gates)})"),
                      params=functools.partial(reorder, spec, order=order))
            for order in every_order(spec)]


def transpose_candidates(spec: RNNSpec) -> list[Candidate]:
    """Every square w_hh block (and every square w_ih block) transposed (the outputs form)."""
    candidates = []
    for kind in ("w_ih", "w_hh"):
        def flip(blocks: Blocks, kind: str = kind) -> Blocks:
            return {key: block.T if key_parts(key)[2] == kind and block.shape[0] == block.shape[1] else block
                    for key, block in blocks.items()}

        square = spec.state_size == spec.hidden_size if kind == "w_hh" else any(
            spec.layer_input_size(layer) == spec.hidden_size for layer in range(spec.num_layers))
        if square:
            says = f"every square {kind} block is transposed (a kernel not transposed, or transposed twice)"
            candidates.append(Candidate(Mistake("transpose", {"blocks": kind}, says), params=flip))
    return candidates


# --------------------------------------------------------------------------- the rows and the native arrays
def reshape_candidates(mapping: WeightMapping) -> list[Candidate]:
    """The native kernels that the rows transpose, written ``w.reshape(shape)`` instead of ``w.T``: those
    holding w_ih, those holding w_hh, and all of them (a conversion script's one helper, used for a kind
    or for all). Square kernels are left out: reshaped, they are transposed, which the solver finds."""
    by_kind: dict[str, list[str]] = {}
    for row in mapping.rows:
        shape = mapping.native_shapes[row.native]
        if row.transpose and len(shape) == 2 and shape[0] != shape[1]:
            names = by_kind.setdefault(key_parts(row.canonical[0])[2], [])
            names += [] if row.native in names else [row.native]
    everything = list(dict.fromkeys(name for names in by_kind.values() for name in names))
    choices = {kind: names for kind, names in by_kind.items()}
    if len(by_kind) > 1:
        choices["all"] = everything

    def reshaped(names: list[str]) -> Callable[[WeightMapping, dict[str, np.ndarray]], dict[str, np.ndarray]]:
        def change(_: WeightMapping, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {name: np.ascontiguousarray(array.T).reshape(array.shape) if name in names else array
                    for name, array in arrays.items()}
        return change

    def says(kind: str, names: list[str]) -> str:
        which = "kernels" if kind == "all" else f"kernels of {kind} ({', '.join(names)})"
        return f"the target's {which} are reshaped where a transpose was meant (w.reshape(shape) instead of w.T)"

    return [Candidate(Mistake("transpose", {"reshaped": kind, "arrays": names}, says(kind, names)),
                      native=reshaped(names)) for kind, names in choices.items()]


def summand_candidates(mapping: WeightMapping) -> list[Candidate]:
    """``rnn-ref selftest``'s ``drop-summand``: the first one-bias region forgets b_hh."""
    mutated = drop_summand(mapping)
    if mutated is None:
        return []
    row = next(r for r in mapping.rows if r.combine == "sum")
    says = f"the target's {row.native}{'' if not row.region else ' region'} for {row.canonical[0]} forgets b_hh"
    return [Candidate(Mistake("bias", {"fold": "b_hh dropped", "rows": [row.describe()]}, says), rows=drop_summand)]


def weight_candidates(spec: RNNSpec, solved: bool, both_biases: bool = True) -> list[Candidate]:
    """The spec's weight mistakes; gate orders and transposes only when not ``solved`` (the outputs form)."""
    enumerated = [] if solved else gate_order_candidates(spec) + transpose_candidates(spec)
    return (enumerated + bias_candidates(spec) + forget_bias_candidates(spec, both_biases)
            + direction_candidates(spec) + layer_candidates(spec))

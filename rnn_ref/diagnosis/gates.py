"""Gate orders: finding the permutation (and the transposed blocks) that maps correct weights onto a target's.

An *order* lists, for each canonical gate slot of a mode (LSTM ``i f g o``, GRU ``r z n``), the
gate whose weights the target holds there: ``('i', 'g', 'f', 'o')`` is an LSTM whose f and g
blocks are exchanged. ``solve_units`` compares two canonical views block by block, per unit and
kind (``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``), so any permutation in any unit and kind is found
directly, not searched, together with the square blocks that are transposed; ``gate_order_mistake``
words what it found.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from rnn_ref.core.compare import Tolerance
from rnn_ref.core.spec import RNNSpec
from rnn_ref.diagnosis.findings import Mistake, measure

Blocks = Mapping[str, np.ndarray]
KINDS_OF_BLOCKS = ("w_ih", "w_hh", "b_ih", "b_hh")
MODE_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}
QUICK = 32  # elements compared before a whole block is


@dataclass
class Solution:
    """Per unit and kind, the order found where it is not canonical; the target keys whose block is transposed."""

    orders: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    transposed: list[str] = field(default_factory=list)
    explained: bool = True
    residual: float = 0.0


def block_kinds(spec: RNNSpec) -> tuple[str, ...]:
    return KINDS_OF_BLOCKS if spec.bias else KINDS_OF_BLOCKS[:2]


def quick_measure(target: np.ndarray, source: np.ndarray, tolerance: Tolerance) -> tuple[bool, float]:
    """``measure`` on a few elements first (a lower bound of the error); the whole blocks only when those agree."""
    if target.shape != source.shape:
        return False, np.inf
    few_ok, few_error = measure(target.ravel()[:QUICK], source.ravel()[:QUICK], tolerance)
    return measure(target, source, tolerance) if few_ok else (False, few_error)


def solve_kind(targets: list[np.ndarray], sources: list[np.ndarray], tolerance: Tolerance
               ) -> tuple[tuple[int, ...], tuple[bool, ...], bool, float]:
    """The assignment slot -> source gate (and which are transposed) that reproduces ``targets``.

    The canonical assignment is kept whenever it agrees; else the first permutation (fewest
    transposes) under which every block agrees; else, not explained, the canonical assignment
    and its error (a permutation that explains nothing is not named).
    """
    count = len(targets)
    identity = [measure(t, s, tolerance) for t, s in zip(targets, sources, strict=True)]
    if all(ok for ok, _ in identity):
        return tuple(range(count)), (False,) * count, True, max(e for _, e in identity)
    flips = [False, True] if targets[0].ndim == 2 and targets[0].shape[0] == targets[0].shape[1] else [False]
    table = {(slot, gate, flip): quick_measure(targets[slot], sources[gate].T if flip else sources[gate],
                                               tolerance)
             for slot in range(count) for gate in range(count) for flip in flips}

    def pick(slot: int, gate: int) -> tuple[bool, float, bool]:
        options = [(table[slot, gate, flip], flip) for flip in flips]
        (ok, error), flip = min(options, key=lambda option: (not option[0][0], option[1], option[0][1]))
        return ok, error, flip

    explained = []
    for order in itertools.permutations(range(count)):
        picks = [pick(slot, gate) for slot, gate in enumerate(order)]
        if all(ok for ok, _, _ in picks):
            explained.append((sum(flip for _, _, flip in picks), order, picks))
    if explained:
        _, order, picks = min(explained, key=lambda item: item[0])
        return order, tuple(flip for _, _, flip in picks), True, max(error for _, error, _ in picks)
    return tuple(range(count)), (False,) * count, False, max(e for _, e in identity)


def solve_units(spec: RNNSpec, target: Blocks, correct: Blocks, tolerance: Tolerance,
                kinds: tuple[str, ...] | None = None) -> Solution:
    """Compare ``target`` with ``correct`` (canonical views of the same layer), per unit and kind
    (``kinds``, default all: a target with one bias per gate has no b_hh of its own to compare)."""
    solution = Solution()
    kinds = block_kinds(spec) if kinds is None else kinds
    gates = spec.gates
    for layer, direction in spec.units():
        unit = f"l{layer}.{direction}"
        for kind in block_kinds(spec):
            keys = [f"{unit}.{kind}.{gate}" for gate in gates]
            if kind not in kinds:
                held, meant = (np.stack([blocks[k] for k in keys]) for blocks in (target, correct))
                ok, error = measure(held, meant, tolerance)
                solution.explained &= ok
                solution.residual = max(solution.residual, error)
                continue
            order, flips, ok, error = solve_kind([target[k] for k in keys], [correct[k] for k in keys], tolerance)
            if order != tuple(range(len(gates))):
                solution.orders.setdefault(unit, {})[kind] = tuple(gates[g] for g in order)
            solution.transposed += [key for key, flip in zip(keys, flips, strict=True) if flip]
            solution.explained &= ok
            solution.residual = max(solution.residual, error)
        if spec.proj_size:
            ok, error = measure(target[f"{unit}.w_proj"], correct[f"{unit}.w_proj"], tolerance)
            solution.explained &= ok
            solution.residual = max(solution.residual, error)
    return solution


# --------------------------------------------------------------------------- wording
def moves(gates: tuple[str, ...], order: tuple[str, ...]) -> str:
    """``('i','f','g','o') -> ('i','g','f','o')``: ``'gates f and g swapped'``; other permutations slot by slot."""
    moved = [(slot, held) for slot, held in zip(gates, order, strict=True) if slot != held]
    if len(moved) == 2:
        return f"gates {moved[0][0]} and {moved[1][0]} swapped"
    return ", ".join(f"{held} where {slot} belongs" for slot, held in moved)


def scope(spec: RNNSpec, units: list[str], kinds: set[str], all_kinds: set[str]) -> str:
    """``'in every layer and direction'``, ``'in l0.fwd'``, … and ``' (w_ih only)'`` where not every kind."""
    every_unit = len(units) == len(spec.units())
    where = ("in every layer and direction" if len(units) > 1 else "in the layer") if every_unit \
        else "in " + ", ".join(units)
    return where + ("" if kinds == all_kinds else f" ({', '.join(sorted(kinds))} only)")


def gate_order_mistake(spec: RNNSpec, orders: Mapping[str, Mapping[str, tuple[str, ...]]],
                       kinds: tuple[str, ...] | None = None) -> Mistake:
    """One ``gate-order`` finding for the orders found per unit and kind (of ``kinds``, default all)."""
    all_kinds = set(block_kinds(spec) if kinds is None else kinds)
    groups: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for unit, by_kind in orders.items():
        for kind, order in by_kind.items():
            groups.setdefault(order, {}).setdefault(unit, set()).add(kind)
    parts = []
    for order, units in groups.items():
        found = set.union(*units.values())
        same_kinds = all(k == found for k in units.values())
        where = scope(spec, list(units), found, all_kinds) if same_kinds else "in " + ", ".join(
            f"{unit} ({', '.join(sorted(k))})" for unit, k in units.items())
        parts.append(f"{','.join(order)} order: {moves(spec.gates, order)} {where}")
    name = MODE_NAMES[spec.mode]
    says = f"the target's {name} gates are in " + "; and in ".join(parts) + f" (canonical {','.join(spec.gates)})"
    permutation = {unit: {kind: list(order) for kind, order in by_kind.items()} for unit, by_kind in orders.items()}
    return Mistake("gate-order", {"permutation": permutation}, says)


def every_order(spec: RNNSpec) -> list[tuple[str, ...]]:
    """Every non-canonical order of the mode's gates (23 for LSTM, 5 for GRU, none for a plain RNN)."""
    return [order for order in itertools.permutations(spec.gates) if order != spec.gates]


def reorder(spec: RNNSpec, blocks: Mapping[str, np.ndarray], order: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``blocks`` with every unit's and kind's gates in ``order`` (slot g holds gate order[g])."""
    changed = dict(blocks)
    for layer, direction in spec.units():
        for kind in block_kinds(spec):
            prefix = f"l{layer}.{direction}.{kind}"
            for slot, held in zip(spec.gates, order, strict=True):
                changed[f"{prefix}.{slot}"] = blocks[f"{prefix}.{held}"]
    return changed

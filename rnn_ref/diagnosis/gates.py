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


def closeness(targets: np.ndarray, sources: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """(G, G) booleans: whether target slot s is source gate g within ``tolerance``, for stacked blocks (G, ...)."""
    t = targets.astype(np.float64, copy=False)[:, None]
    s = sources.astype(np.float64, copy=False)[None, :]
    within = np.abs(t - s) <= tolerance.atol + tolerance.rtol * np.abs(s)
    return np.asarray(within.reshape(*within.shape[:2], -1).all(axis=2))


def solve_kind(targets: np.ndarray, sources: np.ndarray, tolerance: Tolerance
               ) -> tuple[tuple[int, ...], tuple[bool, ...], bool, float]:
    """The assignment slot -> source gate (and which are transposed) that reproduces ``targets``.

    ``targets`` and ``sources`` stack the G gate blocks of one unit and kind, (G, ...). The
    canonical assignment is kept whenever it agrees; else the first permutation (fewest
    transposes) under which every block agrees; else, not explained, the canonical assignment
    and its error (a permutation that explains nothing is not named). A few elements of each
    block are compared first, so a candidate that cannot explain a kind costs little.
    """
    count = len(targets)
    ok, residual = measure(targets, sources, tolerance)
    if ok:
        return tuple(range(count)), (False,) * count, True, residual
    unexplained = tuple(range(count)), (False,) * count, False, residual
    square = targets.ndim == 3 and targets.shape[1] == targets.shape[2]
    variants = [(False, sources)] + ([(True, sources.transpose(0, 2, 1))] if square else [])
    few = QUICK
    quick = [(flip, closeness(targets.reshape(count, -1)[:, :few], v.reshape(count, -1)[:, :few], tolerance))
             for flip, v in variants]
    if not np.logical_or.reduce([near for _, near in quick]).any(axis=1).all():
        return unexplained
    options: list[tuple[int, tuple[int, ...], tuple[bool, ...]]] = []
    for order in itertools.permutations(range(count)):
        picked: list[bool] = []
        for slot, gate in enumerate(order):
            flip = next((f for f, near in quick if near[slot, gate]), None)
            if flip is None:
                break
            picked.append(flip)
        else:
            options.append((sum(picked), order, tuple(picked)))
    for _, order, flips in sorted(options):
        chosen = np.stack([variants[int(flip)][1][gate] for gate, flip in zip(order, flips, strict=True)])
        ok, error = measure(targets, chosen, tolerance)
        if ok:
            return order, flips, True, error
    return unexplained


def solve_units(spec: RNNSpec, target: Blocks, correct: Blocks, tolerance: Tolerance,
                kinds: tuple[str, ...] | None = None) -> Solution:
    """Compare ``target`` with ``correct`` (canonical views of the same layer), per unit and kind
    (``kinds``, default all: a target with one bias per gate has no b_hh of its own to compare).

    At the first unit and kind that nothing explains the search stops: the solution is then not
    explained, its residual the largest difference of the two views as they are."""
    solution = Solution()
    kinds = block_kinds(spec) if kinds is None else kinds
    gates = spec.gates
    cells = [(f"l{layer}.{direction}", kind) for layer, direction in spec.units() for kind in block_kinds(spec)]
    cells += [(f"l{layer}.{direction}", "w_proj") for layer, direction in spec.units() if spec.proj_size]
    for unit, kind in cells:
        keys = [f"{unit}.{kind}.{gate}" for gate in gates] if kind != "w_proj" else [f"{unit}.w_proj"]
        held, meant = (np.stack([blocks[k] for k in keys]) for blocks in (target, correct))
        if kind in kinds:
            order, flips, ok, error = solve_kind(held, meant, tolerance)
            if order != tuple(range(len(gates))):
                solution.orders.setdefault(unit, {})[kind] = tuple(gates[g] for g in order)
            solution.transposed += [key for key, flip in zip(keys, flips, strict=True) if flip]
        else:
            ok, error = measure(held, meant, tolerance)
        solution.residual = max(solution.residual, error)
        if not ok:
            held_all, meant_all = (np.concatenate([blocks[k].ravel() for k in target]) for blocks in (target, correct))
            _, as_they_are = measure(held_all, meant_all, tolerance)
            return Solution(explained=False, residual=max(error, as_they_are))
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

"""The seeded bugs of ``rnn-ref selftest``: what a slip in an adapter would do to its rows or its ``run``.

A mutation takes an engine's ``WeightMapping`` and returns the mapping with the slip (None where
the mapping has nothing it could change), or changes what crosses ``run``: x (in the case's
layout, (T, N, I) or (N, T, I)) and the initial state (h (L·D, N, R), c (L·D, N, H), units in
the order l0.fwd, l0.bwd, l1.fwd, …) on the way in, the RNNOutput on the way out.
rnn_ref.judge.selftest runs each one and says which case caught it.

Row mutations (on the rows of the unit ``l0.fwd`` unless said otherwise):

* ``swap-gates(KIND)``: the canonical keys of the first two gates of one kind (w_ih, w_hh,
  b_ih, b_hh) exchanged — a wrong gate order;
* ``toggle-transpose``: the first row whose block is square read transposed (or, if the row
  transposes, not) — a forgotten or extra ``.T``;
* ``swap-directions``: layer 0's forward and backward blocks exchanged;
* ``swap-layers``: the last two layers' blocks exchanged where their shapes agree;
* ``drop-summand``: a one-bias row (``b_ih + b_hh``) that forgets its second summand;
* ``bias-in-b_hh``: a one-bias engine's bias imported into ``b_hh`` instead of ``b_ih``.

Boundary mutations: ``reverse-initial-state-order`` and ``reverse-final-state-order`` (units
l0.fwd, l0.bwd, … reversed on the way in or out), ``input-layout-reshaped`` and
``output-layout-reshaped`` (a reshape where a transpose between TNC and NTC was meant).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.matrix import Case
from rnn_ref.core.mapping import MappingRow, WeightMapping
from rnn_ref.core.params import expected_shapes
from rnn_ref.core.state import RNNOutput, State


# --------------------------------------------------------------------------- row mutations
def key_parts(key: str) -> tuple[str, str, str, str]:
    """``'l0.fwd.w_ih.i'`` -> ``('l0', 'fwd', 'w_ih', 'i')``; ``'l0.fwd.w_proj'`` -> (…, 'w_proj', '')."""
    layer, direction, kind, *gate = key.split(".")
    return layer, direction, kind, gate[0] if gate else ""


def with_rows(mapping: WeightMapping, rows: Sequence[MappingRow]) -> WeightMapping:
    return dataclasses.replace(mapping, rows=tuple(rows))


def rename_keys(mapping: WeightMapping, rename: Callable[[str], str]) -> WeightMapping | None:
    """Every row's canonical keys passed through ``rename``; None when nothing changes."""
    rows = [dataclasses.replace(row, canonical=tuple(rename(k) for k in row.canonical)) for row in mapping.rows]
    return None if tuple(rows) == mapping.rows else with_rows(mapping, rows)


def swap_gates(kind: str) -> Callable[[WeightMapping], WeightMapping | None]:
    def mutate(mapping: WeightMapping) -> WeightMapping | None:
        found = [i for i, row in enumerate(mapping.rows)
                 if key_parts(row.canonical[0])[:3] == ("l0", "fwd", kind)]
        if len(found) < 2:
            return None
        rows = list(mapping.rows)
        first, second = found[:2]
        rows[first] = dataclasses.replace(rows[first], canonical=mapping.rows[second].canonical)
        rows[second] = dataclasses.replace(rows[second], canonical=mapping.rows[first].canonical)
        return with_rows(mapping, rows)

    return mutate


def toggle_transpose(mapping: WeightMapping) -> WeightMapping | None:
    shapes = expected_shapes(mapping.spec)
    for index, row in enumerate(mapping.rows):
        shape = shapes[row.canonical[0]]
        if len(shape) == 2 and shape[0] == shape[1]:
            rows = list(mapping.rows)
            rows[index] = dataclasses.replace(row, transpose=not row.transpose)
            return with_rows(mapping, rows)
    return None


def swap_directions(mapping: WeightMapping) -> WeightMapping | None:
    if not mapping.spec.bidirectional:
        return None
    swapped = {"l0.fwd.": "l0.bwd.", "l0.bwd.": "l0.fwd."}
    return rename_keys(mapping, lambda key: swapped.get(key[:7], key[:7]) + key[7:])


def swap_layers(mapping: WeightMapping) -> WeightMapping | None:
    layers = mapping.spec.num_layers
    if layers < 2:
        return None
    a, b = f"l{layers - 2}", f"l{layers - 1}"
    shapes = expected_shapes(mapping.spec)

    def rename(key: str) -> str:
        layer, rest = key.split(".", 1)
        other = {a: b, b: a}.get(layer)
        if other is None or shapes.get(f"{other}.{rest}") != shapes[key]:
            return key
        return f"{other}.{rest}"

    return rename_keys(mapping, rename)


def one_bias_rows(mapping: WeightMapping) -> list[int]:
    return [i for i, row in enumerate(mapping.rows) if row.combine == "sum"]


def drop_summand(mapping: WeightMapping) -> WeightMapping | None:
    found = one_bias_rows(mapping)
    if not found:
        return None
    rows = list(mapping.rows)
    rows[found[0]] = dataclasses.replace(rows[found[0]], canonical=rows[found[0]].canonical[:1])
    return with_rows(mapping, rows)


def bias_in_b_hh(mapping: WeightMapping) -> WeightMapping | None:
    """Import a one-bias region into b_hh (and zeros into b_ih): the first key is where it goes."""
    found = one_bias_rows(mapping)
    if not found:
        return None
    rows = list(mapping.rows)
    for index in found:
        rows[index] = dataclasses.replace(rows[index], canonical=tuple(reversed(rows[index].canonical)))
    return with_rows(mapping, rows)


# --------------------------------------------------------------------------- boundary mutations
def reshaped_layout(array: np.ndarray) -> np.ndarray:
    """What ``a.reshape(a.shape)`` of the TNC<->NTC transpose gives: the right shape, scrambled steps."""
    return np.ascontiguousarray(array.transpose(1, 0, 2)).reshape(array.shape)


@overload
def reversed_state(state: State) -> State: ...
@overload
def reversed_state(state: None) -> None: ...
def reversed_state(state: State | None) -> State | None:
    if state is None:
        return None
    return State(state.h[::-1].copy(), None if state.c is None else state.c[::-1].copy())


def state_units(case: Case) -> int:
    return case.spec.num_layers * case.spec.num_directions


@dataclass(frozen=True)
class Mutation:
    """One seeded bug: rows changed (``rows``; None where a mapping has nothing to change), or what
    crosses ``run`` changed (``before`` on x and the initial state, ``after`` on the result) on
    the cases where ``needs`` holds."""

    name: str
    rows: Callable[[WeightMapping], WeightMapping | None] | None = None
    before: Callable[[np.ndarray, State | None], tuple[np.ndarray, State | None]] | None = None
    after: Callable[[RNNOutput], RNNOutput] | None = None
    needs: Callable[[Case], bool] = lambda case: True


def reverse_final_states(result: RNNOutput) -> RNNOutput:
    flipped = reversed_state(State(result.h_n, result.c_n))
    return RNNOutput(result.output, flipped.h, flipped.c)


MUTATIONS: tuple[Mutation, ...] = (
    *(Mutation(f"swap-gates({kind})", rows=swap_gates(kind)) for kind in ("w_ih", "w_hh", "b_ih", "b_hh")),
    Mutation("toggle-transpose", rows=toggle_transpose),
    Mutation("swap-directions", rows=swap_directions),
    Mutation("swap-layers", rows=swap_layers),
    Mutation("drop-summand", rows=drop_summand),
    Mutation("bias-in-b_hh", rows=bias_in_b_hh),
    Mutation("reverse-initial-state-order", before=lambda x, state: (x, reversed_state(state)),
             needs=lambda case: case.with_state and state_units(case) >= 2),
    Mutation("reverse-final-state-order", after=reverse_final_states, needs=lambda case: state_units(case) >= 2),
    Mutation("input-layout-reshaped", before=lambda x, state: (reshaped_layout(x), state),
             needs=lambda case: case.steps != case.batch),
    Mutation("output-layout-reshaped", after=lambda r: dataclasses.replace(r, output=reshaped_layout(r.output)),
             needs=lambda case: case.steps != case.batch),
)


def applies(mutation: Mutation, adapter: Adapter, case: Case) -> bool:
    """Whether ``mutation`` changes anything on ``case`` (else running it proves nothing)."""
    return mutation.needs(case) and (mutation.rows is None or mutation.rows(adapter.mapping(case.spec)) is not None)

"""The weights form: which mistakes turn a correct conversion of SOURCE into the TARGET file's arrays.

The source is taken as correct. What a correct conversion writes is ``mapping.to_native(source)``
(``mapping``: the target engine's rows); the target's arrays are compared with it through the
same rows (``mapping.to_params``: each native element lands in exactly one canonical block, so
the two canonical *views* agree exactly when the native arrays do; where the target keeps one
bias, both views hold b_ih + b_hh). Each combination of catalog candidates is applied to the
source (canonical blocks, the rows, the native arrays) and the views compared unit by unit and
kind by kind, where gate orders and transposed square blocks are found directly
(rnn_ref/diagnosis/gates.py). NumPy only: the files are read by the caller.
"""

from __future__ import annotations

import numpy as np

from rnn_ref.core.compare import TOLERANCES, Tolerance
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.diagnosis.catalog import Blocks, Candidate, reshape_candidates, summand_candidates, weight_candidates
from rnn_ref.diagnosis.findings import Diagnosis, Mistake
from rnn_ref.diagnosis.gates import block_kinds, gate_order_mistake, solve_units
from rnn_ref.diagnosis.search import Outcome, search


def one_bias(mapping: WeightMapping) -> bool:
    """Whether the target keeps one bias per gate (b_ih and b_hh cannot be told apart in it)."""
    return any(row.combine == "sum" for row in mapping.rows)


def tolerance_of(*dtypes: np.dtype) -> Tolerance:
    """The tolerance of the least precise dtype involved."""
    return TOLERANCES["float32" if any(np.dtype(d) == np.float32 for d in dtypes) else "float64"]


def candidates_for(mapping: WeightMapping) -> list[Candidate]:
    spec = mapping.spec
    return (weight_candidates(spec, solved=True, both_biases=not one_bias(mapping))
            + reshape_candidates(mapping) + summand_candidates(mapping))


def folded(mapping: WeightMapping, blocks: Blocks) -> Blocks:
    """The canonical view of ``blocks`` through ``mapping``'s rows, computed in canonical space:
    where a row sums several keys, the first holds the sum and the others zeros; every other
    block is what it is (``to_params(to_native(p))``, without writing the native arrays)."""
    view = dict(blocks)
    for row in mapping.rows:
        if row.combine == "sum":
            first, *rest = row.canonical
            view[first] = sum((blocks[k] for k in rest), blocks[first])
            view.update({k: np.zeros_like(blocks[k]) for k in rest})
    return view


def view_of(mapping: WeightMapping, source: Params, combo: list[Candidate]) -> Blocks:
    """The canonical view (through the target's rows) of what ``source`` converted with ``combo``'s mistakes writes."""
    blocks: Blocks = dict(source)
    for candidate in combo:
        if candidate.params is not None:
            blocks = candidate.params(blocks)
    if all(c.rows is None and c.native is None for c in combo):
        return folded(mapping, blocks)
    rows: WeightMapping = mapping
    for candidate in combo:
        if candidate.rows is not None:
            rows = candidate.rows(rows) or rows
    native = rows.to_native(Params(source.spec, blocks))
    for candidate in combo:
        if candidate.native is not None:
            native = candidate.native(mapping, native)
    return dict(mapping.to_params(native))


def apply(mapping: WeightMapping, source: Params, combo: list[Candidate]) -> Params:
    """``view_of`` as Params."""
    return Params(source.spec, view_of(mapping, source, combo))


def same_view(first: Blocks, second: Blocks) -> bool:
    return all(np.array_equal(first[k], second[k]) for k in first)


def transposed_mistake(keys: list[str]) -> Mistake:
    return Mistake("transpose", {"blocks": keys},
                   f"the target's {', '.join(keys)} {'is' if len(keys) == 1 else 'are'} transposed "
                   "(a kernel not transposed, or transposed twice)")


def diagnose_weights(source: Params, mapping: WeightMapping, target: Params) -> Diagnosis:
    """The diagnosis of ``target`` (a file's canonical view through ``mapping``) as a conversion of ``source``."""
    spec = source.spec
    tolerance = tolerance_of(source.dtype, target.dtype)
    candidates = candidates_for(mapping)
    correct = view_of(mapping, source, [])
    kinds = tuple(kind for kind in block_kinds(spec) if not (kind == "b_hh" and one_bias(mapping)))

    def evaluate(combo: tuple[int, ...]) -> Outcome | None:
        chosen = [candidates[i] for i in combo]
        view = view_of(mapping, source, chosen) if combo else correct
        if combo and same_view(view, correct):
            return None
        solution = solve_units(spec, target, view, tolerance, kinds)
        mistakes = [c.mistake for c in chosen]
        if solution.orders:
            mistakes.append(gate_order_mistake(spec, solution.orders, kinds))
        if solution.transposed:
            mistakes.append(transposed_mistake(solution.transposed))
        return Outcome(solution.explained, solution.residual, tuple(mistakes))

    return search(candidates, evaluate, tolerance)


def reproduce(source: Params, mapping: WeightMapping, mistakes: tuple[Mistake, ...]) -> Params:
    """The canonical view of the target that ``mistakes`` (a diagnosis's findings) describe: the
    catalog's candidates applied to ``source``, then the gate orders and transposed blocks found.

    A finding that is neither a candidate of this layer nor found by the solver is a ValueError."""
    candidates = {(c.mistake.kind, repr(dict(c.mistake.parameters))): c for c in candidates_for(mapping)}
    chosen, solved = [], []
    for mistake in mistakes:
        candidate = candidates.get((mistake.kind, repr(dict(mistake.parameters))))
        if candidate is not None:
            chosen.append(candidate)
        elif mistake.kind in ("gate-order", "transpose") and set(mistake.parameters) <= {"permutation", "blocks"}:
            solved.append(mistake)
        else:
            raise ValueError(f"not a mistake of this layer's catalog: {mistake}")
    blocks = view_of(mapping, source, chosen)
    for mistake in solved:
        if mistake.kind == "gate-order":
            changed = dict(blocks)
            for unit, by_kind in mistake.parameters["permutation"].items():
                for kind, order in by_kind.items():
                    for slot, held in zip(source.spec.gates, order, strict=True):
                        changed[f"{unit}.{kind}.{slot}"] = blocks[f"{unit}.{kind}.{held}"]
            blocks = changed
        else:
            blocks = {key: block.T if key in mistake.parameters["blocks"] else block for key, block in blocks.items()}
    return Params(source.spec, blocks)

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
from rnn_ref.diagnosis.catalog import Candidate, reshape_candidates, summand_candidates, weight_candidates
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


def apply(mapping: WeightMapping, source: Params, combo: list[Candidate]) -> Params:
    """The canonical view (through the target's rows) of what ``source`` converted with ``combo``'s mistakes writes."""
    blocks = dict(source)
    rows: WeightMapping = mapping
    for candidate in combo:
        if candidate.params is not None:
            blocks = candidate.params(blocks)
        if candidate.rows is not None:
            rows = candidate.rows(rows) or rows
    native = rows.to_native(Params(source.spec, blocks))
    for candidate in combo:
        if candidate.native is not None:
            native = candidate.native(mapping, native)
    return mapping.to_params(native)


def transposed_mistake(keys: list[str]) -> Mistake:
    return Mistake("transpose", {"blocks": keys},
                   f"the target's {', '.join(keys)} {'is' if len(keys) == 1 else 'are'} transposed "
                   "(a kernel not transposed, or transposed twice)")


def diagnose_weights(source: Params, mapping: WeightMapping, target: Params) -> Diagnosis:
    """The diagnosis of ``target`` (a file's canonical view through ``mapping``) as a conversion of ``source``."""
    spec = source.spec
    tolerance = tolerance_of(source.dtype, target.dtype)
    candidates = candidates_for(mapping)
    correct = apply(mapping, source, [])
    kinds = tuple(kind for kind in block_kinds(spec) if not (kind == "b_hh" and one_bias(mapping)))

    def evaluate(combo: tuple[int, ...]) -> Outcome | None:
        chosen = [candidates[i] for i in combo]
        view = apply(mapping, source, chosen) if combo else correct
        if combo and view.equal(correct):
            return None
        solution = solve_units(spec, target, view, tolerance, kinds)
        mistakes = [c.mistake for c in chosen]
        if solution.orders:
            mistakes.append(gate_order_mistake(spec, solution.orders, kinds))
        if solution.transposed:
            mistakes.append(transposed_mistake(solution.transposed))
        return Outcome(solution.explained, solution.residual, tuple(mistakes))

    return search(candidates, evaluate, tolerance)

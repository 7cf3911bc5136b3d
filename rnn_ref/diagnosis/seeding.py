"""Diagnose's own proof: seed each catalog mistake (and pairs of them) and say whether diagnose names it.

``weight_seeds`` makes wrong targets of one layer for one engine's rows: every candidate of the
weights catalog, every gate order in every unit and kind, every square w_hh block transposed,
the row slips of ``rnn-ref selftest`` (rnn_ref.judge.mutations.MUTATIONS) and a sample of pairs;
``output_seeds`` makes wrong outputs of the reference, one per candidate of the outputs
catalog and a sample of pairs. ``verdict_on`` says what diagnose made of a seed:

* ``found``: exactly the seeded mistakes (a selftest slip, which has no catalog name: one mistake
  that reproduces it);
* ``ambiguous``: another set of as many or fewer mistakes, which reproduces the seed too (checked
  here, by making those mistakes);
* ``invisible``: the seed changes nothing (folding the biases where the target keeps one), and
  diagnose says "no difference";
* ``missed``: anything else — a test fails on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_ref.core.compare import Tolerance
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import State
from rnn_ref.diagnosis.catalog import Candidate, Run
from rnn_ref.diagnosis.findings import AGREE, EXPLAINED, Diagnosis, Mistake, measure_all
from rnn_ref.diagnosis.gates import block_kinds, every_order, gate_order_mistake, reorder
from rnn_ref.diagnosis.outputs import Observed, candidates_for, diagnose_outputs, run_with
from rnn_ref.diagnosis.search import key
from rnn_ref.diagnosis.weights import apply, diagnose_weights, one_bias, reproduce, tolerance_of, transposed_mistake
from rnn_ref.diagnosis.weights import candidates_for as weight_candidates_for
from rnn_ref.judge.mutations import MUTATIONS

PAIR_STRIDE = 7  # every 7th pair of candidates of different kinds: a sample across the catalog


@dataclass(frozen=True)
class Seed:
    """One wrong target: its name (``kind`` or ``kind+kind``), the mistakes seeded (None: a slip of
    selftest's, in its own terms) and what it holds."""

    name: str
    mistakes: tuple[Mistake, ...] | None
    held: object


def sample_pairs(count: int, kinds: list[str], stride: int) -> Iterator[tuple[int, int]]:
    """Every ``stride``-th pair (a, b) of candidates whose kinds differ (none for stride 0)."""
    pairs = [(a, b) for a, b in itertools.combinations(range(count), 2) if kinds[a] != kinds[b]]
    return iter(pairs[::stride] if stride else [])


def weight_seeds(source: Params, mapping: WeightMapping, singles: bool = True,
                 pair_stride: int = PAIR_STRIDE, orders: int | None = None) -> Iterator[Seed]:
    """Wrong targets (canonical views through ``mapping``) of ``source`` converted with mistakes:
    the single mistakes unless not ``singles`` (the first ``orders`` gate orders, default all),
    then every ``pair_stride``-th pair (none for 0)."""
    spec = source.spec
    candidates = weight_candidates_for(mapping)
    for candidate in candidates if singles else []:
        yield Seed(candidate.kind, (candidate.mistake,), apply(mapping, source, [candidate]))
    kinds = tuple(k for k in block_kinds(spec) if not (k == "b_hh" and one_bias(mapping)))
    units = [f"l{layer}.{d}" for layer, d in spec.units()]
    for order in every_order(spec)[:orders] if singles else []:
        mistake = gate_order_mistake(spec, {unit: dict.fromkeys(kinds, order) for unit in units}, kinds)
        yield Seed("gate-order", (mistake,), apply(mapping, Params(spec, reorder(spec, dict(source), order)), []))
    if singles and spec.state_size == spec.hidden_size:
        correct = dict(apply(mapping, source, []))
        flipped = [k for k in correct if k.split(".")[2] == "w_hh"]
        yield Seed("transpose", (transposed_mistake(flipped),),
                   Params(spec, {k: v.T if k in flipped else v for k, v in correct.items()}))
    for mutation in MUTATIONS if singles else ():
        mutated = mutation.rows(mapping) if mutation.rows is not None else None
        if mutated is not None:
            yield Seed(f"selftest {mutation.name}", None, mapping.to_params(mutated.to_native(source)))
    for a, b in sample_pairs(len(candidates), [c.kind for c in candidates], pair_stride):
        pair = [candidates[a], candidates[b]]
        yield Seed(f"{pair[0].kind}+{pair[1].kind}", (pair[0].mistake, pair[1].mistake), apply(mapping, source, pair))


def output_seeds(params: Params, run: Run, singles: bool = True, pair_stride: int = PAIR_STRIDE,
                 orders: int | None = None) -> Iterator[Seed]:
    """Wrong outputs: the reference run with each candidate (unless not ``singles``; the first
    ``orders`` gate orders, default all) of the outputs catalog, then every ``pair_stride``-th pair."""
    candidates = candidates_for(run)
    order_candidates = [c for c in candidates if c.kind == "gate-order"]
    seeded = [c for c in candidates if c.kind != "gate-order" or c in order_candidates[:orders]]

    def observed(chosen: list[Candidate]) -> Observed | None:
        try:
            result = run_with(params, run, chosen)
        except ValueError:  # a mistake that makes no layer of these inputs
            return None
        return Observed(result.output, result.h_n, result.c_n)

    for candidate in seeded if singles else []:
        held = observed([candidate])
        if held is not None:
            yield Seed(candidate.kind, (candidate.mistake,), held)
    for a, b in sample_pairs(len(candidates), [c.kind for c in candidates], pair_stride):
        pair = [candidates[a], candidates[b]]
        held = observed(pair)
        if held is not None:
            yield Seed(f"{pair[0].kind}+{pair[1].kind}", (pair[0].mistake, pair[1].mistake), held)


def verdict_on(seed: Seed, diagnosis: Diagnosis, reproduces: Callable[[tuple[Mistake, ...]], bool],
               unchanged: bool) -> str:
    """``found``, ``ambiguous``, ``invisible`` or ``missed`` (the module docstring); ``reproduces(mistakes)``
    says whether making ``mistakes`` gives what the seed holds, ``unchanged`` whether the seed holds the correct."""
    if diagnosis.verdict == AGREE:
        return "invisible" if unchanged else "missed"
    if diagnosis.verdict != EXPLAINED:
        return "missed"
    if seed.mistakes is not None and key(diagnosis.findings) == key(seed.mistakes):
        return "found"
    most = len(seed.mistakes) if seed.mistakes is not None else 1
    if len(diagnosis.findings) <= most and reproduces(diagnosis.findings):
        return "found" if seed.mistakes is None else "ambiguous"  # a selftest slip has no name of ours to match
    return "missed"


def outputs_reproduce(params: Params, run: Run, held: Observed, mistakes: tuple[Mistake, ...],
                       tolerance: Tolerance) -> bool:
    """Whether the outputs catalog's candidates named by ``mistakes`` give ``held``."""
    by_key = {key((c.mistake,)): c for c in candidates_for(run)}
    chosen = [by_key.get(key((m,))) for m in mistakes]
    if any(c is None for c in chosen):
        return False
    result = run_with(params, run, [c for c in chosen if c is not None])
    pairs = [(held.output, result.output), (held.h_n, result.h_n), (held.c_n, result.c_n)]
    return measure_all([(a, b) for a, b in pairs if a is not None], tolerance)[0]


def same_blocks(first: Params, second: Params, tolerance: Tolerance) -> bool:
    """Every block of ``first`` is ``second``'s within ``tolerance``."""
    return measure_all([(first[k], second[k]) for k in first], tolerance)[0]



# --------------------------------------------------------------------------- the seeds through real files
def diagnosed_files(engine: str, spec: RNNSpec, folder: Path, suffix: str, singles: bool = True,
                    pair_stride: int = PAIR_STRIDE, orders: int | None = None,
                    once: bool = False) -> list[tuple[str, str]]:
    """(seed name, verdict) for each weights seed of ``engine``'s rows, written as an ``engine`` file
    ending in ``suffix`` (any format ``rnn-ref convert`` writes) and read back as diagnose reads it;
    with ``once``, only the first seed of each name (a framework that writes slowly)."""
    from rnn_ref.conversion.convert import engine_mapping, read_params, write_params

    source = Params.random(spec, seed=3, dtype=np.float32)
    mapping = engine_mapping(engine, spec)
    correct = apply(mapping, source, [])
    tolerance = tolerance_of(source.dtype)
    verdicts = []
    seen: set[str] = set()
    for index, seed in enumerate(weight_seeds(source, mapping, singles, pair_stride, orders)):
        assert isinstance(seed.held, Params)
        if once and seed.name in seen:
            continue
        seen.add(seed.name)
        path = folder / f"seed-{index}{suffix}"
        write_params(engine, path, seed.held)
        held = read_params(engine, path, spec)
        diagnosis = diagnose_weights(source, mapping, held)

        def reproduces(found: tuple[Mistake, ...], held: Params = held) -> bool:
            return same_blocks(reproduce(source, mapping, found), held, tolerance)

        verdicts.append((seed.name, verdict_on(seed, diagnosis, reproduces, unchanged=held.equal(correct))))
    return verdicts


def seeded_run(spec: RNNSpec) -> tuple[Params, Run]:
    """Weights and inputs of the outputs seeds: T=5, N=3, initial states, ragged lengths (5, 3, 2)."""
    rng = np.random.default_rng(0)
    params = Params.random(spec, seed=3, dtype=np.float32)
    units = spec.num_layers * spec.num_directions
    x = rng.standard_normal((5, 3, spec.input_size)).astype(np.float32)
    h0 = rng.standard_normal((units, 3, spec.state_size)).astype(np.float32)
    c0 = rng.standard_normal((units, 3, spec.hidden_size)).astype(np.float32) if spec.has_cell_state else None
    return params, Run(spec, x, State(h0, c0), np.array([5, 3, 2]))


def diagnosed_outputs(spec: RNNSpec, singles: bool = True, pair_stride: int = PAIR_STRIDE,
                      orders: int | None = None) -> list[tuple[str, str]]:
    """(seed name, verdict) for each outputs seed of ``spec`` (``seeded_run``'s inputs, float32 outputs)."""
    params, run = seeded_run(spec)
    tolerance = tolerance_of(np.dtype(np.float32))
    verdicts = []
    for seed in output_seeds(params, run, singles, pair_stride, orders):
        assert isinstance(seed.held, Observed)
        held = Observed(seed.held.output.astype(np.float32), *(None if a is None else a.astype(np.float32)
                                                               for a in (seed.held.h_n, seed.held.c_n)))
        diagnosis = diagnose_outputs(params, run, held)

        def reproduces(found: tuple[Mistake, ...], held: Observed = held) -> bool:
            return outputs_reproduce(params, run, held, found, tolerance)

        verdicts.append((seed.name, verdict_on(seed, diagnosis, reproduces, unchanged=reproduces(()))))
    return verdicts

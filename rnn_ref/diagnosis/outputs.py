"""The outputs form: which mistakes make the reference give what someone's implementation gave.

Given the weights (canonical Params, read from the engine's file), the inputs (x in the spec's
layout, optional h0/c0 and lengths) and the implementation's outputs (``output`` required,
``h_n`` and ``c_n`` where given), the reference is run with each combination of catalog
mistakes (weights: rnn_ref/diagnosis/catalog.py, every gate order enumerated; conventions:
rnn_ref/diagnosis/conventions.py) until one reproduces the outputs within the tolerance of
their dtype. A mistake that changes nothing on these inputs (folding the biases of an LSTM)
cannot be told from a correct run and is listed as invisible. NumPy only.

A pair is first screened on a part of the layer (rnn_ref/diagnosis/screen.py): one that already
misses there is ruled out without the rest being run. Its residual is then unknown, so it is
never the best candidate of an unexplained diagnosis (the best is among no mistake, the singles
and the pairs run whole).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnn_ref.core.compare import TOLERANCES
from rnn_ref.core.params import Params
from rnn_ref.core.state import RNNOutput
from rnn_ref.diagnosis.catalog import Blocks, Candidate, Observed, Run, weight_candidates
from rnn_ref.diagnosis.conventions import reference
from rnn_ref.diagnosis.findings import Diagnosis, measure_all
from rnn_ref.diagnosis.screen import ruled_out
from rnn_ref.diagnosis.search import Outcome, search


def own_words(candidate: Candidate) -> Candidate:
    """A weights mistake said of the weights the implementation ran with, not of a target file."""
    mistake = candidate.mistake
    says = mistake.says.replace("the target's", "the implementation's", 1)
    return dataclasses.replace(candidate, mistake=dataclasses.replace(mistake, says=says))


def candidates_for(run: Run) -> list[Candidate]:
    from rnn_ref.diagnosis.conventions import convention_candidates

    return [own_words(c) for c in weight_candidates(run.spec, solved=False, both_biases=False)] \
        + convention_candidates(run)


Forwards = dict[tuple[int, ...], tuple[Run, Blocks, RNNOutput]]


def run_with(params: Params, run: Run, combo: list[Candidate], forwards: Forwards | None = None) -> RNNOutput:
    """The reference's result with ``combo``'s mistakes made (weights, then the run, then the result).

    ``forwards`` keeps the reference's runs by the ids of the candidates that change weights or
    the run, so that the combinations that differ only in what is done to the result share one."""
    before = tuple(id(c) for c in combo if c.result is None)
    if forwards is not None and before in forwards:
        run, blocks, result = forwards[before]
    else:
        run, blocks = made(params, run, combo)
        result = reference(run, run.spec, blocks, run.x, run.state, run.lengths)
        if forwards is not None and len(before) <= 1:  # the runs a pair with a result mistake reuses
            forwards[before] = run, blocks, result
    for candidate in combo:
        if candidate.result is not None:
            result = candidate.result(run, blocks, result)
    return result


def made(params: Params, run: Run, combo: list[Candidate]) -> tuple[Run, Blocks]:
    """The run and the blocks with ``combo``'s weights and run mistakes made."""
    blocks = dict(params)
    for candidate in combo:
        if candidate.params is not None:
            blocks = candidate.params(blocks)
    for candidate in combo:
        if candidate.run is not None:
            run = candidate.run(run)
    return run, blocks


def pairs(result: RNNOutput, observed: Observed) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(implementation, reference) for each tensor the implementation gave."""
    found: list[tuple[np.ndarray | None, np.ndarray | None]] = [(observed.output, result.output)]
    if observed.h_n is not None:
        found.append((observed.h_n, result.h_n))
    if observed.c_n is not None:
        found.append((observed.c_n, result.c_n))
    return found


def same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def same(first: RNNOutput, second: RNNOutput) -> bool:
    """Bit for bit the same result."""
    return all(same_array(a, b) for a, b in ((first.output, second.output), (first.h_n, second.h_n),
                                             (first.c_n, second.c_n)))


def diagnose_outputs(params: Params, run: Run, observed: Observed) -> Diagnosis:
    """The diagnosis of ``observed`` as the outputs of the layer ``params`` on ``run``'s inputs."""
    tolerance = TOLERANCES["float32" if observed.output.dtype == np.float32 else "float64"]
    candidates = candidates_for(run)
    forwards: Forwards = {}
    correct = run_with(params, run, [], forwards)

    def evaluate(combo: tuple[int, ...]) -> Outcome | None:
        chosen = [candidates[i] for i in combo]
        try:
            if len(combo) > 1 and ruled_out(made(params, run, chosen), chosen, observed, tolerance):
                return Outcome(False, np.inf, tuple(c.mistake for c in chosen), measured=False)
            result = run_with(params, run, chosen, forwards) if combo else correct
        except ValueError:  # the mistake makes no layer of these inputs (x read as NTC with lengths of N)
            return Outcome(False, np.inf, tuple(c.mistake for c in chosen))
        if combo and same(result, correct):
            return None
        explained, residual = measure_all(pairs(result, observed), tolerance)
        return Outcome(explained, residual, tuple(c.mistake for c in chosen))

    return search(candidates, evaluate, tolerance)

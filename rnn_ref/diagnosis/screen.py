"""The outputs form's screen of a pair: a part of the layer that already misses rules the pair out.

Most pairs of mistakes reproduce nothing, and running the whole layer for each is most of a
diagnosis's time. So a pair is first run on a part of the layer whose values the implementation
gave, and compared there; a pair that misses is ruled out without the rest being run:

* ``h_n`` given: the first unit (l0.fwd) alone, against ``h_n[0]`` (and ``c_n[0]``). The reference
  computes a unit from its input, weights and initial state alone, the same way inside the whole
  layer as alone, so these are the whole layer's values bit for bit (tested).
* ``output`` only: the top layer's forward direction for its first step, against the forward half
  of ``output`` at step 0. It reads the output at step 0 of the layer below: that layer's forward
  direction one step, its backward direction over each sample's steps reversed (step 0 is its last),
  the layers below those whole (bit for bit, as above). A step run alone, or a sequence reversed,
  is computed by other matmuls than inside the whole layer, which may sum in another order: a
  miss is then a miss by more than ``MARGIN`` beyond the tolerance (float64 sums of a
  few thousand terms differ by about 1e-13 between orders, four orders of magnitude below it;
  the float32 tolerance is 2e-6, three above).

Neither applies to a pair with a mistake in what is done to the result (it may move the final
states or the output) — nor is there anything to gain where the part is the whole (one unit, or
with the output only, one step of one layer is all of a single-step input).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from rnn_ref.core.compare import Tolerance
from rnn_ref.diagnosis.catalog import Blocks, Candidate, Observed, Run
from rnn_ref.diagnosis.conventions import layer_input, reference, time_major, unit_alone
from rnn_ref.diagnosis.findings import measure_all

#: how far beyond the tolerance a value computed by a smaller matmul must be to count as a miss
MARGIN = 1e-9


def first_unit_misses(run: Run, blocks: Blocks, observed: Observed, tolerance: Tolerance) -> bool:
    """Whether l0.fwd alone misses the implementation's ``h_n[0]`` (or ``c_n[0]``): exact."""
    assert observed.h_n is not None
    one, own, state = unit_alone(run, blocks, 0, "fwd", run.x.dtype)
    alone = reference(run, one.replace(layout=run.spec.layout), own, run.x, state, run.lengths)
    given: list[tuple[np.ndarray | None, np.ndarray | None]] = [(observed.h_n[:1], alone.h_n)]
    if observed.c_n is not None:
        given.append((observed.c_n[:1], alone.c_n))
    return not measure_all(given, tolerance)[0]


def reversed_per_sample(seq: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """(T, N, F) with each sample's existing steps in reverse order (sample n's step t is its step
    lengths[n] - 1 - t; its padded steps stay where they are)."""
    steps, batch = seq.shape[:2]
    if lengths is None:
        return seq[::-1]
    index = np.arange(steps)[:, None]
    source = np.where(index < lengths[None, :], lengths[None, :] - 1 - index, index)
    return seq[source, np.arange(batch)[None, :]]


def first_step(run: Run, blocks: Blocks, layer: int) -> np.ndarray:
    """``layer``'s output at step 0, (1, N, D*R), the layers below it run whole: its forward direction
    one step; its backward direction, which reaches step 0 last, run forward over each sample's
    steps reversed (its state after step 0 is that run's final state)."""
    below = layer_input(run, blocks, layer)
    one, own, state = unit_alone(run, blocks, layer, "fwd", below.dtype)
    halves = [reference(run, one, own, below[:1], state, None).output]
    if run.spec.bidirectional:
        one, own, state = unit_alone(run, blocks, layer, "bwd", below.dtype)
        lengths = None if run.lengths is None else np.asarray(run.lengths)
        halves.append(reference(run, one, own, reversed_per_sample(below, lengths), state, lengths).h_n)
    return np.concatenate(halves, axis=2)


def first_step_misses(run: Run, blocks: Blocks, observed: Observed, tolerance: Tolerance) -> bool:
    """Whether the top layer's forward direction misses the forward half of ``output`` at step 0
    (the layers below two whole, the one below the top at its step 0: ``first_step``), by more than
    ``MARGIN`` beyond the tolerance."""
    spec = run.spec
    top = spec.num_layers - 1
    given = time_major(observed.output, spec)
    if given.shape != (*time_major(run.x, spec).shape[:2], spec.output_size):
        return False  # another shape: the whole layer's comparison says so
    below = first_step(run, blocks, top - 1) if top else time_major(run.x, spec)[:1]
    one, own, state = unit_alone(run, blocks, top, "fwd", below.dtype)
    first = reference(run, one, own, below, state, None).output[0]
    slack = dataclasses.replace(tolerance, atol=tolerance.atol + MARGIN)
    return not measure_all([(given[0, :, :spec.state_size], first)], slack)[0]


def ruled_out(made: tuple[Run, Blocks], combo: Sequence[Candidate], observed: Observed,
              tolerance: Tolerance) -> bool:
    """Whether the run and blocks ``made`` with ``combo``'s mistakes already miss on the screen's
    part of the layer (the module docstring); False where the screen cannot tell."""
    run, blocks = made
    spec = run.spec
    if any(c.result is not None for c in combo):
        return False
    if observed.h_n is not None and spec.num_layers * spec.num_directions > 1:
        return first_unit_misses(run, blocks, observed, tolerance)
    if time_major(run.x, spec).shape[0] > 1 or spec.num_layers > 1:
        return first_step_misses(run, blocks, observed, tolerance)
    return False

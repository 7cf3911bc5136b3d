"""What a gradient run of an engine takes and gives back (the engine side of design section 2c).

A gradient case is a forward case plus seeded cotangents: the engine's autodiff computes the
gradients of ``sum(cot.output ⊙ output) + sum(cot.h_n ⊙ h_n) + sum(cot.c_n ⊙ c_n)`` with
respect to x, the initial states and its native parameters, and the reference ``backward``
computes the same from the same numbers.

The output's cotangent is zero at padded steps: what an engine writes there differs (zeros,
or Keras's repeated last output, design section 2), and the reference's padded output is a
constant, so a cotangent there would test each engine's padding convention, not its gradient.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from rnn_ref.cases.matrix import Case
from rnn_ref.core.state import RNNOutput

#: Added to the case's ``data_id`` to seed the cotangents: a stream independent of the case's data.
COTANGENT_SEED_SUFFIX = ":cotangents"


@dataclass(frozen=True)
class Cotangents:
    """The output gradients fed to an engine's autodiff, in the case's dtype and layout.

    output (T, N, D·R) or (N, T, D·R) — zero at padded steps; h_n (L·D, N, R); c_n (L·D, N, H) or None.
    """

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None


@dataclass(frozen=True)
class EngineGradients:
    """An engine's gradients as NumPy arrays, in the canonical layout.

    x: same shape as x. h0, c0: (L·D, N, ·), or None when the case had no initial state (the
    engine started from its own zeros, which carry no gradient) or, for c0, is not an LSTM.
    native: the gradient of every native parameter, keyed by native name (as ``native_arrays``).
    output: the forward result of the same run, in ``run``'s form — given only by an engine
    whose differentiated run computes bit for bit what ``run`` computes (Keras's layers under
    tf.GradientTape, eagerly or in one tf.function as ``run`` does: tests/test_keras_conventions.py
    checks it), so that the runner can judge the case's forward test from it instead of running
    the layer a second time.
    """

    x: np.ndarray
    h0: np.ndarray | None
    c0: np.ndarray | None
    native: dict[str, np.ndarray]
    output: RNNOutput | None = None


def case_cotangents(case: Case) -> Cotangents:
    """Standard-normal cotangents seeded from the case's ``data_id`` (a TNC case gets its NTC twin's,
    transposed), zero at the output's padded steps."""
    spec = case.spec
    rng = np.random.default_rng(zlib.crc32((case.data_id + COTANGENT_SEED_SUFFIX).encode()))
    units = spec.num_layers * spec.num_directions
    by_time = rng.standard_normal((case.steps, case.batch, spec.output_size))
    lengths = case.lengths
    if lengths is not None:
        by_time[np.arange(case.steps)[:, None] >= lengths[None, :]] = 0.0
    output = by_time if spec.layout == "TNC" else by_time.transpose(1, 0, 2)
    h_n = rng.standard_normal((units, case.batch, spec.state_size))
    c_n = rng.standard_normal((units, case.batch, spec.hidden_size)) if spec.has_cell_state else None
    dtype = case.dtype
    return Cotangents(np.ascontiguousarray(output, dtype=dtype), h_n.astype(dtype),
                      None if c_n is None else c_n.astype(dtype))

"""How an engine's tensors are held to the reference's: outputs at valid and padded steps, states, gradients.

Each tensor is one ``Comparison`` (rnn_ref.core.compare) with the tolerance of the case's
dtype; padded steps are compared with what the engine documents writing there
(``Adapter.padded_steps``), exactly when that is zeros.
"""

from __future__ import annotations

import numpy as np

from rnn_ref.adapters.adapter import PADDED_REPEAT_LAST, PADDED_ZEROS
from rnn_ref.cases.cotangents import EngineGradients
from rnn_ref.core.compare import Comparison, Tolerance, compare
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput
from rnn_ref.oracle.backward import Gradients

EXACT = Tolerance(0.0, 0.0)


def valid_steps(spec: RNNSpec, steps: int, batch: int, lengths: np.ndarray | None) -> np.ndarray:
    """Boolean mask broadcastable to the output (layout-aware): True where a step exists."""
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    valid = np.arange(steps)[:, None] < lengths[None, :]  # (T, N)
    return (valid if spec.layout == "TNC" else valid.T)[..., None]


def expected_padding(spec: RNNSpec, behaviour: str, reference: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """What an engine with ``behaviour`` writes at every step, given the reference output.

    PADDED_ZEROS: zeros at padded steps. PADDED_REPEAT_LAST: the output of the last valid
    step repeated (Keras's plain masked RNN).
    """
    if behaviour == PADDED_ZEROS:
        return np.zeros_like(reference)
    if behaviour == PADDED_REPEAT_LAST:
        by_time = reference if spec.layout == "TNC" else reference.transpose(1, 0, 2)
        last = by_time[np.asarray(lengths) - 1, np.arange(by_time.shape[1])]  # (N, F)
        repeated = np.broadcast_to(last, by_time.shape)
        return repeated if spec.layout == "TNC" else repeated.transpose(1, 0, 2)
    raise ValueError(f"unknown padded-step behaviour {behaviour!r}")


def judge(
    spec: RNNSpec,
    result: RNNOutput,
    expected: RNNOutput,
    lengths: np.ndarray | None,
    padded_behaviour: str,
    tolerance: Tolerance,
) -> list[Comparison]:
    """Compare every tensor of an engine's result with the reference's."""
    output_shape = np.shape(expected.output)
    steps, batch = (output_shape[0], output_shape[1]) if spec.layout == "TNC" else output_shape[1::-1]
    valid = valid_steps(spec, steps, batch, lengths)
    comparisons = [compare("output", result.output, expected.output, tolerance, where=valid)]
    if lengths is not None and comparisons[0].problem is None:
        padded_expected = expected_padding(spec, padded_behaviour, expected.output, lengths)
        padded_tolerance = EXACT if padded_behaviour == PADDED_ZEROS else tolerance
        comparisons.append(
            compare(f"output at padded steps ({padded_behaviour})", result.output, padded_expected,
                    padded_tolerance, where=~valid)
        )
    comparisons.append(compare("h_n", result.h_n, expected.h_n, tolerance))
    if spec.has_cell_state:
        comparisons.append(compare("c_n", result.c_n, expected.c_n, tolerance))
    return comparisons


def judge_gradients(
    spec: RNNSpec,
    got: EngineGradients,
    canonical: Params,
    expected: Gradients,
    lengths: np.ndarray | None,
    tolerance: Tolerance,
) -> list[Comparison]:
    """Compare an engine's gradients (native ones already through the rows: ``canonical``) with
    the reference's: x at existing steps, x at padded steps (exactly zero), h0 and c0 where the
    engine was given initial states, and every canonical block."""
    shape = np.shape(expected.x)
    steps, batch = (shape[0], shape[1]) if spec.layout == "TNC" else shape[1::-1]
    valid = valid_steps(spec, steps, batch, lengths)
    comparisons = [compare("grad x", got.x, expected.x, tolerance, where=valid)]
    if lengths is not None and comparisons[0].problem is None:
        comparisons.append(compare("grad x at padded steps (zeros)", got.x, np.zeros_like(expected.x), EXACT,
                                   where=~valid))
    if got.h0 is not None:
        comparisons.append(compare("grad h0", got.h0, expected.h0, tolerance))
    if got.c0 is not None:
        comparisons.append(compare("grad c0", got.c0, expected.c0, tolerance))
    comparisons += [compare(f"grad {key}", canonical[key], expected.params[key], tolerance) for key in expected.params]
    return comparisons

"""Comparing an engine's results with the reference: one tolerance table, readable verdicts.

A result passes when ``|actual - expected| <= atol + rtol * |expected|`` element-wise, with
(atol, rtol) taken from ``TOLERANCES`` by the engine's dtype. The reference is computed in
float64, so the error measured is the engine's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


#: The one tolerance table, keyed by the dtype the engine computes in. The worst errors
#: measured over the whole matrix (T=200 and 3-layer stacks included) on torch 2.13, Keras
#: 3.15 and Gluon 1.9.1 CPU are 4.1e-7 in float32 (relu, whose values grow past 1, so rtol
#: matters there) and 6.3e-16 in float64: the float32 bound is about 5x that, the float64
#: bound about 160x (float64 kernels differ more between BLAS builds, relative to precision).
#: `rnn-ref check` prints the measured error of every group, so a drift toward a bound shows
#: before it fails.
TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(atol=2e-6, rtol=2e-6),
    "float64": Tolerance(atol=1e-13, rtol=1e-13),
}

#: The gradient tolerance table, keyed the same way: an engine's autodiff against the reference
#: backward (rnn_ref.judge.runner.judge_gradients). Gradients sum over steps and samples, so they are
#: larger and less exact than outputs. The float32 bound was 1e-5 (atol and rtol) until the whole
#: gradient matrix ran on Keras's three backends: on the T=200 GRU reset_before case (a Keras-only
#: variant) the worst element used 96% of that allowance on TensorFlow and on PyTorch and 103% on
#: JAX (keras-jax, l0.bwd.w_ih.n: error 1.49e-5), float32 rounding accumulated over 200 steps
#: (the small matrix's worst float32 gradient error is 2.7e-6). So the float32 bound is 4e-5: the
#: worst measured uses about 26% of it. Float64: worst 1.1e-13 (T=200), 0.5% of its allowance, the
#: bound about 200x (as for outputs: float64 kernels differ more between BLAS builds, relative to
#: precision). Measured by ``pytest --full-gradients`` and ``rnn-ref check`` in each engine's env.
GRADIENT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(atol=4e-5, rtol=4e-5),
    "float64": Tolerance(atol=1e-12, rtol=1e-12),
}


@dataclass(frozen=True)
class Comparison:
    """How one tensor of an engine compares with the reference."""

    tensor: str
    max_abs_error: float
    worst_index: tuple[int, ...]
    actual: float
    expected: float
    passed: bool
    problem: str | None = None

    def describe(self) -> str:
        if self.problem:
            return f"{self.tensor}: {self.problem}"
        return (
            f"{self.tensor}: max abs error {self.max_abs_error:.3e} at index {self.worst_index} "
            f"(engine {self.actual!r}, reference {self.expected!r})"
        )


def compare(tensor: str, actual: np.ndarray | None, expected: np.ndarray | None, tolerance: Tolerance,
            where: np.ndarray | None = None) -> Comparison:
    """Compare ``actual`` with ``expected`` (optionally only where the boolean mask ``where`` is set).

    A side that is None (an engine gave no such tensor, or the reference has none) fails, saying which.
    """
    if actual is None or expected is None:
        missing = "the engine" if actual is None else "the reference"
        return Comparison(tensor, np.inf, (), np.nan, np.nan, False, f"{missing} gave no {tensor} (None)")
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return Comparison(tensor, np.inf, (), np.nan, np.nan, False,
                          f"shape {actual.shape} differs from the reference's {expected.shape}")
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected.astype(np.float64))
    if where is not None:
        error = np.where(where, error, 0.0)
        allowed = np.where(where, allowed, np.inf)
    error = np.where(np.isnan(error), np.inf, error)  # a NaN is the worst possible error
    if error.size == 0:
        return Comparison(tensor, 0.0, (), np.nan, np.nan, True)
    passed = bool((error <= allowed).all())
    # A failure points at the element furthest beyond its tolerance; a pass, at the largest error.
    score = error if passed else error - allowed
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(score), error.shape))
    return Comparison(tensor, float(error[worst]), worst, float(actual[worst]), float(expected[worst]), passed)

"""What a diagnosis says: the mistakes it names (``Mistake``), its verdict and exit code (``Diagnosis``).

Every mistake has a ``kind`` from ``KINDS`` (the JSON contract of ``rnn-ref diagnose --format
json``), JSON-able ``parameters`` and one sentence in the user's terms. A diagnosis is one of

* ``agree``: the target holds what a correct conversion writes (exit 0);
* ``explained``: the smallest set of catalog mistakes (``findings``) that reproduces the target
  within the dtype's tolerance; other sets of the same size that reproduce it too are
  ``alternatives`` (exit 1);
* ``unexplained``: no set of one or two mistakes reproduces it; ``findings`` is then the best
  candidate and ``residual`` its error (exit 2 — the exit code of a usage error too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_ref.core.compare import Tolerance

#: The kinds of mistake, as ``--format json`` names them (design.md, section "diagnose").
KINDS: dict[str, str] = {
    "gate-order": "the gate blocks of a kind stacked in another order (parameters: the permutation per unit and kind)",
    "transpose": "a weight block or kernel transposed where it should not be, or reshaped where a transpose was meant",
    "bias": "the two biases folded wrong, one dropped, or exchanged",
    "direction": "the forward and backward directions exchanged",
    "layer-order": "the layers stacked in the wrong order",
    "gru-variant": "the GRU computed with the other reset variant",
    "forget-bias": "the LSTM forget-gate bias off by one (a unit forget bias added or removed)",
    "activation": "the gates computed with a hard sigmoid",
    "padded-steps": "what the steps past a sample's length hold",
    "layout": "time-major and batch-major confused",
    "final-state": "the final states taken from the wrong step or in the wrong unit order",
    "initial-state": "the initial states read in the wrong unit order",
}

AGREE, EXPLAINED, UNEXPLAINED = "agree", "explained", "unexplained"
EXIT_CODES = {AGREE: 0, EXPLAINED: 1, UNEXPLAINED: 2}


@dataclass(frozen=True)
class Mistake:
    """One convention mistake: its ``kind`` (a key of KINDS), ``parameters`` and the sentence that names it."""

    kind: str
    parameters: Mapping[str, Any]
    says: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mistake kind {self.kind!r}; known: {', '.join(KINDS)}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "parameters": dict(self.parameters), "message": self.says}


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one target, the mistakes named, the residual after undoing them (max abs error)."""

    verdict: str
    findings: tuple[Mistake, ...]
    residual: float
    tolerance: Tolerance
    alternatives: tuple[tuple[Mistake, ...], ...] = ()
    invisible: tuple[Mistake, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def measure(actual: np.ndarray | None, expected: np.ndarray | None, tolerance: Tolerance) -> tuple[bool, float]:
    """(whether ``actual`` is ``expected`` within ``tolerance`` element-wise, the max abs error).

    Different shapes, or one side missing, never agree (error inf); a NaN is the worst error."""
    if actual is None or expected is None:
        return (actual is None and expected is None), (0.0 if actual is None and expected is None else np.inf)
    if actual.shape != expected.shape:
        return False, np.inf
    if actual.size == 0:
        return True, 0.0
    a, e = actual.astype(np.float64, copy=False), expected.astype(np.float64, copy=False)
    error = np.abs(a - e)
    error[np.isnan(error)] = np.inf
    return bool((error <= tolerance.atol + tolerance.rtol * np.abs(e)).all()), float(error.max())


def measure_all(pairs: list[tuple[np.ndarray | None, np.ndarray | None]], tolerance: Tolerance) -> tuple[bool, float]:
    """``measure`` over several (actual, expected) pairs: all agree, and the largest error."""
    results = [measure(a, e, tolerance) for a, e in pairs]
    return all(ok for ok, _ in results), max((error for _, error in results), default=0.0)

"""What a recurrent layer takes and gives besides its weights: states and outputs (shapes in the oracle's docstring).

Every adapter and the oracle speak these two types; they need NumPy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["RNNOutput", "State", "present"]


class State(NamedTuple):
    """Initial or final state: ``h`` (L*D, N, R) and, for LSTM only, ``c`` (L*D, N, H)."""

    h: np.ndarray
    c: np.ndarray | None = None


def present(array: np.ndarray | None, what: str) -> np.ndarray:
    """``array``, which the layer needs (an LSTM's ``c``): None raises ValueError naming ``what``."""
    if array is None:
        raise ValueError(f"{what} is missing (None)")
    return array


@dataclass(frozen=True)
class RNNOutput:
    """What a recurrent layer returns: the output sequence and the final states."""

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None

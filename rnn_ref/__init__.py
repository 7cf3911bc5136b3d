"""rnn_ref: a NumPy reference of recurrent layers and adapters that prove frameworks match it.

``import rnn_ref`` needs NumPy alone; adapter modules import their framework lazily.
"""

from __future__ import annotations

from rnn_ref.backward import Gradients, backward
from rnn_ref.errors import InputError, ParamsError, SpecError, UnsupportedCase
from rnn_ref.params import Params, expected_shapes
from rnn_ref.reference import RNNOutput, State, forward
from rnn_ref.spec import GATES, RNNSpec

__version__ = "0.1.0"

__all__ = [
    "GATES",
    "Gradients",
    "InputError",
    "Params",
    "ParamsError",
    "RNNOutput",
    "RNNSpec",
    "SpecError",
    "State",
    "UnsupportedCase",
    "__version__",
    "backward",
    "expected_shapes",
    "forward",
]

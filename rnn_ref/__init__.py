"""rnn_ref: a NumPy reference of recurrent layers and adapters that prove frameworks match it.

``import rnn_ref`` needs NumPy alone; adapter modules import their framework lazily.
"""

from __future__ import annotations

from rnn_ref.core.errors import InputError, ParamsError, SpecError, UnsupportedCase
from rnn_ref.core.params import Params, expected_shapes
from rnn_ref.core.spec import GATES, RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.backward import Gradients, backward
from rnn_ref.oracle.forward import forward

#: the one version source (pyproject.toml reads it: [tool.setuptools.dynamic])
__version__ = "0.2.0"

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

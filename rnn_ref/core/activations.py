"""The activation functions a recurrent layer may use, with ONNX's names and definitions.

ONNX's RNN, LSTM and GRU operators name their activations (attribute ``activations``) and give
the parametrised ones their ``alpha`` and ``beta`` (``activation_alpha``, ``activation_beta``).
rnn_ref uses the same names and definitions (design section 2a); an engine whose names differ
(Keras ``hard_sigmoid``, Flax ``nn.hard_sigmoid``) translates at its boundary::

    Sigmoid          1 / (1 + e^-x)
    Tanh             tanh(x)
    Relu             max(x, 0)
    HardSigmoid      min(max(alpha·x + beta, 0), 1)       alpha 0.2, beta 0.5
    Affine           alpha·x + beta                       alpha 1.0, beta 0.0
    LeakyRelu        x if x >= 0 else alpha·x             alpha 0.01
    ThresholdedRelu  x if x >= alpha else 0               alpha 1.0
    ScaledTanh       alpha·tanh(beta·x)                   alpha 1.0, beta 1.0
    Elu              x if x >= 0 else alpha·(e^x - 1)     alpha 1.0
    Softsign         x / (1 + |x|)
    Softplus         log(1 + e^x)

The defaults are those of ONNX's operators of the same name (``HardSigmoid``, ``LeakyRelu``,
``ThresholdedRelu``, ``Elu``), and of the experimental ``Affine`` and ``ScaledTanh`` ops the
recurrent operators still list. An activation that takes no ``alpha`` or ``beta`` ignores it.

Each ``Activation`` computes ``y = f(x)`` in place where asked (``out=``, the fast forward
writes into its scratch) and ``f'`` from the pre-activation and the output together
(``derivative(x, y)``), which BPTT needs. At a kink (Relu at 0, HardSigmoid at its corners)
the derivative is the one-sided value frameworks use: the right one for Relu/LeakyRelu/Elu,
the inner one for HardSigmoid and ThresholdedRelu. Random data never lands on a kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), to a few ulps everywhere; ``out`` may be ``x``.

    For x below about -88 (float32) or -709 (float64) e^-x overflows to inf and σ is 0, where
    the true value lies below the dtype's smallest normal number.
    """
    with np.errstate(over="ignore"):
        out = np.negative(x, out=out)
        np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0.0, out=out)


Function = Callable[[np.ndarray, float, float, "np.ndarray | None"], np.ndarray]
Derivative = Callable[[Any, np.ndarray, float, float], np.ndarray]  # x: an array, None where from_output


def _hard_sigmoid(x, alpha, beta, out):
    out = np.multiply(x, alpha, out=out)
    out += beta
    return np.clip(out, 0.0, 1.0, out=out)


def _affine(x, alpha, beta, out):
    out = np.multiply(x, alpha, out=out)
    out += beta
    return out


def _leaky_relu(x, alpha, beta, out):
    return _written(np.where(x >= 0, x, alpha * x), out)


def _thresholded_relu(x, alpha, beta, out):
    return _written(np.where(x >= alpha, x, 0.0), out)


def _scaled_tanh(x, alpha, beta, out):
    out = np.multiply(x, beta, out=out)
    np.tanh(out, out=out)
    out *= alpha
    return out


def _elu(x, alpha, beta, out):
    with np.errstate(over="ignore"):
        negative = alpha * np.expm1(np.minimum(x, 0.0))
    return _written(np.where(x >= 0, x, negative), out)


def _softsign(x, alpha, beta, out):
    scale = 1.0 + np.abs(x)
    return np.divide(x, scale, out=out)


def _softplus(x, alpha, beta, out):
    """log(1 + e^x) computed as max(x, 0) + log1p(e^-|x|), which never overflows."""
    tail = np.log1p(np.exp(-np.abs(x)))
    out = np.maximum(x, 0.0, out=out)
    out += tail
    return out


def _written(y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``y`` in ``out`` (which may be the input: ``y`` was computed whole first), else ``y`` itself."""
    if out is None:
        return y.astype(y.dtype, copy=False)
    out[...] = y
    return out


@dataclass(frozen=True)
class Kind:
    """One ONNX activation: its function, derivative and the defaults of the parameters it takes."""

    name: str
    function: Function
    derivative: Derivative
    #: default alpha, or None when the activation takes no alpha
    alpha: float | None = None
    #: default beta, or None when the activation takes no beta
    beta: float | None = None
    #: where the function has a kink (its derivative jumps), given alpha and beta
    kinks: Callable[[float, float], tuple[float, ...]] = lambda alpha, beta: ()
    #: the derivative is a function of the output y alone (σ' = y(1-y), tanh' = 1-y²): BPTT
    #: then keeps no pre-activation, and ``derivative`` may be given None for x
    from_output: bool = False


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("Sigmoid", lambda x, a, b, out: sigmoid(x, out=out), lambda x, y, a, b: y * (1.0 - y), from_output=True),
    Kind("Tanh", lambda x, a, b, out: np.tanh(x, out=out), lambda x, y, a, b: 1.0 - y * y, from_output=True),
    Kind("Relu", lambda x, a, b, out: relu(x, out=out), lambda x, y, a, b: (x > 0).astype(x.dtype),
         kinks=lambda a, b: (0.0,)),
    Kind("HardSigmoid", _hard_sigmoid,
         lambda x, y, a, b: np.where((a * x + b > 0) & (a * x + b < 1), a, 0.0).astype(x.dtype), 0.2, 0.5,
         kinks=lambda a, b: (-b / a, (1 - b) / a) if a else ()),
    Kind("Affine", _affine, lambda x, y, a, b: np.full_like(x, a), 1.0, 0.0),
    Kind("LeakyRelu", _leaky_relu, lambda x, y, a, b: np.where(x >= 0, 1.0, a).astype(x.dtype), 0.01,
         kinks=lambda a, b: (0.0,)),
    Kind("ThresholdedRelu", _thresholded_relu, lambda x, y, a, b: (x >= a).astype(x.dtype), 1.0,
         kinks=lambda a, b: (a,)),
    Kind("ScaledTanh", _scaled_tanh, lambda x, y, a, b: a * b * (1.0 - np.tanh(b * x) ** 2), 1.0, 1.0),
    Kind("Elu", _elu, lambda x, y, a, b: np.where(x >= 0, 1.0, y + a).astype(x.dtype), 1.0,
         kinks=lambda a, b: (0.0,)),
    Kind("Softsign", _softsign, lambda x, y, a, b: 1.0 / (1.0 + np.abs(x)) ** 2),
    Kind("Softplus", _softplus, lambda x, y, a, b: sigmoid(x)),
)}

#: Every mode's own activations, in ONNX's order: LSTM (f, g, h), GRU (f, g), RNN (f,).
MODE_ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "lstm": ("Sigmoid", "Tanh", "Tanh"),
    "gru": ("Sigmoid", "Tanh"),
    "rnn_tanh": ("Tanh",),
    "rnn_relu": ("Relu",),
}


@dataclass(frozen=True)
class Activation:
    """One activation with its parameters: ``Activation("HardSigmoid", 0.2, 0.5)``."""

    name: str
    alpha: float = 0.0
    beta: float = 0.0

    @property
    def kind(self) -> Kind:
        return KINDS[self.name]

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """f(x), written to ``out`` when given (``out`` may be ``x``)."""
        return self.kind.function(x, self.alpha, self.beta, out)

    @property
    def kinks(self) -> tuple[float, ...]:
        """The inputs where f' jumps (Relu's 0, HardSigmoid's two corners, ...)."""
        return self.kind.kinks(self.alpha, self.beta)

    @property
    def from_output(self) -> bool:
        """Whether f' is a function of the output alone (then ``derivative`` needs no ``x``)."""
        return self.kind.from_output

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        """f'(x), given the pre-activation ``x`` (None where ``from_output``) and the output ``y = f(x)``."""
        return self.kind.derivative(x, y, self.alpha, self.beta)

    @property
    def text(self) -> str:
        """``HardSigmoid(alpha=0.2, beta=0.5)``, or the bare name for an activation without parameters."""
        kind = self.kind
        shown = [f"{name}={value:g}" for name, value, default in
                 (("alpha", self.alpha, kind.alpha), ("beta", self.beta, kind.beta)) if default is not None]
        return f"{self.name}({', '.join(shown)})" if shown else self.name


def resolved(name: str, alpha: float | None = None, beta: float | None = None) -> Activation:
    """The activation ``name`` with its parameters, defaults filled in; a parameter the activation
    does not take is stored as 0.0, so that two specs computing the same thing compare equal."""
    kind = KINDS[name]
    return Activation(
        name,
        0.0 if kind.alpha is None else float(kind.alpha if alpha is None else alpha),
        0.0 if kind.beta is None else float(kind.beta if beta is None else beta),
    )

"""What the Flax NNX cells express of the spec's options (design section 2a), and how.

``FlaxAdapter.build_module`` (rnn_ref/adapters/flax/nnx.py) applies them:

* ``reverse``: ``nnx.RNN(cell, reverse=True, keep_order=True)``: it reads each sample from its
  last valid step (``flip_sequences``) and, with ``keep_order``, flips the outputs back, so they
  come in original time order, as the canonical reverse layer's. ``keep_order=False`` (the
  default) returns them in reversed order (tests/test_flax_conventions.py pins both).
* ``activations``: the cells' ``gate_fn`` (LSTM i, f, o; GRU r, z: ONNX's f) and
  ``activation_fn`` (LSTM g and h; GRU n: ONNX's g; SimpleCell's one activation), each a
  ``jax.nn`` function of the same definition (``JAX_NN_NAMES``): Sigmoid, Tanh, Relu,
  Softsign (``soft_sign``), Softplus, Elu(alpha) and LeakyRelu(alpha) (``negative_slope``),
  and HardSigmoid only as ``jax.nn.hard_sigmoid``, relu6(x + 3) / 6, i.e. alpha = 1/6, beta =
  0.5 (Keras 3's; ONNX's default alpha 0.2 has no jax.nn function). Affine, ThresholdedRelu and
  ScaledTanh have none either. An LSTM cell applies its one ``activation_fn`` to g and to h
  (``new_h = o * activation_fn(new_c)``): g and h must be the same activation.
* ``merge_mode``: ``nnx.Bidirectional(merge_fn=...)``, which combines the two directions'
  outputs with any function of two arrays (default: concatenation): ``jnp.add``,
  ``jnp.multiply``, and their sum halved for ``ave``.
* No peepholes, no cell clip, no coupled input and forget gates: limits.

jax is imported lazily: the limits and ``jax_nn_function`` work without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rnn_ref.cases.limits import Limit, When, uses
from rnn_ref.core.activations import Activation

LSTM_ONE_ACTIVATION_FN = (
    "Flax NNX LSTMCell and OptimizedLSTMCell apply one activation_fn to the candidate g and to the cell output h "
    "(new_h = o * activation_fn(new_c)): an LSTM whose g and h activations differ cannot be expressed"
)
NO_JAX_ACTIVATION = (
    "the activations of Flax NNX cells (gate_fn, activation_fn) are jax.nn functions, and jax.nn has none for "
    "Affine, ThresholdedRelu or ScaledTanh, and for HardSigmoid only hard_sigmoid, relu6(x + 3) / 6, i.e. "
    "alpha = 1/6, beta = 0.5 (not ONNX's default alpha = 0.2, Keras 2's hard_sigmoid)"
)
NO_PEEPHOLES = "Flax NNX LSTMCell and OptimizedLSTMCell have no peephole connections (their gates see x and h only)"
NO_CLIP = (
    "Flax NNX cells have no cell clip: gate_fn and activation_fn get the gates' pre-activations unclipped, and no "
    "cell takes a clip"
)
NO_INPUT_FORGET = (
    "Flax NNX LSTMCell and OptimizedLSTMCell compute the forget gate from its own weights (f = gate_fn(W_if x + "
    "W_hf h + b_f)); no option couples it to the input gate (f = 1 - i)"
)

#: ONNX's activations (rnn_ref.core.activations) and the jax.nn function of the same definition
#: (``jax.nn.tanh`` is ``jnp.tanh``, the cells' default ``activation_fn``; ``jax.nn.sigmoid`` their
#: default ``gate_fn``). HardSigmoid only for ``HARD_SIGMOID_JAX``'s parameters.
JAX_NN_NAMES: dict[str, str] = {
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "HardSigmoid": "hard_sigmoid",
    "Softsign": "soft_sign", "Softplus": "softplus", "Elu": "elu", "LeakyRelu": "leaky_relu",
}
#: ``jax.nn.hard_sigmoid`` is relu6(x + 3) / 6 = min(max(x / 6 + 0.5, 0), 1): HardSigmoid's (alpha, beta).
HARD_SIGMOID_JAX = (1 / 6, 0.5)
#: The activations whose alpha jax.nn takes, and the keyword it takes it by.
JAX_NN_ALPHA = {"Elu": "alpha", "LeakyRelu": "negative_slope"}


def jax_nn_function(activation: Activation) -> tuple[str, dict[str, float]] | None:
    """The name of the jax.nn function computing ``activation`` and its keyword arguments, or None
    where jax.nn has none (``JAX_NN_NAMES``; HardSigmoid other than ``HARD_SIGMOID_JAX``)."""
    name = JAX_NN_NAMES.get(activation.name)
    if name is None or (activation.name == "HardSigmoid" and (activation.alpha, activation.beta) != HARD_SIGMOID_JAX):
        return None
    keyword = JAX_NN_ALPHA.get(activation.name)
    return name, ({} if keyword is None else {keyword: activation.alpha})


def jax_activation(activation: Activation) -> Callable:
    """The jax.nn function computing ``activation``, its parameters bound (``jax_nn_function``)."""
    import jax

    found = jax_nn_function(activation)
    assert found is not None, activation  # check_supported refused it before
    name, keywords = found
    function = getattr(jax.nn, name)
    return functools.partial(function, **keywords) if keywords else function


#: An LSTM whose candidate (g) and cell-output (h) activations differ.
LSTM_G_NOT_H = When(lambda c: c.spec.mode == "lstm" and len(set(c.spec.resolved_activations[1:])) > 1,
                    "LSTM g and h activations differ")
#: A layer naming an activation that has no jax.nn function (``jax_nn_function``).
NO_JAX_FUNCTION = When(lambda c: any(jax_nn_function(a) is None for a in c.spec.resolved_activations),
                       "activations without a jax.nn function")

#: What neither Flax cell expresses of the options (the LSTM ones are hit by either engine's LSTM cases).
OPTION_LIMITS = (
    Limit(LSTM_ONE_ACTIVATION_FN, LSTM_G_NOT_H, label="LSTM g ≠ h (one `activation_fn`)"),
    Limit(NO_JAX_ACTIVATION, NO_JAX_FUNCTION, label="activations without a `jax.nn` function"),
    Limit(NO_PEEPHOLES, uses("peepholes"), label="peepholes"),
    Limit(NO_CLIP, uses("clip"), label="clip"),
    Limit(NO_INPUT_FORGET, uses("input_forget"), label="input_forget"),
)


def average(forward_part: Any, backward_part: Any) -> Any:
    """The ``merge_fn`` of ``ave``: the two directions' outputs summed and halved."""
    return (forward_part + backward_part) / 2


def merge_function(merge_mode: str) -> Callable | None:
    """``nnx.Bidirectional``'s ``merge_fn`` for ``merge_mode``; None for concat (its default)."""
    import jax.numpy as jnp

    return {"concat": None, "sum": jnp.add, "mul": jnp.multiply, "ave": average}[merge_mode]

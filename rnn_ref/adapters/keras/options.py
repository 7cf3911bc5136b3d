"""The options of a recurrent layer (rnn_ref.core.spec.OPTIONS) in Keras 3's terms.

* ``activations``: a Keras cell names its activations; the spec's ONNX activations are
  translated here (``KERAS_ACTIVATIONS``): SimpleRNNCell ``activation`` = ONNX f; GRUCell
  ``recurrent_activation`` = f (z, r), ``activation`` = g (the candidate); LSTMCell
  ``recurrent_activation`` = f (i, f, o), ``activation`` = g (the candidate) *and* h (applied
  to c before o), one name for both. Keras 3.15's names and their ONNX equals:

  ================  =====================================================
  Keras             ONNX
  ================  =====================================================
  ``sigmoid``       Sigmoid
  ``tanh``          Tanh
  ``relu``          Relu
  ``hard_sigmoid``  HardSigmoid(alpha=1/6, beta=0.5): relu6(x + 3) / 6
  ``linear``        Affine(alpha=1, beta=0)
  ``leaky_relu``    LeakyRelu(alpha=0.2) (Keras's default negative_slope)
  ``elu``           Elu(alpha=1)
  ``softsign``      Softsign
  ``softplus``      Softplus
  ================  =====================================================

  Anything else (a Keras 2 model's ``hard_sigmoid``, i.e. HardSigmoid(0.2, 0.5), ONNX's
  default; LeakyRelu or Elu of another alpha; ThresholdedRelu; ScaledTanh; an LSTM whose g and
  h differ) has no Keras name: a declared limit.
* ``reverse``: ``RNN(..., go_backwards=True)``. Keras returns that layer's output in reversed
  time order (output step j is input step T-1-j); the adapter flips it back at its boundary
  (``time_order``). With a mask, the reversed sequence starts with the padded steps, which
  Keras skips (the state stays the initial one) before the last valid step, so each sample is
  read from its own last step; the padded steps' outputs, flipped back to the end, are zeros.
  A stack is one ``RNN(StackedRNNCells, go_backwards=True)``: every level reads its input from
  the end, as the canonical reverse layer does. tests/test_keras_conventions.py pins all of it.
* ``merge_mode``: ``Bidirectional(merge_mode=...)`` (``concat``, ``sum``, ``mul``, ``ave``) at
  every level; the final states stay per direction.
* ``peepholes``, ``clip``, ``input_forget``: Keras 3 has none of them (limits below).

Needs NumPy alone (no Keras import; ``time_order`` is handed the keras module): the limits are data
the registry reads.
"""

from __future__ import annotations

from typing import Any

from rnn_ref.cases.limits import Conditions, Limit, When, uses
from rnn_ref.core.activations import Activation, resolved
from rnn_ref.core.spec import RNNSpec

#: Keras 3.15's activation names, by the ONNX activation (parameters resolved) each computes.
KERAS_ACTIVATIONS: dict[Activation, str] = {
    resolved("Sigmoid"): "sigmoid",
    resolved("Tanh"): "tanh",
    resolved("Relu"): "relu",
    resolved("HardSigmoid", 1 / 6, 0.5): "hard_sigmoid",
    resolved("Affine", 1.0, 0.0): "linear",
    resolved("LeakyRelu", 0.2): "leaky_relu",
    resolved("Elu", 1.0): "elu",
    resolved("Softsign"): "softsign",
    resolved("Softplus"): "softplus",
}

KERAS_NO_PEEPHOLES = (
    "Keras 3 LSTMCell has no peephole connections (tf.keras.experimental.PeepholeLSTMCell of Keras 2 is gone)"
)
KERAS_NO_CIFG = "Keras 3 LSTMCell has no coupled input and forget gates (ONNX input_forget: f = 1 - i)"
KERAS_NO_CLIP = "Keras 3 cells have no cell clip (ONNX clip of every gate's pre-activation)"
KERAS_LSTM_ONE_ACTIVATION = (
    "Keras LSTMCell has one `activation` for the candidate g and the cell output h (ONNX's second and third "
    "activations): an LSTM whose g and h differ has no Keras cell"
)
KERAS_UNNAMED_ACTIVATION = (
    "Keras 3.15 names no such activation: its sigmoid, tanh, relu, hard_sigmoid (HardSigmoid(alpha=1/6, "
    "beta=0.5): relu6(x + 3) / 6), linear (Affine(1, 0)), leaky_relu (LeakyRelu(alpha=0.2)), elu (Elu(alpha=1)), "
    "softsign and softplus are ONNX activations; no other is (a Keras 2 model's hard_sigmoid, HardSigmoid(0.2, "
    "0.5), has no Keras 3 name)"
)


def keras_activations(spec: RNNSpec) -> dict[str, str] | None:
    """The cell's activation keywords for ``spec`` (``activation``, and ``recurrent_activation`` for
    LSTM and GRU), or None where Keras names none of them (``KERAS_UNNAMED_ACTIVATION``,
    ``KERAS_LSTM_ONE_ACTIVATION``)."""
    acts = spec.resolved_activations
    if spec.mode == "lstm" and acts[1] != acts[2]:
        return None
    if any(act not in KERAS_ACTIVATIONS for act in acts):
        return None
    names = [KERAS_ACTIVATIONS[act] for act in acts]
    if spec.mode in ("lstm", "gru"):
        return {"recurrent_activation": names[0], "activation": names[1]}
    return {"activation": names[0]}


def keras_activation_names(spec: RNNSpec) -> tuple[str, ...]:
    """The Keras names the cells of ``spec`` use (empty where Keras names none)."""
    return tuple((keras_activations(spec) or {}).values())


def time_order(keras: Any, spec: RNNSpec, output: Any) -> Any:
    """The output of the unidirectional ``RNN`` in original time order: a ``go_backwards`` layer
    (``spec.reverse``) returns its output step j for input step T-1-j (Keras's own order, pinned in
    tests/test_keras_conventions.py), flipped back here; a forward layer's output as it is."""
    return keras.ops.flip(output, axis=1) if spec.reverse else output


def _lstm_g_differs_from_h(c: Conditions) -> bool:
    acts = c.spec.resolved_activations
    return c.spec.mode == "lstm" and acts[1] != acts[2]


def _unnamed(c: Conditions) -> bool:
    return any(act not in KERAS_ACTIVATIONS for act in c.spec.resolved_activations)


#: an LSTM whose candidate and cell-output activations differ
LSTM_G_NOT_H = When(_lstm_g_differs_from_h, "LSTM g and h activations differ")
#: an activation Keras 3.15 has no name for
UNNAMED_ACTIVATION = When(_unnamed, "activations Keras does not name")


def uses_keras_activation(*names: str) -> When:
    """The cells use one of the Keras activations ``names`` (e.g. ``"tanh"``)."""
    return When(lambda c: any(name in names for name in keras_activation_names(c.spec)),
                f"Keras {' or '.join(names)}")


#: What Keras 3 cannot express of the options, in the order the judge asks (after projection):
#: the Keras engines' and the engines converted from their layers (keras-tf2onnx).
KERAS_OPTION_LIMITS: tuple[Limit, ...] = (
    Limit(KERAS_NO_PEEPHOLES, uses("peepholes"), label="peepholes"),
    Limit(KERAS_NO_CIFG, uses("input_forget"), label="input_forget"),
    Limit(KERAS_NO_CLIP, uses("clip"), label="clip"),
    Limit(KERAS_LSTM_ONE_ACTIVATION, LSTM_G_NOT_H, label="LSTM g ≠ h"),
    Limit(KERAS_UNNAMED_ACTIVATION, UNNAMED_ACTIVATION, label="activations Keras does not name"),
)

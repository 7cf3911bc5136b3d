"""The Keras engines' translation of the options, as data (no Keras needed).

rnn_ref/adapters/keras/options.py names the spec's ONNX activations in Keras's terms and says
which options Keras cannot express; the Keras runs that prove each name are in
tests/test_keras_backends.py (every name against its ONNX definition, on each backend) and the
case matrix. Here: which spec gets which Keras keywords, and which limit refuses which spec.
"""

from __future__ import annotations

import pytest

from rnn_ref.adapters.keras.options import (
    KERAS_LSTM_ONE_ACTIVATION,
    KERAS_NO_CIFG,
    KERAS_NO_CLIP,
    KERAS_NO_PEEPHOLES,
    KERAS_OPTION_LIMITS,
    KERAS_UNNAMED_ACTIVATION,
    keras_activations,
    uses_keras_activation,
)
from rnn_ref.cases.limits import Conditions, first_limit
from rnn_ref.core.spec import RNNSpec


def lstm(*names: str, alpha=None, beta=None, **fields) -> RNNSpec:
    return RNNSpec("lstm", 3, 4, activations=names or None, activation_alpha=alpha, activation_beta=beta, **fields)


@pytest.mark.parametrize(("spec", "keywords"), [
    (RNNSpec("lstm", 3, 4), {"recurrent_activation": "sigmoid", "activation": "tanh"}),
    (RNNSpec("gru", 3, 4), {"recurrent_activation": "sigmoid", "activation": "tanh"}),
    (RNNSpec("rnn_tanh", 3, 4), {"activation": "tanh"}),
    (RNNSpec("rnn_relu", 3, 4), {"activation": "relu"}),
    (lstm("HardSigmoid", "Tanh", "Tanh", alpha=(1 / 6, 0, 0), beta=(0.5, 0, 0)),
     {"recurrent_activation": "hard_sigmoid", "activation": "tanh"}),
    (lstm("Sigmoid", "Relu", "Relu"), {"recurrent_activation": "sigmoid", "activation": "relu"}),
    (RNNSpec("gru", 3, 4, activations=("Softplus", "Softsign")),
     {"recurrent_activation": "softplus", "activation": "softsign"}),
    (RNNSpec("rnn_relu", 3, 4, activations=("Affine",)), {"activation": "linear"}),
    (RNNSpec("rnn_tanh", 3, 4, activations=("LeakyRelu",), activation_alpha=(0.2,)), {"activation": "leaky_relu"}),
    (RNNSpec("rnn_tanh", 3, 4, activations=("Elu",)), {"activation": "elu"}),
], ids=lambda value: None if isinstance(value, dict) else "-".join(a.text for a in value.resolved_activations))
def test_activations_keras_names_become_the_cells_keywords(spec, keywords):
    assert keras_activations(spec) == keywords
    assert first_limit(KERAS_OPTION_LIMITS, Conditions(spec, "float32", False), gradients=False) is None


@pytest.mark.parametrize(("spec", "reason"), [
    # ONNX's HardSigmoid default is Keras 2's hard_sigmoid, not Keras 3's
    (lstm("HardSigmoid", "Tanh", "Tanh"), KERAS_UNNAMED_ACTIVATION),
    (lstm("HardSigmoid", "Tanh", "Tanh", alpha=(0.16666, 0, 0), beta=(0.5, 0, 0)), KERAS_UNNAMED_ACTIVATION),
    (RNNSpec("rnn_tanh", 3, 4, activations=("LeakyRelu",)), KERAS_UNNAMED_ACTIVATION),  # ONNX's 0.01, Keras's 0.2
    (RNNSpec("rnn_tanh", 3, 4, activations=("Elu",), activation_alpha=(0.8,)), KERAS_UNNAMED_ACTIVATION),
    (RNNSpec("rnn_tanh", 3, 4, activations=("Affine",), activation_alpha=(0.5,)), KERAS_UNNAMED_ACTIVATION),
    (RNNSpec("gru", 3, 4, activations=("Sigmoid", "ThresholdedRelu")), KERAS_UNNAMED_ACTIVATION),
    (RNNSpec("gru", 3, 4, activations=("ScaledTanh", "Tanh")), KERAS_UNNAMED_ACTIVATION),
    (lstm("Sigmoid", "Tanh", "Relu"), KERAS_LSTM_ONE_ACTIVATION),
    (lstm("Sigmoid", "Relu", "Tanh"), KERAS_LSTM_ONE_ACTIVATION),
    (lstm(peepholes=True), KERAS_NO_PEEPHOLES),
    (lstm(input_forget=True), KERAS_NO_CIFG),
    (RNNSpec("gru", 3, 4, clip=1.0), KERAS_NO_CLIP),
], ids=lambda value: value.split(":")[0][:24] if isinstance(value, str) else ",".join(value.options))
def test_what_keras_cannot_express_is_refused_with_its_reason(spec, reason):
    assert first_limit(KERAS_OPTION_LIMITS, Conditions(spec, "float32", False), gradients=False) == reason
    if reason in (KERAS_UNNAMED_ACTIVATION, KERAS_LSTM_ONE_ACTIVATION):
        assert keras_activations(spec) is None


def test_reverse_and_merge_modes_are_no_limit():
    for spec in (RNNSpec("gru", 3, 4, num_layers=2, reverse=True),
                 RNNSpec("lstm", 3, 4, num_layers=3, bidirectional=True, merge_mode="mul")):
        assert first_limit(KERAS_OPTION_LIMITS, Conditions(spec, "float64", True), gradients=False) is None


def test_uses_keras_activation_asks_the_cells_names():
    tanh = uses_keras_activation("tanh")
    assert tanh(Conditions(RNNSpec("lstm", 3, 4), "float64", False))
    assert tanh(Conditions(RNNSpec("gru", 3, 4, activations=("HardSigmoid", "Tanh"), activation_alpha=(1 / 6, 0),
                                   activation_beta=(0.5, 0)), "float64", False))
    assert not tanh(Conditions(RNNSpec("rnn_relu", 3, 4), "float64", False))
    assert not tanh(Conditions(RNNSpec("gru", 3, 4, activations=("Sigmoid", "Softsign")), "float64", False))
    assert not tanh(Conditions(lstm("Sigmoid", "Tanh", "Relu"), "float64", False))  # no Keras cell at all


def test_tf2onnx_lstm_node_is_an_unmasked_lstm_of_sigmoid_tanh_relu():
    from rnn_ref.adapters.converted.keras_tf2onnx import LSTM_NODE

    assert LSTM_NODE(Conditions(RNNSpec("lstm", 3, 4, bidirectional=True, merge_mode="sum"), "float64", False))
    assert LSTM_NODE(Conditions(lstm("Sigmoid", "Relu", "Relu", reverse=True), "float64", False))
    assert not LSTM_NODE(Conditions(RNNSpec("lstm", 3, 4), "float64", True))  # a mask: a Loop
    assert not LSTM_NODE(Conditions(RNNSpec("gru", 3, 4), "float64", False))
    assert not LSTM_NODE(Conditions(lstm("HardSigmoid", "Tanh", "Tanh", alpha=(1 / 6, 0, 0), beta=(0.5, 0, 0)),
                                    "float64", False))  # Keras 3's hard_sigmoid: a Loop

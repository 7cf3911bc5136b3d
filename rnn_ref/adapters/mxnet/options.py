"""What MXNet Gluon 1.9.1 expresses of the spec's options (design section 2a), and how.

The fused ``mx.gluon.rnn.RNN`` / ``LSTM`` / ``GRU`` (engine ``gluon``) have one: RNN's
``activation``, ``'relu'`` or ``'tanh'``, which is the mode (``'rnn_' + activation``, the only
two of the RNN operator's modes besides LSTM and GRU). A spec that names its RNN activation
(``mode="rnn_tanh", activations=("Relu",)``; the spec does not rewrite it) is that layer, and
runs so. Every other option is one limit, ``FUSED_NO_OPTIONS``. The fused LSTM's
``state_clip_min`` / ``state_clip_max`` are no cell clip: they clip the cell state c between
steps (not the gates' pre-activations), on GPU only.

The cells (engine ``gluon-cell``) take activations:

* ``RNNCell(activation=...)`` and ``LSTMCell(activation=..., recurrent_activation=...)`` take
  an ``act_type`` of ``mx.nd.Activation`` by name (``ACT_TYPES``: softrelu is Softplus).
  ``recurrent_activation`` is ONNX's f (gates i, f, o); ``activation`` is g and h, one for
  both (LSTMCell's h is ``F.Activation(c, act_type=activation)``).
* ``RecurrentCell._get_activation`` also takes a ``gluon.nn.LeakyReLU`` block (as
  ``F.LeakyReLU(act_type='leaky', slope=alpha)``), but the block becomes a child of the cell and
  ``unroll`` fails at once (its ``reset()`` calls ``reset()`` on every child: "'LeakyReLU'
  object has no attribute 'reset'"; as LSTMCell's ``activation`` the h activation refuses it
  anyway). So LeakyRelu is a limit too (tests/test_gluon_conventions.py pins both).
* ``mx.nd.Activation`` in 1.9.1 knows ``relu, sigmoid, softrelu, softsign, tanh``: no
  HardSigmoid, Affine, ThresholdedRelu, ScaledTanh or Elu (limits). Its ``softrelu`` returns x
  itself above x = 20, in float64 too (1.25e-9 below log(1 + e^x) at x = 20.5; pinned by
  tests/test_gluon_conventions.py; random layers do not reach it).
* ``GRUCell`` and ``contrib.rnn.LSTMPCell`` (projection) take no activation (σ and tanh fixed).
* No cell has a clip, peepholes or coupled input and forget gates; ``unroll`` runs a cell
  forward only (only ``BidirectionalCell`` reads a sequence reversed, as the backward half of a
  bidirectional layer); ``BidirectionalCell`` concatenates the two directions' outputs
  (``F.concat``), with no merge mode.

Nothing here imports mxnet.
"""

from __future__ import annotations

from rnn_ref.cases.limits import PROJECTION, VANILLA, Limit, When, modes, options_but_rnn_activation, uses
from rnn_ref.core.spec import RNNSpec

#: The RNN activations of the fused RNN (its modes): ONNX's name -> Gluon's ``activation``.
FUSED_ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu"}
#: ONNX's activations that ``mx.nd.Activation`` computes, by its ``act_type``.
ACT_TYPES = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softsign": "softsign", "Softplus": "softrelu"}

FUSED_NO_OPTIONS = (
    "mx.gluon.rnn.RNN, LSTM and GRU have none of these options: their only choice is RNN's activation ('relu' or "
    "'tanh', the modes rnn_relu and rnn_tanh); the gates' σ and tanh are fixed, LSTM's state_clip_min/max clip the "
    "cell state c (not the gates' pre-activations, and on GPU only), and there is no peephole, no coupled input and "
    "forget gates, no reverse-only direction and no merge mode (a bidirectional layer concatenates)"
)
GRU_CELL_NO_ACTIVATIONS = (
    "mx.gluon.rnn.GRUCell takes no activation: its gates are sigmoid and its candidate tanh, fixed "
    "(F.Activation act_type='sigmoid' / 'tanh')"
)
LSTMP_CELL_NO_ACTIVATIONS = (
    "mx.gluon.contrib.rnn.LSTMPCell (LSTM projection) takes no activation: its gates are sigmoid and its candidate "
    "and output tanh, fixed"
)
LSTM_CELL_ONE_ACTIVATION = (
    "mx.gluon.rnn.LSTMCell applies its one activation to the candidate g and to the cell output h "
    "(next_h = o * F.Activation(next_c, act_type=activation)): an LSTM whose g and h activations differ cannot be "
    "expressed"
)
CELL_ACTIVATION_NAMES = (
    "mx.gluon.rnn cells take an activation by mx.nd.Activation's act_type (relu, sigmoid, softrelu, softsign, tanh "
    "in mxnet 1.9.1): ONNX's HardSigmoid, Affine, ThresholdedRelu, ScaledTanh and Elu have none, and a "
    "gluon.nn.LeakyReLU block (which RecurrentCell._get_activation takes) becomes a child of the cell that unroll "
    "cannot reset (\"'LeakyReLU' object has no attribute 'reset'\")"
)
CELL_NO_CLIP = "mx.gluon.rnn cells have no cell clip (no clip of the gates' pre-activations)"
CELL_NO_PEEPHOLES = "mx.gluon.rnn.LSTMCell and contrib.rnn.LSTMPCell have no peephole connections"
CELL_NO_INPUT_FORGET = (
    "mx.gluon.rnn.LSTMCell computes the forget gate from its own weights; it has no coupled input and forget gates"
)
CELL_NO_REVERSE = (
    "a Gluon cell's unroll runs forward only (no reverse option); only BidirectionalCell reads a sequence reversed, "
    "as the backward half of a bidirectional layer"
)
CELL_NO_MERGE_MODE = (
    "mx.gluon.rnn.BidirectionalCell concatenates the two directions' outputs (F.concat); it has no merge mode"
)


def cell_expresses(spec: RNNSpec) -> bool:
    """Whether the cells take every activation of ``spec``: each by its ``act_type`` (``ACT_TYPES``)."""
    return all(activation.name in ACT_TYPES for activation in spec.resolved_activations)


#: The fused layers run no option but a plain RNN's activation among ``FUSED_ACTIVATIONS``.
OPTIONS_BUT_ACTIVATION = options_but_rnn_activation(FUSED_ACTIVATIONS, "RNN's activation")
#: An LSTM whose g and h activations differ.
LSTM_G_NOT_H = When(lambda c: c.spec.mode == "lstm" and len(set(c.spec.resolved_activations[1:])) > 1,
                    "LSTM g and h activations differ")
#: Activations a Gluon cell does not take (``cell_expresses``).
NO_CELL_ACTIVATION = When(lambda c: c.spec.activations is not None and not cell_expresses(c.spec),
                          "activations without a Gluon name")

FUSED_OPTION_LIMITS = (Limit(FUSED_NO_OPTIONS, OPTIONS_BUT_ACTIVATION, label="options (only RNN's `activation`)"),)
CELL_OPTION_LIMITS = (
    Limit(GRU_CELL_NO_ACTIVATIONS, modes("gru") & uses("activations"), label="GRU activations"),
    Limit(LSTMP_CELL_NO_ACTIVATIONS, PROJECTION & uses("activations"), label="activations with projection"),
    Limit(LSTM_CELL_ONE_ACTIVATION, LSTM_G_NOT_H, label="LSTM g ≠ h (one `activation`)"),
    Limit(CELL_ACTIVATION_NAMES, NO_CELL_ACTIVATION, label="activations without a Gluon name"),
    Limit(CELL_NO_CLIP, uses("clip"), label="clip"),
    Limit(CELL_NO_PEEPHOLES, uses("peepholes"), label="peepholes"),
    Limit(CELL_NO_INPUT_FORGET, uses("input_forget"), label="input_forget"),
    Limit(CELL_NO_REVERSE, uses("reverse"), label="reverse"),
    Limit(CELL_NO_MERGE_MODE, uses("merge_mode"), label="merge modes"),
)


#: A plain RNN computing Relu (mode rnn_relu, or an RNN that names Relu): the fused rnn_relu kernel.
RELU_KERNEL = When(lambda c: VANILLA(c) and c.spec.resolved_activations[0].name == "Relu", "RNN relu")


def fused_activation(spec: RNNSpec) -> str:
    """The fused RNN's ``activation`` (``'rnn_' + activation`` is its mode): the spec's RNN activation."""
    return FUSED_ACTIVATIONS[spec.resolved_activations[0].name]

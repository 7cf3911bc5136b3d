"""RNNSpec: what a recurrent layer is, and what is rejected (with the field, value and rule)."""

from __future__ import annotations

import pytest

from rnn_ref import RNNSpec, SpecError


def test_derived_sizes_of_a_projected_bidirectional_stack():
    spec = RNNSpec("lstm", input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2)
    assert spec.gates == ("i", "f", "g", "o")
    assert spec.num_directions == 2
    assert spec.state_size == 2  # R = P when projecting
    assert spec.output_size == 4  # D * R
    assert spec.layer_input_size(0) == 3
    assert spec.layer_input_size(1) == 4  # layer 1 reads both directions of layer 0
    assert spec.units() == [(0, "fwd"), (0, "bwd"), (1, "fwd"), (1, "bwd")]


@pytest.mark.parametrize(
    ("mode", "gates"),
    [("rnn_tanh", ("h",)), ("rnn_relu", ("h",)), ("lstm", ("i", "f", "g", "o")), ("gru", ("r", "z", "n"))],
)
def test_canonical_gate_order(mode, gates):
    assert RNNSpec(mode, 2, 3).gates == gates


def test_gru_variant_defaults_to_reset_after_like_pytorch():
    assert RNNSpec("gru", 2, 3).gru_variant == "reset_after"
    assert RNNSpec("gru", 2, 3, gru_variant="reset_before").gru_variant == "reset_before"


def test_numpy_integers_are_accepted_as_plain_ints():
    import numpy as np

    spec = RNNSpec("lstm", np.int64(3), np.int32(4), num_layers=np.int64(2))
    assert (spec.input_size, spec.hidden_size, spec.num_layers) == (3, 4, 2)
    assert type(spec.input_size) is int
    assert spec == RNNSpec("lstm", 3, 4, num_layers=2)


def test_dict_round_trip():
    spec = RNNSpec("gru", 2, 3, num_layers=3, layout="NTC", bias=False, gru_variant="reset_before")
    assert RNNSpec.from_dict(spec.to_dict()) == spec


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(SpecError, match=r"unknown RNNSpec field\(s\) \['cell'\]"):
        RNNSpec.from_dict({"mode": "lstm", "input_size": 2, "hidden_size": 3, "cell": "x"})


BAD_FIELDS = [
    # (id, kwargs, the message must contain)
    ("mode", dict(mode="lstmp"), "mode='lstmp' is not one of rnn_tanh, rnn_relu, lstm, gru"),
    ("input_size-0", dict(input_size=0), "input_size=0 must be an int >= 1"),
    ("input_size-float", dict(input_size=2.0), "input_size=2.0 must be an int >= 1"),
    ("hidden_size-bool", dict(hidden_size=True), "hidden_size=True must be an int >= 1"),
    ("num_layers-0", dict(num_layers=0), "num_layers=0 must be an int >= 1"),
    ("bidirectional-int", dict(bidirectional=1), "bidirectional=1 must be True or False"),
    ("layout", dict(layout="NCT"), "layout='NCT' is not one of TNC, NTC"),
    ("bias-str", dict(bias="yes"), "bias='yes' must be True or False"),
    ("proj_size-negative", dict(proj_size=-1), "proj_size=-1 must be an int >= 0"),
    ("proj_size-equal-H", dict(proj_size=4), "proj_size=4 must satisfy 0 < proj_size < hidden_size=4"),
    ("proj_size-gru", dict(mode="gru", proj_size=2), "proj_size=2 is only allowed for mode='lstm'"),
    ("gru_variant-lstm", dict(gru_variant="reset_after"), "gru_variant='reset_after' is only allowed for mode='gru'"),
    ("gru_variant-unknown", dict(mode="gru", gru_variant="v3"), "gru_variant='v3' is not one of reset_after, reset_before"),
]


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_a_bad_field_is_named_with_its_value_and_the_rule(changes, message):
    fields = dict(mode="lstm", input_size=3, hidden_size=4) | changes
    with pytest.raises(SpecError) as error:
        RNNSpec(**fields)
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)

"""The helpers that end a strict-xfail test of a known defect: right, as declared, or wrong otherwise."""

from __future__ import annotations

import pytest

from rnn_ref.cases.defects import (
    COMPUTES_IN_FLOAT32,
    LENGTHS_IGNORED,
    KnownDefectReproduced,
    expect_defect,
    raises_as_declared,
)
from rnn_ref.cases.matrix import case_by_id

DECLARED = "example/engine#1: lengths ignored"


def test_a_correct_engine_passes_so_the_strict_xfail_reports_the_fix():
    expect_defect(DECLARED, "equals the run without lengths", correct=True, matches_signature=False)


def test_the_signature_reproduces_the_defect():
    with pytest.raises(KnownDefectReproduced, match="equals the run without lengths"):
        expect_defect(DECLARED, "equals the run without lengths", correct=False, matches_signature=True)


def test_wrong_in_another_way_names_the_declaration_and_what_was_seen():
    with pytest.raises(AssertionError, match=r"not as the declared defect \(example/engine#1.*\): h_n 0.5") as error:
        expect_defect(DECLARED, "equals the run without lengths", correct=False, matches_signature=False,
                      seen="h_n 0.5")
    assert not isinstance(error.value, KnownDefectReproduced)


def test_a_block_that_no_longer_raises_passes():
    with raises_as_declared(DECLARED, ValueError, "nested"):
        pass


def test_the_declared_exception_and_message_reproduce_the_defect():
    with (pytest.raises(KnownDefectReproduced, match="ValueError: the nested structure differs"),
          raises_as_declared(DECLARED, ValueError, "nested structure")):
        raise ValueError("the nested structure differs\nmore detail")


def test_the_declared_exception_with_another_message_is_an_ordinary_failure():
    with (pytest.raises(AssertionError, match=r"expected ValueError matching 'nested'\): ValueError: bad shape"),
          raises_as_declared(DECLARED, ValueError, "nested")):
        raise ValueError("bad shape")


def test_another_exception_type_passes_through():
    with pytest.raises(TypeError), raises_as_declared(DECLARED, ValueError, "nested"):
        raise TypeError("nested")


def test_the_signatures_predict_what_the_defect_computes():
    case = case_by_id("gru-L2-bi-NTC-h0-len-f64")
    data = case.data()
    ignored, lengths, dtype = LENGTHS_IGNORED.expected(case.spec, data.params, data.x, data.initial_state, data.lengths)
    assert lengths is None and dtype == "float64" and ignored.output[:, -1].any()  # padded steps hold outputs
    _, lengths, dtype = COMPUTES_IN_FLOAT32.expected(case.spec, data.params, data.x, data.initial_state, data.lengths)
    assert lengths is data.lengths and dtype == "float32"


def test_a_signature_that_ignores_options_predicts_the_layer_without_them():
    """``ignores``: the result an engine gives when it drops options, here an LSTM's peepholes and clip:
    the reference of the plain layer on the same weights, the peepholes' blocks left out."""
    import numpy as np

    from rnn_ref import Params, RNNSpec, forward
    from rnn_ref.cases.defects import DefectSignature, without_options

    spec = RNNSpec("lstm", 3, 4, peepholes=True, clip=0.5)
    params = Params.random(spec, seed=2)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    dropped = DefectSignature("drops peepholes and clip", ignores=("peepholes", "clip"))
    predicted, lengths, _ = dropped.expected(spec, params, x, None, None)
    plain, kept = without_options(spec, params, ("peepholes", "clip"))
    assert plain == RNNSpec("lstm", 3, 4) and "l0.fwd.w_peep.i" not in kept and lengths is None
    np.testing.assert_array_equal(predicted.output, forward(plain, kept, x).output)
    assert np.abs(predicted.output - forward(spec, params, x).output).max() > 1e-3  # it is another result
    only_clip, _, _ = DefectSignature("drops clip", ignores=("clip",)).expected(spec, params, x, None, None)
    assert np.abs(only_clip.output - predicted.output).max() > 1e-3  # each option it names, and only those
    assert without_options(plain, kept, ("input_forget",)) == (plain, kept)  # an option the layer lacks: unchanged


def test_a_signature_can_only_ignore_the_options_it_knows_how_to_drop():
    from rnn_ref.cases.defects import DefectSignature

    with pytest.raises(ValueError, match=r"ignores=\['reverse'\]: a signature can ignore clip, peepholes"):
        DefectSignature("drops reverse", ignores=("reverse",))

"""The comparison helpers fail when they should: each one is fed a wrong value."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters.adapter import PADDED_REPEAT_LAST, PADDED_ZEROS
from rnn_ref.core.compare import TOLERANCES, Tolerance, compare
from rnn_ref.core.state import RNNOutput
from rnn_ref.judge.runner import expected_padding, judge

TIGHT = Tolerance(atol=1e-6, rtol=0.0)


def test_equal_arrays_pass_and_report_their_largest_error():
    result = compare("h_n", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 5e-7]), TIGHT)
    assert result.passed and result.worst_index == (1,)
    assert result.max_abs_error == pytest.approx(5e-7)


def test_one_wrong_element_fails_and_is_located():
    expected = np.zeros((2, 3, 4))
    actual = expected.copy()
    actual[1, 2, 3] = 1e-3
    result = compare("output", actual, expected, TIGHT)
    assert not result.passed
    assert result.worst_index == (1, 2, 3)
    assert result.actual == 1e-3 and result.expected == 0.0
    assert "output: max abs error 1.000e-03 at index (1, 2, 3)" in result.describe()


def test_nan_fails():
    assert not compare("c_n", np.array([np.nan]), np.array([0.0]), TIGHT).passed


def test_shape_mismatch_fails_with_both_shapes():
    result = compare("output", np.zeros((2, 3)), np.zeros((3, 2)), TIGHT)
    assert not result.passed
    assert "shape (2, 3) differs from the reference's (3, 2)" in result.describe()


def test_masked_out_elements_are_not_compared():
    actual, expected = np.array([0.0, 9.0]), np.array([0.0, 0.0])
    assert compare("output", actual, expected, TIGHT, where=np.array([True, False])).passed
    assert not compare("output", actual, expected, TIGHT, where=np.array([True, True])).passed


def test_relative_tolerance_scales_with_the_value():
    assert compare("x", np.array([1000.001]), np.array([1000.0]), Tolerance(0.0, 2e-6)).passed
    assert not compare("x", np.array([1.001]), np.array([1.0]), Tolerance(0.0, 2e-6)).passed


def test_tolerance_table_is_keyed_by_dtype():
    assert set(TOLERANCES) == {"float32", "float64"}
    assert TOLERANCES["float64"].atol < TOLERANCES["float32"].atol


# ----------------------------------------------------------------- judging a whole result
SPEC = RNNSpec("gru", 2, 3, layout="NTC")
X = np.random.default_rng(0).normal(size=(2, 4, 2))  # N=2, T=4
LENGTHS = np.array([4, 2])


def reference():
    return forward(SPEC, Params.random(SPEC), X, lengths=LENGTHS)


def test_padding_expectations():
    ref = reference().output
    assert not expected_padding(SPEC, PADDED_ZEROS, ref, LENGTHS).any()
    repeated = expected_padding(SPEC, PADDED_REPEAT_LAST, ref, LENGTHS)
    np.testing.assert_array_equal(repeated[1, 2], ref[1, 1])  # sample 1 has 2 steps: step 1 repeats
    np.testing.assert_array_equal(repeated[1, 3], ref[1, 1])


def test_judge_passes_the_reference_itself():
    ref = reference()
    assert all(c.passed for c in judge(SPEC, ref, ref, LENGTHS, PADDED_ZEROS, TIGHT))


@pytest.mark.parametrize(
    ("tensor", "change"),
    [
        ("output", lambda r: RNNOutput(r.output + np.where(np.arange(4)[None, :, None] == 0, 1e-3, 0), r.h_n, r.c_n)),
        ("output at padded steps", lambda r: RNNOutput(r.output + np.where(np.arange(4)[None, :, None] == 3, 1e-9, 0), r.h_n, r.c_n)),
        ("h_n", lambda r: RNNOutput(r.output, r.h_n + 1e-3, r.c_n)),
    ],
    ids=["valid-step", "padded-step-not-exactly-zero", "final-state"],
)
def test_judge_catches_a_wrong_tensor(tensor, change):
    ref = reference()
    failed = [c.tensor for c in judge(SPEC, change(ref), ref, LENGTHS, PADDED_ZEROS, TIGHT) if not c.passed]
    assert failed and failed[0].startswith(tensor)


def test_judge_catches_zeros_where_the_engine_should_repeat_the_last_output():
    ref = reference()
    comparisons = judge(SPEC, ref, ref, LENGTHS, PADDED_REPEAT_LAST, TIGHT)
    assert [c.tensor for c in comparisons if not c.passed] == ["output at padded steps (repeat_last)"]


# The tolerance table pins itself: loosened (say 1000x), fixtures re-recorded with it would copy
# the loose values into their manifests and nothing else would notice. The worst errors measured
# over the whole matrix are 4.1e-7 (float32) and 6.3e-16 (float64), see rnn_ref/core/compare.py; an
# error 25x (float32) or 15000x (float64) that size is a bug, whatever any manifest says.
@pytest.mark.parametrize(("dtype", "offset"), [("float32", 1e-5), ("float64", 1e-11)], ids=["f32", "f64"])
def test_the_tolerance_table_fails_a_result_off_by_a_little(dtype, offset):
    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(dtype)
    expected = forward(spec, Params.random(spec, seed=1, dtype=dtype), x)
    tolerance = TOLERANCES[dtype]
    for tensor in ("output", "h_n", "c_n"):
        off = {t: getattr(expected, t).copy() for t in ("output", "h_n", "c_n")}
        off[tensor].flat[np.argmax(np.abs(off[tensor]))] += offset  # at the largest value: rtol counts most
        failed = [c.tensor for c in judge(spec, RNNOutput(**off), expected, None, PADDED_ZEROS, tolerance)
                  if not c.passed]
        assert failed == [tensor], f"{dtype} result off by {offset:g} in {tensor} passed {tolerance}"
    # and the measured worst error of real engines passes
    worst = {"float32": 4.1e-7, "float64": 6.3e-16}[dtype]
    assert compare("output", expected.output + worst, expected.output, tolerance).passed


def test_a_missing_tensor_fails_and_says_which_side_is_missing():
    """An engine that gives None where the reference has a tensor fails (never passes as empty)."""

    missing = compare("c_n", None, np.zeros((1, 2, 3)), TOLERANCES["float32"])
    assert not missing.passed and missing.describe() == "c_n: the engine gave no c_n (None)"
    assert compare("c_n", np.zeros(3), None, TOLERANCES["float32"]).problem == "the reference gave no c_n (None)"

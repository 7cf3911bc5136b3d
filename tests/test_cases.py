"""The case matrix's numbers: drawn from the case id, a TNC case holding its NTC twin's.

A TNC case and its NTC twin differ in the layout alone: same weights, initial states, lengths
and cotangents, x and the output cotangent transposed. An engine that runs TNC natively (torch
with batch_first=False, ONNX layout 0) then runs another memory layout on the same numbers; a
batch-major-only engine (Keras) transposes at its boundary and computes the same thing for both
(rnn_ref/adapters/_support/run_memo.py).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from rnn_ref.cases.cotangents import case_cotangents
from rnn_ref.cases.matrix import case_by_id, large_cases

TNC_CASES = [case_by_id(case_id) for case_id in ("lstm-L2-bi-TNC-h0-len-f32", "gru_reset_before-L1-uni-TNC-nobias-f64",
                                                 "rnn_relu-L2-bi-TNC-h0-lenshort-f32", "lstm_proj-L1-uni-TNC-len-f64")]
TNC_CASES += [case for case in large_cases() if case.spec.layout == "TNC"]


@pytest.mark.parametrize("tnc", TNC_CASES, ids=lambda case: case.id)
def test_a_tnc_case_holds_its_ntc_twins_numbers_transposed(tnc):
    ntc = tnc.ntc_twin
    assert ntc.spec == tnc.spec.replace(layout="NTC") and ntc.ntc_twin is ntc
    assert tnc.data_id == ntc.id == ntc.data_id
    a, b = tnc.data(), ntc.data()
    assert list(a.params) == list(b.params)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert a.x.shape == (tnc.steps, tnc.batch, tnc.spec.input_size) and a.x.flags.c_contiguous
    np.testing.assert_array_equal(a.x, b.x.transpose(1, 0, 2))
    assert (a.initial_state is None) == (b.initial_state is None)
    if a.initial_state is not None:
        np.testing.assert_array_equal(a.initial_state.h, b.initial_state.h)
        if a.initial_state.c is not None:
            np.testing.assert_array_equal(a.initial_state.c, b.initial_state.c)
    assert (a.lengths is None) == (b.lengths is None)
    if a.lengths is not None:
        np.testing.assert_array_equal(a.lengths, b.lengths)
    ca, cb = case_cotangents(tnc), case_cotangents(ntc)
    np.testing.assert_array_equal(ca.output, cb.output.transpose(1, 0, 2))
    np.testing.assert_array_equal(ca.h_n, cb.h_n)


def test_an_ntc_case_draws_from_its_own_id_and_cases_that_differ_otherwise_differ():
    ntc = case_by_id("lstm-L2-bi-NTC-h0-len-f32")
    assert ntc.seed == zlib.crc32(ntc.id.encode())
    other = case_by_id("lstm-L2-bi-NTC-len-f32")  # another case: other numbers
    assert not np.array_equal(ntc.data().x, other.data().x)

"""Ragged batches in which no sample fills T (``lenshort`` cases): the output still has T steps.

Real batches are padded to a fixed T, so often every sample is shorter. An engine or adapter
that sizes its output by the longest sample (torch's ``pad_packed_sequence`` without
``total_length=``) returns fewer steps than it was given; the ``lenshort`` cases of the
matrix (lengths (4, 1, 3, 2) with T = 6) make that a failure on every engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.cases.matrix import DTYPES, VARIANTS, case_by_id, small_matrix
from rnn_ref.core.state import RNNOutput
from rnn_ref.judge.runner import FAIL, PASS, run_case

SHORT = [c for c in small_matrix() if c.short_lengths]


def test_short_ragged_cases_cover_every_variant_direction_layout_and_dtype():
    covered = {(c.variant, c.spec.bidirectional, c.spec.layout, c.dtype, c.spec.num_layers) for c in SHORT}
    wanted = {(v, bi, layout, dtype, layers) for v in VARIANTS for bi in (False, True) for layout in ("TNC", "NTC")
              for dtype in DTYPES.values() for layers in (1, 2)}
    assert wanted <= covered, sorted(wanted - covered)[:5]


def test_in_a_short_ragged_case_no_sample_reaches_the_last_step():
    for case in SHORT:
        assert "-lenshort-" in case.id and case.lengths.max() < case.steps and case.lengths.min() >= 1, case.id
    # and every other ragged case keeps one full-length sample
    assert all(c.lengths.max() == c.steps for c in small_matrix() if c.with_lengths and not c.short_lengths)


def test_an_engine_that_sizes_its_output_by_the_longest_sample_fails_the_short_cases():
    """A NumPy stand-in for pad_packed_sequence without total_length: only max(lengths) steps come back."""
    from test_runner import ReferenceEngine

    class TruncatesToTheLongestSample(ReferenceEngine):
        def run(self, spec, layer, x, initial_state=None, lengths=None):
            result = super().run(spec, layer, x, initial_state, lengths)
            if lengths is None:
                return result
            steps = int(np.max(lengths))
            output = result.output[:steps] if spec.layout == "TNC" else result.output[:, :steps]
            return RNNOutput(output, result.h_n, result.c_n)

    engine = TruncatesToTheLongestSample()
    assert run_case(engine, case_by_id("lstm-L2-bi-NTC-h0-len-f64")).status == PASS  # a full-length sample hides it
    result = run_case(engine, case_by_id("lstm-L2-bi-NTC-h0-lenshort-f64"))
    assert result.status == FAIL
    assert "output: shape (4, 4, 10) differs from the reference's (4, 6, 10)" in result.report()


@pytest.mark.engine
@pytest.mark.parametrize("case_id", ["gru-L2-bi-TNC-h0-lenshort-f32", "lstm-L1-uni-NTC-h0-lenshort-f64"])
def test_torch_adapter_without_total_length_fails_the_short_cases(engine_or_skip, monkeypatch, case_id):
    """The seeded bug the matrix used to miss: pad_packed_sequence called without total_length."""
    adapter = engine_or_skip("torch")
    import torch.nn.utils.rnn

    original = torch.nn.utils.rnn.pad_packed_sequence

    def forgets_total_length(sequence, batch_first=False, padding_value=0.0, total_length=None):
        return original(sequence, batch_first, padding_value)

    assert run_case(adapter, case_by_id(case_id)).status == PASS
    monkeypatch.setattr(torch.nn.utils.rnn, "pad_packed_sequence", forgets_total_length)
    assert run_case(adapter, case_by_id(case_id.replace("lenshort", "len"))).status == PASS  # blind before
    result = run_case(adapter, case_by_id(case_id))
    assert result.status == FAIL and "output: shape" in result.report(), result.report()

"""In an engine's env: record afresh and compare with the committed fixtures.

The committed fixtures were recorded on another machine, whose CPU may round differently
(another vector width, another BLAS kernel). So a fresh recording is judged in ULPs of each
tensor's magnitude, never bit for bit: a drift within ``DRIFT_BOUND_ULPS`` (16, four times
the worst drift measured when the frameworks' vector code was capped at AVX2 and SSE4.1 —
see rnn_ref/golden/drift.py) is rounding; more is a change of the computation, and the message
names both framework versions, the case, the tensor and the size of the change. (The
committed fixtures are checked against the reference in test_fixtures.py; the drift check
itself is specified in test_fixture_drift.py with NumPy alone; what ``record`` may replace, in
test_hostile_fixtures.py, through a NumPy test engine.)
"""

from __future__ import annotations

import pytest

from rnn_ref.adapters import ENGINES, engine_info
from rnn_ref.golden.fixtures import FIXTURES_ROOT, drift_report, load_all, record, recording_drifts

pytestmark = pytest.mark.engine


def test_a_fresh_recording_matches_the_committed_one_within_rounding(engine, tmp_path):
    if engine not in ENGINES:  # a plug-in's fixtures belong with its package (rnn-ref record --output DIR)
        pytest.skip(f"{engine} is a plug-in from {engine_info(engine).distribution}: rnn_ref commits no "
                    "fixtures of it (a plug-in records its own: rnn-ref record --engine NAME --output DIR)")
    committed_manifest, committed = load_all(FIXTURES_ROOT / engine, engine)
    fresh_manifest = record(engine, tmp_path / engine)
    _, fresh = load_all(tmp_path / engine, engine)
    report = drift_report(engine, committed_manifest, fresh_manifest, recording_drifts(committed, fresh))
    assert report is None, report

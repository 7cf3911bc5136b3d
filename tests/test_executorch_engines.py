"""The ExecuTorch engines on the real tools (tox -e executorch): a live subset, and each declaration shown.

rnn_ref/adapters/converted/torch_executorch.py exports the torch layer with ``torch.export`` and
lowers it to a ``.pte`` program, on the portable kernels (``torch-executorch``) or with XNNPACK's
partitioner (``torch-executorch-xnnpack``). A lowering costs seconds, so the env runs ``LIVE``, a
few cases of the recorded subset per engine (every mode, both dtypes, both layouts, stacked,
bidirectional, initial states, no bias, projection), each judged against the reference (and run
twice: a converted engine is an inference runtime) and against its committed fixture within the
rounding drift of tests/test_fixtures_fresh.py; the ref env replays the rest of the recording.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.golden.drift import drift_report, recording_drifts
from rnn_ref.golden.fixtures import FIXTURES_ROOT, load_all
from rnn_ref.golden.manifest import read_manifest
from rnn_ref.golden.recording import record_into
from rnn_ref.golden.replay import load_fixture

pytestmark = pytest.mark.engine

PORTABLE, XNNPACK = "torch-executorch", "torch-executorch-xnnpack"

#: The live subset: recorded cases, a few seconds of lowering each (more for XNNPACK).
LIVE = [
    (PORTABLE, "lstm-L1-uni-TNC-f32"),
    (PORTABLE, "rnn_relu-L1-bi-NTC-h0-nobias-f32"),
    (PORTABLE, "lstm_proj-L1-bi-NTC-h0-nobias-f32"),
    (PORTABLE, "gru-L2-bi-NTC-h0-f64"),
    (PORTABLE, "rnn_tanh-L3-uni-NTC-h0-f64"),
    (XNNPACK, "lstm-L1-uni-TNC-f32"),
    (XNNPACK, "gru-L1-bi-NTC-h0-nobias-f32"),
    (XNNPACK, "rnn_tanh-L2-bi-NTC-h0-f64"),
]


@pytest.mark.parametrize(("engine", "case_id"), LIVE, ids=[f"{e}-{c}" for e, c in LIVE])
def test_a_live_case_passes_and_matches_its_committed_fixture(engine_or_skip, engine, case_id, tmp_path):
    adapter = engine_or_skip(engine)
    assert adapter.inference_runtime  # so the judge runs the converted program a second time and compares
    committed_manifest, committed = load_all(FIXTURES_ROOT / engine, engine)
    fresh_manifest = record_into(adapter, engine, [case_by_id(case_id)], tmp_path, None)  # refuses a failing case
    assert [entry["id"] for entry in fresh_manifest["cases"]] == [case_id], fresh_manifest["not_recorded"]
    written = read_manifest(tmp_path)  # one case: not a whole recording, so its fixture is read alone
    fresh = [load_fixture(tmp_path, written, entry) for entry in written["cases"]]
    ours = [fixture for fixture in committed if fixture.case.id == case_id]
    report = drift_report(engine, committed_manifest, fresh_manifest, recording_drifts(ours, fresh))
    assert report is None, report


def conversion(spec: RNNSpec, dtype, steps: int = 2, lengths: list[int] | None = None):
    """The torch layer of ``spec`` (seeded weights) and a Conversion of it at (T=steps, N=2), no initial state."""
    from rnn_ref.adapters.converted.base import Conversion
    from rnn_ref.adapters.torch.fused import TorchAdapter

    params = Params.random(spec, seed=0, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((steps, 2, spec.input_size)).astype(dtype)
    feeds = (x,) + ((np.array(lengths, np.int64),) if lengths else ())
    return params, TorchAdapter().build(spec, params), Conversion(spec, np.dtype(dtype).name, False, bool(lengths), feeds)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_torch_export_cannot_export_packed_sequences(engine_or_skip, mode):
    """The lengths limit, on the real tool: the exporting module packs the input, and torch.export refuses."""
    adapter = engine_or_skip(PORTABLE)
    from rnn_ref.adapters.converted.torch_executorch import EXPORT_NO_PACKED_SEQUENCE, export_program

    spec = RNNSpec(mode, 3, 4)
    _, layer, with_lengths = conversion(spec, np.float32, steps=4, lengths=[4, 2])
    assert "failed to unpack the object at pos 2" in EXPORT_NO_PACKED_SEQUENCE
    with pytest.raises(TypeError, match=r"zeros\(\): argument 'size' failed to unpack the object at pos 2"):
        export_program(layer, with_lengths)
    assert adapter.unsupported_reason(spec, "float32", True) == EXPORT_NO_PACKED_SEQUENCE


def test_xnnpack_delegates_float32_and_leaves_float64_on_the_portable_kernels(engine_or_skip):
    """The XNNPACK engine is not the portable one under another name: its float32 program holds XNNPACK
    delegate blobs (the portable lowering none), and XNNPACK, which has no float64, takes nothing of a
    float64 program, whose results are still float64-accurate."""
    engine_or_skip(XNNPACK)
    from rnn_ref.adapters.converted.torch_executorch import delegates, load_program, lower_portable, lower_xnnpack

    spec = RNNSpec("rnn_tanh", 3, 4)
    _, layer32, at32 = conversion(spec, np.float32)
    assert delegates(lower_portable(layer32, at32)) == []
    found = delegates(lower_xnnpack(layer32, at32))
    assert found and set(found) == {"XnnpackBackend"}, found
    params, layer64, at64 = conversion(spec, np.float64)
    pte = lower_xnnpack(layer64, at64)
    assert delegates(pte) == []
    output, h_n = load_program(pte).run(at64.feeds)
    assert output.dtype == h_n.dtype == np.float64
    expected = forward(spec, params, at64.feeds[0])
    np.testing.assert_allclose(output, expected.output, rtol=0, atol=1e-14)
    np.testing.assert_allclose(h_n, expected.h_n, rtol=0, atol=1e-14)


def test_outputs_are_copied_out_of_the_methods_memory(engine_or_skip):
    """A method's outputs may live in its planned memory: a second execute must not change the first's."""
    engine_or_skip(PORTABLE)
    from rnn_ref.adapters.converted.torch_executorch import load_program, lower_portable

    spec = RNNSpec("gru", 3, 4)
    params, layer, at = conversion(spec, np.float32)
    program = load_program(lower_portable(layer, at))
    first = program.run(at.feeds)
    kept = [value.copy() for value in first]
    other = program.run([-at.feeds[0]])
    assert not np.array_equal(other[0], kept[0])  # another input gives another output...
    for value, before in zip(first, kept, strict=True):
        np.testing.assert_array_equal(value, before)  # ...and the first run's arrays are unchanged
    np.testing.assert_allclose(kept[0], forward(spec, params, at.feeds[0]).output, rtol=0, atol=1e-6)

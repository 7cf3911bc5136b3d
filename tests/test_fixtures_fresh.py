"""In an engine's env: record afresh and compare with the committed fixtures.

Recording is deterministic (seeded weights and inputs, single process), so a fresh recording
must reproduce the committed one bit for bit. Any difference means the framework now computes
differently; the message names both versions. (The committed fixtures are checked against
the reference in test_fixtures.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.fixtures import FIXTURES_ROOT, MANIFEST, load_all, record

pytestmark = pytest.mark.engine


def test_a_fresh_recording_matches_the_committed_one(engine, tmp_path):
    committed_manifest, committed = load_all(FIXTURES_ROOT / engine)
    fresh_manifest = record(engine, tmp_path / engine)
    _, fresh = load_all(tmp_path / engine)
    versions = f"committed: {committed_manifest['engine_version']}, now: {fresh_manifest['engine_version']}"
    assert [f.case.id for f in fresh] == [f.case.id for f in committed], f"recorded cases differ ({versions})"
    problems = []
    for old, new in zip(committed, fresh, strict=True):
        for name in ("x", "lengths"):
            np.testing.assert_array_equal(getattr(old, name), getattr(new, name), err_msg=f"{old.case.id} inputs")
        for tensor in ("output", "h_n", "c_n"):
            before, after = getattr(old.recorded, tensor), getattr(new.recorded, tensor)
            if before is not None and not np.array_equal(before, after):
                problems.append(f"{old.case.id} {tensor}: max change {np.abs(after - before).max():.3e}")
    assert not problems, f"{engine} computes differently from its committed fixtures ({versions}):\n" + "\n".join(problems)


def test_recording_replaces_only_its_own_files(engine, tmp_path):
    folder = tmp_path / engine
    folder.mkdir()
    (folder / "notes.npz").write_bytes(b"someone else's file")
    record(engine, folder)
    first = set(p.name for p in folder.iterdir())
    record(engine, folder)
    assert (folder / "notes.npz").read_bytes() == b"someone else's file"
    assert set(p.name for p in folder.iterdir()) == first and MANIFEST in first

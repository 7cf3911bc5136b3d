"""In an engine's env: record afresh and compare with the committed fixtures.

A new framework release that changes the numbers is caught here, and the message names both
versions. (The committed fixtures are checked against the reference in test_fixtures.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref.compare import compare
from rnn_ref.fixtures import FIXTURES_ROOT, load_all, record

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
            if before is not None:
                result = compare(tensor, after, before, old.tolerance)
                if not result.passed:
                    problems.append(f"{old.case.id}: {result.describe()}")
    assert not problems, f"{engine} computes differently from its committed fixtures ({versions}):\n" + "\n".join(problems)

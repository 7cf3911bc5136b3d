"""Copies of the committed fixtures to break on purpose, shared by the fixture and gradient-fixture tests."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rnn_ref.golden.fixtures import FIXTURES_ROOT, read_manifest


@pytest.fixture
def torch_copy(tmp_path):
    """A copy of the torch fixtures and the manifest entry of an LSTM case with states and lengths."""
    directory = tmp_path / "torch"
    shutil.copytree(FIXTURES_ROOT / "torch", directory)
    manifest = read_manifest(directory)
    entry = next(e for e in manifest["cases"] if e["with_lengths"] and e["with_state"] and e["spec"]["mode"] == "lstm")
    return directory, entry


def rewrite(path, **changes):
    """Rewrite a fixture file with some arrays replaced (None: removed)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)

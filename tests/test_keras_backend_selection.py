"""Which Keras engine may run here: decided from KERAS_BACKEND / keras.json without importing Keras.

NumPy alone. Each test states what Keras would do *before* it is imported, so the tests hide an
already imported Keras (another test in the same worker may have imported it: the outcome must
not depend on which tests ran first, issue 22) and show one only where the test says so.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from rnn_ref.adapters import ENGINES, engine_info
from rnn_ref.adapters.keras.backend import KERAS_ENGINES, backend_mismatch, selected_backend


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A Keras configuration folder of the test's own, no KERAS_BACKEND, and Keras not imported."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # restored after the test
    return tmp_path


def imported_keras(backend: str) -> types.ModuleType:
    """A stand-in for an imported Keras 3 whose ``keras.config.backend()`` is ``backend``."""
    keras = types.ModuleType("keras")
    keras.config = types.SimpleNamespace(backend=lambda: backend)
    return keras


def test_keras_backend_variable_decides(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert selected_backend() == "jax"
    assert backend_mismatch("jax") is None
    message = backend_mismatch("torch")
    assert "engine keras-torch needs Keras on the torch backend, but Keras would load the jax backend" in message
    assert "tox -e keras-torch" in message and "KERAS_BACKEND=torch" in message


def test_keras_json_decides_when_the_variable_is_unset(keras_home):
    (keras_home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert selected_backend() == "torch"


def test_tensorflow_is_the_default(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "")  # empty: ignored, as Keras does
    (keras_home / "keras.json").write_text("{not json")
    assert selected_backend() == "tensorflow"


def test_once_keras_is_imported_its_loaded_backend_decides(keras_home, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # too late: Keras already runs torch
    monkeypatch.setitem(sys.modules, "keras", imported_keras("torch"))
    assert selected_backend() == "torch"
    assert backend_mismatch("torch") is None
    assert "but Keras runs the torch backend here" in backend_mismatch("jax")


def test_the_three_keras_engines_share_one_adapter_module_and_mapping():
    from rnn_ref.adapters import adapter_object
    from rnn_ref.core.spec import RNNSpec

    assert KERAS_ENGINES == ("keras", "keras-jax", "keras-torch")
    assert {ENGINES[e].adapter.split(":")[0] for e in KERAS_ENGINES} == {"rnn_ref.adapters.keras.layers"}
    spec = RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True)
    rows = {e: adapter_object(e).mapping(spec).rows for e in KERAS_ENGINES}
    assert rows["keras"] == rows["keras-jax"] == rows["keras-torch"]


def test_a_keras_engine_is_installed_only_on_its_backend(keras_home, monkeypatch):
    """In the tensorflow env (no KERAS_BACKEND) keras-jax never counts as installed, whatever is importable."""
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # pretend every package is there
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert [e for e in KERAS_ENGINES if engine_info(e).installed()] == ["keras-jax"]
    monkeypatch.delenv("KERAS_BACKEND")
    assert [e for e in KERAS_ENGINES if engine_info(e).installed()] == ["keras"]
    assert "Keras would load the tensorflow backend" in engine_info("keras-jax").unavailable_reason()

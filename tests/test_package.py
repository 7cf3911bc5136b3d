"""Packaging contracts: `import rnn_ref` needs NumPy alone; the `rnn-ref` command exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

#: Python 3.10 has no tomllib; every tox env runs 3.11
tomllib = pytest.importorskip("tomllib", reason="the packaging tests read pyproject.toml with tomllib (Python 3.11+)")

FRAMEWORKS = ("torch", "tensorflow", "keras", "mxnet", "jax", "flax", "onnx", "onnxruntime", "onnxscript", "tf2onnx",
              "onnx2torch")


def test_import_rnn_ref_imports_no_framework():
    probe = (
        "import sys, rnn_ref, rnn_ref.adapters, rnn_ref.cli; "
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_command_line_help():
    out = subprocess.run([sys.executable, "-m", "rnn_ref", "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: rnn-ref")
    assert "Cross-framework equivalence suite" in out.stdout


def test_an_unknown_engine_stops_the_test_run():
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--engines", "tensorflow-2", "--collect-only", "-q", "tests/test_spec.py"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 4  # pytest's usage error, not a skip
    assert "unknown engine 'tensorflow-2'" in out.stderr


# ------------------------------------------------------------------ what a clone and a wheel carry
ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_has_one_source():
    """pyproject.toml reads the version from ``rnn_ref.__version__`` and types none of its own."""
    project = pyproject()
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rnn_ref.__version__"}
    import rnn_ref

    assert re.fullmatch(r"\d+\.\d+\.\d+", rnn_ref.__version__)
    assert f"## {rnn_ref.__version__}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_the_license_file_is_the_license_pyproject_declares():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text


def test_the_package_ships_its_type_hints():
    """PEP 561: ``py.typed`` is in the package and in its package data, so checkers read the plug-in API's hints."""
    assert (ROOT / "rnn_ref" / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["rnn_ref"]
    assert pyproject()["tool"]["mypy"]["packages"] == ["rnn_ref"]

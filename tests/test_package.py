"""Packaging contracts: `import rnn_ref` needs NumPy alone; the `rnn-ref` command exists."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("torch", "tensorflow", "keras", "mxnet", "jax", "flax")


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

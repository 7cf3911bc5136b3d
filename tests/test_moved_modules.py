"""Module paths of 0.1 that third-party adapters import stay valid, and warn of their deprecation.

``rnn_ref.spec``, ``.params``, ``.mapping``, ``.reference``, ``.errors`` and
``rnn_ref.adapters.base`` are faces over the modules that now hold the code (issue 23); every
name resolves to the very object it names there.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import rnn_ref.adapters.adapter
import rnn_ref.core.errors
import rnn_ref.core.mapping
import rnn_ref.core.params
import rnn_ref.core.spec
import rnn_ref.core.state
import rnn_ref.oracle.forward

FACES = [
    ("rnn_ref.spec", "RNNSpec", rnn_ref.core.spec.RNNSpec),
    ("rnn_ref.params", "Params", rnn_ref.core.params.Params),
    ("rnn_ref.mapping", "build_mapping", rnn_ref.core.mapping.build_mapping),
    ("rnn_ref.reference", "forward", rnn_ref.oracle.forward.forward),
    ("rnn_ref.reference", "State", rnn_ref.core.state.State),
    ("rnn_ref.errors", "UnsupportedCase", rnn_ref.core.errors.UnsupportedCase),
    ("rnn_ref.adapters.base", "Adapter", rnn_ref.adapters.adapter.Adapter),
]


@pytest.mark.parametrize(("face", "name", "target"), FACES, ids=[f"{f}.{n}" for f, n, _ in FACES])
def test_an_old_path_warns_and_gives_the_same_object(face, name, target):
    sys.modules.pop(face, None)
    with pytest.warns(DeprecationWarning, match=rf"{face} is deprecated since rnn-ref 0.2"):
        module = importlib.import_module(face)
    assert getattr(module, name) is target


def test_an_old_path_refuses_a_name_it_never_had():
    with pytest.warns(DeprecationWarning):
        sys.modules.pop("rnn_ref.spec", None)
        module = importlib.import_module("rnn_ref.spec")
    with pytest.raises(AttributeError, match=r"module 'rnn_ref\.spec' has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_the_package_itself_imports_no_deprecated_path():
    """Only third parties meet the warning: rnn_ref's own modules import the new paths."""
    package = Path(rnn_ref.core.spec.__file__).resolve().parent.parent
    faces = {face for face, _, _ in FACES}
    found = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.relative_to(package)}:{node.lineno} imports {name}" for name in names if name in faces]
    assert found == []

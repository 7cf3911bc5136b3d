"""No engine name and no framework file suffix in the generic modules (issue 23: one engine, one place).

Everything engine-specific lives in its family under ``rnn_ref/adapters/``: the rows, the
limits, the file formats (``FORMATS``). A string constant outside ``rnn_ref/adapters/`` that
is a built-in engine's name, or names a framework file by its suffix, is a generic module
knowing an engine: adding an engine would touch it. This test parses every such module and
fails on one. Docstrings may mention engines and formats (they explain); other string
constants, f-string pieces included, may not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rnn_ref.adapters.engine_registry import built_in_engines, file_formats
from rnn_ref.adapters.file_format import NPZ

PACKAGE = Path(__file__).resolve().parent.parent / "rnn_ref"
GENERIC = sorted(p for p in PACKAGE.rglob("*.py") if "adapters" not in p.relative_to(PACKAGE).parts)

#: Framework file suffixes, declared or not yet declared by any family (a generic module must not name them either).
KNOWN_SUFFIXES = (".pt", ".pth", ".params", ".weights.h5", ".h5", ".onnx", ".keras", ".tflite", ".pte")

#: A dotted module path of rnn_ref's (``rnn_ref.core.params``, as the deprecated re-exports name it): not a file name.
MODULE_PATH = re.compile(r"^rnn_ref(\.[A-Za-z_]\w*)+$")
#: What may stand around a file name in a message: quotes, brackets, punctuation.
AROUND = "\"'`()[]{}<>,;:!?"


def framework_suffixes() -> tuple[str, ...]:
    declared = {f.suffix for f in file_formats() if f.suffix != NPZ}
    return tuple(sorted(declared | set(KNOWN_SUFFIXES), key=len, reverse=True))


def docstring_ids(tree: ast.AST) -> set[int]:
    """The ids of the module's, classes' and functions' docstring constants."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def names_a_file(text: str, suffixes: tuple[str, ...]) -> str | None:
    """The suffix of the first word of ``text`` that is a bare framework suffix (``.onnx``) or a file
    name ending in one (``model.pt``, ``ai.onnx``, ``state_dicts (.pt)``), or None. A dotted module
    path of rnn_ref's (``rnn_ref.core.params``) is no file name."""
    for word in text.replace("/", " ").split():  # "torch .pt/.npz": two words
        word = word.strip(AROUND).rstrip(".")
        if MODULE_PATH.match(word):
            continue
        for suffix in suffixes:
            if word.endswith(suffix):
                return suffix
    return None


def named_engine(text: str, engines: set[str]) -> bool:
    """An engine's name stands in ``text`` as a word of its own: ``"torch"``, ``"run it on torch"``,
    ``"torch-"`` (a family prefix), ``"torch.save"``; not inside another word or name
    (``"torch_like"``, ``"torchvision"``, ``"PyTorch"``, the module path ``"rnn_ref.adapters.torch"``)."""
    return any(re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w])", text) for name in engines)


def literals(source: str, engines: set[str], suffixes: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(line, the constant, why) for every non-docstring string constant of ``source`` that is an
    engine's name or names a framework file."""
    tree = ast.parse(source)
    docstrings = docstring_ids(tree)
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
            continue
        if named_engine(node.value, engines):
            hits.append((node.lineno, node.value, "an engine's name"))
        elif (suffix := names_a_file(node.value, suffixes)) is not None:
            hits.append((node.lineno, node.value, f"a {suffix} file"))
    return sorted(hits)


def test_the_scan_covers_the_generic_modules():
    names = {p.relative_to(PACKAGE).as_posix() for p in GENERIC}
    assert {"conversion/convert.py", "conversion/verify.py", "core/files.py", "cli/__init__.py"} <= names
    assert not any(name.startswith("adapters/") for name in names)


@pytest.mark.parametrize("path", GENERIC, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_engine_name_or_framework_suffix_outside_the_adapters(path):
    hits = literals(path.read_text(encoding="utf-8"), set(built_in_engines()), framework_suffixes())
    assert not hits, f"{path.relative_to(PACKAGE.parent)}: engine-specific string constants (declare them in " \
                     "their family under rnn_ref/adapters/):\n" + \
                     "\n".join(f"  line {line}: {value!r} ({why})" for line, value, why in hits)


# --------------------------------------------------------------------------- the scan itself, tested by planting
ENGINES = {"torch", "keras", "onnx", "torch-onnx"}


@pytest.mark.parametrize("planted, why", [
    ('x = "torch"', "an engine's name"),
    ('engines = ("keras", "gluon")', "an engine's name"),
    ('def f(engine):\n    return engine == "torch-onnx"', "an engine's name"),
    ('suffix = ".onnx"', "a .onnx file"),
    ('if path.name.endswith(".weights.h5"): pass', "a .weights.h5 file"),
    ('domains = ("", "ai.onnx")', "a .onnx file"),
    ('message = f"{path}: --prefix applies to state_dicts (.pt) only"', "a .pt file"),
    ('default = "model.tflite"', "a .tflite file"),
    ('help = "Formats: state_dicts .pt/.npz, canonical .npz"', "a .pt file"),
    ('class C:\n    """Doc."""\n    kind = "onnx"', "an engine's name"),
    ('message = "run it on torch"', "an engine's name"),
    ('message = f"{a} keras only"', "an engine's name"),
    ('if engine.startswith("torch-"): pass', "an engine's name"),
    ('hint = "written by torch.save"', "an engine's name"),
])
def test_a_planted_literal_is_found(planted, why):
    hits = literals(planted, ENGINES, framework_suffixes())
    assert [hit_why for _, _, hit_why in hits] == [why], hits


@pytest.mark.parametrize("innocent", [
    '"""A module about torch and .onnx files: docstrings may say so."""',
    'def f():\n    """Reads a torch .pt state_dict."""\n    return 1',
    'class C:\n    """The keras model\'s .weights.h5."""',
    'MOVED = {"rnn_ref.params": "rnn_ref.core.params"}',  # module paths, as the deprecated re-exports name them
    'name = "torch_like_engine"; other = "torchvision, PyTorch and kerasy words"',  # inside another word
    'x = ".npz"; y = "weights.npz"',  # rnn_ref's own container
    'message = f"{path}: not a readable {what} ({problem})"',
    'kind = "parameters"; note = "the onnxruntime session"',  # a suffix's letters without its dot
])
def test_what_is_not_a_literal_of_an_engine_is_not_found(innocent):
    assert literals(innocent, ENGINES, framework_suffixes()) == []


def test_the_suffixes_come_from_the_declarations_too(monkeypatch):
    """A format a family declares is scanned for without being added to the fixed list."""
    import sys

    from rnn_ref.adapters.file_format import FileFormat

    declared = (*file_formats(), FileFormat(".mlpackage", "mlx", ("mlx",), described="planted"))
    monkeypatch.setattr(sys.modules[__name__], "file_formats", lambda: declared)
    assert ".mlpackage" not in KNOWN_SUFFIXES
    assert literals('path = "model.mlpackage"', ENGINES, framework_suffixes()) == [
        (1, "model.mlpackage", "a .mlpackage file")]

"""The families' registry rows, as the registry completes them: what a row may leave out.

A family names its adapters and format functions relative to its own package
(``"fused:TorchAdapter"`` in ``rnn_ref/adapters/torch/``), and a format that names no engine
holds the weights of every engine of its family. The registry fills both in, so every other
module sees full paths and explicit engine lists.
"""

from __future__ import annotations

import importlib

import pytest

from rnn_ref.adapters.engine_info import in_family
from rnn_ref.adapters.engine_registry import FAMILIES, built_in_engines, declared_format, file_formats
from rnn_ref.adapters.file_format import HOOKS, FileFormat


@pytest.mark.parametrize(("path", "full"), [
    ("fused:TorchAdapter", "rnn_ref.adapters.torch.fused:TorchAdapter"),
    ("rnn_ref.adapters.onnx.runtime:OnnxRuntimeAdapter", "rnn_ref.adapters.onnx.runtime:OnnxRuntimeAdapter"),
])
def test_a_family_relative_path_becomes_the_full_path(path, full):
    assert in_family("torch", path) == full


def test_every_row_names_an_adapter_class_that_imports_without_its_framework():
    for name, row in built_in_engines().items():
        module, cls = row.adapter.split(":")
        assert module.startswith("rnn_ref.adapters."), (name, row.adapter)
        assert getattr(importlib.import_module(module), cls)().name == name


def test_a_format_that_names_no_engine_holds_every_engine_of_its_family():
    declared = FileFormat(".pt", described="state_dicts (.pt)", reader="files:read_torch_pt")
    completed = declared_format("torch", declared)
    assert completed.family == "torch" and completed.engines == ("torch", "torch-cell")
    assert completed.reader == "rnn_ref.adapters.torch.files:read_torch_pt"
    narrowed = declared_format("torch", FileFormat(".pt", engines=("torch-cell",)))
    assert narrowed.engines == ("torch-cell",) and narrowed.reader is None


def test_every_declared_format_is_complete_and_its_functions_exist():
    for fmt in file_formats():
        assert fmt.family in FAMILIES and fmt.engines, fmt
        for hook in HOOKS:
            path = getattr(fmt, hook)
            if path:
                module, function = path.split(":")
                assert module.startswith(f"rnn_ref.adapters.{fmt.family}."), path
                # the family's file modules import their framework inside functions: NumPy alone imports them
                assert callable(getattr(importlib.import_module(module), function)), path


# --------------------------------------------------------------------------- the registry refuses what cannot be
def test_an_engine_name_two_families_declare_is_refused_naming_both():
    from rnn_ref.adapters.engine_info import EngineInfo
    from rnn_ref.adapters.engine_registry import checked_rows

    row = EngineInfo("torch", "fused:TorchAdapter", "torch", "a layer")
    assert list(checked_rows([("torch", row)])) == ["torch"]
    with pytest.raises(RuntimeError, match=r"engine 'torch' is declared twice: in rnn_ref/adapters/torch/ and in "
                                           r"rnn_ref/adapters/mlx/"):
        checked_rows([("torch", row), ("mlx", row)])


@pytest.mark.parametrize(("formats", "problem"), [
    ((FileFormat(".pt", "torch", ("torch-cel",)),), r"the \.pt format of family 'torch' names no engine of the "
                                                    r"registry: torch-cel"),
    ((FileFormat(".pt", "torch", ("torch",)), FileFormat(".pt", "onnx", ("onnx",))),
     r"two file formats declare the suffix \.pt: families 'torch' and 'onnx'"),
    ((FileFormat(".npz", "keras", ("keras",)), FileFormat(".npz", "keras", ("keras",))),
     r"engine 'keras' has two \.npz formats"),
], ids=["unknown-engine", "suffix-twice", "two-npz-for-one-engine"])
def test_a_broken_format_declaration_is_refused_saying_which(formats, problem):
    from rnn_ref.adapters.engine_registry import checked_formats

    with pytest.raises(RuntimeError, match=problem):
        checked_formats(formats, built_in_engines())


def test_the_declared_formats_pass_the_registry_checks():
    from rnn_ref.adapters.engine_registry import checked_formats

    assert checked_formats(file_formats(), built_in_engines()) == file_formats()

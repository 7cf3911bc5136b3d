"""Registry of engines: which adapter module runs which framework.

An engine is a way of running a recurrent layer (``torch`` runs the fused ``torch.nn.LSTM``,
``torch-cell`` unrolls ``torch.nn.LSTMCell``). Each adapter module imports its framework
lazily, so this registry and ``import rnn_ref`` need NumPy alone.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class EngineInfo:
    """One engine: its name, the adapter class (``module:Class``) and the package it needs."""

    name: str
    adapter: str
    requires: str
    description: str

    def installed(self) -> bool:
        """True when the framework this engine needs can be imported."""
        return importlib.util.find_spec(self.requires) is not None


ENGINES: dict[str, EngineInfo] = {
    info.name: info
    for info in [
        EngineInfo("torch", "rnn_ref.adapters.torch:TorchAdapter", "torch",
                   "torch.nn.RNN / LSTM / GRU (fused; oneDNN for float32 on CPU)"),
        EngineInfo("torch-cell", "rnn_ref.adapters.torch_cell:TorchCellAdapter", "torch",
                   "torch.nn.RNNCell / LSTMCell / GRUCell unrolled by the adapter"),
        EngineInfo("keras", "rnn_ref.adapters.keras:KerasAdapter", "tensorflow",
                   "Keras 3 on TensorFlow: RNN(StackedRNNCells) and Bidirectional(RNN(cell)) per level"),
        EngineInfo("gluon", "rnn_ref.adapters.gluon:GluonAdapter", "mxnet",
                   "MXNet Gluon 1.9.1 fused mx.gluon.rnn.RNN / LSTM / GRU"),
        EngineInfo("gluon-cell", "rnn_ref.adapters.gluon_cell:GluonCellAdapter", "mxnet",
                   "MXNet Gluon 1.9.1 RNNCell / LSTMCell / GRUCell in SequentialRNNCell, unrolled"),
        EngineInfo("onnx", "rnn_ref.adapters.onnx_runtime:OnnxRuntimeAdapter", "onnxruntime",
                   "ONNX RNN / LSTM / GRU nodes built from the rows, run on onnxruntime's CPU provider"),
        EngineInfo("onnx-reference", "rnn_ref.adapters.onnx_reference:OnnxReferenceAdapter", "onnx",
                   "the same ONNX model run by onnx.reference.ReferenceEvaluator (ONNX's NumPy reference)"),
        EngineInfo("torch-onnx", "rnn_ref.adapters.torch_onnx:TorchOnnxAdapter", "onnxscript",
                   "the torch engine's layer exported by torch.onnx.export, run on onnxruntime"),
        EngineInfo("keras-tf2onnx", "rnn_ref.adapters.keras_tf2onnx:KerasTf2OnnxAdapter", "tf2onnx",
                   "the keras engine's layers converted by tf2onnx, run on onnxruntime"),
        EngineInfo("onnx2torch", "rnn_ref.adapters.onnx_to_torch:OnnxToTorchAdapter", "onnx2torch",
                   "the onnx engine's model converted to torch by onnx2torch, run in torch"),
    ]
}


def engine_names() -> list[str]:
    """All known engine names, in registry order."""
    return list(ENGINES)


def engine_info(name: str) -> EngineInfo:
    """The registry entry of ``name``; an unknown name raises ValueError listing the known ones."""
    try:
        return ENGINES[name]
    except KeyError:
        known = ", ".join(ENGINES) or "(none yet)"
        raise ValueError(f"unknown engine {name!r}; known engines: {known}") from None


def installed_engines() -> list[str]:
    """Names of the engines whose framework is importable here."""
    return [name for name, info in ENGINES.items() if info.installed()]


@cache
def adapter_object(name: str) -> Any:
    """The adapter of engine ``name`` without its framework: enough for ``mapping`` and limits.

    Adapter modules import their framework inside methods, so this works on NumPy alone.
    """
    module_name, class_name = engine_info(name).adapter.split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def load_adapter(name: str) -> Any:
    """The adapter of engine ``name``, ready to build and run: its framework must be installed."""
    info = engine_info(name)
    if not info.installed():
        raise ValueError(
            f"engine {name!r} needs the Python package {info.requires!r}, which is not installed "
            f"(pip install 'rnn-ref[{info.requires}]' or use its tox env)"
        )
    return adapter_object(name)

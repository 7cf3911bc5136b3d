"""Registry of engines: which adapter runs which framework, built-in or from another package.

An engine is a way of running a recurrent layer (``torch`` runs the fused ``torch.nn.LSTM``,
``torch-cell`` unrolls ``torch.nn.LSTMCell``). The built-in engines are the ``ENGINES`` table
below; installed distributions add plug-in engines through the ``rnn_ref.engines``
entry-point group (``rnn_ref/adapters/plugins.py``). Both are looked up the same way
(``engine_names``, ``engine_info``, ``load_adapter``), so every command and the pytest plugin
take a plug-in engine like a built-in one. Each adapter module imports its framework lazily,
so this registry and ``import rnn_ref`` need NumPy alone.

This package is also the plug-in API: an adapter imports what it needs from here (see
docs/writing-an-adapter.md)::

    from rnn_ref.adapters import Adapter, MappingRow, WeightMapping, build_mapping, stacked_gate_rows
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import Any

from rnn_ref.adapters.base import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.adapters.plugins import PluginProblem, discover
from rnn_ref.cases import Case
from rnn_ref.errors import ParamsError, UnsupportedCase
from rnn_ref.mapping import (
    CUDNN_GATE_ORDER,
    MappingRow,
    WeightMapping,
    build_mapping,
    fused_unit_rows,
    stacked_gate_rows,
)
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput, State
from rnn_ref.spec import RNNSpec

__all__ = [  # the plug-in API (docs/writing-an-adapter.md) and the registry
    "CUDNN_GATE_ORDER", "ENGINES", "PADDED_REPEAT_LAST", "PADDED_ZEROS", "Adapter", "Case", "EngineInfo",
    "MappingRow", "Params", "ParamsError", "PluginProblem", "RNNOutput", "RNNSpec", "State", "UnsupportedCase",
    "WeightMapping", "adapter_object", "build_mapping", "engine_info", "engine_names", "fused_unit_rows",
    "installed_engines", "load_adapter", "plugin_problems", "plugin_registry", "refresh_plugins", "registry",
    "stacked_gate_rows",
]


@dataclass(frozen=True)
class EngineInfo:
    """One engine: its name, the adapter class (``module:Class``) and what it needs.

    ``requires`` names the extra (``pip install 'rnn-ref[X]'``) and the tox env of the
    engine, and is the package it imports unless ``packages`` lists them. A Keras engine
    also names its ``keras_backend``, which Keras fixes at import (see keras_backend.py).
    """

    name: str
    adapter: str
    requires: str
    description: str
    #: the distribution a plug-in engine comes from ("numpy-lstm-adapter 0.1.0"); "" for a built-in
    distribution: str = ""
    packages: tuple[str, ...] = ()
    keras_backend: str = ""

    def unavailable_reason(self) -> str | None:
        """Why this engine cannot run here (a package missing, another Keras backend), or None."""
        missing = [name for name in self.packages or (self.requires,) if importlib.util.find_spec(name) is None]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            return f"{' and '.join(repr(name) for name in missing)} {verb} not installed"
        if self.keras_backend:
            from rnn_ref.adapters.keras_backend import backend_mismatch

            return backend_mismatch(self.keras_backend)
        return None

    def installed(self) -> bool:
        """True when the engine can run here: its packages import (and Keras runs its backend)."""
        return self.unavailable_reason() is None


ENGINES: dict[str, EngineInfo] = {
    info.name: info
    for info in [
        EngineInfo("torch", "rnn_ref.adapters.torch:TorchAdapter", "torch",
                   "torch.nn.RNN / LSTM / GRU (fused; oneDNN for float32 on CPU)"),
        EngineInfo("torch-cell", "rnn_ref.adapters.torch_cell:TorchCellAdapter", "torch",
                   "torch.nn.RNNCell / LSTMCell / GRUCell unrolled by the adapter"),
        EngineInfo("keras", "rnn_ref.adapters.keras:KerasAdapter", "tensorflow",
                   "Keras 3 on TensorFlow: RNN(StackedRNNCells) and Bidirectional(RNN(cell)) per level",
                   keras_backend="tensorflow"),
        EngineInfo("gluon", "rnn_ref.adapters.gluon:GluonAdapter", "mxnet",
                   "MXNet Gluon 1.9.1 fused mx.gluon.rnn.RNN / LSTM / GRU"),
        EngineInfo("gluon-cell", "rnn_ref.adapters.gluon_cell:GluonCellAdapter", "mxnet",
                   "MXNet Gluon 1.9.1 RNNCell / LSTMCell / GRUCell in SequentialRNNCell, unrolled"),
        EngineInfo("onnx", "rnn_ref.adapters.onnx_runtime:OnnxRuntimeAdapter", "onnx",
                   "ONNX RNN / LSTM / GRU nodes built from the rows, run on onnxruntime's CPU provider",
                   packages=("onnx", "onnxruntime")),
        EngineInfo("onnx-reference", "rnn_ref.adapters.onnx_reference:OnnxReferenceAdapter", "onnx",
                   "the same ONNX model run by onnx.reference.ReferenceEvaluator (ONNX's NumPy reference)",
                   packages=("onnx",)),
        EngineInfo("torch-onnx", "rnn_ref.adapters.torch_onnx:TorchOnnxAdapter", "onnx",
                   "the torch engine's layer exported by torch.onnx.export, run on onnxruntime",
                   packages=("torch", "onnxscript", "onnxruntime")),
        EngineInfo("keras-tf2onnx", "rnn_ref.adapters.keras_tf2onnx:KerasTf2OnnxAdapter", "onnx",
                   "the keras engine's layers converted by tf2onnx, run on onnxruntime",
                   packages=("tensorflow", "tf2onnx", "onnxruntime")),
        EngineInfo("onnx2torch", "rnn_ref.adapters.onnx_to_torch:OnnxToTorchAdapter", "onnx",
                   "the onnx engine's model converted to torch by onnx2torch, run in torch",
                   packages=("onnx2torch", "torch")),
        EngineInfo("keras-jax", "rnn_ref.adapters.keras:KerasJaxAdapter", "keras-jax",
                   "Keras 3 on JAX (KERAS_BACKEND=jax): the keras engine's layers and mapping",
                   packages=("keras", "jax"), keras_backend="jax"),
        EngineInfo("keras-torch", "rnn_ref.adapters.keras:KerasTorchAdapter", "keras-torch",
                   "Keras 3 on PyTorch (KERAS_BACKEND=torch): the keras engine's layers and mapping",
                   packages=("keras", "torch"), keras_backend="torch"),
        EngineInfo("flax", "rnn_ref.adapters.flax:FlaxAdapter", "flax",
                   "Flax NNX SimpleCell / LSTMCell / GRUCell unrolled by nnx.RNN, nnx.Bidirectional per level"),
        EngineInfo("flax-optimized", "rnn_ref.adapters.flax:FlaxOptimizedAdapter", "flax",
                   "Flax NNX OptimizedLSTMCell (stacked dense_i / dense_h) in the flax engine's containers"),
    ]
}


@cache
def plugin_registry() -> tuple[dict[str, EngineInfo], dict[str, type], tuple[PluginProblem, ...]]:
    """Plug-in engines (entry-point group ``rnn_ref.engines``), their adapter classes, and the problems.

    Discovered once per process; ``refresh_plugins()`` looks again (after installing one).
    """
    loaded, problems = discover(ENGINES)
    infos = {name: EngineInfo(name, plugin.value, plugin.value.split(":")[0].split(".")[0], plugin.description,
                              plugin.distribution) for name, plugin in loaded.items()}
    return infos, {name: plugin.adapter_class for name, plugin in loaded.items()}, tuple(problems)


def refresh_plugins() -> None:
    """Forget what was discovered and loaded, so the next lookup sees newly installed plug-ins."""
    plugin_registry.cache_clear()
    adapter_object.cache_clear()


def registry() -> dict[str, EngineInfo]:
    """Every engine: the built-ins (``ENGINES``), then the plug-ins that loaded."""
    return ENGINES | plugin_registry()[0]


def plugin_problems() -> list[PluginProblem]:
    """Plug-in engines that are declared but cannot be used, each with its reason."""
    return list(plugin_registry()[2])


def engine_names() -> list[str]:
    """All known engine names: built-ins in registry order, then plug-ins by name."""
    return list(registry())


def engine_info(name: str) -> EngineInfo:
    """The registry entry of ``name``; an unknown or broken name raises ValueError saying why."""
    engines = registry()
    if name in engines:
        return engines[name]
    broken = [problem.describe() for problem in plugin_problems() if problem.name == name]
    if broken:
        raise ValueError("; ".join(broken))
    known = ", ".join(engines) or "(none yet)"
    unusable = "".join(f"; {problem.describe()}" for problem in plugin_problems())
    raise ValueError(f"unknown engine {name!r}; known engines: {known}{unusable}")


def installed_engines() -> list[str]:
    """Names of the engines whose framework is importable here."""
    return [name for name, info in registry().items() if info.installed()]


@cache
def adapter_object(name: str) -> Any:
    """The adapter of engine ``name`` without its framework: enough for ``mapping`` and limits.

    Adapter modules import their framework inside methods, so this works on NumPy alone.
    """
    info = engine_info(name)
    plugin_classes = plugin_registry()[1]
    if name in plugin_classes:  # a plug-in never shadows a built-in (discover refuses the clash)
        return plugin_classes[name]()
    module_name, class_name = info.adapter.split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def load_adapter(name: str) -> Any:
    """The adapter of engine ``name``, ready to build and run: its framework must be installed."""
    info = engine_info(name)
    reason = info.unavailable_reason()
    if reason is not None:
        raise ValueError(
            f"engine {name!r} cannot run here: {reason} (pip install 'rnn-ref[{info.requires}]' "
            f"or use its tox env: tox -e {info.requires})"
        )
    return adapter_object(name)

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
    """One engine: its name, the adapter class (``module:Class``) and what it needs.

    ``requires`` names the extra (``pip install 'rnn-ref[X]'``) and the tox env of the
    engine, and is the package it imports unless ``packages`` lists them. A Keras engine
    also names its ``keras_backend``, which Keras fixes at import (see keras_backend.py).
    """

    name: str
    adapter: str
    requires: str
    description: str
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
    reason = info.unavailable_reason()
    if reason is not None:
        raise ValueError(
            f"engine {name!r} cannot run here: {reason} (pip install 'rnn-ref[{info.requires}]' "
            f"or use its tox env: tox -e {info.requires})"
        )
    return adapter_object(name)

"""The plug-in API, and the registry's lookups: what an adapter and a command import from rnn_ref.adapters.

An adapter imports what it needs from here (see docs/writing-an-adapter.md)::

    from rnn_ref.adapters import Adapter, MappingRow, WeightMapping, build_mapping, stacked_gate_rows

The adapters themselves live in one package per engine family (``torch/``, ``keras/``,
``mxnet/``, ``onnx/``, ``flax/``, ``converted/``), each declaring its registry rows;
``engine_registry.py`` collects them and the plug-ins.
"""

from __future__ import annotations

from rnn_ref.adapters.adapter import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.adapters.engine_info import EngineInfo
from rnn_ref.adapters.engine_registry import (
    ENGINES,
    AdapterCallError,
    adapter_call,
    adapter_object,
    declared_plugins,
    engine_info,
    engine_names,
    installed_engines,
    load_adapter,
    plugin_preflight,
    plugin_problems,
    plugin_registry,
    refresh_plugins,
    registry,
    unique_engine_names,
)
from rnn_ref.adapters.plugins import PluginProblem
from rnn_ref.cases.matrix import Case
from rnn_ref.core.errors import ParamsError, UnsupportedCase
from rnn_ref.core.mapping import (
    CUDNN_GATE_ORDER,
    MappingRow,
    WeightMapping,
    build_mapping,
    fused_unit_rows,
    stacked_gate_rows,
)
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State

__all__ = [  # the plug-in API (docs/writing-an-adapter.md) and the registry
    "CUDNN_GATE_ORDER", "ENGINES", "PADDED_REPEAT_LAST", "PADDED_ZEROS", "Adapter", "AdapterCallError", "Case",
    "EngineInfo", "MappingRow", "Params", "ParamsError", "PluginProblem", "RNNOutput", "RNNSpec", "State",
    "UnsupportedCase", "WeightMapping", "adapter_call", "adapter_object", "build_mapping", "declared_plugins",
    "engine_info", "engine_names", "fused_unit_rows", "installed_engines", "load_adapter", "plugin_preflight",
    "plugin_problems", "plugin_registry", "refresh_plugins", "registry", "stacked_gate_rows", "unique_engine_names",
]

"""A converted engine, composed: a source engine's layer × a conversion tool × a runtime.

``ConvertedAdapter`` holds the source engine's adapter (``source``, an object, not a base
class): the mapping rows, the build and the native arrays are the source's, so the weights go
in exactly as they go into the source engine. ``tool`` turns the built native layer and the
run's interface into an artifact (an ONNX model's bytes, a converted module); ``runtime``
makes a callable session of the artifact and runs it on the engine's feeds. An engine module
declares the three, its feeds and outputs, and its limits as records (rnn_ref.cases.limits);
the capabilities are declared too: a converted model runs for inference only
(``differentiable = False``: the gradients of the layer it came from are the source engine's).

A conversion takes seconds, so its artifacts are kept in one bounded cache (``ARTIFACTS``, the
last ``ARTIFACT_CACHE_SIZE``), keyed by the digest of everything the conversion depends on:
the source engine's adapter, the tool, the spec, the dtype, whether an initial state and
lengths are fed, the feeds' dtypes and, where the tool traces at fixed sizes, their shapes, and
the native weights by name and bytes. Two engines that take the same source through the same
tool to different runtimes (torch-onnx, torch-onnx-reference) share the artifact; the sessions
are kept apart (``SESSIONS``, keyed by the artifact's key and the runtime). A second run of the
same layer configuration reuses both; anything that differs in one byte converts afresh, so
the cache saves time and never changes a verdict.

Frameworks are imported lazily: the rows of a converted engine need NumPy alone.
"""

from __future__ import annotations

import dataclasses
import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters._support.run_memo import digest
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State


@dataclass(frozen=True)
class Conversion:
    """What one conversion is asked for: the layer, the dtype, the optional inputs and example feeds."""

    spec: RNNSpec
    dtype: str
    with_state: bool
    with_lengths: bool
    #: the run's feeds, in the artifact's input order (a tool that traces at fixed sizes traces on these)
    feeds: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class ConversionTool:
    """A converter: ``convert(native layer, conversion)`` gives the artifact; ``version()`` says which tool."""

    name: str
    convert: Callable[[Any, Conversion], Any]
    version: Callable[[], str]
    #: the tool traces at the feeds' sizes (its artifact is valid for that input shape only)
    fixed_shapes: bool = False


@dataclass(frozen=True)
class Runtime:
    """Where an artifact runs: ``load(artifact)`` gives a session, ``run(session, feeds)`` its outputs."""

    name: str
    load: Callable[[Any], Any]
    run: Callable[[Any, Sequence[np.ndarray]], list[Any]]
    version: Callable[[], str]


@dataclass
class ConvertedLayer:
    """What a converted engine builds: the source engine's native layer, the conversion's input."""

    native: Any
    #: the artifact its last run was converted to (a quantized engine reads what its runtime holds off it)
    artifact: Any = None


#: How many converted sessions the cache keeps: more than the layer configurations of the
#: recorded subset (rnn_ref/golden/manifest.py), so recording fixtures twice converts once.
ARTIFACT_CACHE_SIZE = 256


class ArtifactCache:
    """The last ``size`` values made (artifacts, or sessions of them), by the digest of what they depend on."""

    def __init__(self, size: int = ARTIFACT_CACHE_SIZE) -> None:
        self.size = size
        self._sessions: OrderedDict[bytes, Any] = OrderedDict()
        # a run abandoned at its deadline may finish its conversion in its own thread later
        self._lock = threading.Lock()
        #: how many values were made (for the artifacts: how many times a tool ran)
        self.conversions = 0

    def value(self, key: bytes, make: Callable[[], Any]) -> Any:
        """The value kept for ``key``, else ``make()``'s (the tool or the runtime runs), kept for the next run."""
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
        session = make()  # not under the lock: a conversion takes seconds
        with self._lock:
            self.conversions += 1
            self._sessions[key] = session
            self._sessions.move_to_end(key)
            while len(self._sessions) > self.size:
                self._sessions.popitem(last=False)
        return session

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


#: The one cache of converted artifacts, shared by every converted engine (the key names the source and the tool).
ARTIFACTS = ArtifactCache()
#: The runtimes' sessions of those artifacts (the key adds the runtime).
SESSIONS = ArtifactCache()


def onnx_session(model: bytes) -> Any:
    """An onnxruntime CPU session (``rnn_ref.adapters.onnx.runtime.ort_session``) of a serialized model."""
    import onnx

    from rnn_ref.adapters.onnx.runtime import ort_session

    return ort_session(onnx.load_from_string(model))


def run_onnx_session(session: Any, feeds: Sequence[np.ndarray]) -> list[Any]:
    """The session's outputs, its graph inputs fed in order."""
    names = [i.name for i in session.get_inputs()]
    return list(session.run(None, dict(zip(names, feeds, strict=True))))


def onnxruntime_version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


#: onnxruntime's CPU provider, on one thread (rnn_ref/adapters/onnx/runtime.py).
ONNXRUNTIME = Runtime("onnxruntime", onnx_session, run_onnx_session, onnxruntime_version)


class ConvertedAdapter(Adapter):
    """A source engine's layer, converted by ``tool`` and run by ``runtime``.

    A subclass declares ``name``, ``source_adapter`` (the source engine's adapter class),
    ``tool``, ``runtime``, ``declared_limits`` (and ``declared_defects``), and implements
    ``feeds`` and ``outputs`` (the artifact's interface). ``version_from`` says which of the
    source's, the tool's and the runtime's versions make the engine's version, in that order.
    """

    inference_runtime = True  # the judge runs each case twice: no state may survive a call

    #: a converted model is run for inference only (the source engine's gradients are the source's)
    differentiable = False
    source_adapter: ClassVar[Callable[[], Adapter]]
    tool: ClassVar[ConversionTool]
    runtime: ClassVar[Runtime]
    version_from: ClassVar[tuple[str, ...]] = ("source", "tool", "runtime")
    artifacts: ClassVar[ArtifactCache] = ARTIFACTS
    sessions: ClassVar[ArtifactCache] = SESSIONS

    def __init__(self) -> None:
        self.source = type(self).source_adapter()

    # ---------------------------------------------------------------- what the source engine provides
    def mapping(self, spec: RNNSpec) -> WeightMapping:
        """The source engine's rows (the weights go in as they go into the source), under this engine's name."""
        return dataclasses.replace(self.source.mapping(spec), engine=self.name)

    def padded_steps(self, spec: RNNSpec) -> str:
        """What the source writes at padded steps: a conversion must keep it."""
        return self.source.padded_steps(spec)

    def native_arrays(self, spec: RNNSpec, layer: ConvertedLayer) -> dict[str, np.ndarray]:
        return self.source.native_arrays(spec, layer.native)

    def build(self, spec: RNNSpec, params: Params) -> ConvertedLayer:
        """The source engine's layer, refused only when no run of it could be converted and run.

        A limit that depends on the interface (lengths: tf2onnx writes another graph with a
        mask) is asked at run time; one that holds with and without lengths refuses the build,
        with the reason of a run without lengths.
        """
        dtype = str(params.dtype)
        reason = self.unsupported_reason(spec, dtype, with_lengths=False)
        if reason is not None and self.unsupported_reason(spec, dtype, with_lengths=True) is not None:
            raise UnsupportedCase(self.name, reason)
        return ConvertedLayer(self.source.build(spec, params))

    def version(self) -> str:
        parts = {"source": self.source.version, "tool": self.tool.version, "runtime": self.runtime.version}
        return ", ".join(parts[part]() for part in self.version_from)

    # ---------------------------------------------------------------- the artifact's interface
    @abstractmethod
    def feeds(self, spec: RNNSpec, x: np.ndarray, initial_state: State | None,
              lengths: np.ndarray | None) -> list[np.ndarray]:
        """The artifact's inputs, in its input order, for one run."""

    @abstractmethod
    def outputs(self, spec: RNNSpec, values: list[Any]) -> RNNOutput:
        """The artifact's outputs as the canonical RNNOutput."""

    # ---------------------------------------------------------------- a run
    def conversion_key(self, spec: RNNSpec, layer: ConvertedLayer, conversion: Conversion) -> bytes:
        """The digest of everything the conversion depends on (rnn_ref/adapters/_support/run_memo.py):
        not the runtime, which only loads the artifact."""
        source = type(self.source)
        feeds = [part for feed in conversion.feeds
                 for part in (feed.dtype.str, *(feed.shape if self.tool.fixed_shapes else ()), "|")]
        weights = [part for name, array in self.native_arrays(spec, layer).items() for part in (name, array)]
        return digest([f"{source.__module__}.{source.__qualname__}", self.tool.name, "spec", spec,
                       "dtype", conversion.dtype, "state", conversion.with_state, "lengths", conversion.with_lengths,
                       "feeds", len(conversion.feeds), *feeds, "weights", *weights])

    def session(self, spec: RNNSpec, layer: ConvertedLayer, conversion: Conversion) -> Any:
        """The runtime's session of the layer converted for ``conversion`` (converted once per configuration,
        loaded once per runtime)."""
        key = self.conversion_key(spec, layer, conversion)
        artifact = self.artifacts.value(key, lambda: self.tool.convert(layer.native, conversion))
        layer.artifact = artifact
        loaded = digest([key.hex(), "runtime", self.runtime.name])
        return self.sessions.value(loaded, lambda: self.runtime.load(artifact))

    def run(self, spec: RNNSpec, layer: ConvertedLayer, x: np.ndarray, initial_state: State | None = None,
            lengths: np.ndarray | None = None) -> RNNOutput:
        dtype = str(x.dtype)
        self.check_supported(spec, dtype, with_lengths=lengths is not None)
        feeds = self.feeds(spec, x, initial_state, lengths)
        conversion = Conversion(spec, dtype, initial_state is not None, lengths is not None, tuple(feeds))
        return self.outputs(spec, self.runtime.run(self.session(spec, layer, conversion), feeds))

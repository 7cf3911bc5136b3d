"""Native layers built once per layer and reused across cases, never under a holder's feet.

Building a framework's layer (its variables and their initializers) can cost more than running
a small case, so an adapter keeps what it built for a (spec, dtype) and, on the next build of
the same layer, sets new weights into it instead of building it again — but only once nothing
holds the object it handed out last (or a model made from it): weights handed out never change
under their holder. The layout is not part of the key: the adapters that use this (Keras,
Flax) take the layout per call, or transpose at the boundary.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from rnn_ref.core.spec import RNNSpec

Held = TypeVar("Held")


class BuiltLayers(Generic[Held]):
    """The native objects built per (spec in NTC, dtype), each with a weak reference to its last holder."""

    def __init__(self) -> None:
        self._built: dict[tuple[RNNSpec, str], tuple[Any, weakref.ref]] = {}

    def hand_out(self, spec: RNNSpec, dtype: str, build: Callable[[], Any], hold: Callable[[Any], Held]) -> Held:
        """``hold(native)``: the native object kept for (spec, dtype) when nothing holds it any more,
        else a new one from ``build()``. The caller then sets every weight into it."""
        key = (spec.replace(layout="NTC"), dtype)
        native, holder = self._built.get(key, (None, lambda: None))
        if native is None or holder() is not None:
            native = build()
        held = hold(native)
        self._built[key] = (native, weakref.ref(held))
        return held

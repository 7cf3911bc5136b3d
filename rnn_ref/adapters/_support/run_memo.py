"""Results of runs an engine has already computed, found again by the bytes that went in.

A batch-major-only engine (Keras) runs a TNC case as the NTC computation on the transposed
input. A TNC case holds its NTC twin's numbers (``Case.data_id``), so after the adapter's
transposes both cases hand the framework identical layers, inputs, states, lengths and
cotangents: the framework would compute the very same thing twice. ``RunMemo`` keys what the
framework returned by a digest of everything that went into it — the native weights as the
layer holds them, not as the case drew them — so a second run of the same inputs is answered
from the first, and anything that differs in one byte (a transpose the adapter got wrong, other
weights) runs afresh. The adapter's own code around the framework call (the transposes, the
conversions) runs every time.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import numpy as np

from rnn_ref.core.spec import RNNSpec

Result = TypeVar("Result")


def digest(parts: Iterable[Any]) -> bytes:
    """A digest of ``parts``: None, strings, numbers and specs by ``repr``; anything else as the
    array it converts to (NumPy arrays, framework tensors), by dtype, shape and bytes.

    Raises TypeError for what has no exact bytes (an object array, a dict): a ``repr`` may
    abbreviate, and two different inputs must never share a key.
    """
    hasher = hashlib.blake2b(digest_size=20)
    for part in parts:
        if part is None or isinstance(part, (str, int, float, bool, RNNSpec)):
            hasher.update(f"value {part!r}|".encode())
            continue
        array = np.asarray(part)
        if array.dtype.hasobject:
            raise TypeError(f"cannot digest {type(part).__name__}: an object array has no exact bytes")
        hasher.update(f"array {array.dtype.str} {array.shape}|".encode())
        hasher.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)
    return hasher.digest()


def _copied(value: Any) -> Any:
    """``value`` with every array in it copied (through tuples, lists and None)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copied(item) for item in value)
    return value


class RunMemo(Generic[Result]):
    """The last ``size`` results of a framework call, keyed by the ``digest`` of its inputs.

    A result is NumPy arrays in tuples and lists (never a framework's tensors); it is copied on
    the way in and on the way out, so no caller can change what another one finds.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._results: OrderedDict[bytes, Result] = OrderedDict()
        self.hits = 0

    def find(self, key: bytes) -> Result | None:
        result = self._results.get(key)
        if result is None:
            return None
        self._results.move_to_end(key)
        self.hits += 1
        return _copied(result)

    def computed(self, key: bytes, compute: Callable[[], Result]) -> Result:
        """The result kept for ``key``, else ``compute()``'s, kept for the next finder."""
        result = self.find(key)
        if result is None:
            result = compute()
            self.keep(key, result)
        return result

    def keep(self, key: bytes, result: Result) -> None:
        self._results[key] = _copied(result)
        self._results.move_to_end(key)
        while len(self._results) > self.size:
            self._results.popitem(last=False)

"""The engine boundary (design section 2f, trust): what crosses into an engine and back.

An engine is code the judge does not control. What it is handed is its own, nothing the judge
reads afterwards (``engine_inputs``, ``engine_cotangents``; ``handed`` and ``handed_state`` for
``--verify``'s sides); every call is ``bounded`` in time, and an engine that did not return is
never called again; and a result the judge cannot read fails its case with the reason
(``engine_output``, ``engine_gradients``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.matrix import CaseData
from rnn_ref.core.deadline import DeadlineExceeded, case_seconds, within
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State

T = TypeVar("T")


class EngineResultError(TypeError):
    """An engine returned something the judge cannot read: None, another type, a missing tensor."""


class EngineNotCalled(RuntimeError):
    """The engine did not return from an earlier call, so it is not called again."""


#: id(adapter) -> (the adapter, what did not return): engines this process no longer calls. The
#: adapter is kept so that its id is not reused by another object.
_NOT_RETURNED: dict[int, tuple[Adapter, str]] = {}


def not_returned(adapter: Adapter) -> str | None:
    """What of ``adapter``'s engine did not return in time (then it is not called again), or None."""
    entry = _NOT_RETURNED.get(id(adapter))
    return None if entry is None else entry[1]


def bounded(adapter: Adapter, what: str, seconds: float | None, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, a call into ``adapter``'s engine named ``what``, within ``seconds``.

    ``seconds`` None takes ``deadline.case_seconds()`` (``RNN_REF_CASE_TIMEOUT``, else the default:
    so the pytest suite, which passes no bound, gets the one from the environment); 0 means no
    bound. Past the bound it raises ``DeadlineExceeded`` naming ``what``, and the engine is
    marked: its call may still be running in its thread, holding whatever state the framework
    has, so every later call raises ``EngineNotCalled`` at once, without calling it.
    """
    why = not_returned(adapter)
    if why is not None:
        raise EngineNotCalled(f"{adapter.name} is not called again: {why}")
    try:
        return within(case_seconds() if seconds is None else seconds, what, function, *args)
    except DeadlineExceeded as error:
        _NOT_RETURNED[id(adapter)] = (adapter, f"{error.what} did not return within {error.seconds:g} s")
        raise


@overload
def handed(array: np.ndarray) -> np.ndarray: ...
@overload
def handed(array: None) -> None: ...
@overload
def handed(array: np.ndarray | None) -> np.ndarray | None: ...
def handed(array: np.ndarray | None) -> np.ndarray | None:
    """A copy of ``array`` for an engine (None stays None)."""
    return None if array is None else np.array(array)


def handed_state(state: State | None) -> State | None:
    """Copies of an initial state's arrays for an engine (None stays None)."""
    return None if state is None else State(np.array(state.h), handed(state.c))


def handed_params(params: Params) -> Params:
    """Read-only copies of ``params``' blocks, in memory of their own (``Params`` would share them)."""
    copies = {key: np.array(block) for key, block in params.items()}
    for block in copies.values():
        block.setflags(write=False)
    return Params(params.spec, copies)


def engine_inputs(data: CaseData) -> CaseData:
    """What an engine is handed of ``data``: its own x, initial state and lengths, and the params.

    The judge reads ``data`` afterwards (the reference, a defect's signature, the recorded
    fixture), so an engine that writes into what it was given (``x[...] = 0``) must be judged on
    what it computed from that, never make the reference compute the same. x, the states and the
    lengths are writable copies rather than read-only views because frameworks' zero-copy paths
    take NumPy arrays as writable memory: ``torch.from_numpy`` warns on a read-only array ("writing
    to this tensor will result in undefined behavior"), and the torch adapters use it for x and
    the states. A copy costs one small allocation per case and leaves every engine's path as it
    was. The params are copies too, read-only ones (``Params`` blocks): an engine that writes into
    its weights raises where it does, and one that turns the flag off first (``setflags``, or C
    code writing through the buffer) writes into its own copy, never the judge's.
    """
    return CaseData(handed_params(data.params), np.array(data.x), handed_state(data.initial_state),
                    handed(data.lengths))


def engine_cotangents(cotangents: Cotangents) -> Cotangents:
    """The engine's own copy of the cotangents (the reference's backward reads them afterwards)."""
    return Cotangents(np.array(cotangents.output), np.array(cotangents.h_n), handed(cotangents.c_n))


def numeric(value: Any, name: str, who: str) -> np.ndarray:
    """``value`` as a NumPy array of numbers, or ``EngineResultError`` naming ``who`` and ``name``."""
    try:
        array = np.asarray(value)
    except Exception as error:  # a framework tensor that refuses (a torch tensor that requires grad)
        raise EngineResultError(f"{who} returned {name} as a {type(value).__name__}, which does not convert to "
                                f"an array ({type(error).__name__}: {error})") from None
    if array.dtype.kind not in "biuf":
        raise EngineResultError(f"{who} returned {name} as a {type(value).__name__}, not a numeric array")
    return array


def engine_output(result: Any, spec: RNNSpec, who: str) -> RNNOutput:
    """``result`` (what ``who``, e.g. ``"torch's run"``, returned) as an RNNOutput of NumPy arrays.

    An RNNOutput-like result has ``output`` and ``h_n``, and ``c_n`` for an LSTM (for other modes
    c_n is dropped: there is no cell state to judge). Anything else raises ``EngineResultError``
    with the reason, which fails the case everywhere (check, pytest, selftest, --verify).
    """
    if not (hasattr(result, "output") and hasattr(result, "h_n")):
        raise EngineResultError(f"{who} returned {'None' if result is None else 'a ' + type(result).__name__}, "
                                "not an RNNOutput (output, h_n, c_n)")
    c_n = getattr(result, "c_n", None)
    if spec.has_cell_state and c_n is None:
        raise EngineResultError(f"{who} returned no c_n (None) for an LSTM")
    return RNNOutput(numeric(result.output, "output", who), numeric(result.h_n, "h_n", who),
                     numeric(c_n, "c_n", who) if spec.has_cell_state else None)


def engine_gradients(got: Any, spec: RNNSpec, who: str, given_state: bool) -> EngineGradients:
    """``got`` (what ``who`` returned) as EngineGradients of NumPy arrays, or ``EngineResultError``.

    It needs ``x``, ``h0`` and ``c0`` and ``native`` (a mapping: its names and shapes are checked
    by the mapping's ``gradients_to_params``). Where the case gave an initial state
    (``given_state``), h0 (and c0 for an LSTM) must be arrays: None would leave them unjudged.
    ``output``, when given, is read as ``engine_output`` reads ``run``'s result.
    """
    if not all(hasattr(got, name) for name in ("x", "h0", "c0", "native")):
        raise EngineResultError(f"{who} returned {'None' if got is None else 'a ' + type(got).__name__}, "
                                "not an EngineGradients (x, h0, c0, native)")
    for name in ("h0", "c0") if spec.has_cell_state else ("h0",):
        if given_state and getattr(got, name) is None:
            raise EngineResultError(f"{who} returned no {name} gradient (None) for a case with an initial state")
    if not isinstance(got.native, Mapping):
        raise EngineResultError(f"{who} returned native as a {type(got.native).__name__}, not a mapping of "
                                "native parameter names to gradients")
    output = getattr(got, "output", None)
    return EngineGradients(
        numeric(got.x, "x", who),
        None if got.h0 is None else numeric(got.h0, "h0", who),
        None if got.c0 is None else numeric(got.c0, "c0", who),
        dict(got.native),
        None if output is None else engine_output(output, spec, f"{who} (its output)"),
    )

"""Time bounds on code rnn_ref does not control: engine calls, plug-in imports, verification.

Design section 2f (trust): every engine call, plug-in import and verification is bounded in
time. ``within(seconds, what, function, *args)`` runs ``function`` in a worker thread and
waits at most ``seconds`` for it. When the time runs out it raises ``DeadlineExceeded``
naming ``what``; the worker cannot be killed (Python has no way to stop a thread, and a
framework's C code may never return), so it is left to run on as a daemon thread that dies
with the process. Callers therefore treat the engine as unusable from then on (``check``
stops running that engine's cases) instead of calling it again.

The bound for one case (build, run and, for gradients, differentiation) defaults to
``DEFAULT_CASE_SECONDS``; the environment variable ``RNN_REF_CASE_TIMEOUT`` (seconds; ``0``
means no bound) changes it for every command and for pytest, and ``--case-timeout`` does for
one command. The slowest legitimate case measured here is a tf2onnx conversion (5-30 s per
case, tox.ini), so the default leaves a margin of ten over it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: seconds one case (build + run, or build + run + gradients) may take by default
DEFAULT_CASE_SECONDS = 300.0
#: seconds importing one plug-in module may take by default
DEFAULT_IMPORT_SECONDS = 120.0
ENVIRONMENT_VARIABLE = "RNN_REF_CASE_TIMEOUT"
#: the largest bound accepted, in seconds (a week): far beyond any case, and below the
#: ``threading`` wait limits that larger numbers overflow (OverflowError from join)
MAX_SECONDS = 7 * 24 * 3600.0


class CalledCodeExited(RuntimeError):
    """The called code raised ``SystemExit`` or ``KeyboardInterrupt`` of its own.

    Raised in place of them, so that code rnn_ref does not control (an engine that calls
    ``sys.exit(0)`` in ``run``) cannot end a command with exit status 0 and nothing printed: it
    becomes an ordinary failure of that call. (A KeyboardInterrupt from a worker thread was
    raised by the called code itself: signals reach the main thread only.)"""


class DeadlineExceeded(TimeoutError):
    """``what`` did not return within ``seconds``; it may still be running in its thread."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not finish within {seconds:g} s (the bound is set by --case-timeout or "
                         f"{ENVIRONMENT_VARIABLE}; 0 turns it off)")
        self.what = what
        self.seconds = seconds


def parse_seconds(text: str, source: str) -> float:
    """``text`` as a bound in seconds: from 0 (no bound) to ``MAX_SECONDS``.

    ``source`` names where the text came from, for the error (``ValueError``)."""
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{source} must be a number of seconds (0: no bound), got {text!r}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"{source} must be a number of seconds from 0 (no bound) to {MAX_SECONDS:g}, got {text!r}")
    return seconds


def seconds_from_environment(variable: str, default: float) -> float:
    """The bound the environment variable ``variable`` sets (0: no bound), ``default`` where it is
    unset or blank; a value that is not a bound raises ValueError naming the variable."""
    text = os.environ.get(variable, "").strip()
    return default if not text else parse_seconds(text, variable)


def case_seconds() -> float:
    """The per-case bound: ``RNN_REF_CASE_TIMEOUT`` where set (0: no bound), else the default."""
    return seconds_from_environment(ENVIRONMENT_VARIABLE, DEFAULT_CASE_SECONDS)


def within(seconds: float | None, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, or ``DeadlineExceeded`` after ``seconds``.

    ``seconds`` None or 0 calls ``function`` directly, in this thread. Otherwise it runs in a
    daemon worker thread; what it returns or raises comes back here as if it had been called
    directly, except that a ``SystemExit`` (always) or a ``KeyboardInterrupt`` (from the worker:
    the called code's own) becomes ``CalledCodeExited``. A KeyboardInterrupt without a bound may
    be the user's Ctrl-C, and goes on as it is.
    """
    if not seconds:
        try:
            return function(*args, **kwargs)
        except SystemExit as error:
            raise CalledCodeExited(f"{what} called sys.exit({error.code!r})") from None
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except SystemExit as error:
            outcome["error"] = CalledCodeExited(f"{what} called sys.exit({error.code!r})")
        except KeyboardInterrupt:
            outcome["error"] = CalledCodeExited(f"{what} raised KeyboardInterrupt")
        except BaseException as error:  # handed to the caller's thread, which decides
            outcome["error"] = error

    worker = threading.Thread(target=work, name=f"rnn_ref: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise DeadlineExceeded(what, seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]

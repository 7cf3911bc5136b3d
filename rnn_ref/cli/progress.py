"""Progress of a long command on stderr: a rewritten line on a terminal, a line every few seconds elsewhere.

A terminal sees ``[done/total] engine case`` rewritten in place, one line kept per engine. A pipe or
a CI log sees ``rnn-ref check: torch 120/1311 case(s), 15 s`` at most once every ``interval``
seconds (so a run shorter than that prints nothing), and an engine's last line (``…, done``) once
a line of it was printed. The report on stdout never changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

#: Seconds between two progress lines when stderr is not a terminal.
INTERVAL_SECONDS = 5.0


class ProgressLine:
    """A ``Progress`` callable, ``(engine, done, total, case id)``: ``done`` 0 is the engine's start."""

    def __init__(self, command: str, interval: float = INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command = command
        self.interval = interval
        self.clock = clock
        self._last_line = clock()  # the first line comes after one interval
        self._started: dict[str, float] = {}
        self._shown: set[str] = set()

    def __call__(self, engine: str, index: int, total: int, case_id: str) -> None:
        stream = sys.stderr  # looked up at each call: the stream the command has now
        if stream is None:
            return
        now = self.clock()
        started = self._started.setdefault(engine, now)
        done = index == total
        if stream.isatty():
            print(f"\r\033[K[{index}/{total}] {engine} {case_id}", end="\n" if done else "", file=stream, flush=True)
            return
        if now - self._last_line >= self.interval or (done and engine in self._shown):
            end = ", done" if done else ""
            line = f"{self.command}: {engine} {index}/{total} case(s), {now - started:.0f} s{end}"
            print(line, file=stream, flush=True)
            self._last_line = now
            self._shown.add(engine)

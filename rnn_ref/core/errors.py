"""Exception types of rnn_ref.

Every error a user can provoke with bad input is a ``ValueError`` subclass whose message
names the offending field or argument, the value received and what is allowed.
"""

from __future__ import annotations


class SpecError(ValueError):
    """An ``RNNSpec`` field has a value that is not allowed."""


class ParamsError(ValueError):
    """Canonical parameters do not match a spec (missing, unexpected or mis-shaped blocks)."""


class InputError(ValueError):
    """An input to ``forward`` (x, initial state, lengths, options) is malformed."""


class UnsupportedCase(Exception):
    """An engine cannot express a case; ``reason`` says why.

    This is the third outcome next to pass and fail (design section 2b): it is reported,
    never swallowed as a pass.
    """

    def __init__(self, engine: str, reason: str) -> None:
        super().__init__(f"{engine}: {reason}")
        self.engine = engine
        self.reason = reason

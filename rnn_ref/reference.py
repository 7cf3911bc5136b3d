"""Deprecated path (rnn-ref 0.1) of what now lives in rnn_ref.oracle.forward, rnn_ref.core.state, rnn_ref.oracle.checks.

Kept so that adapters written against 0.1 keep working; importing it warns (rnn_ref/_moved.py).
"""

from rnn_ref._moved import deprecated_face, warn_moved

_NEW = ("rnn_ref.oracle.forward", "rnn_ref.core.state", "rnn_ref.oracle.checks")
warn_moved(__name__, _NEW)
__getattr__ = deprecated_face(__name__, _NEW)

"""Importing Keras on one backend: refused when Keras loaded another, with each backend's quirks.

Keras fixes its backend at import (``KERAS_BACKEND``; rnn_ref/adapters/keras/backend.py says
which one a process runs). On TensorFlow the start-up and retracing chatter is silenced; on JAX
64-bit arrays are turned on (else JAX truncates every float64 array to float32).
"""

from __future__ import annotations

import os
from typing import Any

from rnn_ref.adapters.keras.backend import KerasBackendMismatch, backend_mismatch


def import_keras(backend: str) -> Any:
    """Import Keras, refusing to run when it loaded another backend than ``backend``.

    On TensorFlow, start-up and retracing chatter is silenced.
    """
    reason = backend_mismatch(backend)
    if reason is not None:
        raise KerasBackendMismatch(reason)
    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras

    if keras.config.backend() != backend:  # e.g. keras.json changed since the check above
        raise KerasBackendMismatch(backend_mismatch(backend) or f"Keras loaded {keras.config.backend()}")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)  # else JAX truncates every float64 array to float32
    return keras


def quiet_import_keras() -> Any:
    """Import Keras on TensorFlow (the ``keras`` engine) with TensorFlow's chatter silenced."""
    return import_keras("tensorflow")

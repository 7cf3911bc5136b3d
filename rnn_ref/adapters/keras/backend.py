"""Which backend Keras 3 runs in this process, found without importing Keras.

Keras fixes its backend once, when it is first imported: ``KERAS_BACKEND`` if set and not
empty, else ``"backend"`` in ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``, or
``/tmp/.keras`` when the home folder is not writable), else ``"tensorflow"``. Once Keras is
imported, ``keras.config.backend()`` says which one it loaded. The same Keras adapter runs
as three engines, one per backend, each in its own tox env that sets ``KERAS_BACKEND``:

==============  ==============  ==============  =============================
backend         engine          tox env         packages
==============  ==============  ==============  =============================
``tensorflow``  ``keras``       ``tensorflow``  tensorflow(-cpu), keras
``jax``         ``keras-jax``   ``keras-jax``   keras, jax[cpu]
``torch``       ``keras-torch`` ``keras-torch`` keras, torch==2.13.0
==============  ==============  ==============  =============================

So an engine is *installed* (``--engines installed``, ``rnn-ref check`` running it live)
only where its packages import and Keras runs (or will run) its backend: the tensorflow
env never tries ``keras-jax``, and ``keras-jax``'s fixtures are replayed there instead.
"""

from __future__ import annotations

import json
import os
import sys

#: backend -> (engine, tox env that runs it)
KERAS_BACKENDS: dict[str, tuple[str, str]] = {
    "tensorflow": ("keras", "tensorflow"),
    "jax": ("keras-jax", "keras-jax"),
    "torch": ("keras-torch", "keras-torch"),
}

#: the engines that run the Keras adapter: same layers, same mapping, same weight files
KERAS_ENGINES = tuple(engine for engine, _ in KERAS_BACKENDS.values())


class KerasBackendMismatch(RuntimeError):
    """Keras runs another backend than the engine needs (it cannot change after import)."""


def keras_home() -> str:
    """Keras's own rule for its configuration folder."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    return os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")


def selected_backend() -> str:
    """The backend Keras has loaded, or the one it will load when imported here."""
    keras = sys.modules.get("keras")
    config = getattr(keras, "config", None)
    if config is not None and hasattr(config, "backend"):
        return config.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        with open(os.path.join(keras_home(), "keras.json"), encoding="utf-8") as file:
            configured = json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):
        configured = None
    return configured if isinstance(configured, str) and configured else "tensorflow"


def backend_mismatch(backend: str) -> str | None:
    """Why the Keras engine of ``backend`` cannot run in this process, or None when it can."""
    selected = selected_backend()
    if selected == backend:
        return None
    engine, tox_env = KERAS_BACKENDS[backend]
    loaded = "runs" if "keras" in sys.modules else "would load"
    return (f"engine {engine} needs Keras on the {backend} backend, but Keras {loaded} the {selected} backend "
            f"here (the backend is fixed at import): run `tox -e {tox_env}`, or start Python with "
            f"KERAS_BACKEND={backend}")

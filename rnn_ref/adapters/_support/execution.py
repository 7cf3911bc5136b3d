"""Speed policy: when an engine whose framework compiles the whole loop runs it compiled.

A policy of speed only: eager and compiled runs compute the same layers (the tests that
pin this: tests/test_keras_conventions.py, tests/test_flax_conventions.py), so the choice
never changes a verdict.
"""

from __future__ import annotations

__all__ = ["COMPILED_FROM_STEPS", "runs_compiled"]

#: Sequences of this many steps or more run compiled where the engine's framework compiles the
#: whole loop (keras, i.e. Keras on TensorFlow: one ``tf.function``; flax and flax-optimized:
#: ``nnx.RNN``'s own ``lax.scan``), shorter ones eagerly. A compile costs 0.1 to 1 s per run, an
#: eager step 1 to 5 ms of Python dispatch per cell; the two break even between about 50 and 100
#: steps (measured: ``KerasAdapter.compiled``, ``FlaxAdapter.execution``). On those engines the
#: matrix's 6-step cases run eagerly and its T=200 cases compiled. keras-jax runs op by op at any
#: length: its compiled scan of a float64 SimpleRNN fails (tests/test_keras_backends.py).
COMPILED_FROM_STEPS = 64


def runs_compiled(steps: int) -> bool:
    """Whether a sequence of ``steps`` steps runs compiled (on an engine that compiles the loop)."""
    return steps >= COMPILED_FROM_STEPS

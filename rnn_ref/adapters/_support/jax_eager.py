"""Op-by-op JAX execution for the engines that run on JAX (keras-jax, flax, flax-optimized).

Keras on JAX and ``nnx.RNN`` called eagerly compile their ``lax.scan`` afresh on every call,
so the adapters run the layers op by op (``jax.disable_jit``; Flax only below
``COMPILED_FROM_STEPS`` steps, rnn_ref/adapters/_support/execution.py): the scan becomes a Python loop
over the time steps, each primitive dispatched as its own small XLA program, compiled once per
(primitive, parameters, shapes) and then cached.

One primitive defeats that cache: the loop takes step ``i`` of each scanned array with
``lax.index_in_dim``, i.e. ``lax.slice`` with explicit unit strides, and JAX compiles a static
slice program per start index (jax 0.10: ``_slice_impl`` dispatches a slice without strides as
a ``dynamic_slice``, whose start is an argument, but one with strides as a static ``slice``).
A T-step scan therefore compiles T slice programs per scanned shape, about 0.03 s each: most of
the time of a T=200 case (flax's 2-layer tanh one: 400 compiles, 15 of its 18 s). ``op_by_op``
runs such slices as JAX runs a slice without strides (unit strides and no strides are the same
slice: the same elements, bit for bit; tests/test_jax_eager.py checks both, and that the
compiles are gone). Nothing else changes: every primitive of the layers still runs, op by op,
through JAX's own dispatch. No upstream report of the per-start-index compiles was found; a
JAX without ``jax._src.lax.slicing.slice_p`` gets plain ``jax.disable_jit()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def op_by_op() -> Iterator[None]:
    """``jax.disable_jit()``, with slices of unit strides dispatched as slices without strides
    (so a scan's per-step slice compiles once per shape, not once per step). Restores JAX's
    own slice dispatch on exit."""
    import jax

    try:
        from jax._src.lax import slicing

        jax_slice = slicing.slice_p.impl
    except (ImportError, AttributeError):  # a JAX laid out otherwise: its own dispatch, slower, same results
        with jax.disable_jit():
            yield
        return

    def slice_without_unit_strides(operand: Any, start_indices: tuple[int, ...], limit_indices: tuple[int, ...],
                                   strides: tuple[int, ...] | None) -> Any:
        if strides is not None and all(stride == 1 for stride in strides):
            strides = None
        return jax_slice(operand, start_indices=start_indices, limit_indices=limit_indices, strides=strides)

    slicing.slice_p.impl = slice_without_unit_strides
    try:
        with jax.disable_jit():
            yield
    finally:
        slicing.slice_p.impl = jax_slice

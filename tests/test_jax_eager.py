"""rnn_ref.adapters._support.jax_eager.op_by_op: the op-by-op execution of the JAX engines.

It must compute exactly what ``jax.disable_jit`` alone computes, compile a scan's per-step
slice once per shape (not once per step: the point of it), and leave JAX as it found it.
Runs in the env of any JAX engine (keras-jax, flax, flax-optimized).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from rnn_ref.adapters._support.jax_eager import op_by_op

pytestmark = pytest.mark.engine

JAX_ENGINES = ("keras-jax", "flax", "flax-optimized")
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture(scope="module")
def jax(request: pytest.FixtureRequest):
    if not set(JAX_ENGINES) & set(request.config.rnn_ref_engines):
        pytest.skip(f"needs one of the JAX engines {', '.join(JAX_ENGINES)}: run its tox env or pass --engines")
    import jax

    return jax


@pytest.fixture
def compiles(jax) -> Iterator[list[str]]:
    """The XLA compiles made while the test runs, by primitive (op by op, one jit per primitive)."""
    made: list[str] = []

    def listener(event: str, duration_secs: float, **kwargs: str | int) -> None:
        if event == BACKEND_COMPILE_EVENT:
            made.append(str(kwargs.get("fun_name", "")).removeprefix("jit(").removesuffix(")"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield made
    jax.monitoring.unregister_event_duration_listener(listener)


def scan_of_steps(jax, xs):
    """A scan that keeps a running sum and emits each step's running sum, op by op a Python loop."""
    def step(carry, x):
        carry = carry + x
        return carry, carry * 2.0

    return jax.lax.scan(step, jax.numpy.zeros(xs.shape[1:], xs.dtype), xs)


def test_a_scan_compiles_its_step_slice_once_per_shape_not_once_per_step(jax, compiles):
    # a shape no other test uses, so that nothing is in JAX's cache yet
    xs = np.random.default_rng(0).standard_normal((23, 3, 7)).astype(np.float32)
    with op_by_op():
        scan_of_steps(jax, xs)
    first = len(compiles)
    with op_by_op():
        scan_of_steps(jax, xs + 1)
    assert len(compiles) == first, f"the second scan compiled again: {compiles[first:]}"
    assert compiles.count("slice") + compiles.count("dynamic_slice") <= 1, compiles


def test_jax_alone_compiles_a_slice_per_step(jax, compiles):
    """What op_by_op works around, pinned on the installed JAX: when this fails, JAX compiles a
    strided slice once per shape by itself and op_by_op can go back to jax.disable_jit alone."""
    xs = np.random.default_rng(1).standard_normal((19, 2, 5)).astype(np.float32)
    with jax.disable_jit():
        scan_of_steps(jax, xs)
    assert compiles.count("slice") >= xs.shape[0]


def test_op_by_op_computes_bit_for_bit_what_disable_jit_computes(jax):
    xs = np.random.default_rng(2).standard_normal((9, 4, 3)).astype(np.float32)
    strided = np.random.default_rng(3).standard_normal((8, 6)).astype(np.float32)
    with jax.disable_jit():
        carry, ys = scan_of_steps(jax, xs)
        every_other = jax.lax.slice(strided, (1, 0), (8, 6), (2, 3))
    with op_by_op():
        carry_here, ys_here = scan_of_steps(jax, xs)
        every_other_here = jax.lax.slice(strided, (1, 0), (8, 6), (2, 3))
    assert np.array_equal(carry, carry_here) and np.array_equal(ys, ys_here)
    assert np.array_equal(every_other, every_other_here)
    assert np.array_equal(every_other_here, strided[1:8:2, 0:6:3])


def test_jax_slice_dispatch_and_jit_are_restored_on_exit_even_after_an_error(jax):
    from jax._src.lax import slicing

    jax_slice = slicing.slice_p.impl
    with pytest.raises(RuntimeError, match="inside"), op_by_op():
        assert slicing.slice_p.impl is not jax_slice
        assert jax.config.jax_disable_jit
        raise RuntimeError("inside")
    assert slicing.slice_p.impl is jax_slice
    assert not jax.config.jax_disable_jit
    with op_by_op():
        outer = slicing.slice_p.impl
        with op_by_op():
            pass
        assert slicing.slice_p.impl is outer  # nested: the inner one restores the outer one's
    assert slicing.slice_p.impl is jax_slice


def test_a_jax_without_that_slice_primitive_runs_plain_disable_jit(jax, monkeypatch):
    """The swap reaches into jax._src; a JAX laid out otherwise must still run, op by op."""
    from jax._src.lax import slicing

    monkeypatch.delattr(slicing, "slice_p")
    with op_by_op():
        assert jax.config.jax_disable_jit
    assert not jax.config.jax_disable_jit

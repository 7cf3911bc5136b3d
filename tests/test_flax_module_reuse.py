"""The Flax adapter reuses built modules across cases, never under a holder's feet.

Building an NNX module costs about as much as running a small case, so ``FlaxAdapter.build``
sets every parameter of the module it built before for the same (spec, dtype), in either
layout, once nothing holds it.
"""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.core.compare import TOLERANCES

pytestmark = pytest.mark.engine

# the matrix's small sizes (rnn_ref.cases.matrix.SMALL), whose op-by-op programs JAX has compiled already
SPEC = RNNSpec("lstm", 3, 5, num_layers=2, bidirectional=True, layout="NTC")
X = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
LENGTHS = np.array([6, 1, 4, 3])


@pytest.fixture
def adapter(engine_or_skip):
    return engine_or_skip("flax")


def assert_matches_reference(adapter, spec, layer, params, x, lengths=None):
    tolerance = TOLERANCES[str(x.dtype)]
    result, expected = adapter.run(spec, layer, x, lengths=lengths), forward(spec, params, x, lengths=lengths)
    for got, want in ((result.output, expected.output), (result.h_n, expected.h_n), (result.c_n, expected.c_n)):
        np.testing.assert_allclose(got, want, rtol=tolerance.rtol, atol=tolerance.atol)


@pytest.mark.parametrize("engine", ["flax", "flax-optimized"])
def test_a_released_module_is_reused_with_the_new_weights(engine_or_skip, engine):
    adapter = engine_or_skip(engine)
    first = adapter.build(SPEC, Params.random(SPEC, seed=1, dtype=np.float32))
    adapter.run(SPEC, first, X, lengths=LENGTHS)
    module = id(first.module)
    del first
    gc.collect()
    params = Params.random(SPEC, seed=2, dtype=np.float32)
    second = adapter.build(SPEC, params)
    assert id(second.module) == module
    assert adapter.extract(SPEC, second).equal(adapter.mapping(SPEC).to_params(adapter.mapping(SPEC).to_native(params)))
    assert_matches_reference(adapter, SPEC, second, params, X, LENGTHS)
    fresh = type(adapter)().build(SPEC, params)  # nothing reused: a module built for these weights alone
    reused, built_anew = adapter.run(SPEC, second, X, lengths=LENGTHS), adapter.run(SPEC, fresh, X, lengths=LENGTHS)
    for name in ("output", "h_n", "c_n"):
        assert np.array_equal(getattr(reused, name), getattr(built_anew, name)), name


def test_a_held_module_keeps_its_weights_when_the_same_layer_is_built_again(adapter):
    params = Params.random(SPEC, seed=3, dtype=np.float32)
    held = adapter.build(SPEC, params)
    before = adapter.native_arrays(SPEC, held)
    other = adapter.build(SPEC, Params.random(SPEC, seed=4, dtype=np.float32))
    assert other.module is not held.module
    after = adapter.native_arrays(SPEC, held)
    assert all(np.array_equal(before[name], after[name]) for name in before)
    assert_matches_reference(adapter, SPEC, held, params, X)


def test_a_reused_module_of_a_layer_without_biases_has_its_biases_at_zero_again(adapter):
    """A holder may write a bias the rows do not cover (tests/test_flax_conventions.py does); the
    next build of that layer must not inherit it."""
    spec = dataclasses.replace(SPEC, bias=False)
    layer = adapter.build(spec, Params.random(spec, seed=5, dtype=np.float32))
    bias = layer.module.layers[0].forward_rnn.cell.hf.bias
    bias[...] = np.ones(bias.shape, np.float32)
    module = id(layer.module)
    del layer, bias
    gc.collect()
    params = Params.random(spec, seed=6, dtype=np.float32)
    layer = adapter.build(spec, params)
    assert id(layer.module) == module
    assert adapter.extract(spec, layer).equal(params)  # would raise ParamsError on a nonzero bias
    assert_matches_reference(adapter, spec, layer, params, X)


def test_float32_and_float64_modules_are_kept_apart(adapter):
    layer32 = adapter.build(SPEC, Params.random(SPEC, seed=7, dtype=np.float32))
    module32 = id(layer32.module)
    del layer32
    gc.collect()
    params = Params.random(SPEC, seed=7, dtype=np.float64)
    layer64 = adapter.build(SPEC, params)
    assert id(layer64.module) != module32
    assert_matches_reference(adapter, SPEC, layer64, params, X.astype(np.float64))


def test_a_time_major_spec_reuses_the_batch_major_module(adapter):
    """nnx.RNN takes the layout per call (time_major), so the two layouts of one layer share the
    built module, and each still runs in its own layout."""
    layer = adapter.build(SPEC, Params.random(SPEC, seed=8, dtype=np.float32))
    module = id(layer.module)
    del layer
    gc.collect()
    tnc = dataclasses.replace(SPEC, layout="TNC")
    params = Params.random(tnc, seed=9, dtype=np.float32)
    layer = adapter.build(tnc, params)
    assert id(layer.module) == module
    assert_matches_reference(adapter, tnc, layer, params, X.transpose(1, 0, 2), LENGTHS)

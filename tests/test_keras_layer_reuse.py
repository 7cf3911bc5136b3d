"""The Keras adapter reuses built layers across cases, never under a holder's feet.

Building Keras layers costs more than running a small case, so ``KerasAdapter.build`` sets new
weights into the layers it built before for the same (spec, dtype) — once nothing holds them.
"""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.core.compare import TOLERANCES

pytestmark = pytest.mark.engine

SPEC = RNNSpec("gru", 3, 4, num_layers=2, bidirectional=True, layout="NTC")
X = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)


@pytest.fixture
def adapter(engine_or_skip):
    return engine_or_skip("keras")


def keras_objects(built) -> list[int]:
    return [id(layer) for layer in built.layers]


def test_a_released_layer_is_reused_with_the_new_weights(adapter):
    first = adapter.build(SPEC, Params.random(SPEC, seed=1, dtype=np.float32))
    ids = keras_objects(first)
    del first
    gc.collect()
    params = Params.random(SPEC, seed=2, dtype=np.float32)
    second = adapter.build(SPEC, params)
    assert keras_objects(second) == ids
    assert adapter.extract(SPEC, second).equal(adapter.mapping(SPEC).to_params(adapter.mapping(SPEC).to_native(params)))
    result = adapter.run(SPEC, second, X)
    expected = forward(SPEC, params, X)
    tolerance = TOLERANCES["float32"]
    np.testing.assert_allclose(result.output, expected.output, rtol=tolerance.rtol, atol=tolerance.atol)


def test_a_held_layer_keeps_its_weights_when_the_same_layer_is_built_again(adapter):
    params = Params.random(SPEC, seed=3, dtype=np.float32)
    held = adapter.build(SPEC, params)
    before = adapter.native_arrays(SPEC, held)
    other = adapter.build(SPEC, Params.random(SPEC, seed=4, dtype=np.float32))
    assert set(keras_objects(other)).isdisjoint(keras_objects(held))
    after = adapter.native_arrays(SPEC, held)
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_a_model_made_from_a_layer_holds_it(adapter):
    layer = adapter.build(SPEC, Params.random(SPEC, seed=5, dtype=np.float32))
    ids = keras_objects(layer)
    model = adapter.model(SPEC, layer)
    del layer
    gc.collect()
    other = adapter.build(SPEC, Params.random(SPEC, seed=6, dtype=np.float32))
    assert set(keras_objects(other)).isdisjoint(ids)
    assert model is not None


def test_float32_and_float64_layers_are_kept_apart(adapter):
    layer32 = adapter.build(SPEC, Params.random(SPEC, seed=7, dtype=np.float32))
    ids32 = keras_objects(layer32)
    del layer32
    gc.collect()
    layer64 = adapter.build(SPEC, Params.random(SPEC, seed=7, dtype=np.float64))
    assert set(keras_objects(layer64)).isdisjoint(ids32)
    assert adapter.run(SPEC, layer64, X.astype(np.float64)).output.dtype == np.float64


def test_a_time_major_spec_reuses_the_batch_major_layers(adapter):
    """Keras layers are batch-major only (TNC is transposed at the boundary), so the two layouts
    of one layer share the built layers, and each still runs in its own layout."""
    layer = adapter.build(SPEC, Params.random(SPEC, seed=8, dtype=np.float32))
    ids = keras_objects(layer)
    del layer
    gc.collect()
    tnc = dataclasses.replace(SPEC, layout="TNC")
    params = Params.random(tnc, seed=9, dtype=np.float32)
    layer = adapter.build(tnc, params)
    assert keras_objects(layer) == ids
    x = X.transpose(1, 0, 2)
    tolerance = TOLERANCES["float32"]
    np.testing.assert_allclose(adapter.run(tnc, layer, x).output, forward(tnc, params, x).output,
                               rtol=tolerance.rtol, atol=tolerance.atol)

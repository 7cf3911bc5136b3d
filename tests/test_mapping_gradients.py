"""Gradients come back through the same mapping rows as weights (no framework needed).

The rule (rnn_ref/core/mapping.py): a ``copy`` row's native gradient region is the canonical
block's gradient, transposed back where the row transposes; a ``sum`` row's native region
holds b_ih + b_hh, so its gradient is the gradient of EACH summand.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, ParamsError, RNNSpec
from rnn_ref.adapters import ENGINES, adapter_object
from rnn_ref.cases.matrix import small_matrix


def specs_of(engine: str) -> list[RNNSpec]:
    adapter = adapter_object(engine)
    return sorted({c.spec for c in small_matrix() if adapter.unsupported_reason(c.spec, c.dtype, False) is None},
                  key=repr)


@pytest.mark.parametrize("registered", list(ENGINES))
def test_gradients_through_the_rows_are_the_chain_rule_of_to_native(registered):
    """For the linear loss L(native) = Σ G ⊙ native with native = to_native(params), the canonical
    gradient is exact: L(to_native(params + δ·E_k)) - L(to_native(params)) = δ·grad[k] for every
    block entry (checked all at once: the canonical gradient is the adjoint of to_native)."""
    adapter = adapter_object(registered)
    rng = np.random.default_rng(0)
    for spec in specs_of(registered):
        mapping = adapter.mapping(spec)
        native_grad = {name: rng.standard_normal(shape) for name, shape in mapping.native_shapes.items()}
        canonical = mapping.gradients_to_params(native_grad)
        params = Params.random(spec, seed=1)
        # adjointness: <G, to_native(P)> == <gradients_to_params(G), P> for any P
        native = mapping.to_native(params)
        lhs = sum(float((native_grad[name] * native[name]).sum()) for name in native)
        rhs = sum(float((canonical[key] * params[key]).sum()) for key in params)
        assert lhs == pytest.approx(rhs, rel=1e-12), spec
        # and entry by entry, for every block of the top backward unit of the 2-layer bidirectional
        # layers (every kind of row): perturbing one canonical entry moves L by exactly its gradient
        if spec.num_layers != 2 or not spec.bidirectional or spec.layout != "TNC":
            continue
        for key in [k for k in params if k.startswith("l1.bwd.")]:
            bumped = dict(params)
            bumped[key] = params[key].copy()
            bumped[key].flat[0] += 1.0
            moved = mapping.to_native(Params(spec, bumped))
            delta = sum(float((native_grad[n] * (moved[n] - native[n])).sum()) for n in native)
            assert delta == pytest.approx(canonical[key].flat[0], rel=1e-12), (spec, key)


def test_a_sum_row_gives_each_summand_the_whole_native_gradient():
    spec = RNNSpec("lstm", input_size=2, hidden_size=3)
    mapping = adapter_object("keras").mapping(spec)
    sums = [row for row in mapping.rows if row.combine == "sum"]
    assert {row.canonical for row in sums} == {(f"l0.fwd.b_ih.{g}", f"l0.fwd.b_hh.{g}") for g in "ifgo"}
    bias_gradient = np.arange(12.0)  # Keras's bias (4H,), gates i f c o
    native = {name: np.zeros(shape) for name, shape in mapping.native_shapes.items()} | {"rnn.cell.bias": bias_gradient}
    canonical = mapping.gradients_to_params(native)
    for position, gate in enumerate("ifgo"):
        expected = bias_gradient[3 * position:3 * position + 3]
        np.testing.assert_array_equal(canonical[f"l0.fwd.b_ih.{gate}"], expected)
        np.testing.assert_array_equal(canonical[f"l0.fwd.b_hh.{gate}"], expected)  # not zeros, not split


def test_a_copy_row_transposes_the_gradient_back():
    spec = RNNSpec("gru", input_size=2, hidden_size=3)
    mapping = adapter_object("keras").mapping(spec)
    kernel = np.arange(18.0).reshape(2, 9)  # (I, 3H), gates z r h
    native = {name: np.zeros(shape) for name, shape in mapping.native_shapes.items()} | {"rnn.cell.kernel": kernel}
    canonical = mapping.gradients_to_params(native)
    np.testing.assert_array_equal(canonical["l0.fwd.w_ih.z"], kernel[:, 0:3].T)
    np.testing.assert_array_equal(canonical["l0.fwd.w_ih.r"], kernel[:, 3:6].T)
    np.testing.assert_array_equal(canonical["l0.fwd.w_ih.n"], kernel[:, 6:9].T)


def test_native_gradients_with_a_missing_parameter_are_refused():
    spec = RNNSpec("lstm", input_size=2, hidden_size=3)
    mapping = adapter_object("torch").mapping(spec)
    native = {name: np.zeros(shape) for name, shape in mapping.native_shapes.items()}
    del native["bias_hh_l0"]
    with pytest.raises(ParamsError, match=r"(?s)torch parameter gradients do not match.*missing: bias_hh_l0"):
        mapping.gradients_to_params(native, "torch parameter gradients")

"""A NumPy 'engine' for tests that need a real engine in the NumPy-only env.

It runs the reference itself behind the adapter interface, with torch's parameter names, and
is registered under the name ``reference`` only inside the tests that ask for it
(``registered_reference_engine``), so that ``rnn-ref record``/``check`` can be driven end to
end without a framework.
"""

from __future__ import annotations

import pytest

from rnn_ref import backward, forward
from rnn_ref.adapters import ENGINES, EngineInfo, adapter_object
from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import EngineGradients
from rnn_ref.core.mapping import build_mapping, fused_unit_rows


class ReferenceEngine(Adapter):
    """A correct engine written before gradients existed: the reference behind the adapter
    interface, in the input's dtype, with torch's parameter names."""

    name = "reference"

    def version(self) -> str:
        return "reference 1"

    def mapping(self, spec):
        def name(layer, direction):
            return lambda kind: f"{kind}_l{layer}{'_reverse' if direction == 'bwd' else ''}"

        return build_mapping(self.name, spec, lambda layer, d: fused_unit_rows(spec, layer, d, name(layer, d)))

    def build(self, spec, params):
        return params

    def native_arrays(self, spec, layer):
        return self.mapping(spec).to_native(layer)

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return forward(spec, layer, x, initial_state, lengths, precision="input")


class DifferentiatingReferenceEngine(ReferenceEngine):
    """A correct engine, forward and gradients: its "autodiff" is the reference backward, in the
    input's dtype; native parameter gradients go back through its torch-style rows."""

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents):
        grads = backward(spec, layer, x, initial_state, lengths, grad_output=cotangents.output,
                         grad_h_n=cotangents.h_n, grad_c_n=cotangents.c_n, precision="input")
        given = initial_state is not None
        return EngineGradients(grads.x, grads.h0 if given else None, grads.c0 if given else None,
                               self.mapping(spec).to_native(grads.params))


class RecordableReferenceEngine(ReferenceEngine):
    """The engine ``rnn-ref record`` runs in these tests: one declared limit, so that a recording
    has cases it does not record (with the reason)."""

    limits = ("reset_before is not run by this test engine",)

    def unsupported_reason(self, spec, dtype, with_lengths):
        return self.limits[0] if spec.gru_variant == "reset_before" else None


@pytest.fixture(scope="module")
def registered_reference_engine():
    """Register the ``reference`` engine for the tests of one module."""
    info = EngineInfo("reference", "reference_engine:RecordableReferenceEngine", "numpy", "the NumPy reference, for tests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ENGINES, "reference", info)
        adapter_object.cache_clear()
        yield "reference"
    adapter_object.cache_clear()

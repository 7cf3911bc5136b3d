"""What the engine convention tests assert of a gradient run: its forward is ``run``'s, bit for bit."""

from __future__ import annotations

import numpy as np

from rnn_ref.cases.cotangents import EngineGradients, case_cotangents


def assert_gradient_run_computes_the_plain_forward(adapter, case) -> EngineGradients:
    """Run ``case`` plainly and differentiated on ``adapter``; the differentiated run's forward
    (``EngineGradients.output``) must equal ``run``'s bit for bit. Returns the gradients."""
    data = case.data()
    layer = adapter.build(case.spec, data.params)
    plain = adapter.run(case.spec, layer, data.x, data.initial_state, data.lengths)
    differentiated = adapter.run_gradients(case.spec, layer, data.x, data.initial_state, data.lengths,
                                           case_cotangents(case))
    for name in ("output", "h_n", "c_n"):
        np.testing.assert_array_equal(getattr(differentiated.output, name), getattr(plain, name), err_msg=name)
    assert list(differentiated.native) == list(adapter.native_arrays(case.spec, layer))
    return differentiated

"""The gradients of the Flax NNX layers: ``jax.vjp`` of the module's pure call.

``nnx.split`` separates the module into its graph definition and its state; the function
differentiated merges them again (``nnx.merge``, as ``nnx.grad`` does) with the ``nnx.Param``
state, x and the given initial states as its inputs, and runs the very levels ``run`` runs
(``FlaxAdapter.forward``: ``nnx.RNN`` / ``nnx.Bidirectional``, ``seq_lengths`` included, zeros
written at padded steps), executed as ``run`` executes them (``FlaxAdapter.execution``: op by
op below ``COMPILED_FROM_STEPS`` steps, Flax's compiled scan from there on). So the run's
forward result is ``run``'s, bit for bit (tests/test_flax_conventions.py), and comes back as
``EngineGradients.output``. The rest of the state (the cells' ``Rngs``, which ``nnx.RNN``
draws from when it makes a zero initial carry) goes in as an input too: NNX refuses to update
a variable of the outer trace from inside the differentiated one.

The parameter gradients are keyed by the flattened NNX paths, as ``native_arrays`` keys the
weights. A layer without biases holds its biases at zero outside the mapping rows; their
gradients are left out with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State, present

if TYPE_CHECKING:
    from rnn_ref.adapters.flax.nnx import FlaxAdapter, FlaxLayers


def flat_arrays(nnx: Any, state: Any) -> dict[str, np.ndarray]:
    """An NNX state (of Variables or of plain arrays) as NumPy arrays keyed by dotted paths."""
    return {".".join(map(str, path)): np.asarray(leaf.get_value() if hasattr(leaf, "get_value") else leaf)
            for path, leaf in nnx.to_flat_state(state)}


def nnx_gradients(adapter: FlaxAdapter, spec: RNNSpec, layer: FlaxLayers, x: np.ndarray,
                  initial_state: State | None, lengths: np.ndarray | None,
                  cotangents: Cotangents) -> EngineGradients:
    """The gradients of ``sum(cot · result)`` w.r.t. x, the given states and every native parameter."""
    from rnn_ref.adapters.flax.nnx import import_flax

    jax, nnx = import_flax()
    jnp = jax.numpy
    graphdef, params, rest = nnx.split(layer.module, nnx.Param, ...)
    states = []
    if initial_state is not None:
        states = [initial_state.h] + ([present(initial_state.c, "c0")] if spec.has_cell_state else [])
    given = [cotangents.output, cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])

    def pure(seq: Any, states: list, params: Any, rest: Any) -> tuple:
        module = nnx.merge(graphdef, params, rest)
        h0, c0 = [*states, None, None][:2]
        output, h_n, c_n = adapter.forward(spec, module, seq, h0, c0, lengths)
        return (output, h_n) if c_n is None else (output, h_n, c_n)

    with adapter.execution(x.shape[0 if spec.layout == "TNC" else 1]):
        primals, pullback = jax.vjp(pure, jnp.asarray(x), [jnp.asarray(s) for s in states], params, rest)
        d_x, d_states, d_params, _ = pullback(tuple(jnp.asarray(g) for g in given))
    native = flat_arrays(nnx, d_params)
    output, h_n, *c_n = (np.asarray(t) for t in primals)
    return EngineGradients(
        x=np.asarray(d_x),
        h0=np.asarray(d_states[0]) if states else None,
        c0=np.asarray(d_states[1]) if len(states) > 1 else None,
        native={name: native[name] for name in adapter.mapping(spec).native_shapes},
        output=RNNOutput(output, h_n, c_n[0] if c_n else None),
    )

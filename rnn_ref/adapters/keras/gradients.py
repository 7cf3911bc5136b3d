"""The gradients of the Keras layers, taken with ``tf.GradientTape`` (Keras on TensorFlow only).

x and the given initial states are watched constants, the weights are the cells' variables (in
``get_weights`` order, i.e. the native names' order). The tape records the ops ``run``
executes (eagerly, or in the same kind of ``tf.function`` for long sequences:
``KerasAdapter.compiled``), so the forward result comes back too (``EngineGradients.output``,
bit for bit ``run``'s: tests/test_keras_conventions.py), for an adapter that declares
``runs_the_differentiated_layers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_ref.adapters.keras.importing import quiet_import_keras
from rnn_ref.adapters.keras.structure import KerasLayers
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import State

if TYPE_CHECKING:
    from rnn_ref.adapters.keras.layers import KerasAdapter


def tape_gradients(adapter: KerasAdapter, spec: RNNSpec, layer: KerasLayers, x: np.ndarray,
                   initial_state: State | None, lengths: np.ndarray | None,
                   cotangents: Cotangents) -> EngineGradients:
    """The gradients of ``sum(cot · result)`` of ``adapter``'s layers w.r.t. x, the given states
    and every weight, computed once per distinct input (``adapter``'s gradient run memo)."""
    quiet_import_keras()
    import tensorflow as tf

    def batch_major(array: np.ndarray) -> np.ndarray:
        return array if spec.layout == "NTC" else array.transpose(1, 0, 2)

    seq = np.ascontiguousarray(batch_major(x))
    states = [] if initial_state is None else [s for s in initial_state if s is not None]
    given = [batch_major(cotangents.output), cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])
    given = [np.ascontiguousarray(g) for g in given]
    variables = [w for cell in layer.cells() for w in cell.weights]

    def differentiate(seq: Any, states: list, given: list) -> tuple[tuple[Any, Any, Any], list]:
        with tf.GradientTape() as tape:
            tape.watch([seq, *states])
            forward = adapter.forward_tensors(spec, layer, seq, states or None, lengths)
        targets = [t for t in forward if t is not None]  # output, h_n (and c_n)
        grads = tape.gradient(targets, [seq, *states, *variables], output_gradients=given,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return forward, grads

    def run_tape() -> tuple:
        constants = [tf.constant(seq), [tf.constant(s) for s in states], [tf.constant(g) for g in given]]
        return adapter.as_numpy(adapter.compiled(differentiate, seq.shape[1])(*constants))

    # Keras runs only inputs unlike those of a recent run (a TNC case's NTC twin)
    (output, h_n, c_n), grads = adapter._gradient_runs.computed(
        adapter.memo_key("gradients", spec, layer, seq, states, lengths, given), run_tape)
    dx, *rest = grads
    d_states, d_weights = rest[:len(states)], rest[len(states):]
    names = list(adapter.mapping(spec).native_shapes)
    return EngineGradients(
        x=np.ascontiguousarray(batch_major(dx)),
        h0=d_states[0] if states else None,
        c0=d_states[1] if len(states) > 1 else None,
        native=dict(zip(names, d_weights, strict=True)),
        # a subclass that runs something else than these layers (a converted file) must not pass
        # the Keras forward off as its own
        output=adapter.numpy_output(spec, output, h_n, c_n) if adapter.runs_the_differentiated_layers else None,
    )

"""The gradients of the Keras layers, taken by the autodiff of the backend Keras runs on.

* TensorFlow (``keras``): ``tf.GradientTape``, x and the given initial states watched, the
  weights the cells' variables;
* JAX (``keras-jax``): ``jax.vjp`` of the layers' stateless call — the same layers called
  inside ``keras.StatelessScope``, which hands each variable's value in as an argument (what
  ``Layer.stateless_call`` does), so x, the states and every variable's value are the
  function's inputs;
* PyTorch (``keras-torch``): ``torch.autograd.grad`` of the layers' outputs with respect to x,
  the states (tensors that require grad) and the cells' variables, which are
  ``torch.nn.Parameter``s on this backend.

The options are ops of the same differentiated call (``KerasAdapter.forward_tensors``): the
activations the cells name, ``Bidirectional``'s merge, and the flip that puts a
``go_backwards`` layer's output back in time order (on JAX also the zeros at its padded
steps), so what the forward runs is what the gradients differentiate.

The weights come back in ``get_weights`` order (the native names' order). Each differentiated
run executes the layers as ``run`` does (``KerasAdapter.execution`` and ``compiled``: eagerly,
op by op on JAX, one ``tf.function`` for long sequences on TensorFlow), so its forward result
comes back too (``EngineGradients.output``, bit for bit ``run``'s on every backend:
tests/test_keras_conventions.py and tests/test_keras_backends.py) for an adapter that declares
``runs_the_differentiated_layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_ref.adapters.keras.structure import KerasLayers
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import State

if TYPE_CHECKING:
    from rnn_ref.adapters.keras.layers import KerasAdapter

#: (adapter, spec, layers, batch-major x, states, lengths, cotangents, variables) ->
#: ((output, h_n, c_n or None), [dx, *d_states, *d_variables]), all NumPy
Differentiator = Callable[..., tuple[tuple, list]]


def tape(adapter: KerasAdapter, spec: RNNSpec, layer: KerasLayers, seq: np.ndarray, states: list[np.ndarray],
         lengths: np.ndarray | None, given: list[np.ndarray], variables: list[Any]) -> tuple[tuple, list]:
    """``tf.GradientTape`` around the layers (eagerly, or in one ``tf.function``: ``compiled``)."""
    import tensorflow as tf

    def differentiate(seq: Any, states: list, given: list) -> tuple[tuple[Any, Any, Any], list]:
        with tf.GradientTape() as recorded:
            recorded.watch([seq, *states])
            forward = adapter.forward_tensors(spec, layer, seq, states or None, lengths)
        targets = [t for t in forward if t is not None]  # output, h_n (and c_n)
        grads = recorded.gradient(targets, [seq, *states, *variables], output_gradients=given,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return forward, grads

    constants = [tf.constant(seq), [tf.constant(s) for s in states], [tf.constant(g) for g in given]]
    with adapter.execution():
        return adapter.as_numpy(adapter.compiled(differentiate, seq.shape[1])(*constants))


def vjp(adapter: KerasAdapter, spec: RNNSpec, layer: KerasLayers, seq: np.ndarray, states: list[np.ndarray],
        lengths: np.ndarray | None, given: list[np.ndarray], variables: list[Any]) -> tuple[tuple, list]:
    """``jax.vjp`` of the layers' stateless call (the variables' values as inputs), run as ``run``
    runs the layers (``execution``: op by op)."""
    import jax
    import jax.numpy as jnp

    keras = adapter.keras()

    def stateless(seq: Any, states: list, values: list) -> tuple:
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            forward = adapter.forward_tensors(spec, layer, seq, states or None, lengths)
        return tuple(t for t in forward if t is not None)

    with adapter.execution():
        primals, pullback = jax.vjp(stateless, jnp.asarray(seq), [jnp.asarray(s) for s in states],
                                    [variable.value for variable in variables])
        d_seq, d_states, d_values = pullback(tuple(jnp.asarray(g) for g in given))
    output, h_n, *c_n = primals
    return adapter.as_numpy((output, h_n, c_n[0] if c_n else None)), adapter.as_numpy([d_seq, *d_states, *d_values])


def autograd(adapter: KerasAdapter, spec: RNNSpec, layer: KerasLayers, seq: np.ndarray, states: list[np.ndarray],
             lengths: np.ndarray | None, given: list[np.ndarray], variables: list[Any]) -> tuple[tuple, list]:
    """``torch.autograd.grad`` of the layers' outputs (x and the states leaves that require grad;
    the variables are the backend's ``torch.nn.Parameter``s)."""
    import torch

    leaves = [torch.tensor(array, requires_grad=True) for array in (seq, *states)]
    with adapter.execution():
        forward = adapter.forward_tensors(spec, layer, leaves[0], leaves[1:] or None, lengths)
    targets = [t for t in forward if t is not None]
    inputs = [*leaves, *(variable.value for variable in variables)]
    grads = torch.autograd.grad(targets, inputs, grad_outputs=[torch.as_tensor(g) for g in given], allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]  # unconnected: 0
    return adapter.as_numpy(tuple(t.detach() if t is not None else None for t in forward)), \
        [g.detach().numpy() for g in grads]


#: backend -> how its autodiff differentiates the layers
DIFFERENTIATORS: dict[str, Differentiator] = {"tensorflow": tape, "jax": vjp, "torch": autograd}


def keras_gradients(adapter: KerasAdapter, spec: RNNSpec, layer: KerasLayers, x: np.ndarray,
                    initial_state: State | None, lengths: np.ndarray | None,
                    cotangents: Cotangents) -> EngineGradients:
    """The gradients of ``sum(cot · result)`` of ``adapter``'s layers w.r.t. x, the given states
    and every weight, by the backend's autodiff, computed once per distinct input (``adapter``'s
    gradient run memo)."""
    adapter.keras()  # imported, on this engine's backend

    def batch_major(array: np.ndarray) -> np.ndarray:
        return array if spec.layout == "NTC" else array.transpose(1, 0, 2)

    seq = np.ascontiguousarray(batch_major(x))
    states = [] if initial_state is None else [np.ascontiguousarray(s) for s in initial_state if s is not None]
    given = [batch_major(cotangents.output), cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])
    given = [np.ascontiguousarray(g) for g in given]
    variables = [w for cell in layer.cells() for w in cell.weights]
    differentiate = DIFFERENTIATORS[adapter.backend]

    # Keras runs only inputs unlike those of a recent run (a TNC case's NTC twin)
    (output, h_n, c_n), grads = adapter._gradient_runs.computed(
        adapter.memo_key("gradients", spec, layer, seq, states, lengths, given),
        lambda: differentiate(adapter, spec, layer, seq, states, lengths, given, variables))
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

"""MXNet Gluon 1.9.1's unfused cells, unrolled by Gluon itself (engine ``gluon-cell``).

``mx.gluon.rnn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` (and ``mx.gluon.contrib.rnn.LSTMPCell``
for projection) compute one step of one direction of one layer. The adapter stacks them the
way Gluon's own ``_unfuse()`` does: a ``SequentialRNNCell`` holding, per layer, the cell or a
``BidirectionalCell(forward, backward)``, and lets ``unroll(..., valid_length=...)`` do the
time loop, the reversal of the backward direction and the masking. Checking it next to the
fused engine shows that both code paths of Gluon agree with the reference.

Conventions (all visible in the mapping rows):

* The cells are prefixed ``l{k}_`` (forward) and ``r{k}_`` (backward), so their structural
  names are the fused layer's exactly: ``l0_i2h_weight``, ``r1_h2h_bias``, ``l0_h2r_weight``.
  Same gate order as the fused layer (LSTM ``i f g o``, GRU ``r z n``, reset_after), two
  biases with no option to leave them out. ``RNNCell``'s default activation is tanh (the
  fused ``RNN``'s is relu); the adapter passes it anyway.
* ``unroll`` takes and returns the states flat, one list entry per tensor of shape (N, ·):
  ``[l0.fwd h, l0.fwd c, l0.bwd h, l0.bwd c, l1.fwd h, …]`` (no c for RNN and GRU).
  Default begin states are float32 whatever the parameters' dtype, so the adapter always
  passes them in the case's dtype.
* With ``valid_length``, padded steps of the output are exactly zero (PADDED_ZEROS) and the
  final states are those after the last valid step (backward: after step 0).
* Cells have no dtype argument: the stack is cast before it is initialized.
* Options (design section 2a): RNNCell's ``activation``, LSTMCell's ``activation`` (g and h)
  and ``recurrent_activation`` (f) run the activations they take; every other option is a
  limit (rnn_ref/adapters/mxnet/options.py).

Gluon bug worked around at the adapter boundary: in ``NTC`` layout with ``valid_length``, a
``BidirectionalCell`` below the top of a ``SequentialRNNCell`` (so ``num_layers`` ≥ 2, where
``SequentialRNNCell`` passes ``merge_outputs=None``) stacks its backward outputs twice, which
transposes them to (T, N, H), and ``unroll`` fails with ``concat``'s "Incompatible input
shape". In ``TNC`` the second stack happens to be the identity, so for exactly those cases
the adapter hands Gluon the input as TNC and transposes the output back (their test ids say
``NTC-transposed``). No upstream report found (mxnet 1.9.1).

mxnet is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import PADDED_ZEROS, Adapter
from rnn_ref.adapters.mxnet.fused import (
    GRU_RESET_BEFORE,
    autograd_gradients,
    gluon_mapping,
    import_mxnet,
    initialized_with,
    structural_arrays,
)
from rnn_ref.adapters.mxnet.options import ACT_TYPES, CELL_OPTION_LIMITS
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import NO_BIAS, RESET_BEFORE, Limit
from rnn_ref.cases.matrix import Case
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State, present

CELL_NO_BIAS = (
    "mx.gluon.rnn cells always have i2h_bias and h2h_bias; there is no option to leave them "
    "out (bias=False)"
)
CELL_RESET_BEFORE = GRU_RESET_BEFORE.replace("mx.gluon.rnn.GRU", "mx.gluon.rnn.GRUCell")


def cell_prefix(layer: int, direction: str) -> str:
    """``l0_`` / ``r0_``: the prefix that gives a cell the fused layer's parameter names."""
    return f"{'r' if direction == 'bwd' else 'l'}{layer}_"


def needs_tnc_workaround(spec: RNNSpec, with_lengths: bool) -> bool:
    """True where Gluon's BidirectionalCell fails in NTC (see the module docstring)."""
    return spec.layout == "NTC" and with_lengths and spec.bidirectional and spec.num_layers > 1


class GluonCellAdapter(Adapter):
    """``SequentialRNNCell`` of ``RNNCell`` / ``LSTMCell`` / ``LSTMPCell`` / ``GRUCell``."""

    name = "gluon-cell"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(CELL_NO_BIAS, NO_BIAS),
        Limit(CELL_RESET_BEFORE, RESET_BEFORE),
        *CELL_OPTION_LIMITS,
    )

    def version(self) -> str:
        return import_mxnet().__version__

    def padded_steps(self, spec: RNNSpec) -> str:
        return PADDED_ZEROS

    def case_label(self, case: Case) -> str:
        if needs_tnc_workaround(case.spec, case.with_lengths):
            return case.id.replace("-NTC-", "-NTC-transposed-")
        return case.id

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return gluon_mapping(self.name, spec)

    def build(self, spec: RNNSpec, params: Params) -> Any:
        rnn = import_mxnet().gluon.rnn
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        stack = rnn.SequentialRNNCell()
        with stack.name_scope():
            for layer in range(spec.num_layers):
                cells = [make_cell(spec, layer, direction) for direction in spec.directions]
                stack.add(rnn.BidirectionalCell(*cells) if spec.bidirectional else cells[0])
        stack.cast(str(params.dtype))
        return initialized_with(stack, self.mapping(spec).to_native(params))

    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        return structural_arrays(layer)

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        mx = import_mxnet()
        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        output, final = self.unroll(spec, layer, mx.nd.array(x, dtype=x.dtype),
                                    self.begin_state(spec, layer, initial_state, x), lengths)
        per_unit = 2 if spec.has_cell_state else 1
        return RNNOutput(
            np.ascontiguousarray(output.asnumpy()),
            np.stack([state.asnumpy() for state in final[0::per_unit]]),
            np.stack([state.asnumpy() for state in final[1::per_unit]]) if spec.has_cell_state else None,
        )

    def begin_state(self, spec: RNNSpec, layer: Any, initial_state: State | None, x: np.ndarray) -> list[Any]:
        batch = x.shape[1 if spec.layout == "TNC" else 0]
        return flat_begin_state(spec, layer, initial_state, batch, x.dtype)

    def unroll(self, spec: RNNSpec, layer: Any, inputs: Any, begin_state: list[Any],
               lengths: np.ndarray | None) -> tuple[Any, list[Any]]:
        """``layer.unroll`` on an NDArray in ``spec.layout``: (output in spec.layout, flat final states)."""
        mx = import_mxnet()
        transposed = needs_tnc_workaround(spec, lengths is not None)
        layout = "TNC" if transposed else spec.layout
        data = inputs.transpose((1, 0, 2)) if transposed else inputs
        steps = data.shape[layout.index("T")]
        output, final = layer.unroll(
            steps,
            data,
            begin_state=begin_state,
            layout=layout,
            merge_outputs=True,
            valid_length=None if lengths is None else mx.nd.array(lengths, dtype="int32"),
        )
        return (output.transpose((1, 0, 2)) if transposed else output), final

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents: Cotangents) -> EngineGradients:
        """mx.autograd.record() around Gluon's own unroll, then mx.autograd.backward."""
        mx = import_mxnet()
        self.check_gradient_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        inputs = mx.nd.array(x, dtype=x.dtype)
        flat = self.begin_state(spec, layer, initial_state, x)
        inputs.attach_grad()
        if initial_state is not None:
            for state in flat:
                state.attach_grad()
        with mx.autograd.record():
            output, final = self.unroll(spec, layer, inputs, flat, lengths)
            per_unit = 2 if spec.has_cell_state else 1
            heads = [output, mx.nd.stack(*final[0::per_unit])]
            if spec.has_cell_state:
                heads.append(mx.nd.stack(*final[1::per_unit]))
        result = autograd_gradients(spec, layer, [inputs], heads, cotangents)
        if initial_state is None:
            return result
        per_unit = 2 if spec.has_cell_state else 1
        grads = [state.grad.asnumpy() for state in flat]
        return EngineGradients(
            x=result.x, h0=np.stack(grads[0::per_unit]),
            c0=np.stack(grads[1::per_unit]) if spec.has_cell_state else None, native=result.native,
        )


def make_cell(spec: RNNSpec, layer: int, direction: str) -> Any:
    """One cell of one (layer, direction), named like the fused layer's parameters."""
    gluon = import_mxnet().gluon
    common = dict(input_size=spec.layer_input_size(layer), prefix=cell_prefix(layer, direction))
    if spec.mode == "lstm" and spec.proj_size:
        return gluon.contrib.rnn.LSTMPCell(spec.hidden_size, spec.proj_size, **common)
    acts = [ACT_TYPES[activation.name] for activation in spec.resolved_activations]
    if spec.mode == "lstm":  # ONNX's (f, g, h), g == h: recurrent_activation f, activation g and h
        return gluon.rnn.LSTMCell(spec.hidden_size, recurrent_activation=acts[0], activation=acts[1], **common)
    if spec.mode == "gru":
        return gluon.rnn.GRUCell(spec.hidden_size, **common)
    return gluon.rnn.RNNCell(spec.hidden_size, activation=acts[0], **common)


def flat_begin_state(spec: RNNSpec, stack: Any, initial_state: State | None, batch: int, dtype: np.dtype) -> list[Any]:
    """Canonical (h0, c0) -> the flat list ``unroll`` takes: per unit h (and c), each (N, ·)."""
    mx = import_mxnet()
    if initial_state is None:  # Gluon's default would be float32 even for float64 cells
        return stack.begin_state(batch_size=batch, dtype=np.dtype(dtype).name)
    tensors = []
    for unit in range(spec.num_layers * spec.num_directions):
        tensors.append(initial_state.h[unit])
        if spec.has_cell_state:
            tensors.append(present(initial_state.c, "c0")[unit])
    return [mx.nd.array(np.ascontiguousarray(tensor), dtype=tensor.dtype) for tensor in tensors]

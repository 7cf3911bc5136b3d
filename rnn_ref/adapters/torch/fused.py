"""PyTorch: the fused ``torch.nn.RNN/LSTM/GRU`` (engine ``torch``).

Conventions (all visible in the mapping rows):

* One matrix per kind and layer, gates stacked along rows: ``weight_ih_l{k}`` (G·H, I_k),
  ``weight_hh_l{k}`` (G·H, R), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,); the backward
  direction adds ``_reverse``; projection is ``weight_hr_l{k}`` (P, H).
* Gate order LSTM ``i f g o``, GRU ``r z n`` (the canonical order); GRU is reset_after only.
* Two biases, like the canonical form. ``batch_first=True`` is the NTC layout; it does not
  change the states.
* States: ``h_0`` (L·D, N, R) and, for LSTM, ``c_0`` (L·D, N, H), passed as ``hx=(h_0, c_0)``,
  ordered l0 forward, l0 backward, l1 forward, ... — the canonical order.
* Per-sample lengths go through ``pack_padded_sequence(enforce_sorted=False)``;
  ``pad_packed_sequence`` writes zeros at padded steps; final states are taken after each
  sample's last valid step (backward: after step 0).
* float32 LSTM on CPU runs on oneDNN, float64 (and float32 with projection) on the generic
  kernel: the matrix checks both.
* Options (design section 2a): none but RNN's ``nonlinearity``, ``'tanh'`` or ``'relu'``, which
  is the mode; a spec that names its RNN activation (``activations=("Relu",)``, whatever its
  mode) runs with that nonlinearity, the same layer as the mode of that name. Every other
  option is one limit, ``NO_OPTIONS`` (the cells, engine ``torch-cell``, have the same).

torch is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import RESET_BEFORE, Limit, options_but_rnn_activation
from rnn_ref.core.mapping import WeightMapping, build_mapping, fused_unit_rows
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State

GRU_RESET_BEFORE = (
    "torch.nn.GRU applies the reset gate after the recurrent matmul (reset_after); it has no "
    "option for reset_before (Keras reset_after=False, ONNX linear_before_reset=0)"
)

NO_OPTIONS = (
    "torch.nn.LSTM, GRU and RNN (and LSTMCell, GRUCell, RNNCell) have none of these options: their only choice is "
    "RNN's nonlinearity ('tanh' or 'relu', the modes rnn_tanh and rnn_relu); the gates' σ and tanh are fixed, and "
    "there is no cell clip, no peephole, no coupled input and forget gates, no reverse-only direction and no merge "
    "mode (a bidirectional layer concatenates its directions' outputs)"
)
#: The RNN activations torch has, as ``nonlinearity``: ONNX's name -> torch's.
NONLINEARITIES = {"Tanh": "tanh", "Relu": "relu"}
#: A layer using an option other than a plain RNN's activation among ``NONLINEARITIES``.
OPTIONS_BUT_NONLINEARITY = options_but_rnn_activation(NONLINEARITIES, "RNN's nonlinearity")


def nonlinearity(spec: RNNSpec) -> str:
    """torch's ``nonlinearity`` of a plain RNN: its activation (the mode's, or the one the spec names)."""
    return NONLINEARITIES[spec.resolved_activations[0].name]


def torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


class TorchAdapter(Adapter):
    """``torch.nn.RNN`` / ``LSTM`` / ``GRU``."""

    name = "torch"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(NO_OPTIONS, OPTIONS_BUT_NONLINEARITY, label="options (only RNN's `nonlinearity`)"),
    )

    def version(self) -> str:
        import torch

        return torch.__version__

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        def unit(layer: int, direction: str):
            suffix = "_reverse" if direction == "bwd" else ""
            return fused_unit_rows(spec, layer, direction, lambda kind: f"{kind}_l{layer}{suffix}")

        return build_mapping(self.name, spec, unit)

    def build(self, spec: RNNSpec, params: Params) -> Any:
        import torch

        self.check_supported(spec, str(params.dtype), with_lengths=False)
        common = dict(
            input_size=spec.input_size,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            bias=spec.bias,
            batch_first=spec.layout == "NTC",
            bidirectional=spec.bidirectional,
            dtype=torch_dtype(params.dtype),
        )
        if spec.mode == "lstm":
            layer = torch.nn.LSTM(proj_size=spec.proj_size, **common)
        elif spec.mode == "gru":
            layer = torch.nn.GRU(**common)
        else:
            layer = torch.nn.RNN(nonlinearity=nonlinearity(spec), **common)
        load_state(layer, self.mapping(spec).to_native(params))
        return layer.eval()

    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        return {name: tensor.detach().cpu().numpy().copy() for name, tensor in layer.state_dict().items()}

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        import torch

        with torch.no_grad():
            output, h_n, c_n = run_fused(spec, layer, torch.from_numpy(np.ascontiguousarray(x)),
                                         to_torch_state(spec, initial_state), lengths)
        return RNNOutput(output.numpy(), h_n.numpy(), None if c_n is None else c_n.numpy())

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents: Cotangents) -> EngineGradients:
        """torch.autograd through the fused kernel (packed sequences when there are lengths)."""
        import torch

        inputs = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        states = [] if initial_state is None else [torch.from_numpy(np.ascontiguousarray(s)).requires_grad_()
                                                   for s in initial_state if s is not None]
        hx = None if not states else (tuple(states) if spec.has_cell_state else states[0])
        with torch.enable_grad():
            output, h_n, c_n = run_fused(spec, layer, inputs, hx, lengths)
        return autograd_gradients(spec, layer, inputs, states, (output, h_n, c_n), cotangents)


def run_fused(spec: RNNSpec, layer: Any, inputs: Any, hx: Any, lengths: np.ndarray | None) -> tuple:
    """The fused layer on a tensor: (output, h_n, c_n or None), lengths through packed sequences."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    batch_first = spec.layout == "NTC"
    with warnings.catch_warnings():
        # float32 LSTM with proj_size leaves oneDNN for the generic kernel and says so; the
        # matrix checks both kernels, so the notice is not news.
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        if lengths is None:
            output, final = layer(inputs, hx)
        else:
            packed = pack_padded_sequence(
                inputs, torch.as_tensor(lengths, dtype=torch.int64), batch_first, enforce_sorted=False
            )
            packed_output, final = layer(packed, hx)
            steps = inputs.shape[1 if batch_first else 0]
            output, _ = pad_packed_sequence(packed_output, batch_first, total_length=steps)
    h_n, c_n = final if spec.has_cell_state else (final, None)
    return output, h_n, c_n


def autograd_gradients(spec: RNNSpec, module: Any, inputs: Any, states: list, results: tuple,
                       cotangents: Cotangents) -> EngineGradients:
    """torch.autograd.grad of sum(cot · result) w.r.t. the inputs, the given states and every parameter."""
    import torch

    output, h_n, c_n = results
    targets = [output, h_n] + ([c_n] if spec.has_cell_state else [])
    given = [cotangents.output, cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])
    parameters = dict(module.named_parameters())
    grads = torch.autograd.grad(targets, [inputs, *states, *parameters.values()],
                                [torch.from_numpy(np.ascontiguousarray(g)) for g in given], allow_unused=True)

    def numpy_of(grad: Any, like: Any) -> np.ndarray:  # an unused input's gradient is zero
        return np.zeros(tuple(like.shape), np.dtype(str(like.dtype).removeprefix("torch."))) if grad is None \
            else grad.numpy()

    dx, *rest = grads
    d_states, d_params = rest[:len(states)], rest[len(states):]
    return EngineGradients(
        x=numpy_of(dx, inputs),
        h0=numpy_of(d_states[0], states[0]) if states else None,
        c0=numpy_of(d_states[1], states[1]) if len(states) > 1 else None,
        native={name: numpy_of(g, p) for (name, p), g in zip(parameters.items(), d_params, strict=True)},
    )


def load_state(module: Any, arrays: dict[str, np.ndarray]) -> None:
    """Copy NumPy arrays into a module's parameters by state_dict name (strict: names must match)."""
    import torch

    module.load_state_dict({name: torch.from_numpy(array) for name, array in arrays.items()}, strict=True)


def to_torch_state(spec: RNNSpec, initial_state: State | None) -> Any:
    """Canonical (h0, c0) -> torch's ``hx``: ``h0`` or the tuple ``(h0, c0)``, both (L·D, N, ·)."""
    import torch

    if initial_state is None:
        return None
    h0 = torch.from_numpy(np.ascontiguousarray(initial_state.h))
    if spec.has_cell_state:
        return h0, torch.from_numpy(np.ascontiguousarray(initial_state.c))
    return h0

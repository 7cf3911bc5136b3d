"""PaddlePaddle: the fused ``paddle.nn.SimpleRNN / LSTM / GRU`` (engine ``paddle``).

Conventions (all visible in the mapping rows):

* Parameters are named by structure: per layer k, ``{k}.cell.weight_ih`` (G·H, I_k),
  ``{k}.cell.weight_hh`` (G·H, R), ``{k}.cell.bias_ih``, ``{k}.cell.bias_hh`` (G·H,); a
  bidirectional layer has ``{k}.cell_fw.…`` and ``{k}.cell_bw.…``; LSTM projection is
  ``{k}.cell….weight_ho`` (H, P): the canonical ``w_proj`` transposed (the cell computes
  ``h @ weight_ho``). ``state_dict()`` also holds torch's flat names (``weight_ih_l0``,
  ``…_reverse``), sharing storage with the structural ones; with ``proj_size`` those flat
  names are handed out four per unit to five parameters per unit, so past the first unit they
  name the wrong arrays (tests/test_paddle_conventions.py): the rows use the structural names.
* Gates are stacked along rows in torch's (the canonical) order: LSTM ``i f g o``, GRU
  ``r z n`` with the reset gate applied after the recurrent matmul (reset_after only).
* ``time_major=True`` is TNC, ``False`` NTC; the states are (L·D, N, ·) in the canonical order
  either way, passed as ``initial_states=h`` or ``(h, c)``; ``direction='bidirect'``.
* Per-sample lengths: ``sequence_length`` (int64, (N,)). The fused kernel writes zeros at padded steps;
  LSTM projection runs paddle's per-step loop instead (``could_use_cudnn`` is False with five
  parameters per unit), which holds the states there but does not mask the output: each padded
  step holds the cell's output from the held state and that step's input. The adapter writes zeros
  there (PADDED_ZEROS); tests/test_paddle_conventions.py pins paddle's own values.
* Gradients: ``paddle.grad`` with the layer in training mode (the kernel keeps what its backward
  needs only then; dropout is 0, so the numbers are the same).
* float64: the layer is built under ``paddle.set_default_dtype('float64')``.

Limits and defects of paddlepaddle 3.3.1 on CPU (``PADDLE_LIMITS``, ``PADDLE_DEFECTS``), each
reproduced by tests/test_paddle_conventions.py.

paddle is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import Adapter
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import (
    BIDIRECTIONAL,
    INITIAL_STATE,
    LENGTHS,
    NO_BIAS,
    PROJECTION,
    RESET_BEFORE,
    Defect,
    Limit,
    options_but_rnn_activation,
)
from rnn_ref.core.mapping import MappingRow, WeightMapping, build_mapping, fused_unit_rows
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State

GRU_RESET_BEFORE = (
    "paddle.nn.GRU applies the reset gate after the recurrent matmul (reset_after); it has no option for "
    "reset_before (Keras reset_after=False, ONNX linear_before_reset=0)"
)
NO_BIAS_SEGFAULT = (
    "observed on paddlepaddle 3.3.1 CPU: a SimpleRNN, LSTM or GRU built with bias_ih_attr=False or "
    "bias_hh_attr=False dies of a segmentation fault at its first forward call (phi::RnnKernel), so it cannot be "
    "run in the test process (PaddlePaddle/Paddle#70231, open: 'LSTM禁用偏置项，就会导致程序无法运行'; reproduction, "
    "in a subprocess: tests/test_paddle_conventions.py::test_a_layer_without_bias_segfaults_at_forward)"
)
NO_OPTIONS = (
    "paddle.nn.SimpleRNN, LSTM and GRU have none of these options: their only choice is SimpleRNN's activation "
    "('tanh' or 'relu', the modes rnn_tanh and rnn_relu); the gates' σ and tanh are fixed, and there is no cell "
    "clip, no peephole, no coupled input and forget gates, no reverse-only direction and no merge mode"
)
#: The RNN activations paddle has, as SimpleRNN's ``activation``: ONNX's name -> paddle's.
ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu"}
OPTIONS_BUT_ACTIVATION = options_but_rnn_activation(ACTIVATIONS, "SimpleRNN's activation")

PADDLE_LIMITS = (
    Limit(GRU_RESET_BEFORE, RESET_BEFORE),
    Limit(NO_OPTIONS, OPTIONS_BUT_ACTIVATION, label="options (only SimpleRNN's `activation`)"),
    Limit(NO_BIAS_SEGFAULT, NO_BIAS, label="no bias (segfaults, PaddlePaddle/Paddle#70231)"),
)
REVERSE_START_STATE_GRADIENT = (
    "observed on paddlepaddle 3.3.1 CPU: the fused kernel's backward (every layer but LSTM projection, which runs "
    "paddle's per-step loop) reads the reverse direction's state before a sample's first step (t = len−1) as zeros "
    "instead of the given initial state wherever the sample is shorter than T; the forward is right. Its gradients "
    "equal the reference BPTT with that one state zeroed: for RNN and LSTM only the reverse units' w_hh gradients "
    "are wrong, for GRU every gradient of the reverse units and, through them, dx, dh0 and the layers below. No "
    "upstream report found (reproduction: tests/test_paddle_conventions.py::"
    "test_reverse_backward_reads_the_initial_state_of_short_samples_as_zeros)"
)
PADDLE_DEFECTS = (
    Defect(REVERSE_START_STATE_GRADIENT, BIDIRECTIONAL & LENGTHS & INITIAL_STATE & ~PROJECTION, gradients_only=True,
           label="bidirectional with lengths and initial states (reverse start state read as zeros)"),
)


def structural_name(spec: RNNSpec, layer: int, direction: str, kind: str) -> str:
    """paddle's structural parameter name: ``0.cell.weight_ih`` (one direction), ``1.cell_bw.bias_hh``."""
    cell = "cell" if not spec.bidirectional else ("cell_bw" if direction == "bwd" else "cell_fw")
    return f"{layer}.{cell}.{kind}"


def paddle_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """torch's rows (gate order, two biases) under paddle's structural names; projection ``weight_ho`` (H, P)
    holds ``w_proj`` transposed."""

    def unit(layer: int, direction: str):
        shapes, rows = fused_unit_rows(spec, layer, direction, lambda kind: structural_name(spec, layer, direction,
                                                                                            kind))
        if spec.proj_size:
            torch_name, name = (structural_name(spec, layer, direction, kind) for kind in ("weight_hr", "weight_ho"))
            del shapes[torch_name]
            shapes[name] = (spec.hidden_size, spec.proj_size)
            rows = [row for row in rows if row.native != torch_name]
            rows.append(MappingRow(name, (), (f"l{layer}.{direction}.w_proj",), transpose=True))
        return shapes, rows

    return build_mapping(engine, spec, unit)


def import_paddle() -> Any:
    """paddle, in dynamic (eager) mode in this thread: paddle keeps the mode per thread, and a thread
    it has not seen starts in static mode (the judge runs each case in a worker thread), where a layer's
    parameters are graph values that cannot be set."""
    import paddle

    if not paddle.in_dynamic_mode():
        paddle.disable_static()
    return paddle


@contextmanager
def default_dtype(dtype: str):
    """paddle's default dtype set to ``dtype`` for the block (layers take their parameters' dtype from it)."""
    paddle = import_paddle()
    before = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(before)


def activation(spec: RNNSpec) -> str:
    """SimpleRNN's ``activation`` of a plain RNN: its activation (the mode's, or the one the spec names)."""
    return ACTIVATIONS[spec.resolved_activations[0].name]


class PaddleAdapter(Adapter):
    """``paddle.nn.SimpleRNN`` / ``LSTM`` / ``GRU``."""

    name = "paddle"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = PADDLE_LIMITS
    declared_defects: ClassVar[tuple[Defect, ...]] = PADDLE_DEFECTS
    differentiable = True

    def version(self) -> str:
        import paddle

        return paddle.__version__

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return paddle_mapping(self.name, spec)

    def build(self, spec: RNNSpec, params: Params) -> Any:
        paddle = import_paddle()
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        common = dict(num_layers=spec.num_layers, direction="bidirect" if spec.bidirectional else "forward",
                      time_major=spec.layout == "TNC")
        with default_dtype(str(params.dtype)):
            if spec.mode == "lstm":
                layer = paddle.nn.LSTM(spec.input_size, spec.hidden_size, proj_size=spec.proj_size or 0, **common)
            elif spec.mode == "gru":
                layer = paddle.nn.GRU(spec.input_size, spec.hidden_size, **common)
            else:
                layer = paddle.nn.SimpleRNN(spec.input_size, spec.hidden_size, activation=activation(spec), **common)
        load_structural(layer, self.mapping(spec).to_native(params))
        layer.eval()
        return layer

    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        return {name: np.array(tensor.numpy(), copy=True) for name, tensor in structural_parameters(layer).items()}

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        paddle = import_paddle()
        with paddle.no_grad():
            output, h_n, c_n = run_layer(spec, layer, paddle.to_tensor(x), to_paddle_states(spec, initial_state),
                                         lengths)
        output = output.numpy()
        if lengths is not None and spec.proj_size:  # the per-step loop leaves the padded steps unmasked
            output = np.where(valid_mask(spec, output.shape, lengths), output, 0.0).astype(output.dtype)
        return RNNOutput(output, h_n.numpy(), None if c_n is None else c_n.numpy())

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents: Cotangents) -> EngineGradients:
        """paddle.grad of sum(cot · result) w.r.t. x, the given states and every parameter."""
        paddle = import_paddle()
        inputs = paddle.to_tensor(x, stop_gradient=False)
        states = [] if initial_state is None else [paddle.to_tensor(s, stop_gradient=False)
                                                   for s in initial_state if s is not None]
        hx = None if not states else (tuple(states) if spec.has_cell_state else states[0])
        layer.train()  # the kernel keeps what its backward needs only when not is_test (dropout is 0 either way)
        try:
            output, h_n, c_n = run_layer(spec, layer, inputs, hx, lengths)
        finally:
            layer.eval()
        targets = [output, h_n] + ([c_n] if spec.has_cell_state else [])
        given = [cotangents.output, cotangents.h_n] + ([cotangents.c_n] if spec.has_cell_state else [])
        parameters = structural_parameters(layer)
        grads = paddle.grad(targets, [inputs, *states, *parameters.values()],
                            [paddle.to_tensor(g) for g in given], allow_unused=True)

        def numpy_of(grad: Any, like: Any) -> np.ndarray:  # an unused input's gradient is zero
            return np.zeros(tuple(like.shape), x.dtype) if grad is None else np.array(grad.numpy(), copy=True)

        dx, *rest = grads
        d_states, d_params = rest[:len(states)], rest[len(states):]
        return EngineGradients(
            x=numpy_of(dx, inputs),
            h0=numpy_of(d_states[0], states[0]) if states else None,
            c0=numpy_of(d_states[1], states[1]) if len(states) > 1 else None,
            native={name: numpy_of(g, p) for (name, p), g in zip(parameters.items(), d_params, strict=True)},
        )


def valid_mask(spec: RNNSpec, shape: tuple[int, ...], lengths: np.ndarray) -> np.ndarray:
    """True at the output's valid steps: (T, N, 1) for TNC, (N, T, 1) for NTC."""
    steps = shape[0] if spec.layout == "TNC" else shape[1]
    valid = np.arange(steps)[:, None] < np.asarray(lengths)[None, :]
    return (valid if spec.layout == "TNC" else valid.T)[..., None]


def structural_parameters(layer: Any) -> dict[str, Any]:
    """The layer's parameters by structural name (``0.cell_fw.weight_ih``), each once (the flat torch-style
    names of ``state_dict`` are aliases of these, and wrong with projection)."""
    return {name: tensor for name, tensor in layer.state_dict().items() if ".cell" in name}


def load_structural(layer: Any, arrays: dict[str, np.ndarray]) -> None:
    """Copy NumPy arrays into the layer's parameters by structural name (names and shapes must match)."""
    parameters = structural_parameters(layer)
    if set(parameters) != set(arrays):
        raise ValueError(f"paddle parameters {sorted(parameters)} are not the rows' {sorted(arrays)}")
    for name, array in arrays.items():
        target = parameters[name]
        if tuple(target.shape) != array.shape:
            raise ValueError(f"paddle parameter {name}: shape {tuple(target.shape)}, the rows give {array.shape}")
        target.set_value(np.ascontiguousarray(array))


def run_layer(spec: RNNSpec, layer: Any, inputs: Any, states: Any, lengths: np.ndarray | None) -> tuple:
    """The fused layer on a tensor: (output, h_n, c_n or None)."""
    paddle = import_paddle()
    sequence_length = None if lengths is None else paddle.to_tensor(np.asarray(lengths, dtype=np.int64))
    output, final = layer(inputs, states, sequence_length)
    h_n, c_n = final if spec.has_cell_state else (final, None)
    return output, h_n, c_n


def to_paddle_states(spec: RNNSpec, initial_state: State | None) -> Any:
    """Canonical (h0, c0) -> paddle's ``initial_states``: ``h0`` or the tuple ``(h0, c0)``, both (L·D, N, ·)."""
    paddle = import_paddle()
    if initial_state is None:
        return None
    h0 = paddle.to_tensor(np.ascontiguousarray(initial_state.h))
    if spec.has_cell_state:
        return h0, paddle.to_tensor(np.ascontiguousarray(initial_state.c))
    return h0

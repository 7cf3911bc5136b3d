"""Flax NNX cells unrolled by ``nnx.RNN`` (engines ``flax`` and ``flax-optimized``).

The faithful Flax NNX (flax.nnx, Flax 0.12) form of a stacked layer: one ``nnx.RNN(cell)``
per level (``nnx.RNN(cell, reverse=True, keep_order=True)`` for a reverse layer), or
``nnx.Bidirectional(nnx.RNN(cell), nnx.RNN(cell))`` (with ``merge_fn`` for a merge mode other
than concat), level k+1 reading level k's (merged) outputs, all held in a module whose attribute
``layers`` is an ``nnx.List``. ``flax`` runs ``SimpleCell`` (tanh, relu or another activation
through ``activation_fn``), ``LSTMCell`` and ``GRUCell``; ``flax-optimized`` runs
``OptimizedLSTMCell``, whose parameters are laid out differently (two stacked matrices instead
of eight). Both accept the same options (rnn_ref/adapters/flax/options.py).

Native names are the flattened NNX state paths of that module, joined with dots, e.g.
``layers.0.cell.ii.kernel`` or ``layers.1.backward_rnn.cell.dense_h.bias``; the flax
``.npz`` format (``rnn-ref convert``) is keyed by exactly these paths. Conventions, each
visible in the mapping rows:

* Every kernel is a ``Linear`` kernel, (in, out): the transpose of torch's.
* ``LSTMCell`` keeps one ``Linear`` per gate and side: ``ii if_ ig io`` (input, no bias) and
  ``hi hf hg ho`` (recurrent, with bias). ``OptimizedLSTMCell`` stacks them:
  ``dense_i`` (I, 4H, no bias) and ``dense_h`` (H, 4H, with bias), gates ``i f g o`` along
  columns (its docstring says its parameters are compatible with ``LSTMCell``; their names
  and shapes are not). ``SimpleCell``: ``dense_i`` (with bias) and ``dense_h`` (no bias).
  ``GRUCell``: ``dense_i`` (I, 3H, with bias) and ``dense_h`` (H, 3H, no bias), gates
  ``r z n`` along columns, reset applied after the recurrent matmul.
* One bias per gate: imported as ``b_ih = bias, b_hh = 0``, exported as ``b_ih + b_hh``,
  whichever side Flax puts it on (the recurrent side for LSTM, the input side otherwise).
* ``GRUCell`` has no ``b_hn``: ``n = tanh(W_in x + b_in + r⊙(W_hn h))`` (its docstring shows
  ``b_hn``; the code has none, flax 0.12.8). A GRU with biases is therefore refused; a GRU
  without biases maps exactly.
* No cell has a ``use_bias`` option. A layer without biases is run with every bias held at
  zero; those biases are left out of the rows, and reading back a nonzero one as a no-bias
  layer is an error.
* No LSTM projection, no GRU reset_before.
* Options (design section 2a): reverse, activations and merge modes run; peepholes, cell clip
  and coupled gates are limits (rnn_ref/adapters/flax/options.py).
* Carries in Flax's order: LSTM ``(c, h)``, RNN and GRU ``h``, each (N, H); ``Bidirectional``
  takes and returns ``(forward carry, backward carry)``. Both layouts are native
  (``time_major``).
* Lengths: ``seq_lengths``. The final carry is the one after the last valid step (forward)
  and after step 0 (backward: ``flip_sequences`` reverses each sample within its length).
  Outputs at padded steps are not masked: the cell keeps running on the padding. The adapter
  writes zeros there (PADDED_ZEROS); tests/test_flax_conventions.py pins Flax's own values.
* float64 needs ``jax_enable_x64`` (the adapter turns it on) and ``param_dtype`` and ``dtype``
  on every cell: ``SimpleCell``'s ``dtype`` defaults to float32 (the others' to None, i.e.
  the inputs' and parameters' dtype), so a float64 ``SimpleCell`` without it computes in
  float32.
* Execution: ``nnx.RNN`` called eagerly compiles its scan on every call (0.1 to 0.4 s per level
  and direction), so sequences shorter than ``COMPILED_FROM_STEPS`` (64) steps run op by op
  (``jax.disable_jit``, with the scan's per-step slices compiled once per shape:
  rnn_ref/adapters/_support/jax_eager.py), like keras-jax, and longer ones as Flax runs them, their scan
  compiled (``FlaxAdapter.execution``).

flax and jax are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters._support.execution import runs_compiled
from rnn_ref.adapters._support.jax_eager import op_by_op
from rnn_ref.adapters._support.layer_reuse import BuiltLayers
from rnn_ref.adapters.adapter import PADDED_ZEROS, Adapter
from rnn_ref.adapters.flax.gradients import nnx_gradients
from rnn_ref.adapters.flax.options import OPTION_LIMITS, jax_activation, merge_function
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import BIAS, PROJECTION, RESET_BEFORE, Limit, modes
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.mapping import MappingRow, WeightMapping, build_mapping, stacked_gate_rows
from rnn_ref.core.params import Params, unit_prefix
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, present

#: LSTMCell's per-gate Linear modules, input side and recurrent side, in canonical gate order.
LSTM_INPUT = {"i": "ii", "f": "if_", "g": "ig", "o": "io"}
LSTM_RECURRENT = {"i": "hi", "f": "hf", "g": "hg", "o": "ho"}
FLAX_GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}

NO_PROJECTION = "Flax NNX LSTMCell and OptimizedLSTMCell have no projection"
GRU_RESET_BEFORE = "Flax NNX GRUCell applies the reset gate after the recurrent matmul (reset_after only)"
GRU_NO_B_HN = (
    "Flax NNX GRUCell has no b_hn (its recurrent dense_h has no bias: n = tanh(W_in x + b_in + r⊙(W_hn h))), "
    "so a GRU with biases cannot be expressed; only a GRU without biases maps exactly"
)
SLOW_GRADIENTS = (
    "jax.vjp of the module run op by op costs about 0.8 s a case (JAX 0.10 linearizes each primitive by tracing "
    "its JVP; measured: 102 cases in 80 s on one core)"
)
OPTIMIZED_LSTM_ONLY = "flax-optimized is OptimizedLSTMCell, an LSTM cell; RNN and GRU cells are the flax engine's"


def cell_path(spec: RNNSpec, layer: int, direction: str) -> str:
    """The flattened NNX path of one (layer, direction) cell."""
    if spec.bidirectional:
        return f"layers.{layer}.{'forward_rnn' if direction == 'fwd' else 'backward_rnn'}.cell"
    return f"layers.{layer}.cell"


def bias_paths(spec: RNNSpec, optimized: bool) -> list[str]:
    """Every bias parameter the built module holds (all of them exist whether or not spec.bias)."""
    names = []
    for layer, direction in spec.units():
        cell = cell_path(spec, layer, direction)
        if spec.mode == "lstm" and not optimized:
            names += [f"{cell}.{LSTM_RECURRENT[gate]}.bias" for gate in FLAX_GATE_ORDER["lstm"]]
        else:
            names.append(f"{cell}.{'dense_h' if spec.mode == 'lstm' else 'dense_i'}.bias")
    return names


def flax_unit_rows(spec: RNNSpec, layer: int, direction: str, optimized: bool) -> tuple[dict, list[MappingRow]]:
    """Native shapes and rows of one cell; biases only when the layer has them."""
    cell, prefix = cell_path(spec, layer, direction), unit_prefix(layer, direction)
    hidden, layer_input = spec.hidden_size, spec.layer_input_size(layer)
    shapes: dict[str, tuple[int, ...]] = {}
    rows: list[MappingRow] = []
    if spec.mode == "lstm" and not optimized:
        for gate in FLAX_GATE_ORDER["lstm"]:
            inp, rec = f"{cell}.{LSTM_INPUT[gate]}", f"{cell}.{LSTM_RECURRENT[gate]}"
            shapes[f"{inp}.kernel"], shapes[f"{rec}.kernel"] = (layer_input, hidden), (hidden, hidden)
            rows.append(MappingRow(f"{inp}.kernel", (), (f"{prefix}.w_ih.{gate}",), transpose=True))
            rows.append(MappingRow(f"{rec}.kernel", (), (f"{prefix}.w_hh.{gate}",), transpose=True))
            if spec.bias:
                shapes[f"{rec}.bias"] = (hidden,)
                rows.append(MappingRow(f"{rec}.bias", (), (f"{prefix}.b_ih.{gate}", f"{prefix}.b_hh.{gate}")))
        return shapes, rows
    gates = FLAX_GATE_ORDER.get(spec.mode, ("h",))
    stacked = len(gates) * hidden
    kernel_i, kernel_h = f"{cell}.dense_i.kernel", f"{cell}.dense_h.kernel"
    shapes[kernel_i], shapes[kernel_h] = (layer_input, stacked), (hidden, stacked)
    rows += stacked_gate_rows(spec, kernel_i, layer, direction, "w_ih", gates, gate_axis=1, transpose=True)
    rows += stacked_gate_rows(spec, kernel_h, layer, direction, "w_hh", gates, gate_axis=1, transpose=True)
    if spec.bias:  # OptimizedLSTMCell: on dense_h; SimpleCell: on dense_i (GRU with bias is refused)
        bias = f"{cell}.{'dense_h' if spec.mode == 'lstm' else 'dense_i'}.bias"
        shapes[bias] = (stacked,)
        rows += stacked_gate_rows(spec, bias, layer, direction, "b_ih", gates, also="b_hh")
    return shapes, rows


def import_flax() -> tuple[Any, Any]:
    """(jax, flax.nnx) with 64-bit arrays enabled (else JAX truncates float64 to float32)."""
    import jax
    from flax import nnx

    jax.config.update("jax_enable_x64", True)
    return jax, nnx


@dataclass
class FlaxLayers:
    """What the adapter builds: the module holding the levels, and the spec it was built for."""

    spec: RNNSpec
    module: Any


class FlaxAdapter(Adapter):
    """``nnx.RNN`` / ``nnx.Bidirectional`` of ``SimpleCell``, ``LSTMCell`` and ``GRUCell``."""

    name = "flax"
    optimized = False
    slow_gradients = SLOW_GRADIENTS
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(GRU_NO_B_HN, modes("gru") & BIAS, label="GRU with biases (`GRUCell` has no `b_hn`)"),
        *OPTION_LIMITS,
    )

    def __init__(self) -> None:
        self._built: BuiltLayers[FlaxLayers] = BuiltLayers()

    def version(self) -> str:
        import flax
        import jax

        return f"flax {flax.__version__}, jax {jax.__version__}"

    def padded_steps(self, spec: RNNSpec) -> str:
        return PADDED_ZEROS

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return build_mapping(self.name, spec, lambda layer, d: flax_unit_rows(spec, layer, d, self.optimized))

    def make_cell(self, spec: RNNSpec, layer: int, dtype: str) -> Any:
        """One cell; kernels start at zero (build overwrites them; this skips the orthogonal init).
        Its activations are the spec's (ONNX's f, g: ``gate_fn``, ``activation_fn``; the mode's own
        when the spec names none), always passed."""
        _, nnx = import_flax()
        zeros = nnx.initializers.zeros_init()
        common = dict(in_features=spec.layer_input_size(layer), hidden_features=spec.hidden_size,
                      dtype=dtype, param_dtype=dtype, kernel_init=zeros, recurrent_kernel_init=zeros,
                      bias_init=zeros, rngs=nnx.Rngs(0))
        functions = [jax_activation(activation) for activation in spec.resolved_activations]
        if spec.mode == "lstm":  # (f, g, h), g == h (LSTM_ONE_ACTIVATION_FN)
            cell = nnx.OptimizedLSTMCell if self.optimized else nnx.LSTMCell
            return cell(gate_fn=functions[0], activation_fn=functions[1], **common)
        if spec.mode == "gru":  # (f, g)
            return nnx.GRUCell(gate_fn=functions[0], activation_fn=functions[1], **common)
        return nnx.SimpleCell(activation_fn=functions[0], **common)

    def build(self, spec: RNNSpec, params: Params) -> FlaxLayers:
        """The module of ``spec`` holding ``params``; every parameter outside the rows (the biases
        of a layer without biases) at zero.

        Building the module (its cells' ``Linear`` modules and their initializers) costs about as
        much as running a small case, so the module built for a (spec, dtype) is kept and, on the
        next build of the same layer in either layout (``nnx.RNN`` takes the layout per call:
        ``time_major``), gets every parameter anew instead of being built again — but only once
        nothing holds the previous ``FlaxLayers``: a module handed out never changes under its holder
        (rnn_ref/adapters/_support/layer_reuse.py).
        """
        jax, nnx = import_flax()
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        dtype = str(params.dtype)
        built = self._built.hand_out(spec, dtype, lambda: self.build_module(spec, dtype),
                                     lambda module: FlaxLayers(spec, module))
        arrays = self.mapping(spec).to_native(params)
        state = nnx.state(built.module, nnx.Param)
        for path, variable in nnx.to_flat_state(state):
            name = ".".join(map(str, path))
            value = arrays[name] if name in arrays else np.zeros(np.shape(variable.get_value()), dtype)
            variable.set_value(jax.numpy.asarray(value))
        nnx.update(built.module, state)
        return built

    def build_module(self, spec: RNNSpec, dtype: str) -> Any:
        """A new module for ``spec`` in ``dtype``: one ``nnx.RNN`` or ``nnx.Bidirectional`` per level."""
        _, nnx = import_flax()
        merge = merge_function(spec.merge_mode)
        levels = []
        for layer in range(spec.num_layers):
            if spec.bidirectional:
                forward, backward = (nnx.RNN(self.make_cell(spec, layer, dtype)) for _ in range(2))
                levels.append(nnx.Bidirectional(forward, backward) if merge is None
                              else nnx.Bidirectional(forward, backward, merge_fn=merge))
            elif spec.reverse:  # outputs flipped back into original order (keep_order)
                levels.append(nnx.RNN(self.make_cell(spec, layer, dtype), reverse=True, keep_order=True))
            else:
                levels.append(nnx.RNN(self.make_cell(spec, layer, dtype)))
        return FlaxStack(nnx.List(levels))

    def native_arrays(self, spec: RNNSpec, layer: FlaxLayers) -> dict[str, np.ndarray]:
        _, nnx = import_flax()
        arrays = {".".join(map(str, path)): np.asarray(variable.get_value())
                  for path, variable in nnx.to_flat_state(nnx.state(layer.module, nnx.Param))}
        if not spec.bias:  # held at zero, outside the rows: a nonzero one would be lost
            nonzero = [name for name in bias_paths(spec, self.optimized) if arrays.pop(name).any()]
            if nonzero:
                raise ParamsError(f"{self.name} layer of {spec} (no biases) holds nonzero biases: {', '.join(nonzero)}")
        names = list(self.mapping(spec).native_shapes)
        return {name: arrays[name] for name in names} | {k: v for k, v in arrays.items() if k not in names}

    def carry(self, spec: RNNSpec, h0: Any, c0: Any, unit: int) -> Any:
        """One unit's initial carry in Flax's order: LSTM (c, h), else h; None when no state was given.
        ``h0``, ``c0``: (L·D, N, ·) arrays (or traced JAX arrays), or None."""
        if h0 is None:
            return None
        return (c0[unit], h0[unit]) if spec.has_cell_state else h0[unit]

    def forward(self, spec: RNNSpec, module: Any, seq: Any, h0: Any, c0: Any,
                lengths: np.ndarray | None) -> tuple[Any, Any, Any]:
        """The levels of ``module`` on ``seq`` (the case's layout) as JAX arrays: (output, h_n, c_n or
        None), the output zero at padded steps. ``run`` calls it on arrays, the gradient run
        (rnn_ref/adapters/flax/gradients.py) on traced ones."""
        jax, _ = import_flax()
        jnp = jax.numpy
        time_major = spec.layout == "TNC"
        seq_lengths = None if lengths is None else jnp.asarray(lengths)
        finals = []  # per unit, in canonical order: the Flax carry
        for index, level in enumerate(module.layers):
            if spec.bidirectional:
                units = (2 * index, 2 * index + 1)
                given = None if h0 is None else tuple(self.carry(spec, h0, c0, unit) for unit in units)
                carry, seq = level(seq, initial_carry=given, seq_lengths=seq_lengths, return_carry=True,
                                   time_major=time_major)
                finals += list(carry)
            else:
                carry, seq = level(seq, initial_carry=self.carry(spec, h0, c0, index), seq_lengths=seq_lengths,
                                   return_carry=True, time_major=time_major)
                finals.append(carry)
        if lengths is not None:  # Flax leaves the cell's values on padded steps; the canonical form is zeros
            valid = jnp.arange(seq.shape[0 if time_major else 1])[:, None] < jnp.asarray(lengths)[None, :]
            seq = jnp.where((valid if time_major else valid.T)[..., None], seq, jnp.zeros((), seq.dtype))
        if spec.has_cell_state:
            return seq, jnp.stack([h for _, h in finals]), jnp.stack([c for c, _ in finals])
        return seq, jnp.stack(finals), None

    def run(self, spec, layer: FlaxLayers, x, initial_state=None, lengths=None) -> RNNOutput:
        jax, _ = import_flax()
        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        h0 = c0 = None
        if initial_state is not None:
            h0 = jax.numpy.asarray(initial_state.h)
            c0 = jax.numpy.asarray(present(initial_state.c, "c0")) if spec.has_cell_state else None
        with self.execution(x.shape[0 if spec.layout == "TNC" else 1]):
            output, h_n, c_n = self.forward(spec, layer.module, jax.numpy.asarray(x), h0, c0, lengths)
        return RNNOutput(np.asarray(output), np.asarray(h_n), None if c_n is None else np.asarray(c_n))

    def run_gradients(self, spec, layer: FlaxLayers, x, initial_state, lengths,
                      cotangents: Cotangents) -> EngineGradients:
        """``jax.vjp`` of the module's pure call (rnn_ref/adapters/flax/gradients.py)."""
        self.check_gradient_supported(spec, str(x.dtype), lengths is not None)
        return nnx_gradients(self, spec, layer, x, initial_state, lengths, cotangents)

    def execution(self, steps: int) -> contextlib.AbstractContextManager:
        """How ``run`` runs ``steps`` steps: op by op below ``COMPILED_FROM_STEPS``, else as Flax runs
        ``nnx.RNN``, its ``lax.scan`` compiled on each call. Measured (CPU seconds of one run, op by
        op / compiled, flax 0.12): LSTM, 1 layer: 0.12 / 0.23 at 32 steps, 0.23 / 0.25 at 64,
        0.56 / 0.23 at 128; LSTM, 2 bidirectional layers: 0.49 / 0.88, 1.08 / 0.77, 2.15 / 0.78.
        The matrix's three T=200 cases of flax and flax-optimized: 9.2 s op by op, 2.8 s compiled."""
        return contextlib.nullcontext() if runs_compiled(steps) else op_by_op()


class FlaxOptimizedAdapter(FlaxAdapter):
    """``OptimizedLSTMCell`` in the same containers: stacked ``dense_i`` / ``dense_h``."""

    name = "flax-optimized"
    optimized = True
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        Limit(OPTIMIZED_LSTM_ONLY, ~modes("lstm"), label="RNN and GRU (an LSTM cell only)"),
        *OPTION_LIMITS,
    )


_STACK: list[Any] = []


def flax_stack_class() -> Any:
    """The ``nnx.Module`` that holds the levels, defined on first use (flax is imported lazily)."""
    if not _STACK:
        _, nnx = import_flax()

        module: Any = nnx.Module  # flax's class, known only once flax is imported

        class FlaxStack(module):
            """The stacked layer: ``layers`` holds one nnx.RNN or nnx.Bidirectional per level."""

            def __init__(self, layers: Any) -> None:
                self.layers = layers

        _STACK.append(FlaxStack)
    return _STACK[0]


def FlaxStack(layers: Any) -> Any:
    """A module whose attribute ``layers`` (an ``nnx.List``) holds the levels."""
    return flax_stack_class()(layers)

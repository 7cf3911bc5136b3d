"""Keras 3: cells in ``StackedRNNCells`` and ``Bidirectional``, on TensorFlow, JAX and PyTorch.

One adapter, three engines: ``keras`` (TensorFlow), ``keras-jax`` and ``keras-torch``. Keras
fixes its backend at import (``KERAS_BACKEND``), so each engine runs in its own tox env and
refuses to run when Keras loaded another backend (the message names the env to use). The
layers, the mapping rows and the weight files are the same on every backend.

The faithful Keras forms of a stacked layer:

* unidirectional: ``keras.layers.RNN(StackedRNNCells([cell_0, ..., cell_{L-1}]),
  return_sequences=True, return_state=True)``, and ``RNN(cell_0)`` for one layer (Keras
  3.15's ``StackedRNNCells`` of a single cell fails under a mask with a nested-structure
  error; tests/test_keras_conventions.py keeps that as a strict xfail);
* bidirectional: one ``Bidirectional(RNN(cell, return_sequences=True, return_state=True))``
  per level, level k+1 reading level k's concatenated output (what ``Bidirectional`` of a
  stacked cell would *not* do: it would run a whole forward stack and a whole backward stack).

Conventions, each visible in the mapping rows:

* Kernels are (input, gates·H) and recurrent kernels (R, gates·H): the transpose of
  torch's, gates stacked along columns.
* Gate order: LSTM ``i f c o`` (Keras's ``c`` is the canonical ``g``); GRU ``z r h``
  (``h`` is the canonical ``n``), i.e. update gate first.
* One bias of (gates·H,): imported as ``b_ih = bias, b_hh = 0``, exported as ``b_ih + b_hh``.
  GRU ``reset_after=True`` keeps two: bias (2, 3H), row 0 the input bias, row 1 the
  recurrent bias, which map exactly. GRU ``reset_after=False`` is the canonical reset_before
  (Keras is the only one of the three frameworks that has it); its one bias is b_in + b_hn.
* No LSTM projection. Batch-major only: TNC cases are transposed at the boundary. So Keras
  computes a TNC case and its NTC twin (the same numbers: ``Case.data_id``) identically; the
  adapter runs the layers once and answers the second from a memo keyed by the bytes of the
  weights, inputs and cotangents (rnn_ref/adapters/_support/run_memo.py).
* ``LSTMCell(unit_forget_bias=True)`` (the default) initialises the forget bias to 1.0; the
  adapter overwrites every weight, so it does not matter here, but it does in a fresh model.
* Initial states: per cell ``[[h, c], ...]`` for StackedRNNCells; forward then backward,
  flat, ``[h_f, c_f, h_b, c_b]`` for Bidirectional.
* Per-sample lengths go in as a boolean mask (N, T). Padded steps: a plain masked ``RNN``
  repeats the last valid output; ``Bidirectional`` writes zeros. Final states are those
  after the last valid step (forward) and after step 0 (backward) in both forms.
* float64 needs ``dtype="float64"`` on every cell, on StackedRNNCells, on RNN and on
  Bidirectional; a cell alone in float64 gets float32 outputs from its wrapper.
* Options (rnn_ref/adapters/keras/options.py): the activations by Keras's names
  (``activation``, ``recurrent_activation``; ``hard_sigmoid`` is ONNX HardSigmoid(1/6, 0.5),
  not ONNX's default); ``reverse`` as ``RNN(..., go_backwards=True)``, whose output comes in
  reversed time order and is flipped back here (``time_order``; padded steps zeros);
  ``merge_mode`` as ``Bidirectional(merge_mode=...)`` at every level. No peepholes, cell clip
  or coupled gates in Keras 3 (limits), nor an LSTM whose g and h activations differ (one
  ``activation`` serves both).

What differs between the backends (each pinned in tests/test_keras_backends.py):

* Padded steps, final states and initial-state order are the same on all three (a
  go_backwards layer's padded steps made so on JAX: below).
* float64: TensorFlow computes it (but its LeakyRelu op holds the slope of Keras's
  ``leaky_relu`` in float32: a known defect). Keras's ``dtypes.result_type`` maps float64 to
  float32 off TensorFlow (keras-team/keras#23704), so on PyTorch ``keras.ops.matmul`` of two
  float64 tensors computes and returns float32: every float64 cell is rounded to float32 (a
  known defect). On JAX, float64 exists only with ``jax_enable_x64``, which the adapter turns
  on (without it JAX truncates float64 to float32 with a warning); ``keras.ops.tanh`` still
  casts float64 to float32, so every cell that uses tanh (the tanh RNN, LSTM and GRU with their
  own activations) is rounded to float32 (a known defect), and cells without tanh (the relu
  RNN, a GRU of sigmoid and softsign) compute in float64. Under jit the same cast makes
  ``RNN(SimpleRNNCell)`` in float64 fail in ``lax.scan`` (carry float64 in, float32 out).
* Padded steps of a ``go_backwards`` layer, which it reaches first: zeros on TensorFlow and
  PyTorch; on JAX a masked step writes the previous state's h, here the initial h, so the JAX
  engine writes zeros there itself (``KerasJaxAdapter.time_order``).
* TensorFlow execution: eagerly, as Keras runs a layer called on arrays; sequences of
  ``COMPILED_FROM_STEPS`` (64) steps or more as one ``tf.function`` of the same layers, as
  ``model.predict`` runs them, because eager dispatch costs milliseconds per step and cell
  (``KerasAdapter.compiled``). The forward of either is bit for bit the forward under the
  gradient tape (tests/test_keras_conventions.py).
* JAX execution: eager Keras compiles its ``lax.scan`` afresh on every call; the adapter
  runs the layers op by op (``jax.disable_jit``, with the scan's per-step slices compiled once
  per shape: rnn_ref/adapters/_support/jax_eager.py) so the case matrix needs no compile per case.
  tests/test_keras_backends.py runs cases through the compiled scan too.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters._support.execution import runs_compiled
from rnn_ref.adapters._support.jax_eager import op_by_op
from rnn_ref.adapters._support.layer_reuse import BuiltLayers
from rnn_ref.adapters._support.run_memo import RunMemo, digest
from rnn_ref.adapters.adapter import PADDED_REPEAT_LAST, PADDED_ZEROS, Adapter
from rnn_ref.adapters.keras.gradients import keras_gradients
from rnn_ref.adapters.keras.importing import import_keras as import_keras
from rnn_ref.adapters.keras.importing import quiet_import_keras as quiet_import_keras
from rnn_ref.adapters.keras.options import KERAS_OPTION_LIMITS, keras_activations, time_order, uses_keras_activation
from rnn_ref.adapters.keras.records import JAX_FLOAT64_TANH as JAX_FLOAT64_TANH
from rnn_ref.adapters.keras.records import NO_PROJECTION as NO_PROJECTION
from rnn_ref.adapters.keras.records import SLOW_JAX_GRADIENTS as SLOW_JAX_GRADIENTS
from rnn_ref.adapters.keras.records import TF_FLOAT64_LEAKY_RELU as TF_FLOAT64_LEAKY_RELU
from rnn_ref.adapters.keras.records import TORCH_FLOAT64_MATMUL as TORCH_FLOAT64_MATMUL
from rnn_ref.adapters.keras.structure import KERAS_GATE_NAMES as KERAS_GATE_NAMES
from rnn_ref.adapters.keras.structure import KERAS_GATE_ORDER as KERAS_GATE_ORDER
from rnn_ref.adapters.keras.structure import KerasLayers as KerasLayers
from rnn_ref.adapters.keras.structure import keras_unit_name as keras_unit_name
from rnn_ref.adapters.keras.structure import keras_unit_rows
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.defects import COMPUTES_IN_FLOAT32
from rnn_ref.cases.limits import FLOAT64, PROJECTION, Defect, Limit
from rnn_ref.cases.matrix import Case
from rnn_ref.core.mapping import WeightMapping, build_mapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput


class KerasAdapter(Adapter):
    """Keras 3 ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell`` in their standard containers."""

    name = "keras"
    #: the Keras backend this engine runs on (fixed when Keras is imported: KERAS_BACKEND)
    backend = "tensorflow"
    #: activations (Keras's names), reverse (go_backwards) and merge_mode run; the rest are limits
    #: (rnn_ref/adapters/keras/options.py)
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        Limit(NO_PROJECTION, PROJECTION, label="projection"),
        *KERAS_OPTION_LIMITS,
    )
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(TF_FLOAT64_LEAKY_RELU, FLOAT64 & uses_keras_activation("leaky_relu"), COMPUTES_IN_FLOAT32,
               label="float64 leaky_relu's slope in float32 (TensorFlow's float attribute)"),
    )
    differentiable = True
    #: ``run`` executes exactly the layers ``run_gradients`` differentiates, so the gradient run's
    #: forward is the case's forward too (``EngineGradients.output``). A subclass that overrides
    #: ``run`` or ``run_layers`` (a converted file) and does not declare it again is False.
    runs_the_differentiated_layers: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "runs_the_differentiated_layers" not in cls.__dict__ and ({"run", "run_layers"} & set(cls.__dict__)):
            cls.runs_the_differentiated_layers = False

    def __init__(self) -> None:
        self._built: BuiltLayers[KerasLayers] = BuiltLayers()
        self._file_models: dict[tuple[RNNSpec, str], tuple[KerasLayers, Any]] = {}
        # what the layers computed on recent inputs: a TNC case hands them its NTC twin's
        self._runs: RunMemo[tuple] = RunMemo()
        self._gradient_runs: RunMemo[tuple] = RunMemo()

    def keras(self) -> Any:
        """The keras module, checked to run this engine's backend."""
        return import_keras(self.backend)

    def version(self) -> str:
        keras = self.keras()
        framework = importlib.import_module(self.backend)
        return f"keras {keras.__version__}, {self.backend} {framework.__version__}"

    def case_label(self, case: Case) -> str:
        return case.id.replace("-TNC", "-TNC-transposed") if case.spec.layout == "TNC" else case.id

    def padded_steps(self, spec: RNNSpec) -> str:
        """Zeros from Bidirectional and from a go_backwards layer (its padded steps come first, before
        any output to repeat); a plain masked RNN repeats the last valid output."""
        return PADDED_ZEROS if spec.bidirectional or spec.reverse else PADDED_REPEAT_LAST

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return build_mapping(self.name, spec, lambda layer, direction: keras_unit_rows(spec, layer, direction))

    def make_cell(self, spec: RNNSpec, dtype: str) -> Any:
        keras = self.keras()
        # Every weight is overwritten by build(): zeros spare the orthogonal initializer's QR per cell.
        activations = keras_activations(spec)
        assert activations is not None, "check_supported refuses activations Keras does not name"
        common = dict(units=spec.hidden_size, use_bias=spec.bias, dtype=dtype,
                      kernel_initializer="zeros", recurrent_initializer="zeros", **activations)
        if spec.mode == "lstm":
            return keras.layers.LSTMCell(**common)
        if spec.mode == "gru":
            return keras.layers.GRUCell(reset_after=spec.gru_variant == "reset_after", **common)
        return keras.layers.SimpleRNNCell(**common)

    def build(self, spec: RNNSpec, params: Params) -> KerasLayers:
        """The Keras layers of ``spec`` holding ``params``.

        Building Keras layers (variables, initializers) costs more than running a small case,
        so the layers built for a (spec, dtype) are kept and, on the next build of the same
        layer, get the new weights instead of being built again — but only once nothing holds
        the previous ``KerasLayers`` (or a model made from it): a layer handed out never
        changes under its holder (rnn_ref/adapters/_support/layer_reuse.py).
        """
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        dtype = str(params.dtype)
        # the layers are batch-major whatever the layout: one build serves both
        built = self._built.hand_out(spec, dtype, lambda: self.build_layers(spec, dtype),
                                     lambda layers: KerasLayers(spec, layers))
        self.set_params(built, params)
        return built

    def set_params(self, built: KerasLayers, params: Params) -> None:
        """Every weight of ``built`` set from ``params`` (through this engine's rows)."""
        arrays = list(self.mapping(params.spec).to_native(params).values())
        for cell in built.cells():
            count = len(cell.weights)
            cell.set_weights(arrays[:count])
            arrays = arrays[count:]

    def file_model(self, spec: RNNSpec, dtype: str) -> tuple[KerasLayers, Any]:
        """The layers and standard model (``model``) that ``.weights.h5`` files are written from and
        read into, built once per (spec, dtype) — about 80 ms a build, which every file paid while a
        model made for a file lived on in Keras's reference cycles. They are never handed out, and
        every use sets or loads each weight before reading any, so nothing of one file reaches the next."""
        key = (spec.replace(layout="NTC"), dtype)
        if key not in self._file_models:
            layers = KerasLayers(spec, self.build_layers(spec, dtype))
            self._file_models[key] = (layers, self.model(spec, layers))
        return self._file_models[key]

    def build_layers(self, spec: RNNSpec, dtype: str) -> list[Any]:
        """New Keras layers for ``spec`` in ``dtype``, built (variables made), weights not yet set."""
        keras = self.keras()
        options = dict(return_sequences=True, return_state=True, dtype=dtype)
        if spec.bidirectional:
            layers = []
            for layer in range(spec.num_layers):
                rnn = keras.layers.RNN(self.make_cell(spec, dtype), **options)
                level = keras.layers.Bidirectional(rnn, merge_mode=spec.merge_mode, dtype=dtype)
                level.build((None, None, spec.layer_input_size(layer)))
                layers.append(level)
        else:
            cells = [self.make_cell(spec, dtype) for _ in range(spec.num_layers)]
            cell = keras.layers.StackedRNNCells(cells, dtype=dtype) if spec.num_layers > 1 else cells[0]
            rnn = keras.layers.RNN(cell, go_backwards=spec.reverse, **options)
            rnn.build((None, None, spec.input_size))
            layers = [rnn]
        return layers

    def model(self, spec: RNNSpec, layer: KerasLayers) -> Any:
        """The standard Keras model around the built layers (what ``.weights.h5`` files hold)."""
        keras = self.keras()
        inputs = keras.Input((None, spec.input_size), dtype=layer.cells()[0].dtype)
        features = inputs
        for level in layer.layers:
            features = level(features)[0]
        model = keras.Model(inputs, features)
        model.rnn_ref_layers = layer  # while the model lives, build() makes new layers rather than reuse these
        return model

    def native_arrays(self, spec: RNNSpec, layer: KerasLayers) -> dict[str, np.ndarray]:
        names = list(self.mapping(spec).native_shapes)
        values = [np.asarray(w) for cell in layer.cells() for w in cell.get_weights()]
        return dict(zip(names, values, strict=True))

    def run(self, spec, layer: KerasLayers, x, initial_state=None, lengths=None) -> RNNOutput:
        with self.execution():
            return self.run_layers(spec, layer, x, initial_state, lengths)

    def execution(self) -> contextlib.AbstractContextManager:
        """How the layers run: eagerly, as Keras runs a layer called on arrays."""
        return contextlib.nullcontext()

    def run_layers(self, spec, layer: KerasLayers, x, initial_state=None, lengths=None) -> RNNOutput:
        seq = x if spec.layout == "NTC" else x.transpose(1, 0, 2)  # Keras is batch-major only
        states = None if initial_state is None else [s for s in initial_state if s is not None]

        def forward(seq: Any, states: list | None) -> tuple[Any, Any, Any]:
            return self.forward_tensors(spec, layer, seq, states, lengths)

        # Keras runs only inputs unlike those of a recent run (a TNC case's NTC twin)
        computed = self._runs.computed(self.memo_key("forward", spec, layer, seq, states, lengths),
                                       lambda: self.as_numpy(self.compiled(forward, seq.shape[1])(seq, states)))
        return self.numpy_output(spec, *computed)

    def memo_key(self, kind: str, spec: RNNSpec, layer: KerasLayers, seq: np.ndarray, states: list | None,
                 lengths: np.ndarray | None, cotangents: list | None = None) -> bytes:
        """The digest of everything a run of ``layer`` computes from (rnn_ref/adapters/_support/run_memo.py): the
        layer in NTC, the weights it holds now, and the batch-major inputs (and cotangents)."""
        weights = [w.numpy() for cell in layer.cells() for w in cell.weights]
        return digest([kind, spec.replace(layout="NTC"), "weights", *weights, "x", seq, "states", *(states or []),
                       "lengths", lengths, "cotangents", *(cotangents or [])])

    def as_numpy(self, tensors: Any) -> Any:
        """Backend tensors (through tuples and lists; None kept) as NumPy arrays."""
        if isinstance(tensors, (tuple, list)):
            return type(tensors)(self.as_numpy(t) for t in tensors)
        return None if tensors is None else np.asarray(self.keras().ops.convert_to_numpy(tensors))

    def compiled(self, function: Callable, steps: int) -> Callable:
        """``function``, which runs the layers over ``steps`` steps, as this engine runs it.

        Eagerly, as Keras runs a layer called on arrays; on TensorFlow, sequences of
        ``COMPILED_FROM_STEPS`` steps or more are traced into one ``tf.function``, as
        ``model.predict`` and ``model.fit`` run a layer. Measured (CPU seconds of one gradient run,
        eager / traced, Keras 3.15, TensorFlow 2.21): LSTM, 1 layer: 0.07 / 0.17 at 32 steps,
        0.13 / 0.18 at 64, 0.25 / 0.18 at 128; masked bidirectional GRU, 2 layers: 0.58 / 1.00,
        1.34 / 1.08, 2.31 / 1.21. The matrix's four T=200 cases: 10.9 s eager, 4.4 s traced."""
        if self.backend != "tensorflow" or not runs_compiled(steps):
            return function
        import tensorflow as tf

        return tf.function(function)

    def numpy_output(self, spec: RNNSpec, output: np.ndarray, h_n: np.ndarray, c_n: np.ndarray | None) -> RNNOutput:
        """``forward_tensors``'s results, as NumPy arrays, as the ``RNNOutput`` of the case's layout."""
        return RNNOutput(np.ascontiguousarray(output if spec.layout == "NTC" else output.transpose(1, 0, 2)),
                         h_n, c_n if spec.has_cell_state else None)

    def forward_tensors(self, spec: RNNSpec, layer: KerasLayers, seq: Any, states: list | None,
                        lengths: np.ndarray | None) -> tuple[Any, Any, Any]:
        """The built layers on batch-major ``seq`` (N, T, I): (output (N, T, D·R), h_n, c_n or None),
        as backend tensors. ``states``: None or [h0] / [h0, c0], each (L·D, N, ·), arrays or tensors."""
        keras = self.keras()
        steps = seq.shape[1]
        mask = None if lengths is None else np.arange(steps)[None, :] < np.asarray(lengths)[:, None]

        def state_of(unit: int) -> list[Any]:
            """Unit ``unit``'s given states (only asked when ``states`` were given)."""
            return [state[unit] for state in states or ()]

        finals: list[list[Any]] = []  # per unit: [h] or [h, c]
        if spec.bidirectional:
            per_state = 2 if spec.has_cell_state else 1
            for level_index, level in enumerate(layer.layers):
                given = None
                if states is not None:
                    given = state_of(2 * level_index) + state_of(2 * level_index + 1)  # forward, then backward
                result = level(seq, initial_state=given, mask=mask)
                seq, level_states = result[0], list(result[1:])
                finals += [level_states[:per_state], level_states[per_state:]]
        else:
            given = None
            if states is not None:  # one cell: [h, c]; a stack: per cell [[h, c], ...]
                given = [state_of(unit) for unit in range(spec.num_layers)]
                given = given[0] if spec.num_layers == 1 else given
            result = layer.layers[0](seq, initial_state=given, mask=mask)
            seq, cell_states = self.time_order(spec, result[0], mask), list(result[1:])
            finals = [cell_states] if spec.num_layers == 1 else [list(per_cell) for per_cell in cell_states]
        h_n = keras.ops.stack([unit_states[0] for unit_states in finals])
        c_n = keras.ops.stack([unit_states[1] for unit_states in finals]) if spec.has_cell_state else None
        return seq, h_n, c_n

    def time_order(self, spec: RNNSpec, output: Any, mask: np.ndarray | None) -> Any:
        """The unidirectional RNN's output in original time order (``time_order``: a go_backwards
        layer's is flipped back); ``mask`` (N, T) where lengths were given."""
        return time_order(self.keras(), spec, output)

    def run_gradients(self, spec, layer: KerasLayers, x, initial_state, lengths,
                      cotangents: Cotangents) -> EngineGradients:
        """The backend's autodiff around the layers: tf.GradientTape, jax.vjp of the stateless call,
        torch.autograd (rnn_ref/adapters/keras/gradients.py)."""
        self.check_gradient_supported(spec, str(x.dtype), lengths is not None)
        return keras_gradients(self, spec, layer, x, initial_state, lengths, cotangents)


class KerasJaxAdapter(KerasAdapter):
    """The same layers and mapping on Keras's JAX backend (``KERAS_BACKEND=jax``)."""

    name = "keras-jax"
    backend = "jax"
    slow_gradients = SLOW_JAX_GRADIENTS
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(JAX_FLOAT64_TANH, FLOAT64 & uses_keras_activation("tanh"), COMPUTES_IN_FLOAT32,
               label="float64 cells with tanh rounded to float32 (`ops.tanh` casts; keras-team/keras#23704)"),
    )

    def execution(self) -> contextlib.AbstractContextManager:
        """Op by op (``jax_eager.op_by_op``: ``jax.disable_jit``): eager Keras on JAX compiles its
        ``lax.scan`` afresh on every call (about 0.5 s per layer); without jit the same scan body
        runs as a Python loop."""
        return op_by_op()

    def time_order(self, spec: RNNSpec, output: Any, mask: np.ndarray | None) -> Any:
        """Flipped back, and zeros at the padded steps of a go_backwards layer: on JAX, a masked step
        writes the previous state's h (TensorFlow and PyTorch the previous output, zeros before the
        first), so the padded steps a go_backwards layer reaches first hold its last cell's initial h
        (tests/test_keras_backends.py pins both). Zeros there, as the other backends write them, and as
        the cotangents treat them (zero at padded steps: nothing flows back from them either way)."""
        output = super().time_order(spec, output, mask)
        if not spec.reverse or mask is None:
            return output
        keras = self.keras()
        return keras.ops.where(mask[:, :, None], output, keras.ops.zeros_like(output))


class KerasTorchAdapter(KerasAdapter):
    """The same layers and mapping on Keras's PyTorch backend (``KERAS_BACKEND=torch``)."""

    name = "keras-torch"
    backend = "torch"
    declared_defects: ClassVar[tuple[Defect, ...]] = (
        Defect(TORCH_FLOAT64_MATMUL, FLOAT64, COMPUTES_IN_FLOAT32,
               label="float64 rounded to float32 (`ops.matmul` computes float32; keras-team/keras#23704)"),
    )

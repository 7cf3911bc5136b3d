"""MXNet Gluon 1.9.1: the fused ``mx.gluon.rnn.RNN/LSTM/GRU`` (engine ``gluon``).

Conventions (all visible in the mapping rows):

* Parameters are named by structure, without the block's prefix (``lstm0_``, …): per layer k,
  ``l{k}_i2h_weight`` (G·H, I_k), ``l{k}_h2h_weight`` (G·H, R), ``l{k}_i2h_bias`` and
  ``l{k}_h2h_bias`` (G·H,); the backward direction is ``r{k}_…``; projection is
  ``l{k}_h2r_weight`` (P, H). ``save_parameters`` writes other keys
  (``_unfused.{k}.l_cell.i2h_weight``, …; it fails above 10 layers); the structural names are
  ``collect_params()`` minus the block prefix.
* Gates are stacked along rows in the canonical order: LSTM ``i f g o``, GRU ``r z n`` with
  the reset gate applied after the recurrent matmul (reset_after only).
* Always two biases; Gluon has no option to leave them out (only ``*_bias_initializer``).
* ``RNN``'s default activation is ``relu`` (torch's and Keras's is tanh): the adapter always
  passes it. ``input_size`` is always passed too: with deferred shape inference the
  parameters have no shape (``data()`` raises) until the first call, and a first call with
  ``sequence_length`` fails (apache/mxnet#21146).
* ``layout='NTC'`` swaps only the input and output; the states stay (L·D, N, ·), ordered
  ``l0.fwd, l0.bwd, l1.fwd, …``. ``net(x, states)`` takes ``[h]`` or ``[h, c]`` and returns
  ``(output, [h_n(, c_n)])``; called without states it returns the output alone, so the
  adapter passes zeros from ``begin_state`` when there is no initial state.
* Per-sample lengths need a layer built with ``use_sequence_length=True`` and a third
  argument ``sequence_length``; the adapter runs such a twin of the layer that shares its
  parameters. With cuDNN, padded steps are zeros (PADDED_ZEROS, not verifiable on CPU, where
  every case with lengths is a defect or unsupported; see below).

Defects of MXNet 1.9.1 on CPU (checked by the matrix, see ``known_defect``):

* float32 with lengths runs on oneDNN, which silently ignores the lengths
  (apache/mxnet#19323; the fix, PR apache/mxnet#19466, is not in 1.9.1): a strict xfail
  whose signature is "equals the reference run without lengths".
* float64, and LSTM projection in any dtype, run on the native kernel, which refuses lengths
  (unsupported; the error surfaces asynchronously, at the first read of the output).
* ``rnn_relu`` in float64 computes in float32: no upstream report found; a strict xfail
  whose signature is "equals the float64 reference rounded through float32".
* Gradients: the native kernel (float64) computes wrong i2h_weight gradients for the middle
  layers of a vanilla RNN stack of 3 or more layers (no upstream report found; the same bug
  was fixed for GRU by PR apache/mxnet#18203): a strict xfail of those gradient cases. It also
  gives every layer below the top zero (LSTM, GRU) or wrong (RNN) gradients when x itself
  needs no gradient; ``run_gradients`` always asks for x's, and
  tests/test_gluon_gradient_defects.py reproduces both (no upstream report found).
* LSTM projection has no backward on CPU ("No training support for LSTM with projection on CPU
  currently"): its gradient cases are unsupported (``gradient_limits``).
* LSTM state clipping (``state_clip_min/max``) is GPU-only (ignored in float32, an error in
  float64); it is not part of the canonical layer, so the adapter never sets it.

Options (design section 2a): only RNN's ``activation``, the mode (rnn_ref/adapters/mxnet/options.py).

mxnet is imported lazily: ``mapping`` works without it.
"""

from __future__ import annotations

import errno
import warnings
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.adapter import PADDED_ZEROS, Adapter
from rnn_ref.adapters.mxnet.options import FUSED_OPTION_LIMITS, RELU_KERNEL, fused_activation
from rnn_ref.cases import defects
from rnn_ref.cases import limits as cases
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.limits import (
    FLOAT32,
    FLOAT64,
    LENGTHS,
    PROJECTION,
    RESET_BEFORE,
    VANILLA,
    Defect,
    Limit,
    layers_from,
)
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.mapping import WeightMapping, build_mapping, fused_unit_rows
from rnn_ref.core.params import Params
from rnn_ref.core.spec import OPTIONS, RNNSpec
from rnn_ref.core.state import RNNOutput, State, present

NO_BIAS = (
    "mx.gluon.rnn layers always have i2h_bias and h2h_bias; there is no option to leave them "
    "out (bias=False)"
)
GRU_RESET_BEFORE = (
    "mx.gluon.rnn.GRU applies the reset gate after the recurrent matmul (reset_after); it has no "
    "option for reset_before (Keras reset_after=False, ONNX linear_before_reset=0)"
)
NATIVE_KERNEL_LENGTHS = (
    "per-sample lengths on MXNet's native CPU kernel (float64, and LSTM projection in any dtype: "
    "oneDNN runs neither) are refused: 'RNN use_sequence_length option is only available for "
    "cuDNN version >= 7.2'"
)
LENGTHS_IGNORED = (
    "apache/mxnet#19323: on CPU, float32 runs on oneDNN, which silently ignores "
    "use_sequence_length (fix: PR apache/mxnet#19466, not in 1.9.1)"
)
PROJECTION_NO_TRAINING = (
    "LSTM projection is inference-only on MXNet's CPU kernel: its backward raises 'No training "
    "support for LSTM with projection on CPU currently' (src/operator/rnn-inl.h)"
)
VANILLA_MIDDLE_LAYER_GRADIENT = (
    "observed on mxnet 1.9.1 CPU: the native kernel's (float64) rnn_tanh/rnn_relu backward gives wrong "
    "i2h_weight gradients for the middle layers of a stack of 3 or more; PR apache/mxnet#18203 fixed this "
    "bug for GRU (apache/mxnet#17898) but not for the vanilla RNN; no upstream report found for it "
    "(reproduction: tests/test_gluon_gradient_defects.py)"
)
RELU_FLOAT64 = (
    "observed on mxnet 1.9.1 CPU: fused rnn_relu in float64 rounds to float32 "
    "(errors ~5e-8); no upstream report found"
)

#: What the fused layer cannot express on CPU, or cannot differentiate there.
GLUON_LIMITS = (
    Limit(NO_BIAS, cases.NO_BIAS),
    Limit(GRU_RESET_BEFORE, RESET_BEFORE),
    *FUSED_OPTION_LIMITS,
    Limit(NATIVE_KERNEL_LENGTHS, LENGTHS & (FLOAT64 | PROJECTION), label="lengths on the native kernel"),
    Limit(PROJECTION_NO_TRAINING, PROJECTION, gradients_only=True, label="projection (no CPU backward)"),
)
#: What the fused layer computes wrong on CPU (mxnet 1.9.1), with what it computes instead.
GLUON_DEFECTS = (
    Defect(LENGTHS_IGNORED, LENGTHS & FLOAT32, defects.LENGTHS_IGNORED,
           label="lengths ignored in float32 (apache/mxnet#19323)"),
    Defect(RELU_FLOAT64, RELU_KERNEL & FLOAT64, defects.COMPUTES_IN_FLOAT32, label="relu float64"),
    Defect(VANILLA_MIDDLE_LAYER_GRADIENT, VANILLA & FLOAT64 & layers_from(3), gradients_only=True,
           label="3+-layer RNN in float64 (middle-layer input weights)"),
)


#: torch-style kind (as named by ``fused_unit_rows``) -> Gluon's parameter suffix.
GLUON_KINDS = {
    "weight_ih": "i2h_weight",
    "weight_hh": "h2h_weight",
    "bias_ih": "i2h_bias",
    "bias_hh": "h2h_bias",
    "weight_hr": "h2r_weight",
}


def import_mxnet() -> Any:
    """Import mxnet with its import-time DeprecationWarnings silenced (distutils ``LooseVersion``,
    NumPy aliases: mxnet 1.9.1's own code, nothing a test could act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import mxnet
    return mxnet


def save_parameters(layer: Any, target: str) -> None:
    """``layer.save_parameters(target)``; a write the disk refuses (full, a file size limit) is an
    OSError, as it is for Python's own writes. MXNet raises MXNetError with its C++ traceback,
    saying only "FileStream.Write incomplete", not why."""
    saving(lambda: layer.save_parameters(target))


def saving(save: Any) -> None:
    """Run an MXNet write (``save()``), its refused write an OSError (see ``save_parameters``)."""
    mxnet = import_mxnet()
    try:
        save()
    except mxnet.base.MXNetError as error:
        last = str(error).strip().splitlines()[-1].rsplit(": ", 1)[-1]
        raise OSError(errno.EIO, f"MXNet: {last}; is the disk full, or the file larger than allowed?") from None


def gluon_name(layer: int, direction: str, kind: str) -> str:
    """Gluon's structural name: ``l0_i2h_weight`` (forward), ``r1_h2r_weight`` (backward)."""
    return f"{'r' if direction == 'bwd' else 'l'}{layer}_{GLUON_KINDS[kind]}"


def gluon_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """Rows of the fused Gluon layer, shared with ``gluon-cell`` (its cells use the same names)."""

    def unit(layer: int, direction: str):
        return fused_unit_rows(spec, layer, direction, lambda kind: gluon_name(layer, direction, kind))

    return build_mapping(engine, spec, unit)


class GluonAdapter(Adapter):
    """``mx.gluon.rnn.RNN`` / ``LSTM`` / ``GRU`` (fused; oneDNN for float32 on CPU)."""

    name = "gluon"
    options: ClassVar[frozenset[str]] = frozenset(OPTIONS)
    declared_limits: ClassVar[tuple[Limit, ...]] = GLUON_LIMITS
    declared_defects: ClassVar[tuple[Defect, ...]] = GLUON_DEFECTS

    def version(self) -> str:
        return import_mxnet().__version__

    def padded_steps(self, spec: RNNSpec) -> str:
        return PADDED_ZEROS

    def mapping(self, spec: RNNSpec) -> WeightMapping:
        return gluon_mapping(self.name, spec)

    def build(self, spec: RNNSpec, params: Params) -> Any:
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        return initialized_with(fused_layer(spec, str(params.dtype)), self.mapping(spec).to_native(params))

    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        return structural_arrays(layer)

    def run(self, spec, layer, x, initial_state=None, lengths=None) -> RNNOutput:
        mx = import_mxnet()
        self.check_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        batch = x.shape[1 if spec.layout == "TNC" else 0]
        inputs = mx.nd.array(x, dtype=x.dtype)  # without dtype, nd.array makes float32
        states = to_gluon_states(spec, layer, initial_state, batch, x.dtype)
        if lengths is None:
            output, final = layer(inputs, states)
        else:
            twin = fused_layer(spec, str(x.dtype), use_sequence_length=True, shared=layer)
            output, final = twin(inputs, states, mx.nd.array(lengths, dtype="int32"))
        return RNNOutput(
            output.asnumpy(), final[0].asnumpy(), final[1].asnumpy() if spec.has_cell_state else None
        )

    def run_gradients(self, spec, layer, x, initial_state, lengths, cotangents: Cotangents) -> EngineGradients:
        """mx.autograd.record() around the fused layer, then mx.autograd.backward with the cotangents."""
        mx = import_mxnet()
        self.check_gradient_supported(spec, str(x.dtype), with_lengths=lengths is not None)
        batch = x.shape[1 if spec.layout == "TNC" else 0]
        inputs = mx.nd.array(x, dtype=x.dtype)
        states = to_gluon_states(spec, layer, initial_state, batch, x.dtype)
        watched = [inputs] + (states if initial_state is not None else [])
        for array in watched:
            array.attach_grad()
        with mx.autograd.record():
            if lengths is None:
                output, final = layer(inputs, states)
            else:
                twin = fused_layer(spec, str(x.dtype), use_sequence_length=True, shared=layer)
                output, final = twin(inputs, states, mx.nd.array(lengths, dtype="int32"))
        return autograd_gradients(spec, layer, watched, [output, *final], cotangents)


def autograd_gradients(spec: RNNSpec, block: Any, watched: list, heads: list,
                       cotangents: Cotangents) -> EngineGradients:
    """mx.autograd.backward of the heads [output, h_n(, c_n)] with the cotangents; gradients of the
    watched arrays [x(, h0(, c0))] and of every parameter (by structural name)."""
    mx = import_mxnet()
    given = [cotangents.output, cotangents.h_n]
    if spec.has_cell_state:
        given.append(present(cotangents.c_n, "cotangent c_n"))
    mx.autograd.backward(heads, head_grads=[mx.nd.array(g, dtype=g.dtype) for g in given])
    grads = [array.grad.asnumpy() for array in watched]
    native = {name.removeprefix(block.prefix): param.grad().asnumpy().copy()
              for name, param in block.collect_params().items()}
    return EngineGradients(x=grads[0], h0=grads[1] if len(grads) > 1 else None,
                           c0=grads[2] if len(grads) > 2 else None, native=native)


def fused_layer(spec: RNNSpec, dtype: str, use_sequence_length: bool = False, shared: Any = None) -> Any:
    """An uninitialized ``RNN``/``LSTM``/``GRU`` for ``spec``; ``shared``: a layer whose params it uses."""
    rnn = import_mxnet().gluon.rnn
    common = dict(
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        layout=spec.layout,
        bidirectional=spec.bidirectional,
        input_size=spec.input_size,
        dtype=dtype,
        use_sequence_length=use_sequence_length,
    )
    if shared is not None:
        common |= dict(prefix=shared.prefix, params=shared.params)
    if spec.mode == "lstm":
        return rnn.LSTM(projection_size=spec.proj_size or None, **common)
    if spec.mode == "gru":
        return rnn.GRU(**common)
    return rnn.RNN(activation=fused_activation(spec), **common)


def structural_arrays(block: Any) -> dict[str, np.ndarray]:
    """A block's parameters as NumPy arrays keyed by structural name (the block prefix removed)."""
    arrays = {}
    for name, param in block.collect_params().items():
        if not name.startswith(block.prefix):
            raise ParamsError(f"parameter {name!r} does not start with the block prefix {block.prefix!r}")
        arrays[name.removeprefix(block.prefix)] = param.data().asnumpy().copy()
    return arrays


def initialized_with(block: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``block`` initialized (its parameters allocated) and then holding ``arrays`` (``load_params``)."""
    block.initialize()
    load_params(block, arrays)
    return block


def load_params(block: Any, arrays: dict[str, np.ndarray]) -> None:
    """Copy NumPy arrays into an initialized block's parameters by structural name.

    Strict, like torch's ``load_state_dict``: the names must be exactly the block's, and the
    shapes and dtypes must match (``set_data`` would convert a dtype silently).
    """
    mx = import_mxnet()
    params = {name.removeprefix(block.prefix): param for name, param in block.collect_params().items()}
    missing, unexpected = sorted(set(params) - set(arrays)), sorted(set(arrays) - set(params))
    if missing or unexpected:
        raise ParamsError(f"Gluon block {block.prefix!r}: missing {missing}, unexpected {unexpected}")
    for name, array in arrays.items():
        param = params[name]
        if tuple(param.shape) != array.shape or np.dtype(param.dtype) != array.dtype:
            raise ParamsError(
                f"Gluon parameter {name}: block has {tuple(param.shape)} {np.dtype(param.dtype)}, "
                f"array has {array.shape} {array.dtype}"
            )
        param.set_data(mx.nd.array(array, dtype=array.dtype))


def to_gluon_states(
    spec: RNNSpec, layer: Any, initial_state: State | None, batch: int, dtype: np.dtype
) -> list[Any]:
    """Canonical (h0, c0) -> Gluon's ``[h]`` or ``[h, c]``, each (L·D, N, ·); zeros when None."""
    mx = import_mxnet()
    if initial_state is None:
        return layer.begin_state(batch_size=batch, dtype=np.dtype(dtype).name)
    states = [initial_state.h] + ([present(initial_state.c, "c0")] if spec.has_cell_state else [])
    return [mx.nd.array(state, dtype=state.dtype) for state in states]

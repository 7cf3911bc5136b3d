"""The mistake catalog, conventions part: slips in how a layer is run, for the outputs form.

Each is a ``Candidate`` with a ``run`` hook (what the reference is asked: the layer, x, the
initial state, the lengths, the σ of the gates) or a ``result`` hook (what it gives back). The
boundary slips of ``rnn-ref selftest`` are reused from rnn_ref.judge.mutations (a reshape where
a TNC <-> NTC transpose was meant, the state units reversed). Engine conventions are named by
what they compute: the hard sigmoids are ``clip(slope·x + 0.5, 0, 1)`` with slope 0.2 (Keras 2's
``hard_sigmoid`` and ONNX's ``HardSigmoid`` default, alpha 0.2, beta 0.5) or 1/6 (Keras 3's,
``relu6(x + 3) / 6``); padded steps either repeat the last valid output (a masked Keras layer on
its generic path) or are consumed as if they existed (lengths ignored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.diagnosis.catalog import Blocks, Candidate, Run
from rnn_ref.diagnosis.findings import Mistake
from rnn_ref.judge.mutations import reshaped_layout, reverse_final_states, reversed_state
from rnn_ref.oracle.forward import forward

#: slope -> what it is called; both are clip(slope * x + 0.5, 0, 1)
HARD_SIGMOID_SLOPES = {0.2: "0.2", 1 / 6: "1/6"}


def hard_sigmoid(slope: float) -> Callable[..., np.ndarray]:
    def gate(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.multiply(x, slope, out=out)
        out += 0.5
        return np.clip(out, 0.0, 1.0, out=out)
    return gate


def hardened(slope: float) -> Callable[[Run], Run]:
    """A run whose gates use the hard sigmoid of ``slope``."""
    return lambda run: dataclasses.replace(run, gate_activation=hard_sigmoid(slope))


def time_major(array: np.ndarray, spec: RNNSpec) -> np.ndarray:
    """(T, N, F) from an array in ``spec``'s layout (a view; the same call turns it back)."""
    return array if spec.layout == "TNC" else array.transpose(1, 0, 2)


def steps_and_batch(run: Run) -> tuple[int, int]:
    steps, batch = time_major(run.x, run.spec).shape[:2]
    return steps, batch


def repeat_last(run: Run, _: Blocks, result: RNNOutput) -> RNNOutput:
    """Each sample's output at its padded steps is its output at its last valid step (no step is
    padded where the lengths were ignored)."""
    if run.lengths is None:
        return result
    output = time_major(result.output, run.spec).copy()
    for sample, length in enumerate(run.lengths):
        output[length:, sample] = output[length - 1, sample]
    return dataclasses.replace(result, output=np.ascontiguousarray(time_major(output, run.spec)))


def reference(run: Run, spec: RNNSpec, blocks: Blocks, x: np.ndarray, state: State | None,
              lengths: np.ndarray | None) -> RNNOutput:
    return forward(spec, Params(spec, blocks), x, state, lengths, gate_activation=run.gate_activation)


def layer_input(run: Run, blocks: Blocks, layer: int) -> np.ndarray:
    """What ``layer`` of ``run``'s layer reads, time-major (T, N, I_l): x, or the output of the layers
    below, run alone as the whole layer runs them (the reference computes a layer from its input
    alone, so these are the whole layer's values bit for bit)."""
    spec = run.spec
    x = time_major(run.x, spec)
    if not layer:
        return x
    units = layer * spec.num_directions
    below = spec.replace(num_layers=layer, layout="TNC")
    state = None if run.state is None else State(
        run.state.h[:units], None if run.state.c is None else run.state.c[:units])
    kept = {k: v for k, v in blocks.items() if int(k.split(".")[0][1:]) < layer}
    return reference(run, below, kept, x, state, run.lengths).output


def unit_alone(run: Run, blocks: Blocks, layer: int, direction: str,
               dtype: np.dtype) -> tuple[RNNSpec, Blocks, State | None]:
    """One unit of ``run``'s layer as a one-layer, one-direction layer of its own: its spec (TNC),
    its blocks under l0.fwd, its initial state (one unit, in ``dtype``: the dtype of its input)."""
    spec = run.spec
    unit = layer * spec.num_directions + spec.directions.index(direction)
    one = RNNSpec(spec.mode, spec.layer_input_size(layer), spec.hidden_size, bias=spec.bias,
                  proj_size=spec.proj_size, gru_variant=spec.gru_variant)
    own = {f"l0.fwd.{k.split('.', 2)[2]}": v for k, v in blocks.items() if k.startswith(f"l{layer}.{direction}.")}
    state = None if run.state is None else State(
        run.state.h[unit:unit + 1].astype(dtype),
        None if run.state.c is None else run.state.c[unit:unit + 1].astype(dtype))
    return one, own, state


def backward_after_first_step(run: Run, blocks: Blocks, result: RNNOutput) -> RNNOutput:
    """The backward units' final states taken after their first step (the sample's last valid step,
    e.g. ``output[-1]``) instead of after step 0."""
    spec = run.spec
    steps, batch = steps_and_batch(run)
    first = np.full(batch, steps - 1) if run.lengths is None else np.asarray(run.lengths) - 1
    h_n = result.h_n.copy()
    c_n = None if result.c_n is None else result.c_n.copy()
    for layer in range(spec.num_layers):
        step = layer_input(run, blocks, layer)[first, np.arange(batch)][None]
        one, own, state = unit_alone(run, blocks, layer, "bwd", step.dtype)
        stepped = reference(run, one, own, step, state, None)
        unit = 2 * layer + 1
        h_n[unit] = stepped.h_n[0]
        if c_n is not None and stepped.c_n is not None:
            c_n[unit] = stepped.c_n[0]
    return RNNOutput(result.output, h_n, c_n)


def convention_candidates(run: Run) -> list[Candidate]:
    """The run and result mistakes that can change something on ``run``."""
    spec = run.spec
    steps, batch = steps_and_batch(run)
    units = spec.num_layers * spec.num_directions
    found: list[Candidate] = []
    if spec.mode == "gru":
        other = "reset_before" if spec.gru_variant == "reset_after" else "reset_after"
        found.append(Candidate(Mistake("gru-variant", {"variant": other},
                                       f"the GRU is computed {other} where the weights are {spec.gru_variant}"),
                               run=lambda r: dataclasses.replace(r, spec=r.spec.replace(gru_variant=other))))
    if spec.mode in ("lstm", "gru"):
        for slope, name in HARD_SIGMOID_SLOPES.items():
            found.append(Candidate(
                Mistake("activation", {"gate": "hard_sigmoid", "slope": name, "offset": 0.5},
                        f"the gates use a hard sigmoid clip({name}·x + 0.5, 0, 1) where the logistic σ belongs"),
                run=hardened(slope)))
    if run.lengths is not None and (np.asarray(run.lengths) < steps).any():
        found.append(Candidate(Mistake("padded-steps", {"padded": "consumed"},
                                       "the lengths are ignored: padded steps are run as if they existed"),
                               run=lambda r: dataclasses.replace(r, lengths=None)))
        found.append(Candidate(Mistake("padded-steps", {"padded": "repeat-last"},
                                       "padded steps repeat the last valid output where zeros belong"),
                               result=repeat_last))
    other_layout = "NTC" if spec.layout == "TNC" else "TNC"
    found.append(Candidate(Mistake("layout", {"input": f"{spec.layout} read as {other_layout}"},
                                   f"x ({spec.layout}) is read as {other_layout}"),
                           run=lambda r: dataclasses.replace(r, spec=r.spec.replace(layout=other_layout))))
    if steps != batch:
        found.append(Candidate(Mistake("layout", {"input": "reshaped"},
                                       "x is reshaped where a TNC <-> NTC transpose was meant"),
                               run=lambda r: dataclasses.replace(r, x=reshaped_layout(r.x))))
        found.append(Candidate(Mistake("layout", {"output": "reshaped"},
                                       "the output is reshaped where a TNC <-> NTC transpose was meant"),
                               result=lambda r, b, out: dataclasses.replace(out, output=reshaped_layout(out.output))))
    if run.state is not None and units >= 2:
        found.append(Candidate(Mistake("initial-state", {"units": "reversed"},
                                       "the initial states are read in reversed unit order (l0.fwd last)"),
                               run=lambda r: dataclasses.replace(r, state=reversed_state(r.state))))
    if units >= 2:
        found.append(Candidate(Mistake("final-state", {"units": "reversed"},
                                       "the final states are given in reversed unit order (l0.fwd last)"),
                               result=lambda r, b, out: reverse_final_states(out)))
    if spec.bidirectional:
        found.append(Candidate(Mistake("final-state", {"backward": "after its first step"},
                                       "the backward direction's final states are taken after its first step "
                                       "(the last time step) where the state after step 0 belongs"),
                               result=backward_after_first_step))
    return found

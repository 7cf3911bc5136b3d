"""What a recurrent node's attributes say of the layer's options, read into ``RNNSpec`` fields.

``files.layer_of_model`` reads an ``.onnx`` file's RNN/LSTM/GRU nodes; this module turns one
node's attributes into the canonical mode and options (design section 2a), refusing by name what
the canonical layer cannot hold. ONNX's rules, as ``model.node_attributes`` writes them:

* ``activations`` list the mode's activations once per direction (LSTM f, g, h; GRU f, g; RNN
  f), ONNX's names in any letter case (onnxruntime reads them so); both directions must list the
  same ones, with the same parameters (rnn_ref's layer applies one set to both). An RNN whose
  activation is ``Relu`` is the mode ``rnn_relu``; ``Tanh`` is ``rnn_tanh``; any other is an
  ``rnn_tanh`` layer with that activation.
* ``activation_alpha`` / ``activation_beta``: each value goes to the next listed activation that
  takes that parameter (onnxruntime 1.32, measured: ``HardSigmoid, Tanh, LeakyRelu`` with alpha
  ``[0.3, 0.1]`` is HardSigmoid(0.3) and LeakyRelu(0.1)); an activation left without a value takes
  the default of ONNX's operator of the same name (the spec text: "Default values are the same as
  of corresponding ONNX operators"). More values than activations that take them is refused.
* ``clip`` (a finite number > 0), ``input_forget`` (0 or 1, LSTM), ``direction="reverse"`` (a
  layer that reads from the end: ``reverse=True``).

Peepholes are the node's input ``P``, read with the weights (``files.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnn_ref.adapters.onnx.protos import describe
from rnn_ref.core.activations import KINDS, MODE_ACTIVATIONS, resolved
from rnn_ref.core.errors import ParamsError, SpecError
from rnn_ref.core.spec import RNNSpec

#: ONNX's activation names by their lower case (onnxruntime compares them so).
NAMES = {name.lower(): name for name in KINDS}
#: How many activations a node of each op lists per direction.
PER_DIRECTION = {"RNN": 1, "LSTM": 3, "GRU": 2}


def activation_names(path: Path | str, node: Any, listed: list[str], directions: int) -> list[str]:
    """The node's activations in ONNX's spelling, one list for all directions."""
    per_direction = PER_DIRECTION[node.op_type]
    if len(listed) != per_direction * directions:
        said = f"its {per_direction} activations per direction" if per_direction > 1 else "one activation per direction"
        raise ParamsError(f"{path}: {describe(node)} has {len(listed)} activations {listed}; a "
                          f"{'bidirectional' if directions == 2 else 'one-direction'} {node.op_type} lists {said}, "
                          f"{per_direction * directions} in all")
    unknown = [name for name in listed if name.lower() not in NAMES]
    if unknown:
        raise ParamsError(f"{path}: {describe(node)} has the activation(s) {unknown}, which ONNX does not define "
                          f"(its activations: {', '.join(KINDS)})")
    return [NAMES[name.lower()] for name in listed]


def consumed(path: Path | str, node: Any, names: list[str], values: list[float], parameter: str) -> list[float | None]:
    """Each activation's ``parameter`` (alpha or beta) under ONNX's consumption rule; None: ONNX's default."""
    takers = [k for k, name in enumerate(names) if getattr(KINDS[name], parameter) is not None]
    if len(values) > len(takers):
        raise ParamsError(f"{path}: {describe(node)} lists {len(values)} activation_{parameter} values {values}, but "
                          f"only {len(takers)} of its activations {names} take an {parameter} (ONNX gives each value "
                          f"to the next activation that takes one)")
    given: list[float | None] = [None] * len(names)
    for k, value in zip(takers, values, strict=False):
        given[k] = float(value)
    return given


def option_fields(path: Path | str, node: Any, attributes: dict[str, Any], directions: int) -> tuple[str, dict]:
    """The canonical mode of one node and its RNNSpec option fields (only those it uses)."""
    fields: dict[str, Any] = {}
    if attributes.get("direction") == "reverse":
        fields["reverse"] = True
    if "clip" in attributes:
        fields["clip"] = attributes["clip"]
    forget = attributes.get("input_forget", 0)
    if forget not in (0, 1):
        raise ParamsError(f"{path}: {describe(node)} has input_forget={forget}; ONNX couples the gates for 1 and "
                          "not for 0")
    if forget:
        fields["input_forget"] = True
    default = "rnn_tanh" if node.op_type == "RNN" else node.op_type.lower()
    listed = attributes.get("activations")
    if listed is None:
        names = list(MODE_ACTIVATIONS[default]) * directions
    else:
        names = activation_names(path, node, listed, directions)
    alphas = consumed(path, node, names, list(attributes.get("activation_alpha", [])), "alpha")
    betas = consumed(path, node, names, list(attributes.get("activation_beta", [])), "beta")
    acts = [resolved(name, alpha, beta) for name, alpha, beta in zip(names, alphas, betas, strict=True)]
    per_direction = PER_DIRECTION[node.op_type]
    first, rest = acts[:per_direction], acts[per_direction:]
    if rest and rest != first:
        raise ParamsError(f"{path}: {describe(node)} runs its directions with different activations "
                          f"({', '.join(a.text for a in first)} forward, {', '.join(a.text for a in rest)} backward); "
                          "rnn-ref's layer applies the same activations to both directions")
    mode = default
    if node.op_type == "RNN":
        mode = "rnn_relu" if first == [resolved("Relu")] else "rnn_tanh"
    if first != [resolved(name) for name in MODE_ACTIVATIONS[mode]]:
        fields |= {"activations": tuple(a.name for a in first), "activation_alpha": tuple(a.alpha for a in first),
                   "activation_beta": tuple(a.beta for a in first)}
    return mode, fields


def checked_options(path: Path | str, node: Any, mode: str, fields: dict) -> dict:
    """``fields`` as RNNSpec validates them (a clip of 0 or below, say, is refused naming the node)."""
    try:
        RNNSpec(mode, 1, 1, **fields)
    except SpecError as error:
        raise ParamsError(f"{path}: {describe(node)}: {error}") from None
    return fields

"""``RNNSpec``: the validated, framework-neutral description of a recurrent layer.

Conventions (design section 2):

* ``mode`` is one of ``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``.
* ``gru_variant`` (GRU only) is ``reset_after`` (PyTorch, cuDNN, Gluon, Keras
  ``reset_after=True``) or ``reset_before`` (Keras ``reset_after=False``).
* ``layout`` is ``TNC`` (time, batch, feature) or ``NTC`` (batch, time, feature).
* ``proj_size`` (LSTM only) projects the hidden state to P < H features; 0 means none.

The options (design section 2a), all defaulting to each mode's plain equations:

* ``activations`` — ONNX's names, in ONNX's order: LSTM (f, g, h), GRU (f, g), RNN (f,);
  None means the mode's own. ``activation_alpha``/``activation_beta`` hold one value per
  activation (0.0 where the activation takes none); None means ONNX's defaults. Both are
  stored resolved (rnn_ref.core.activations), so two specs computing the same compare equal.
* ``clip`` — ONNX's cell clip: every gate's pre-activation is clipped to [-clip, clip].
* ``peepholes`` (LSTM) — i and f see c_{t-1}, o sees c_t, through ``w_peep.{i,f,o}`` (H,).
* ``input_forget`` (LSTM) — coupled gates: f = 1 - i (the forget gate's weights are unused).
* ``reverse`` (unidirectional) — the one direction reads from each sample's last step; its
  parameters and state are the ``bwd`` direction's, and the output is in original time order.
* ``merge_mode`` (bidirectional) — ``concat``, ``sum``, ``mul`` or ``ave``: how the two
  directions' outputs combine at every level (Keras ``Bidirectional``).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_ref.core.activations import KINDS, MODE_ACTIVATIONS, Activation, resolved
from rnn_ref.core.errors import SpecError

MODES: tuple[str, ...] = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GRU_VARIANTS: tuple[str, ...] = ("reset_after", "reset_before")
LAYOUTS: tuple[str, ...] = ("TNC", "NTC")
DIRECTIONS: tuple[str, ...] = ("fwd", "bwd")
MERGE_MODES: tuple[str, ...] = ("concat", "sum", "mul", "ave")
#: The options a spec may use beyond its mode's plain equations, in the order ``options`` lists them.
OPTIONS: tuple[str, ...] = ("activations", "clip", "peepholes", "input_forget", "reverse", "merge_mode")
#: The LSTM gates a peephole reaches (i and f see c_{t-1}, o sees c_t).
PEEPHOLE_GATES: tuple[str, ...] = ("i", "f", "o")

#: Canonical gate names per mode, in canonical order (one weight block per gate).
GATES: dict[str, tuple[str, ...]] = {
    "rnn_tanh": ("h",),
    "rnn_relu": ("h",),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
}


#: Limits no real recurrent layer reaches, so that a typo (``--layers 100000``) is refused at
#: once instead of allocating until the kernel kills the process. The deepest published RNN
#: stacks have tens of layers and the widest LSTMs 8192 units (about 0.07 G parameters per
#: layer, Jozefowicz et al. 2016); a layer of MAX_PARAMETERS float64 values is 8 GiB.
MAX_LAYERS = 1000
MAX_FEATURES = 2**20
MAX_PARAMETERS = 2**30


#: The RNNSpec fields of the options (``to_dict`` leaves them out at their defaults).
OPTION_FIELDS: tuple[str, ...] = ("activations", "activation_alpha", "activation_beta", "clip", "peepholes",
                                  "input_forget", "reverse", "merge_mode")


def _require_int(field: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as a plain int (NumPy integers accepted); bools, floats and values out of range rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SpecError(f"{field}={value!r} must be an int >= {minimum}")
    if maximum is not None and int(value) > maximum:  # int(): typeshed's Integral has no __gt__
        raise SpecError(f"{field}={value!r} is above the limit {maximum}, which no real recurrent layer reaches")
    return int(value)


def _require_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{field}={value!r} is not one of {', '.join(allowed)}")


def _require_bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{field}={value!r} must be True or False")


@dataclass(frozen=True)
class RNNSpec:
    """A recurrent layer: cell type, sizes, stacking, direction and layout.

    Derived sizes: ``H = hidden_size``; ``R = proj_size or H`` (the size of h);
    ``D = 2 if bidirectional else 1``; the input size of layer ``l`` is ``input_size`` for
    ``l = 0`` and ``D * R`` above it.
    """

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    layout: str = "TNC"
    bias: bool = True
    proj_size: int = 0
    gru_variant: str | None = None
    activations: tuple[str, ...] | None = None
    activation_alpha: tuple[float, ...] | None = None
    activation_beta: tuple[float, ...] | None = None
    clip: float | None = None
    peepholes: bool = False
    input_forget: bool = False
    reverse: bool = False
    merge_mode: str = "concat"

    def __post_init__(self) -> None:
        _require_choice("mode", self.mode, MODES)
        for field, minimum, maximum in (("input_size", 1, MAX_FEATURES), ("hidden_size", 1, MAX_FEATURES),
                                        ("num_layers", 1, MAX_LAYERS), ("proj_size", 0, MAX_FEATURES)):
            object.__setattr__(self, field, _require_int(field, getattr(self, field), minimum, maximum))
        _require_bool("bidirectional", self.bidirectional)
        _require_choice("layout", self.layout, LAYOUTS)
        _require_bool("bias", self.bias)
        if self.proj_size and self.mode != "lstm":
            raise SpecError(
                f"proj_size={self.proj_size!r} is only allowed for mode='lstm' (got mode={self.mode!r})"
            )
        if self.proj_size and not self.proj_size < self.hidden_size:
            raise SpecError(
                f"proj_size={self.proj_size!r} must satisfy 0 < proj_size < hidden_size={self.hidden_size}"
            )
        if self.mode == "gru":
            if self.gru_variant is None:
                object.__setattr__(self, "gru_variant", "reset_after")
            _require_choice("gru_variant", self.gru_variant, GRU_VARIANTS)
        elif self.gru_variant is not None:
            raise SpecError(
                f"gru_variant={self.gru_variant!r} is only allowed for mode='gru' (got mode={self.mode!r})"
            )
        self._check_options()
        if self.parameter_count > MAX_PARAMETERS:
            raise SpecError(
                f"this layer has {self.parameter_count} parameters, above the limit {MAX_PARAMETERS} "
                "(8 GiB in float64), which no real recurrent layer reaches"
            )

    def _check_options(self) -> None:
        """Validate the options and store the activations resolved (see the module docstring)."""
        for field in ("peepholes", "input_forget", "reverse"):
            _require_bool(field, getattr(self, field))
        for field in ("peepholes", "input_forget"):
            if getattr(self, field) and self.mode != "lstm":
                raise SpecError(f"{field}=True is only allowed for mode='lstm' (got mode={self.mode!r})")
        if self.reverse and self.bidirectional:
            raise SpecError("reverse=True is for a unidirectional layer; a bidirectional one already "
                            "has its reverse direction (bwd)")
        _require_choice("merge_mode", self.merge_mode, MERGE_MODES)
        if self.merge_mode != "concat" and not self.bidirectional:
            raise SpecError(f"merge_mode={self.merge_mode!r} needs bidirectional=True: a unidirectional "
                            "layer has nothing to merge")
        if self.clip is not None:
            if isinstance(self.clip, bool) or not isinstance(self.clip, numbers.Real) or not self.clip > 0 \
                    or self.clip == float("inf"):
                raise SpecError(f"clip={self.clip!r} must be a finite number > 0 (or None: no clip)")
            object.__setattr__(self, "clip", float(self.clip))
        self._resolve_activations()

    def _resolve_activations(self) -> None:
        names, alpha, beta = self.activations, self.activation_alpha, self.activation_beta
        if names is None:
            if alpha is not None or beta is not None:
                raise SpecError("activation_alpha/activation_beta need activations: "
                                f"the mode's own activations {MODE_ACTIVATIONS[self.mode]} take no parameters")
            return
        if isinstance(names, str) or not all(isinstance(name, str) for name in names):
            raise SpecError(f"activations={names!r} must be a sequence of names, e.g. ('Sigmoid', 'Tanh', 'Tanh')")
        names = tuple(names)
        wanted = len(MODE_ACTIVATIONS[self.mode])
        if len(names) != wanted:
            raise SpecError(f"activations={names!r}: mode {self.mode!r} has {wanted} "
                            f"({', '.join(('f', 'g', 'h')[:wanted])}; its own are {MODE_ACTIVATIONS[self.mode]})")
        unknown = [name for name in names if name not in KINDS]
        if unknown:
            raise SpecError(f"unknown activation(s) {unknown}; allowed: {', '.join(KINDS)} (ONNX's names)")
        values: list[tuple[float | None, ...]] = []
        for field, given in (("activation_alpha", alpha), ("activation_beta", beta)):
            if given is None:
                values.append((None,) * wanted)
                continue
            if isinstance(given, str) or len(given) != wanted or not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in given):
                raise SpecError(f"{field}={given!r} must hold {wanted} finite numbers, one per activation")
            values.append(tuple(given))
        acts = tuple(resolved(name, a, b) for name, a, b in zip(names, *values, strict=True))
        if acts == tuple(resolved(name) for name in MODE_ACTIVATIONS[self.mode]):
            acts_fields: tuple = (None, None, None)  # the mode's own: stored as the default
        else:
            acts_fields = (names, tuple(a.alpha for a in acts), tuple(a.beta for a in acts))
        for field, value in zip(("activations", "activation_alpha", "activation_beta"), acts_fields, strict=True):
            object.__setattr__(self, field, value)

    # ----------------------------------------------------------------- options
    @property
    def resolved_activations(self) -> tuple[Activation, ...]:
        """The activations in ONNX's order (LSTM f, g, h; GRU f, g; RNN f), parameters filled in."""
        if self.activations is None:
            return tuple(resolved(name) for name in MODE_ACTIVATIONS[self.mode])
        assert self.activation_alpha is not None and self.activation_beta is not None  # resolved together
        return tuple(Activation(name, a, b) for name, a, b in
                     zip(self.activations, self.activation_alpha, self.activation_beta, strict=True))

    @property
    def options(self) -> tuple[str, ...]:
        """The options (``OPTIONS``) this layer uses beyond its mode's plain equations, e.g. ``('peepholes',)``."""
        used = {
            "activations": self.activations is not None,
            "clip": self.clip is not None,
            "peepholes": self.peepholes,
            "input_forget": self.input_forget,
            "reverse": self.reverse,
            "merge_mode": self.merge_mode != "concat",
        }
        return tuple(option for option in OPTIONS if used[option])

    # ----------------------------------------------------------------- derived sizes
    @property
    def gates(self) -> tuple[str, ...]:
        """Canonical gate names of this mode, e.g. ``('i', 'f', 'g', 'o')`` for LSTM."""
        return GATES[self.mode]

    @property
    def num_directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def directions(self) -> tuple[str, ...]:
        """``('fwd',)``, ``('fwd', 'bwd')``, or ``('bwd',)`` for a reverse layer (its one direction
        is exactly the backward half of a bidirectional layer)."""
        return ("bwd",) if self.reverse else DIRECTIONS[: self.num_directions]

    @property
    def state_size(self) -> int:
        """R: the size of h (``proj_size`` when projecting, else ``hidden_size``)."""
        return self.proj_size or self.hidden_size

    @property
    def has_cell_state(self) -> bool:
        """True for LSTM, the only mode with a cell state c."""
        return self.mode == "lstm"

    @property
    def output_size(self) -> int:
        """Features per output step: D * R (R when the directions' outputs are merged otherwise
        than by concatenation); the input size of every layer above the first."""
        return self.num_directions * self.state_size if self.merge_mode == "concat" else self.state_size

    @property
    def parameter_count(self) -> int:
        """Canonical parameters of the whole layer (weights, biases and projections), computed
        from the sizes alone, so that a layer can be refused before anything is allocated."""
        gates, hidden, state = len(self.gates), self.hidden_size, self.state_size
        per_direction_above = gates * hidden * (self.output_size + state)
        biases = 2 * gates * hidden if self.bias else 0
        projection = self.proj_size * hidden + (len(PEEPHOLE_GATES) * hidden if self.peepholes else 0)
        first = gates * hidden * (self.input_size + state)
        per_layer_extra = biases + projection
        total = first + (self.num_layers - 1) * per_direction_above
        return self.num_directions * (total + self.num_layers * per_layer_extra)

    def layer_input_size(self, layer: int) -> int:
        """I_l: ``input_size`` for layer 0, ``D * R`` for the layers above."""
        if not 0 <= layer < self.num_layers:
            raise SpecError(f"layer={layer!r} is out of range 0..{self.num_layers - 1}")
        return self.input_size if layer == 0 else self.output_size

    def units(self) -> list[tuple[int, str]]:
        """(layer, direction) pairs in state order: l0.fwd, l0.bwd, l1.fwd, ..."""
        return [(layer, d) for layer in range(self.num_layers) for d in self.directions]

    # ----------------------------------------------------------------- conversions
    def replace(self, **changes: Any) -> RNNSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (used by fixture manifests and the CLI). The options appear only where
        they differ from the default, so a layer without options reads as it always has."""
        data = dataclasses.asdict(self)
        defaults = {field.name: field.default for field in dataclasses.fields(self) if field.name in OPTION_FIELDS}
        for name, default in defaults.items():
            if data[name] == default:
                del data[name]
            elif isinstance(data[name], tuple):
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RNNSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown RNNSpec field(s) {unknown}; allowed: {sorted(known)}")
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)

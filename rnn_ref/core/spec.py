"""``RNNSpec``: the validated, framework-neutral description of a recurrent layer.

Conventions (design section 2):

* ``mode`` is one of ``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``.
* ``gru_variant`` (GRU only) is ``reset_after`` (PyTorch, cuDNN, Gluon, Keras
  ``reset_after=True``) or ``reset_before`` (Keras ``reset_after=False``).
* ``layout`` is ``TNC`` (time, batch, feature) or ``NTC`` (batch, time, feature).
* ``proj_size`` (LSTM only) projects the hidden state to P < H features; 0 means none.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from rnn_ref.core.errors import SpecError

MODES: tuple[str, ...] = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GRU_VARIANTS: tuple[str, ...] = ("reset_after", "reset_before")
LAYOUTS: tuple[str, ...] = ("TNC", "NTC")
DIRECTIONS: tuple[str, ...] = ("fwd", "bwd")

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
        if self.parameter_count > MAX_PARAMETERS:
            raise SpecError(
                f"this layer has {self.parameter_count} parameters, above the limit {MAX_PARAMETERS} "
                "(8 GiB in float64), which no real recurrent layer reaches"
            )

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
        """``('fwd',)`` or ``('fwd', 'bwd')``."""
        return DIRECTIONS[: self.num_directions]

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
        """Features per output step: D * R."""
        return self.num_directions * self.state_size

    @property
    def parameter_count(self) -> int:
        """Canonical parameters of the whole layer (weights, biases and projections), computed
        from the sizes alone, so that a layer can be refused before anything is allocated."""
        gates, hidden, state = len(self.gates), self.hidden_size, self.state_size
        per_direction_above = gates * hidden * (self.output_size + state)
        biases = 2 * gates * hidden if self.bias else 0
        projection = self.proj_size * hidden
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
        """Plain-JSON form (used by fixture manifests and the CLI)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RNNSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown RNNSpec field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)

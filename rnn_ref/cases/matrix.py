"""The case matrix shared by the pytest suite, ``rnn-ref check`` and fixture recording.

A case is one layer (``RNNSpec``), one input size, and one choice of initial state, lengths
and dtype. Its data (weights, x, h0/c0, lengths) is drawn from a seed derived from the case
id, so any case can be rebuilt alone from its id. A TNC case and its NTC twin share their
numbers, x transposed (``Case.data_id``): they differ in the layout alone.

Case ids read as what is tested, e.g. ``lstm-L2-bi-NTC-h0-len-f32``:
cell variant, layers, ``uni``/``bi``, layout, ``h0`` when initial states are given, ``len``
when samples have their own lengths (one of them the full T), ``lenshort`` when every
sample is shorter than T, ``nobias`` when the layer has no biases, dtype.

Option cases (``option_cases``) add the spec's options (design section 2a) after the
direction, e.g. ``lstm-L1-uni-rev-hardsig3-NTC-f32``: each option set of ``OPTION_SETS`` (and
each combination of ``OPTION_COMBINATIONS``) runs once per cell variant it applies to, in one
configuration of the pairwise covering array (rnn_ref/cases/pairwise.py), taken in turn, so
the options meet every factor's values without multiplying the matrix.

Why ``lenshort``: real batches are padded to a fixed T, so often no sample fills it. An
engine (or an adapter) that sizes its output by the longest sample instead of by T then
returns fewer steps than it was given (torch's ``pad_packed_sequence`` without
``total_length=``); with a full-length sample in every ragged case, nothing would notice.
To keep the matrix small, short lengths are a third value of the lengths dimension only
where ``SHORT_LENGTHS_SUBSET`` says (every variant, direction, layout and dtype, one and two
layers, given initial states, biases): 96 cases more than the 1152 of the full product.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import State

#: Cell variants of the matrix: id -> RNNSpec fields.
VARIANTS: dict[str, dict] = {
    "rnn_tanh": dict(mode="rnn_tanh"),
    "rnn_relu": dict(mode="rnn_relu"),
    "lstm": dict(mode="lstm"),
    "lstm_proj": dict(mode="lstm", proj_size=3),
    "gru": dict(mode="gru", gru_variant="reset_after"),
    "gru_reset_before": dict(mode="gru", gru_variant="reset_before"),
}
DTYPES = {"f32": "float32", "f64": "float64"}


@dataclass(frozen=True)
class OptionSet:
    """One token of an option case's id: the spec fields it sets, per mode, and where it applies."""

    #: what the token means, in words (the README and test ids' glossary)
    text: str
    #: mode -> the RNNSpec fields (a mode not listed: the option set does not apply)
    fields: dict[str, dict]
    #: None: either direction; True: bidirectional only; False: unidirectional only
    bidirectional: bool | None = None


#: Keras 3's ``hard_sigmoid``, relu6(x + 3) / 6: ONNX's HardSigmoid with alpha 1/6, beta 0.5.
HARD_SIGMOID_KERAS3 = dict(name="HardSigmoid", alpha=1 / 6, beta=0.5)


def _gates(f: str, alpha: float = 0.0, beta: float = 0.0, candidate: str | None = None) -> dict[str, dict]:
    """Fields setting the σ-gates' activation f (and LSTM/GRU's candidate g = LSTM's h) per mode."""
    fields = {}
    for mode, own in (("lstm", ("Tanh", "Tanh")), ("gru", ("Tanh",))):
        rest = own if candidate is None else (candidate,) * len(own)
        fields[mode] = dict(activations=(f, *rest), activation_alpha=(alpha,) + (0.0,) * len(rest),
                            activation_beta=(beta,) + (0.0,) * len(rest))
    return fields


#: Option sets of the matrix, by id token (see the module docstring).
OPTION_SETS: dict[str, OptionSet] = {
    "rev": OptionSet("reverse: the one direction reads from each sample's last step",
                     {mode: dict(reverse=True) for mode in ("rnn_tanh", "rnn_relu", "lstm", "gru")}, False),
    "peep": OptionSet("LSTM peepholes", {"lstm": dict(peepholes=True)}),
    "cifg": OptionSet("LSTM coupled input and forget gates (f = 1 - i)", {"lstm": dict(input_forget=True)}),
    "clip": OptionSet("cell clip 1.0 on every pre-activation",
                      {mode: dict(clip=1.0) for mode in ("rnn_tanh", "rnn_relu", "lstm", "gru")}),
    "hardsig3": OptionSet("σ-gates by Keras 3's hard_sigmoid, HardSigmoid(alpha=1/6, beta=0.5)",
                          _gates("HardSigmoid", 1 / 6, 0.5)),
    "hardsig2": OptionSet("σ-gates by ONNX's HardSigmoid default (alpha=0.2, beta=0.5), Keras 2's hard_sigmoid",
                          _gates("HardSigmoid", 0.2, 0.5)),
    "relu": OptionSet("candidate (and LSTM cell output) by Relu (Keras activation='relu')",
                      _gates("Sigmoid", candidate="Relu")),
    "acts1": OptionSet("ONNX activations with parameters: LSTM HardSigmoid/LeakyRelu/ScaledTanh, "
                       "GRU Sigmoid/Softsign, RNN Elu", {
                           "lstm": dict(activations=("HardSigmoid", "LeakyRelu", "ScaledTanh"),
                                        activation_alpha=(0.3, 0.1, 0.9), activation_beta=(0.6, 0.0, 1.1)),
                           "gru": dict(activations=("Sigmoid", "Softsign")),
                           "rnn_tanh": dict(activations=("Elu",), activation_alpha=(0.8,)),
                       }),
    "acts2": OptionSet("more ONNX activations: LSTM Sigmoid/Affine/ThresholdedRelu, GRU HardSigmoid/Softplus, "
                       "RNN Softsign", {
                           "lstm": dict(activations=("Sigmoid", "Affine", "ThresholdedRelu"),
                                        activation_alpha=(0.0, 0.5, 0.2), activation_beta=(0.0, 0.1, 0.0)),
                           "gru": dict(activations=("HardSigmoid", "Softplus")),
                           "rnn_tanh": dict(activations=("Softsign",)),
                       }),
    "sum": OptionSet("bidirectional outputs summed", {m: dict(merge_mode="sum") for m in
                                                      ("rnn_tanh", "rnn_relu", "lstm", "gru")}, True),
    "mul": OptionSet("bidirectional outputs multiplied", {m: dict(merge_mode="mul") for m in
                                                          ("rnn_tanh", "rnn_relu", "lstm", "gru")}, True),
    "ave": OptionSet("bidirectional outputs averaged", {m: dict(merge_mode="ave") for m in
                                                        ("rnn_tanh", "rnn_relu", "lstm", "gru")}, True),
}

#: Option sets that also run together, and the variants they run on.
OPTION_COMBINATIONS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("rev", "hardsig3"): ("lstm", "gru"),
    ("peep", "clip"): ("lstm",),
    ("peep", "cifg"): ("lstm",),
    ("rev", "peep"): ("lstm",),
    ("rev", "clip"): ("gru_reset_before",),
    ("hardsig3", "sum"): ("lstm",),
}


def option_fields(tokens: tuple[str, ...], mode: str) -> dict | None:
    """The RNNSpec fields of the option sets ``tokens`` for ``mode``, or None where one does not apply."""
    fields: dict = {}
    for token in tokens:
        option = OPTION_SETS[token]
        if mode not in option.fields:
            return None
        fields |= option.fields[mode]
    return fields

#: Small sizes for the wide matrix (I, H <= 8, T <= 7, N <= 5). The ragged lengths hold a
#: full-length sample, a one-step sample and two in between, in no sorted order.
SMALL = dict(input_size=3, hidden_size=5, steps=6, batch=4)
RAGGED_SMALL = (6, 1, 4, 3)
#: Every sample shorter than T = 6 (the longest is 4), in no sorted order.
RAGGED_SHORT_SMALL = (4, 1, 3, 2)


def in_short_lengths_subset(spec: RNNSpec, with_state: bool) -> bool:
    """Where the small matrix also runs ``lenshort`` (see the module docstring)."""
    return spec.num_layers <= 2 and with_state and spec.bias


@dataclass(frozen=True)
class CaseData:
    """Everything one run needs, in the case's dtype."""

    params: Params
    x: np.ndarray
    initial_state: State | None
    lengths: np.ndarray | None


@dataclass(frozen=True)
class Case:
    """One layer and one input configuration; see the module docstring for the id."""

    variant: str
    spec: RNNSpec
    steps: int
    batch: int
    with_state: bool
    with_lengths: bool
    dtype: str
    slow: bool = False
    #: with lengths: every sample shorter than ``steps`` (needs steps >= 2)
    short_lengths: bool = False
    #: the ``OPTION_SETS`` tokens of an option case (its spec holds their fields), else ()
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.short_lengths and not (self.with_lengths and self.steps >= 2):
            raise ValueError(f"short lengths need with_lengths and at least 2 steps (case {self.variant}, "
                             f"T={self.steps}, with_lengths={self.with_lengths})")

    @cached_property
    def id(self) -> str:
        spec = self.spec
        parts = [self.variant, f"L{spec.num_layers}", "bi" if spec.bidirectional else "uni", *self.options,
                 spec.layout]
        if self.with_state:
            parts.append("h0")
        if self.with_lengths:
            parts.append("lenshort" if self.short_lengths else "len")
        if not spec.bias:
            parts.append("nobias")
        if self.slow:
            parts.append(f"T{self.steps}-H{spec.hidden_size}")
        parts.append({v: k for k, v in DTYPES.items()}[self.dtype])
        return "-".join(parts)

    @property
    def ntc_twin(self) -> Case:
        """This case in NTC (the case itself when it is NTC)."""
        return self if self.spec.layout == "NTC" else dataclasses.replace(self, spec=self.spec.replace(layout="NTC"))

    @property
    def data_id(self) -> str:
        """The id whose seed draws this case's numbers: its NTC twin's (its own for NTC).

        A TNC case holds its NTC twin's weights, states, lengths and inputs, x transposed: the
        two differ in the layout alone. So an engine that is batch-major only, and transposes a
        TNC case at its boundary (Keras), computes the same thing for both and can say so
        (rnn_ref/adapters/_support/run_memo.py); one that runs TNC natively runs another memory layout
        on the same numbers.
        """
        return self.ntc_twin.id

    @property
    def seed(self) -> int:
        """The seed of this case's numbers (shared with its layout twin: ``data_id``)."""
        return zlib.crc32(self.data_id.encode())

    @property
    def lengths(self) -> np.ndarray | None:
        """(N,) lengths: one sample of full length T, or (``short_lengths``) all below T."""
        if not self.with_lengths:
            return None
        if self.steps == SMALL["steps"] and self.batch == len(RAGGED_SMALL):
            return np.array(RAGGED_SHORT_SMALL if self.short_lengths else RAGGED_SMALL, dtype=np.int64)
        rng = np.random.default_rng(self.seed + 1)
        longest = self.steps - 1 if self.short_lengths else self.steps
        lengths = rng.integers(1, longest + 1, size=self.batch)
        lengths[0] = longest
        return lengths

    def data(self) -> CaseData:
        """Seeded weights and inputs for this case (same numbers on every call)."""
        spec = self.spec
        weight_seed, input_seed = np.random.SeedSequence(self.seed).spawn(2)  # independent streams
        params = Params.random(spec, seed=int(weight_seed.generate_state(1)[0]), dtype=self.dtype)
        rng = np.random.default_rng(input_seed)
        x = rng.standard_normal((self.batch, self.steps, spec.input_size)).astype(self.dtype)  # NTC
        if spec.layout == "TNC":
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        state = None
        if self.with_state:
            units = spec.num_layers * spec.num_directions
            h0 = (0.5 * rng.standard_normal((units, self.batch, spec.state_size))).astype(self.dtype)
            c0 = (0.5 * rng.standard_normal((units, self.batch, spec.hidden_size))).astype(self.dtype)
            state = State(h0, c0 if spec.has_cell_state else None)
        return CaseData(params, x, state, self.lengths)


@functools.cache
def _small_matrix() -> tuple[Case, ...]:
    """Built once per process (1248 specs, validated): see ``small_matrix``."""
    cases = []
    for variant, layers, bidirectional, layout, with_state, with_lengths, bias, dtype in itertools.product(
        VARIANTS, (1, 2, 3), (False, True), ("TNC", "NTC"), (False, True), (False, True), (True, False),
        DTYPES.values(),
    ):
        spec = RNNSpec(
            input_size=SMALL["input_size"], hidden_size=SMALL["hidden_size"], num_layers=layers,
            bidirectional=bidirectional, layout=layout, bias=bias, **VARIANTS[variant],
        )
        cases.append(Case(variant, spec, SMALL["steps"], SMALL["batch"], with_state, with_lengths, dtype))
        if with_lengths and in_short_lengths_subset(spec, with_state):
            cases.append(Case(variant, spec, SMALL["steps"], SMALL["batch"], with_state, with_lengths, dtype,
                              short_lengths=True))
    return tuple(cases)


def small_matrix() -> list[Case]:
    """The full product at small sizes: variant × layers {1,2,3} × direction × layout ×
    initial state × lengths × bias × dtype, plus ``lenshort`` beside every ``len`` case of
    the short-lengths subset. The cases are immutable and shared; the list is the caller's."""
    return list(_small_matrix())


@functools.cache
def _option_cases() -> tuple[Case, ...]:
    from rnn_ref.cases.pairwise import PAIRWISE_CONFIGS  # the covering array's configurations

    combinations = [((token,), tuple(VARIANTS)) for token in OPTION_SETS] + list(OPTION_COMBINATIONS.items())
    cases = []
    turn = 0
    for tokens, variants in combinations:
        wanted = {OPTION_SETS[t].bidirectional for t in tokens} - {None}
        configs = [c for c in PAIRWISE_CONFIGS if not wanted or c[1] in wanted]
        for variant in variants:
            base = VARIANTS[variant]
            fields = option_fields(tokens, base["mode"])
            if fields is None:
                continue
            config: tuple[Any, ...] = configs[turn % len(configs)]  # (layers, bidirectional, layout, ...)
            layers, bidirectional, layout, with_state, lengths, bias, dtype = config
            turn += 1
            spec = RNNSpec(input_size=SMALL["input_size"], hidden_size=SMALL["hidden_size"], num_layers=layers,
                           bidirectional=bidirectional, layout=layout, bias=bias, **base, **fields)
            cases.append(Case(variant, spec, SMALL["steps"], SMALL["batch"], with_state, lengths != "none", dtype,
                              short_lengths=lengths == "lenshort", options=tokens))
    return tuple(cases)


def option_cases() -> list[Case]:
    """The option cases (module docstring): every option set on every variant it applies to, once,
    in a configuration of the pairwise covering array taken in turn."""
    return list(_option_cases())


def large_cases() -> list[Case]:
    """A few long sequences with wide layers (T=200, H=128), marked slow in pytest."""
    def case(variant, layers, bidirectional, with_lengths, dtype, **extra):
        fields = VARIANTS[variant] | extra
        spec = RNNSpec(input_size=16, hidden_size=128, num_layers=layers, bidirectional=bidirectional, **fields)
        return Case(variant, spec, 200, 4, True, with_lengths, dtype, slow=True)

    return [
        case("lstm", 2, True, True, "float32"),
        case("lstm_proj", 1, False, False, "float64", proj_size=64),
        case("gru", 2, True, True, "float32"),
        case("gru_reset_before", 1, True, False, "float32"),
        case("rnn_tanh", 2, False, True, "float64"),
    ]


def all_cases() -> list[Case]:
    return small_matrix() + option_cases() + large_cases()


@functools.cache
def _cases_by_id() -> dict[str, Case]:
    return {case.id: case for case in all_cases()}


def case_by_id(case_id: str) -> Case:
    try:
        return _cases_by_id()[case_id]
    except KeyError:
        raise KeyError(f"no case with id {case_id!r}") from None

"""Limits and known defects as data: what an engine cannot express, and what it computes wrong.

An adapter declares two tables of records instead of writing ``if``-chains:

* ``Limit(reason, when)``: the engine cannot express a case for which ``when`` holds; the case
  is reported unsupported with ``reason``;
* ``Defect(report, when, signature)``: the engine accepts such a case but computes it wrong, as
  the upstream ``report`` says and as ``signature`` predicts (rnn_ref.cases.defects).

Either may be ``gradients_only`` (the forward is right; the engine cannot differentiate it, or
differentiates it wrong). ``when`` is a ``When``: a named predicate over a case's
``Conditions`` (its spec, dtype and whether lengths are used). The shared ones below cover
today's engines, and combine with ``&``, ``|`` and ``~``::

    Limit(GRU_RESET_BEFORE, RESET_BEFORE)
    Limit(NATIVE_KERNEL_LENGTHS, LENGTHS & (FLOAT64 | PROJECTION))
    Defect(TORCH_FLOAT64_MATMUL, FLOAT64, COMPUTES_IN_FLOAT32)

A record's optional ``label`` is its few words in the README's engine table (``summary``;
by default ``when.text``); the reason and the report stay the full sentences tests compare.

The judge asks one question per case, ``Adapter.expectation``: run it, or it is unsupported
(with the reason), or it is a known defect (with its report and signature). The first record
that applies answers, in declaration order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rnn_ref.cases.defects import DefectSignature
from rnn_ref.core.spec import OPTIONS, RNNSpec

__all__ = [
    "ALWAYS",
    "BIAS",
    "BIDIRECTIONAL",
    "FLOAT32",
    "FLOAT64",
    "INITIAL_STATE",
    "LENGTHS",
    "NO_BIAS",
    "OPTION_NOT_DECLARED",
    "PROJECTION",
    "RESET_BEFORE",
    "RUN",
    "VANILLA",
    "Conditions",
    "Defect",
    "Expectation",
    "Limit",
    "When",
    "activations_other_than",
    "first_defect",
    "first_limit",
    "layers_from",
    "modes",
    "summary",
    "undeclared_option_limits",
    "uses",
    "uses_other_than",
]


@dataclass(frozen=True)
class Conditions:
    """What a case's expectation may depend on: the layer, the dtype, whether lengths are given and
    whether initial states are given (``with_state``: False where a caller does not say, so a record
    that needs it never applies there)."""

    spec: RNNSpec
    dtype: str
    with_lengths: bool
    with_state: bool = False


@dataclass(frozen=True)
class When:
    """A named predicate over ``Conditions``; ``text`` says it in words (``"float64 and lengths"``)."""

    test: Callable[[Conditions], bool]
    text: str

    def __call__(self, conditions: Conditions) -> bool:
        return bool(self.test(conditions))

    def __and__(self, other: When) -> When:
        return When(lambda c: self(c) and other(c), f"{self.text} and {other.text}")

    def __or__(self, other: When) -> When:
        return When(lambda c: self(c) or other(c), f"({self.text} or {other.text})")

    def __invert__(self) -> When:
        return When(lambda c: not self(c), f"not {self.text}")


ALWAYS = When(lambda c: True, "every case")
PROJECTION = When(lambda c: bool(c.spec.proj_size), "LSTM projection")
RESET_BEFORE = When(lambda c: c.spec.mode == "gru" and c.spec.gru_variant == "reset_before", "GRU reset_before")
NO_BIAS = When(lambda c: not c.spec.bias, "no bias")
BIAS = When(lambda c: bool(c.spec.bias), "biases")
BIDIRECTIONAL = When(lambda c: c.spec.bidirectional, "bidirectional")
FLOAT32 = When(lambda c: c.dtype == "float32", "float32")
FLOAT64 = When(lambda c: c.dtype == "float64", "float64")
LENGTHS = When(lambda c: c.with_lengths, "per-sample lengths")
INITIAL_STATE = When(lambda c: c.with_state, "given initial states")


def uses(*options: str) -> When:
    """The layer uses one of ``options`` (names of rnn_ref.core.spec.OPTIONS, e.g. ``"peepholes"``)."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the options are {', '.join(OPTIONS)}")
    return When(lambda c: any(option in c.spec.options for option in options), " or ".join(options))


def uses_other_than(*options: str) -> When:
    """The layer uses an option that is not one of ``options`` (any option, when none are named)."""
    others = [option for option in OPTIONS if option not in options]
    return When(lambda c: any(option in others for option in c.spec.options), " or ".join(others))


def activations_other_than(*allowed: str) -> When:
    """The layer names an activation outside ``allowed`` (ONNX names, e.g. ``"HardSigmoid"``)."""
    return When(lambda c: c.spec.activations is not None and any(a not in allowed for a in c.spec.activations),
                f"activations other than {', '.join(allowed)}")


#: Why a case is unsupported when it uses an option its engine's adapter does not list in
#: ``Adapter.options`` (an adapter written before the options existed, or one that has not yet
#: said what it does with an option): the judge never runs an option an adapter did not claim.
OPTION_NOT_DECLARED = ("the option {option} is not declared by this engine's adapter (Adapter.options): it "
                       "neither runs it nor says why it cannot")


def undeclared_option_limits(declared: Iterable[str]) -> tuple[Limit, ...]:
    """The fallback limits of an adapter whose ``options`` are ``declared``: one per other option."""
    return tuple(Limit(OPTION_NOT_DECLARED.format(option=option), uses(option), label=f"{option} (undeclared)")
                 for option in OPTIONS if option not in declared)


def modes(*names: str) -> When:
    """The layer is one of ``names`` (``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ``"rnn_relu"``)."""
    return When(lambda c: c.spec.mode in names, " or ".join(names))


#: the plain recurrent cell, either activation (``rnn_tanh``, ``rnn_relu``)
VANILLA = When(modes("rnn_tanh", "rnn_relu").test, "RNN")


def options_but_rnn_activation(names: Iterable[str], what: str) -> When:
    """The layer uses an option other than a plain RNN's one activation among ``names`` (ONNX
    names): the limit of fused layers whose only choice is an RNN's nonlinearity."""
    allowed = frozenset(names)
    return When(lambda c: bool(c.spec.options) and not (
        VANILLA(c) and c.spec.options == ("activations",) and c.spec.resolved_activations[0].name in allowed),
        f"options other than {what}")


def layers_from(count: int) -> When:
    """The layer stacks ``count`` levels or more."""
    return When(lambda c: c.spec.num_layers >= count, f"{count} or more layers")


@dataclass(frozen=True)
class Limit:
    """The engine cannot express a case for which ``when`` holds: it is unsupported with ``reason``."""

    reason: str
    when: When
    #: True: the forward runs; only differentiating such a case is unsupported
    gradients_only: bool = False
    #: a few words for the README's engine table; "" says ``when.text``
    label: str = ""

    @property
    def words(self) -> str:
        """What the README's engine table says of this limit: ``label``, else ``when.text``."""
        return summary_words(self.label or self.when.text, self.gradients_only)


@dataclass(frozen=True)
class Defect:
    """The engine accepts a case for which ``when`` holds but computes it wrong.

    ``report``: the upstream report (or "no upstream report found" and a reproduction), which
    is also the strict xfail's reason. ``signature``: what the engine computes instead; None
    counts any wrong result (adapters written before signatures).
    """

    report: str
    when: When
    signature: DefectSignature | None = None
    #: True: the forward is right; only the gradients are wrong
    gradients_only: bool = False
    #: a few words for the README's engine table; "" says ``when.text``
    label: str = ""

    @property
    def words(self) -> str:
        """What the README's engine table says of this defect: ``label``, else ``when.text``."""
        return summary_words(self.label or self.when.text, self.gradients_only)


def summary_words(words: str, gradients_only: bool) -> str:
    """A record's words in the engine table; a gradient-only record says so (``gradients of …``)."""
    return f"gradients of {words}" if gradients_only else words


def summary(limits: Iterable[Limit], defects: Iterable[Defect]) -> str:
    """An engine's records in a few words: its limits' words, then `` / `` and its defects' words."""
    said = ", ".join(limit.words for limit in limits)
    wrong = ", ".join(defect.words for defect in defects)
    return f"{said} / {wrong}" if wrong else said


@dataclass(frozen=True)
class Expectation:
    """The judge's one question about a case, answered: run it, unsupported, or a known defect."""

    #: why the engine cannot express the case, or None
    unsupported: str | None = None
    #: the upstream report of a known defect on the case, or None
    defect: str | None = None
    #: what the defect computes instead (None: any wrong result)
    signature: DefectSignature | None = None

    @property
    def runs(self) -> bool:
        """The engine runs the case (it may still be a known defect)."""
        return self.unsupported is None


#: the expectation of an ordinary case: run it and hold it to the reference
RUN = Expectation()


def first_limit(limits: Iterable[Limit], conditions: Conditions, *, gradients: bool) -> str | None:
    """The reason of the first limit that applies (forward limits always; gradient-only ones when
    ``gradients``), or None."""
    for limit in limits:
        if (gradients or not limit.gradients_only) and limit.when(conditions):
            return limit.reason
    return None


def first_defect(defects: Iterable[Defect], conditions: Conditions, *, gradients: bool) -> Defect | None:
    """The first defect that applies (forward defects always; gradient-only ones when ``gradients``), or None."""
    for defect in defects:
        if (gradients or not defect.gradients_only) and defect.when(conditions):
            return defect
    return None

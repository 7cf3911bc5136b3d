"""Limits and known defects as records (rnn_ref.cases.limits): the first record that applies answers.

An adapter declares ``declared_limits`` and ``declared_defects``; its ``limits``,
``unsupported_reason``, ``known_defect``, ``defect_signature`` and gradient forms derive from
them, and ``expectation`` asks one question per case. Adapters written against 0.1, which
override the methods instead, are asked through the same ``expectation``.
"""

from __future__ import annotations

import pytest

from rnn_ref.adapters import ENGINES, Adapter, adapter_object
from rnn_ref.adapters.adapter import GRADIENTS_NOT_IMPLEMENTED
from rnn_ref.cases.defects import COMPUTES_IN_FLOAT32
from rnn_ref.cases.limits import (
    ALWAYS,
    FLOAT64,
    LENGTHS,
    PROJECTION,
    RESET_BEFORE,
    Conditions,
    Defect,
    Limit,
    modes,
    summary,
)
from rnn_ref.core.spec import RNNSpec

LSTM = RNNSpec("lstm", 3, 4)
PROJECTED = RNNSpec("lstm", 3, 4, proj_size=2)
GRU_BEFORE = RNNSpec("gru", 3, 4, gru_variant="reset_before")


class Recorded(Adapter):
    """An engine that declares its limits and defects as records (nothing runs)."""

    name = "recorded"
    declared_limits = (
        Limit("no reset_before", RESET_BEFORE),
        Limit("no lengths with projection", LENGTHS & PROJECTION),
        Limit("projection cannot be trained", PROJECTION, gradients_only=True),
    )
    declared_defects = (
        Defect("float64 LSTM rounds through float32 (no upstream report found)", FLOAT64 & modes("lstm"),
               COMPUTES_IN_FLOAT32),
    )
    mapping = version = build = native_arrays = run = None  # type: ignore[assignment]

    def run_gradients(self, *args):
        raise NotImplementedError


def test_limits_and_gradient_limits_are_derived_from_the_records():
    assert Recorded.limits == ("no reset_before", "no lengths with projection")
    assert Recorded.gradient_limits == ("projection cannot be trained",)


@pytest.mark.parametrize(("spec", "dtype", "lengths", "reason"), [
    (LSTM, "float32", True, None),
    (GRU_BEFORE, "float32", False, "no reset_before"),
    (PROJECTED, "float32", True, "no lengths with projection"),
    (PROJECTED, "float32", False, None),  # the gradient-only limit leaves the forward alone
])
def test_the_first_limit_that_applies_is_the_reason(spec, dtype, lengths, reason):
    assert Recorded().unsupported_reason(spec, dtype, lengths) == reason
    assert Recorded().expectation(spec, dtype, lengths).unsupported == reason


def test_a_gradient_only_limit_refuses_gradients_only():
    adapter = Recorded()
    assert adapter.expectation(PROJECTED, "float32", False).runs
    assert adapter.expectation(PROJECTED, "float32", False, gradients=True).unsupported == (
        "projection cannot be trained")


def test_a_defect_record_gives_report_and_signature():
    adapter = Recorded()
    expected = adapter.expectation(LSTM, "float64", False)
    assert expected.defect.startswith("float64 LSTM rounds") and expected.signature is COMPUTES_IN_FLOAT32
    assert adapter.expectation(LSTM, "float32", False).defect is None
    assert adapter.expectation(RNNSpec("gru", 3, 4), "float64", False).defect is None  # modes("lstm") only


def test_predicates_combine_and_say_what_they_test():
    both = LENGTHS & (FLOAT64 | PROJECTION)
    assert both.text == "per-sample lengths and (float64 or LSTM projection)"
    assert both(Conditions(LSTM, "float64", True)) and not both(Conditions(LSTM, "float64", False))
    assert (~FLOAT64)(Conditions(LSTM, "float32", False))


def test_an_engine_without_run_gradients_is_not_differentiable():
    class ForwardOnly(Recorded):
        differentiable = False

    assert Recorded.differentiable
    assert ForwardOnly().expectation(LSTM, "float32", False, gradients=True).unsupported == GRADIENTS_NOT_IMPLEMENTED


def test_an_adapter_written_against_0_1_is_asked_through_its_methods():
    """No records: ``limits`` typed by hand and ``unsupported_reason`` overridden, as before 0.2."""

    class Legacy(Adapter):
        name = "legacy"
        limits = ("no GRU",)
        mapping = version = build = native_arrays = run = None  # type: ignore[assignment]

        def unsupported_reason(self, spec, dtype, with_lengths):
            return "no GRU" if spec.mode == "gru" else None

    assert Legacy().expectation(RNNSpec("gru", 3, 4), "float32", False).unsupported == "no GRU"
    assert Legacy().expectation(LSTM, "float32", False).runs
    assert not Legacy.differentiable


def test_a_mixin_that_declares_records_gives_the_derived_limits():
    """A mix-in's records, nearer in the MRO than the adapter it extends, are what ``limits`` says."""

    class ForwardOnlyMixin:
        declared_limits = (*Recorded.declared_limits, Limit("no gradients here", ALWAYS, gradients_only=True))

    class Mixed(ForwardOnlyMixin, Recorded):
        name = "mixed"

    assert Mixed.limits == Recorded.limits
    assert Mixed.gradient_limits == ("projection cannot be trained", "no gradients here")
    assert Mixed().expectation(LSTM, "float32", False, gradients=True).unsupported == "no gradients here"


def test_a_subclass_that_types_limits_by_hand_keeps_them():
    """A subclass of a record adapter written the 0.1 way (``limits`` typed, method overridden)."""

    class ByHand(Recorded):
        name = "by-hand"
        limits = ("no GRU",)

        def unsupported_reason(self, spec, dtype, with_lengths):
            return "no GRU" if spec.mode == "gru" else None

    assert ByHand.limits == ("no GRU",)
    assert ByHand().expectation(GRU_BEFORE, "float32", False).unsupported == "no GRU"
    assert ByHand().expectation(PROJECTED, "float32", True).runs  # the parent's records no longer answer


def test_records_say_what_they_are_in_a_few_words():
    assert Limit("x", RESET_BEFORE).words == "GRU reset_before"
    assert Limit("x", PROJECTION, label="projection").words == "projection"
    assert Limit("x", PROJECTION, gradients_only=True, label="projection").words == "gradients of projection"
    said = summary(Recorded.declared_limits, Recorded.declared_defects)
    assert said == ("GRU reset_before, per-sample lengths and LSTM projection, gradients of LSTM projection / "
                    "float64 and lstm")
    assert summary(Recorded.declared_limits[:1], ()) == "GRU reset_before"


def test_speed_policy_lives_in_support_and_stays_importable_from_the_adapter_module():
    import rnn_ref.adapters.adapter as adapter_module
    from rnn_ref.adapters._support import execution

    assert adapter_module.COMPILED_FROM_STEPS is execution.COMPILED_FROM_STEPS
    assert not execution.runs_compiled(execution.COMPILED_FROM_STEPS - 1)
    assert execution.runs_compiled(execution.COMPILED_FROM_STEPS)


def test_keras_declares_whether_run_is_what_run_gradients_differentiates():
    """A declared ClassVar, not a comparison of methods: a subclass that runs something else (a
    converted file) is False unless it declares it; one that only changes how it executes keeps it."""
    from rnn_ref.adapters.keras.layers import KerasAdapter, KerasJaxAdapter, KerasTorchAdapter

    class RunsAFile(KerasAdapter):
        def run(self, spec, layer, x, initial_state=None, lengths=None):
            raise NotImplementedError

    class RunsAFileTheSameWay(RunsAFile):
        runs_the_differentiated_layers = True

    assert KerasAdapter.runs_the_differentiated_layers and KerasJaxAdapter.runs_the_differentiated_layers
    assert KerasTorchAdapter.runs_the_differentiated_layers
    assert not RunsAFile.runs_the_differentiated_layers
    assert RunsAFileTheSameWay.runs_the_differentiated_layers


@pytest.mark.parametrize("engine", ["keras-jax", "keras-torch"])
def test_keras_on_other_backends_differentiates_with_the_forward_defect_carried_to_gradients(engine):
    """Every backend differentiates with its own autodiff: no gradient-only limit. Its float64
    defect (a forward rounded to float32) is a gradient defect too: the gradient of a wrong function."""
    from rnn_ref.adapters.keras.layers import NO_PROJECTION
    from rnn_ref.adapters.keras.options import KERAS_OPTION_LIMITS

    adapter = adapter_object(engine)
    assert adapter.differentiable
    options = tuple(limit.reason for limit in KERAS_OPTION_LIMITS)
    assert type(adapter).limits == (NO_PROJECTION, *options) and type(adapter).gradient_limits == ()
    assert adapter.expectation(LSTM, "float32", False, gradients=True).unsupported is None
    assert adapter.expectation(PROJECTED, "float32", False, gradients=True).unsupported == NO_PROJECTION
    assert adapter.expectation(LSTM, "float64", False).signature is COMPUTES_IN_FLOAT32
    assert adapter.expectation(LSTM, "float64", False, gradients=True).defect == adapter.known_defect(
        LSTM, "float64", False)


DERIVED = {"unsupported_reason", "known_defect", "defect_signature",
           "gradient_unsupported_reason", "gradient_known_defect"}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_built_in_adapters_declare_records_and_write_no_limit_method(engine):
    """What a built-in engine cannot do, or does wrong, is its records: nothing typed beside them."""
    adapter_class = type(adapter_object(engine))
    below_adapter = adapter_class.__mro__[:adapter_class.__mro__.index(Adapter)]
    assert all(not DERIVED & set(cls.__dict__) for cls in below_adapter), engine
    assert adapter_class.declared_limits or adapter_class.declared_defects
    records = adapter_class.declared_limits
    assert adapter_class.limits == tuple(limit.reason for limit in records if not limit.gradients_only)
    assert adapter_class.gradient_limits == tuple(limit.reason for limit in records if limit.gradients_only)


def test_options_but_rnn_activation_lets_through_only_a_plain_rnns_named_activation():
    from rnn_ref.cases.limits import options_but_rnn_activation

    limit = options_but_rnn_activation({"Tanh": "tanh", "Relu": "relu"}, "RNN's nonlinearity")

    def holds(**fields) -> bool:
        return limit(Conditions(RNNSpec(**fields), "float32", False))

    assert not holds(mode="rnn_tanh", input_size=3, hidden_size=4)  # no option at all
    assert not holds(mode="rnn_tanh", input_size=3, hidden_size=4, activations=("Relu",))  # named: it runs
    assert holds(mode="rnn_tanh", input_size=3, hidden_size=4, activations=("HardSigmoid",))  # not among them
    assert holds(mode="rnn_relu", input_size=3, hidden_size=4, activations=("Relu",), clip=1.0)  # one more option
    assert holds(mode="lstm", input_size=3, hidden_size=4, activations=("Relu", "Tanh", "Tanh"))  # not an RNN
    assert limit.text == "options other than RNN's nonlinearity"

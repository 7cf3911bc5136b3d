"""What every adapter provides, and the shared outcome of running a case on an engine.

An adapter builds a native layer from canonical params (through its mapping rows), runs it,
and reads canonical params back. It never decides pass or fail: the tests and ``rnn-ref
check`` compare its ``RNNOutput`` with the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters._support.execution import COMPILED_FROM_STEPS as COMPILED_FROM_STEPS  # importable here too
from rnn_ref.cases.cotangents import Cotangents, EngineGradients
from rnn_ref.cases.defects import DefectSignature
from rnn_ref.cases.limits import (
    Conditions,
    Defect,
    Expectation,
    Limit,
    first_defect,
    first_limit,
    undeclared_option_limits,
)
from rnn_ref.cases.matrix import Case
from rnn_ref.core.errors import UnsupportedCase
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.forward import forward

#: What an engine writes at padded steps (t >= lengths[n]) of the output sequence.
PADDED_ZEROS = "zeros"
PADDED_REPEAT_LAST = "repeat_last"


#: What an engine without ``run_gradients`` declares for every gradient case (plug-ins written
#: before gradients existed keep working: their gradient cases are reported unsupported).
GRADIENTS_NOT_IMPLEMENTED = "gradients not implemented for this engine (the adapter has no run_gradients)"


class Adapter(ABC):
    """One engine: a way of running a recurrent layer of one framework.

    Limits and known defects are declared as records (rnn_ref.cases.limits): ``declared_limits``
    and ``declared_defects``. ``limits``, ``gradient_limits``, ``unsupported_reason``,
    ``known_defect``, ``defect_signature`` and their gradient forms derive from them, and
    ``expectation`` asks them once per case. Adapters written before the records (which set
    ``limits`` and override the methods) keep working: the methods are what ``expectation`` asks.
    """

    #: engine name, e.g. ``"torch"`` or ``"torch-cell"``
    name: str
    #: what the engine cannot express, in the order they are asked (the first that applies answers)
    declared_limits: ClassVar[tuple[Limit, ...]] = ()
    #: what the engine computes wrong, with its upstream report and signature
    declared_defects: ClassVar[tuple[Defect, ...]] = ()
    #: every reason ``unsupported_reason`` can give; a reason no case hits is a stale declaration
    #: (derived from ``declared_limits`` where an adapter declares records)
    limits: ClassVar[tuple[str, ...]] = ()
    #: every reason ``gradient_unsupported_reason`` adds to ``limits`` (the same rule applies)
    gradient_limits: ClassVar[tuple[str, ...]] = ()
    #: the engine differentiates through its framework's autodiff (``run_gradients``). Declared;
    #: an adapter that does not declare it is differentiable when its class defines run_gradients
    #: (adapters written before the declaration existed)
    differentiable: ClassVar[bool] = False
    #: Why differentiating the whole case matrix costs too much for a test run, measured (e.g.
    #: "jax.vjp runs op by op: about 0.45 s a case"), or None. A cost, never a limit: the suite then
    #: differentiates the pairwise subset live (rnn_ref/cases/pairwise.py) and reports every other
    #: gradient case as not run here, with this reason; ``pytest --full-gradients`` and ``rnn-ref
    #: check`` differentiate every case, and the recorded fixtures carry the engine's gradients.
    slow_gradients: ClassVar[str | None] = None
    #: The engine runs a compiled or converted model (an inference runtime, a converter's output):
    #: the judge runs each case's layer a second time on the same inputs and requires the same
    #: result bit for bit, so a runtime that keeps state between calls fails (issue: a fused op that
    #: continues from the last call's final state). A framework's layer is run once.
    inference_runtime: ClassVar[bool] = False
    #: The options of rnn_ref.core.spec.OPTIONS this adapter handles: it runs them, or its
    #: ``declared_limits`` say why not. Any other option is unsupported with
    #: OPTION_NOT_DECLARED (``option_limits``), so an adapter that predates an option is never
    #: run on it and silently ignores it.
    options: ClassVar[frozenset[str]] = frozenset()
    #: the fallback limits for the options not in ``options`` (derived)
    option_limits: ClassVar[tuple[Limit, ...]] = undeclared_option_limits(())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.option_limits = undeclared_option_limits(cls.options)
        # ``limits`` and ``gradient_limits`` derive from the records unless a class nearer in the
        # MRO types them by hand (an adapter written before the records, or a subclass of one)
        if declares_after(cls, "declared_limits", "limits"):
            cls.limits = tuple(limit.reason for limit in cls.declared_limits if not limit.gradients_only)
        if declares_after(cls, "declared_limits", "gradient_limits"):
            cls.gradient_limits = tuple(limit.reason for limit in cls.declared_limits if limit.gradients_only)
        own_gradients = cls.__dict__.get("run_gradients", Adapter.run_gradients)
        if "differentiable" not in cls.__dict__ and own_gradients is not Adapter.run_gradients:
            cls.differentiable = True

    def option_gap(self, spec: RNNSpec) -> str | None:
        """The fallback reason when ``spec`` uses an option this adapter does not list in ``options``."""
        return first_limit(self.option_limits, Conditions(spec, "float32", False), gradients=False)

    def expectation(self, spec: RNNSpec, dtype: str, with_lengths: bool, *, gradients: bool = False,
                    with_state: bool = False) -> Expectation:
        """What the judge expects of this case: run it, unsupported with a reason, or a known defect.

        ``with_state``: the case gives initial states; a defect record that holds only then
        (``INITIAL_STATE``) is found by it alone (the older methods below know no initial state)."""
        gap = self.option_gap(spec)
        # asked once; a gradient case asks it only to find a hand-written override hiding an option gap
        reason = None if gradients and gap is None else self.unsupported_reason(spec, dtype, with_lengths)
        if gap is not None and reason is None:
            return Expectation(unsupported=gap)  # an adapter that overrides unsupported_reason by hand
        if gradients:
            reason = self.gradient_unsupported_reason(spec, dtype, with_lengths)
            if reason is not None:
                return Expectation(unsupported=reason)
            report = self.gradient_known_defect(spec, dtype, with_lengths)
            if report is None and with_state:
                stated = self.defect_with_state(spec, dtype, with_lengths, gradients=True)
                report = None if stated is None else stated.report
            return Expectation(defect=report)
        if reason is not None:
            return Expectation(unsupported=reason)
        report = self.known_defect(spec, dtype, with_lengths)
        signature = None if report is None else self.defect_signature(spec, dtype, with_lengths)
        if report is None and with_state and (stated := self.defect_with_state(spec, dtype, with_lengths)):
            report, signature = stated.report, stated.signature
        return Expectation(defect=report, signature=signature)

    def defect_with_state(self, spec: RNNSpec, dtype: str, with_lengths: bool, *,
                          gradients: bool = False) -> Defect | None:
        """The first declared defect that applies to the case given initial states (forward defects; with
        ``gradients``, then the gradient-only ones), or None."""
        conditions = Conditions(spec, dtype, with_lengths, with_state=True)
        forward = first_defect([d for d in self.declared_defects if not d.gradients_only], conditions,
                               gradients=False)
        if forward is not None or not gradients:
            return forward
        return first_defect([d for d in self.declared_defects if d.gradients_only], conditions, gradients=True)

    def padded_steps(self, spec: RNNSpec) -> str:
        """What the engine writes at padded steps of the output: PADDED_ZEROS or PADDED_REPEAT_LAST."""
        return PADDED_ZEROS

    def case_label(self, case: Case) -> str:
        """The case id as this engine runs it (an engine that transposes a layout says so)."""
        return case.id

    @abstractmethod
    def mapping(self, spec: RNNSpec) -> WeightMapping:
        """The native parameters of this engine's layer for ``spec``, as rows. Needs no framework."""

    @abstractmethod
    def version(self) -> str:
        """The framework's version string."""

    def unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        """Why the engine cannot express this case, or None when it can (the first declared limit,
        then the fallback of an option the adapter does not declare)."""
        conditions = Conditions(spec, dtype, with_lengths)
        return first_limit((*self.declared_limits, *self.option_limits), conditions, gradients=False)

    def layer_unsupported_reason(self, spec: RNNSpec) -> str | None:
        """Why the engine has no layer for ``spec`` at all (whatever the input), or None.

        This is what weight mapping and conversion care about: dtype- and lengths-specific
        limits (see ``unsupported_reason``) do not change which parameters a layer has.
        """
        return self.unsupported_reason(spec, "float32", with_lengths=False) or self.option_gap(spec)

    def known_defect(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        """An upstream report when the engine accepts the case but computes it wrong, else None."""
        defect = first_defect(self.declared_defects, Conditions(spec, dtype, with_lengths), gradients=False)
        return None if defect is None else defect.report

    def defect_signature(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> DefectSignature | None:
        """What the engine computes instead on a case ``known_defect`` declares (rnn_ref.cases.defects).

        The judge then holds the case to that signature: wrong in another way is a failure.
        None (for adapters written before signatures) counts any wrong result.
        """
        defect = first_defect(self.declared_defects, Conditions(spec, dtype, with_lengths), gradients=False)
        return None if defect is None else defect.signature

    def check_supported(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> None:
        """Raise UnsupportedCase with the reason when the engine cannot express the case."""
        reason = self.unsupported_reason(spec, dtype, with_lengths) or self.option_gap(spec)
        if reason is not None:
            raise UnsupportedCase(self.name, reason)

    @abstractmethod
    def build(self, spec: RNNSpec, params: Params) -> Any:
        """A native layer holding ``params`` (in the params' dtype)."""

    @abstractmethod
    def native_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        """The native layer's parameters as NumPy arrays keyed by native name."""

    def extract(self, spec: RNNSpec, layer: Any) -> Params:
        """Canonical params read back from a native layer through the mapping rows."""
        return self.mapping(spec).to_params(self.native_arrays(spec, layer), f"{self.name} parameters")

    @abstractmethod
    def run(
        self,
        spec: RNNSpec,
        layer: Any,
        x: np.ndarray,
        initial_state: State | None = None,
        lengths: np.ndarray | None = None,
    ) -> RNNOutput:
        """Run the native layer; results come back as NumPy arrays in the canonical layout."""

    # ------------------------------------------------------------------ what the engine is judged against
    def reference(self, spec: RNNSpec, params: Params, x: np.ndarray, initial_state: State | None,
                  lengths: np.ndarray | None, held: dict[str, np.ndarray]) -> RNNOutput:
        """The result the judge holds this engine's run to, at the case dtype's ordinary tolerance: the
        reference forward of the case's canonical params (this default, for every engine that computes the
        layer it was given).

        An engine whose runtime computes on weights it holds in another form (a quantized model: float16
        weights, int8 weights with their scales) declares the reference of that computation here, in NumPy
        alone: the layer on the weights as the runtime holds them, ``held`` being what ``held_arrays``
        read off its artifact. A fixture records ``held``, so a replay computes the same reference.
        """
        return forward(spec, params, x, initial_state, lengths)

    def held_arrays(self, spec: RNNSpec, layer: Any) -> dict[str, np.ndarray]:
        """What the engine's runtime holds in place of the weights, read off its artifact once ``layer`` has
        run (a quantized model's int8 weights and scales), for ``reference``; this default: nothing."""
        return {}

    # ------------------------------------------------------------------ gradients (optional)
    def gradient_unsupported_reason(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        """Why the engine cannot differentiate this case, or None: the forward's reason; else the first
        gradient-only limit (an inference runtime declares one for every case); else, for an engine
        that is not ``differentiable``, GRADIENTS_NOT_IMPLEMENTED."""
        reason = self.unsupported_reason(spec, dtype, with_lengths) or self.option_gap(spec)
        if reason is not None:
            return reason
        gradient_only = [limit for limit in self.declared_limits if limit.gradients_only]
        reason = first_limit(gradient_only, Conditions(spec, dtype, with_lengths), gradients=True)
        return reason if reason is not None or self.differentiable else GRADIENTS_NOT_IMPLEMENTED

    def check_gradient_supported(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> None:
        """Raise UnsupportedCase with the reason when the engine cannot differentiate the case."""
        reason = self.gradient_unsupported_reason(spec, dtype, with_lengths)
        if reason is not None:
            raise UnsupportedCase(self.name, reason)

    def gradient_known_defect(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        """An upstream report when the engine differentiates the case wrong. By default a forward
        defect is a gradient defect too (the gradient of a wrong function is wrong); then the
        gradient-only defects."""
        report = self.known_defect(spec, dtype, with_lengths)
        if report is not None:
            return report
        defect = first_defect([defect for defect in self.declared_defects if defect.gradients_only],
                              Conditions(spec, dtype, with_lengths), gradients=True)
        return None if defect is None else defect.report

    def run_gradients(
        self,
        spec: RNNSpec,
        layer: Any,
        x: np.ndarray,
        initial_state: State | None,
        lengths: np.ndarray | None,
        cotangents: Cotangents,
    ) -> EngineGradients:
        """Run the native layer under the framework's own autodiff and return the gradients of
        ``sum(cot.output·output) + sum(cot.h_n·h_n) + sum(cot.c_n·c_n)`` with respect to x, the
        given initial states and every native parameter (keyed as ``native_arrays``). This default,
        for an engine that does not differentiate, refuses with its gradient reason."""
        reason = self.gradient_unsupported_reason(spec, str(x.dtype), lengths is not None)
        raise UnsupportedCase(self.name, reason or GRADIENTS_NOT_IMPLEMENTED)


def declares_after(cls: type, records: str, derived: str) -> bool:
    """Whether the class that gives ``cls`` its ``records`` attribute comes before (is nearer than)
    the one that gives it ``derived`` in ``cls``'s MRO: then ``derived`` is derived from the records.

    A mix-in that declares records (before the adapter it extends) counts as nearer, and so does
    ``cls`` itself when it declares records and types nothing by hand."""
    mro = cls.__mro__

    def owner(name: str) -> int:
        return next(index for index, klass in enumerate(mro) if name in klass.__dict__)

    return owner(records) < owner(derived)

"""What every adapter provides, and the shared outcome of running a case on an engine.

An adapter builds a native layer from canonical params (through its mapping rows), runs it,
and reads canonical params back. It never decides pass or fail: the tests and ``rnn-ref
check`` compare its ``RNNOutput`` with the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from rnn_ref.cases import Case
from rnn_ref.defects import DefectSignature
from rnn_ref.errors import UnsupportedCase
from rnn_ref.mapping import WeightMapping
from rnn_ref.params import Params
from rnn_ref.reference import RNNOutput, State
from rnn_ref.spec import RNNSpec

#: What an engine writes at padded steps (t >= lengths[n]) of the output sequence.
PADDED_ZEROS = "zeros"
PADDED_REPEAT_LAST = "repeat_last"


class Adapter(ABC):
    """One engine: a way of running a recurrent layer of one framework."""

    #: engine name, e.g. ``"torch"`` or ``"torch-cell"``
    name: str
    #: every reason ``unsupported_reason`` can give; a reason no case hits is a stale declaration
    limits: tuple[str, ...] = ()

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
        """Why the engine cannot express this case, or None when it can."""
        return None

    def layer_unsupported_reason(self, spec: RNNSpec) -> str | None:
        """Why the engine has no layer for ``spec`` at all (whatever the input), or None.

        This is what weight mapping and conversion care about: dtype- and lengths-specific
        limits (see ``unsupported_reason``) do not change which parameters a layer has.
        """
        return self.unsupported_reason(spec, "float32", with_lengths=False)

    def known_defect(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> str | None:
        """An upstream report when the engine accepts the case but computes it wrong, else None."""
        return None

    def defect_signature(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> DefectSignature | None:
        """What the engine computes instead on a case ``known_defect`` declares (rnn_ref.defects).

        The judge then holds the case to that signature: wrong in another way is a failure.
        None (the default, for adapters written before signatures) counts any wrong result.
        """
        return None

    def check_supported(self, spec: RNNSpec, dtype: str, with_lengths: bool) -> None:
        """Raise UnsupportedCase with the reason when the engine cannot express the case."""
        reason = self.unsupported_reason(spec, dtype, with_lengths)
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

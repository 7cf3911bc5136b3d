"""Known engine defects, stated by their signature: what the engine computes instead.

A known defect (design section 2b) is a case the engine accepts but computes wrong; the suite
keeps it as a strict expected failure citing the upstream report, so it notices the day the
fix lands. Declared only as "wrong", any wrong answer would pass for the defect: an adapter
that broke in some new way on those cases would still "reproduce" it. So a declaration also
states the defect's **signature** — the result the engine computes instead — and the judge
checks that result within tolerance. A case that is neither right nor the signature is an
ordinary failure, and its report names both.

Two signatures cover the defects known today; an adapter may declare others:

* ``LENGTHS_IGNORED``: the result equals the reference run without lengths (every sample runs
  all T steps, so padded steps hold real outputs and the final states come from step T−1);
* ``COMPUTES_IN_FLOAT32``: a float64 case whose result equals the reference only within the
  float32 tolerance (the engine rounds through float32).

A signature may also name options the engine ignores (``ignores``: RNNSpec option fields):
the result then equals the reference of the layer without them (``without_options``), e.g.
an engine that drops peepholes computes the layer with ``peepholes=False``.

For the convention tests, which pin one engine behaviour each outside the case matrix,
``expect_defect`` and ``raises_as_declared`` end a strict-xfail test the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from rnn_ref.core.params import Params, expected_shapes
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State
from rnn_ref.oracle.forward import forward


class KnownDefectReproduced(AssertionError):
    """A known-defect case failed as declared: what its strict xfail in the test suite expects."""


@dataclass(frozen=True)
class DefectSignature:
    """What an engine with a known defect computes instead of the reference.

    ``ignores_lengths``: the engine runs every sample over all T steps. ``computes_in``: the
    dtype the engine really computes in, whose tolerance the result meets (None: the case's).
    ``ignores``: the options the engine accepts and ignores (``IGNORABLE`` fields: ``clip``,
    ``peepholes``, ``input_forget``, ``activations``); a case that does not use one is unchanged.
    """

    description: str
    ignores_lengths: bool = False
    computes_in: str | None = None
    ignores: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.ignores) - set(IGNORABLE)
        if unknown:
            raise ValueError(f"ignores={sorted(unknown)}: a signature can ignore {', '.join(IGNORABLE)}")

    def expected(
        self,
        spec: RNNSpec,
        params: Params,
        x: np.ndarray,
        initial_state: State | None,
        lengths: np.ndarray | None,
    ) -> tuple[RNNOutput, np.ndarray | None, str]:
        """The result the defect predicts, the lengths the engine honours, and the dtype whose
        tolerance applies."""
        honoured = None if self.ignores_lengths else lengths
        if self.ignores:
            spec, params = without_options(spec, params, self.ignores)
        return forward(spec, params, x, initial_state, honoured), honoured, self.computes_in or np.dtype(x.dtype).name


#: The option an ignoring signature may name -> the RNNSpec fields that go back to their defaults.
IGNORABLE: dict[str, dict] = {
    "clip": dict(clip=None),
    "peepholes": dict(peepholes=False),
    "input_forget": dict(input_forget=False),
    "activations": dict(activations=None, activation_alpha=None, activation_beta=None),
}


def without_options(spec: RNNSpec, params: Params, options: tuple[str, ...]) -> tuple[RNNSpec, Params]:
    """The layer with ``options`` (keys of ``IGNORABLE``) at their defaults, and its params: the same
    blocks, less the ones it no longer has (peepholes)."""
    changes: dict = {}
    for option in options:
        changes |= IGNORABLE[option]
    plain = spec.replace(**changes)
    if plain == spec:
        return spec, params
    kept = set(expected_shapes(plain))
    return plain, Params(plain, {key: value for key, value in params.items() if key in kept})


LENGTHS_IGNORED = DefectSignature(
    "equals the reference run without lengths (every sample runs all T steps)", ignores_lengths=True
)
COMPUTES_IN_FLOAT32 = DefectSignature(
    "equals the float64 reference rounded through float32 (within the float32 tolerance only)",
    computes_in="float32",
)


def expect_defect(declared: str, signature: str, *, correct: bool, matches_signature: bool, seen: str = "") -> None:
    """End a strict-xfail test of the known defect ``declared`` whose signature is ``signature``.

    ``correct``: the engine did what the canonical convention says; the test then passes, so
    its strict xfail fails the run and the declaration is revisited. ``matches_signature``: it
    computed what the defect predicts; raises KnownDefectReproduced (the xfail's ``raises``).
    Neither: an ordinary AssertionError naming the declaration and what was ``seen``.
    """
    if correct:
        return
    if matches_signature:
        raise KnownDefectReproduced(f"{declared}: {signature}")
    raise AssertionError(f"wrong, and not as the declared defect ({declared}; signature: {signature}): {seen}")


@contextmanager
def raises_as_declared(declared: str, exception: type[BaseException], match: str) -> Iterator[None]:
    """Run a block that a known defect makes fail with ``exception`` whose message matches ``match``.

    No exception: the block passes (the strict xfail then reports the fix). The declared
    exception and message: KnownDefectReproduced. Anything else: an AssertionError naming both.
    """
    try:
        yield
    except exception as error:
        message = f"{type(error).__name__}: {error}"
        if re.search(match, str(error), re.DOTALL):
            raise KnownDefectReproduced(f"{declared}: {message.splitlines()[0]}") from None
        raise AssertionError(f"fails, but not as the declared defect ({declared}; expected {exception.__name__} "
                             f"matching {match!r}): {message}") from None

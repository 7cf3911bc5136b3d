"""The reference's own tests catch a wrong reference.

Each mutation below is one slip in ``forward`` — the wrong GRU variant, states in the wrong
order, a backward direction that starts at T−1, padded steps that update the state, … —
made by wrapping ``forward`` (so it stays meaningful whatever its internals become). Under
each, the hand-derived tests (the first line of proof) must fail, and so must the invariant
tests where an invariant can see the slip (an invariant ties the reference to itself, so a
slip made the same way everywhere, like a gate swap, is invisible to it by construction).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pytest
import test_reference_by_hand
import test_reference_fixed_numbers
import test_reference_invariants

from rnn_ref import Params, forward
from rnn_ref.core.state import RNNOutput

BY_HAND = (test_reference_by_hand, test_reference_fixed_numbers)
INVARIANTS = (test_reference_invariants,)


def test_calls(module) -> Iterator[tuple[str, Callable[[], None]]]:
    """Every test function of ``module`` as (id, call), its ``parametrize`` marks expanded."""
    for name, function in vars(module).items():
        if not name.startswith("test_") or not callable(function):
            continue
        combos: list[dict] = [{}]
        for mark in getattr(function, "pytestmark", []):
            if mark.name == "parametrize":
                names = [n.strip() for n in mark.args[0].split(",")]
                values = [v if len(names) > 1 else (v,) for v in mark.args[1]]
                combos = [combo | dict(zip(names, value, strict=True)) for combo in combos for value in values]
        for kwargs in combos:
            yield f"{name}[{'-'.join(map(str, kwargs.values()))}]", functools.partial(function, **kwargs)


test_calls.__test__ = False  # a helper, not a test


def failing_tests(modules) -> list[str]:
    failed = []
    for module in modules:
        for test_id, call in test_calls(module):
            try:
                call()
            except AssertionError:
                failed.append(f"{module.__name__}::{test_id}")
    return failed


# --------------------------------------------------------------------------- mutations of forward
def as_state(spec, h, c):
    return (h, c) if spec.has_cell_state else h


def gru_variant_swapped(spec, params, x, initial_state=None, lengths=None, **kw):
    if spec.mode == "gru":
        other = "reset_before" if spec.gru_variant == "reset_after" else "reset_after"
        spec = spec.replace(gru_variant=other)
        params = Params(spec, params)
    return forward(spec, params, x, initial_state, lengths, **kw)


def gates_swapped(spec, params, x, initial_state=None, lengths=None, **kw):
    """LSTM i <-> f, GRU r <-> z (one block swap in every unit)."""
    pair = {"lstm": ("i", "f"), "gru": ("r", "z")}.get(spec.mode)
    blocks = dict(params)
    if pair:
        a, b = pair
        for key in params:
            if key.endswith(f".{a}"):
                blocks[key], blocks[key[:-1] + b] = params[key[:-1] + b], params[key]
    return forward(spec, blocks, x, initial_state, lengths, **kw)


def update_gate_flipped(spec, params, x, initial_state=None, lengths=None, **kw):
    """GRU h' = z⊙n + (1−z)⊙h: every z block negated, since σ(−a) = 1 − σ(a)."""
    blocks = {k: (-v if spec.mode == "gru" and k.endswith(".z") else v) for k, v in params.items()}
    return forward(spec, blocks, x, initial_state, lengths, **kw)


def final_states_reversed(spec, params, x, initial_state=None, lengths=None, **kw):
    result = forward(spec, params, x, initial_state, lengths, **kw)
    return replace(result, h_n=result.h_n[::-1].copy(), c_n=None if result.c_n is None else result.c_n[::-1].copy())


def initial_states_reversed(spec, params, x, initial_state=None, lengths=None, **kw):
    if initial_state is not None:
        state = (initial_state,) if isinstance(initial_state, np.ndarray) else tuple(initial_state)
        reversed_state = [None if s is None else s[::-1].copy() for s in state]
        initial_state = reversed_state[0] if isinstance(initial_state, np.ndarray) else tuple(reversed_state)
    return forward(spec, params, x, initial_state, lengths, **kw)


def zero_padded_steps(spec, output, lengths):
    by_time = output if spec.layout == "TNC" else output.transpose(1, 0, 2)
    valid = np.arange(by_time.shape[0])[:, None] < np.asarray(lengths)[None, :]
    masked = np.where(valid[..., None], by_time, 0.0)
    return masked if spec.layout == "TNC" else masked.transpose(1, 0, 2)


def padded_steps_update_the_state(spec, params, x, initial_state=None, lengths=None, **kw):
    """Every sample runs all T steps; only the output is zeroed where lengths say."""
    result = forward(spec, params, x, initial_state, None, **kw)
    if lengths is None:
        return result
    return replace(result, output=zero_padded_steps(spec, result.output, lengths))


def backward_starts_at_the_last_step(spec, params, x, initial_state=None, lengths=None, **kw):
    """The backward direction ignores lengths (starts at T−1); the forward one honours them."""
    right = forward(spec, params, x, initial_state, lengths, **kw)
    if lengths is None or not spec.bidirectional:
        return right
    wrong = forward(spec, params, x, initial_state, None, **kw)
    half = spec.state_size
    output = right.output.copy()
    output[..., half:] = zero_padded_steps(spec, wrong.output, lengths)[..., half:]
    h_n = right.h_n.copy()
    h_n[1::2] = wrong.h_n[1::2]
    c_n = None if right.c_n is None else right.c_n.copy()
    if c_n is not None:
        c_n[1::2] = wrong.c_n[1::2]
    return RNNOutput(output, h_n, c_n)


def directions_swapped_in_the_output(spec, params, x, initial_state=None, lengths=None, **kw):
    """Backward features first: output[..., :R] and output[..., R:] exchanged."""
    result = forward(spec, params, x, initial_state, lengths, **kw)
    if not spec.bidirectional:
        return result
    half = spec.state_size
    swapped = np.concatenate([result.output[..., half:], result.output[..., :half]], axis=-1)
    return replace(result, output=swapped)


@dataclass(frozen=True)
class Mutation:
    name: str
    forward: Callable
    invariants_see_it: bool  # False: a slip an invariant (the reference against itself) cannot see
    closed_forms_see_it: bool = False  # the closed forms of test_reference_fixed_numbers alone fail too


MUTATIONS = [
    Mutation("gru-variant-swapped", gru_variant_swapped, invariants_see_it=False, closed_forms_see_it=True),
    Mutation("gates-swapped", gates_swapped, invariants_see_it=False, closed_forms_see_it=True),
    Mutation("z-and-1-minus-z-swapped", update_gate_flipped, invariants_see_it=False, closed_forms_see_it=True),
    Mutation("final-states-in-reverse-unit-order", final_states_reversed, invariants_see_it=True),
    Mutation("initial-states-in-reverse-unit-order", initial_states_reversed, invariants_see_it=True),
    Mutation("padded-steps-update-the-state", padded_steps_update_the_state, invariants_see_it=True),
    Mutation("backward-starts-at-the-last-step", backward_starts_at_the_last_step, invariants_see_it=True),
    Mutation("directions-swapped-in-the-output", directions_swapped_in_the_output, invariants_see_it=True),
]


def mutate(monkeypatch: pytest.MonkeyPatch, mutated: Callable) -> None:
    for module in BY_HAND + INVARIANTS:
        monkeypatch.setattr(module, "forward", mutated)


def test_the_reference_tests_pass_on_the_reference():
    assert failing_tests(BY_HAND + INVARIANTS) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_a_mutated_reference_fails_the_reference_tests(monkeypatch, mutation):
    mutate(monkeypatch, mutation.forward)
    by_hand = failing_tests(BY_HAND)
    assert by_hand, f"no hand-derived test catches a reference with {mutation.name}"
    if mutation.invariants_see_it:
        assert failing_tests(INVARIANTS), f"no invariant test catches a reference with {mutation.name}"
    if mutation.closed_forms_see_it:
        assert failing_tests([test_reference_fixed_numbers]), f"no closed form catches a reference with {mutation.name}"

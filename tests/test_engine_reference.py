"""An engine may declare what it is judged against (``Adapter.reference``, ``Adapter.held_arrays``), with NumPy alone.

A quantized runtime computes on weights it holds in another form; it is judged exactly, at the
ordinary tolerance, against the reference of that computation, from what it says it holds
(``held_arrays``, read off its artifact). The test engine here rounds every weight to a grid of
``STEP`` when it runs, holds that step, and declares the reference on the weights so rounded.
The judge, ``rnn-ref record`` and the fixture replay use its declaration; a held value that is
not what the runtime used (a wrong step, live or in a fixture file) fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference_engine import RecordableReferenceEngine

from rnn_ref import Params, forward
from rnn_ref.adapters import ENGINES, EngineInfo, adapter_object
from rnn_ref.cases.matrix import case_by_id
from rnn_ref.core.compare import TOLERANCES
from rnn_ref.golden.fixtures import load_all, record, replay_fixture
from rnn_ref.judge.runner import FAIL, PASS, run_case
from rnn_ref.judge.tensors import judge

STEP = 2.0 ** -4


def rounded(params: Params, step: float) -> Params:
    return Params(params.spec, {key: np.round(value / step) * step for key, value in params.items()})


class RoundingEngine(RecordableReferenceEngine):
    """A 'quantized runtime': the layer on its weights rounded to multiples of ``STEP``, which it holds."""

    name = "rounding"
    held_step = STEP

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        return forward(spec, rounded(layer, STEP), x, initial_state, lengths, precision="input")

    def held_arrays(self, spec, layer):
        return {"step": np.array(self.held_step)}

    def reference(self, spec, params, x, initial_state, lengths, held):
        return forward(spec, rounded(params, float(held["step"])), x, initial_state, lengths)


class MisreportingEngine(RoundingEngine):
    """Says it holds another step than the one it computes with."""

    held_step = 2 * STEP


CASE = "lstm-L2-bi-NTC-h0-len-f32"


@pytest.fixture
def rounding_engine():
    info = EngineInfo("rounding", "test_engine_reference:RoundingEngine", "numpy", "a rounding test engine")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ENGINES, "rounding", info)
        adapter_object.cache_clear()
        yield "rounding"
    adapter_object.cache_clear()


def test_the_judge_holds_an_engine_to_its_declared_reference():
    case = case_by_id(CASE)
    result = run_case(RoundingEngine(), case)
    assert result.status == PASS, result.report()
    # the same run against the plain reference is far off: the declaration is what makes it pass
    data = case.data()
    output = RoundingEngine().run(case.spec, data.params, data.x, data.initial_state, data.lengths)
    plain = judge(case.spec, output, forward(case.spec, data.params, data.x, data.initial_state, data.lengths),
                  data.lengths, "zeros", TOLERANCES["float32"])
    assert not all(c.passed for c in plain)


def test_a_held_value_other_than_the_runtimes_fails_the_case():
    result = run_case(MisreportingEngine(), case_by_id(CASE))
    assert result.status == FAIL


def test_held_arrays_are_recorded_and_the_replay_uses_them(tmp_path, rounding_engine):
    folder = tmp_path / rounding_engine
    record(rounding_engine, folder)
    _, fixtures = load_all(folder, rounding_engine)
    assert fixtures and all(float(f.held["step"]) == STEP for f in fixtures)
    assert all(replay_fixture(f).status == PASS for f in fixtures)
    # a fixture whose held step was edited no longer replays
    first = fixtures[0]
    with np.load(first.path) as arrays:
        edited = {name: arrays[name] for name in arrays.files} | {"held:step": np.array(2 * STEP)}
    np.savez(first.path, **edited)
    _, again = load_all(folder, rounding_engine)
    assert replay_fixture(again[0]).status == FAIL

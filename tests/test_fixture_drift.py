"""The drift check of fresh recordings (tests/test_fixtures_fresh.py), specified with NumPy alone.

A fresh recording on another machine differs from the committed fixtures by rounding: a few
units in the last place (ULPs) of each tensor's magnitude. ``DRIFT_BOUND_ULPS`` = 16 (four
times the worst drift measured with the frameworks' vector code capped at AVX2 and SSE4.1;
rnn_ref/golden/drift.py gives the measurements). Within it is rounding; beyond it is a change, and
the report names both framework versions, the case, the tensor and the size of the change.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnn_ref.golden.drift import DRIFT_BOUND_ULPS, drift, ulp_of_magnitude
from rnn_ref.golden.fixtures import FIXTURES_ROOT, drift_report, load_all, recording_drifts


@pytest.fixture(scope="module")
def committed():
    return load_all(FIXTURES_ROOT / "torch", "torch")


def moved(fixture, tensor: str, ulps: float):
    """The fixture with one element of ``tensor`` moved by ``ulps`` ULPs of the tensor's magnitude."""
    recorded = getattr(fixture.recorded, tensor).copy()
    step = ulp_of_magnitude(recorded)
    recorded.flat[5] = recorded.dtype.type(recorded.flat[5] + ulps * step)
    return dataclasses.replace(fixture, recorded=dataclasses.replace(fixture.recorded, **{tensor: recorded}))


def test_an_identical_recording_has_no_drift(committed):
    manifest, fixtures = committed
    drifts = recording_drifts(fixtures, fixtures)
    assert drifts and all(d.within and d.ulps == 0 for d in drifts)
    assert drift_report("torch", manifest, manifest, drifts) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_ulp_of_rounding_passes(committed, dtype):
    manifest, fixtures = committed
    index = next(i for i, f in enumerate(fixtures) if f.case.dtype == dtype)
    fresh = list(fixtures)
    fresh[index] = moved(fixtures[index], "output", 1)
    drifts = recording_drifts(fixtures, fresh)
    worst = max(drifts, key=lambda d: d.ulps)
    assert worst.tensor == "output" and 0.5 <= worst.ulps <= 1.5 and worst.within
    assert drift_report("torch", manifest, manifest, drifts) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_change_beyond_the_bound_fails_and_names_versions_case_tensor_and_size(committed, dtype):
    manifest, fixtures = committed
    index = next(i for i, f in enumerate(fixtures) if f.case.dtype == dtype and f.recorded.c_n is not None)
    fresh = list(fixtures)
    fresh[index] = moved(fixtures[index], "c_n", 2 * DRIFT_BOUND_ULPS)
    fresh_manifest = dict(manifest, engine_version="9.9.9", platform="another machine")
    report = drift_report("torch", manifest, fresh_manifest, recording_drifts(fixtures, fresh))
    assert report is not None
    assert manifest["engine_version"] in report and "now 9.9.9 on another machine" in report
    case = fixtures[index].case.id
    assert f"{case} c_n: changed by up to" in report and "32.0 ULPs of its magnitude (bound 16)" in report


def test_just_above_the_bound_fails_and_at_the_bound_passes():
    committed = np.array([0.75, -1.0, 0.5], np.float32)  # magnitude 1: one ULP is spacing(1) = 2**-23
    step = float(np.spacing(np.float32(1.0)))
    at = committed.copy()
    at[0] += np.float32(DRIFT_BOUND_ULPS * step)
    above = committed.copy()
    above[0] += np.float32((DRIFT_BOUND_ULPS + 2) * step)
    assert drift("c", "t", committed, at).within
    assert not drift("c", "t", committed, above).within


def test_a_changed_input_or_weight_is_a_change_too(committed):
    _, fixtures = committed
    fresh = list(fixtures)
    weights = dict(fixtures[0].weights)
    name = sorted(weights)[0]
    weights[name] = weights[name] * 2
    fresh[0] = dataclasses.replace(fixtures[0], weights=weights, lengths=None if fixtures[0].lengths is not None
                                   else np.ones(fixtures[0].case.batch, np.int64))
    changed = {d.tensor for d in recording_drifts(fixtures, fresh) if not d.within}
    assert changed == {f"weight {name}", "lengths"}


def test_a_different_shape_or_set_of_cases_is_never_rounding(committed):
    _, fixtures = committed
    assert not drift("c", "output", np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)).within
    assert not drift("c", "output", np.zeros(3, np.float32), np.zeros(3, np.float64)).within
    [problem] = recording_drifts(fixtures, fixtures[1:])
    assert not problem.within and fixtures[0].case.id in problem.case


def test_recorded_gradients_have_their_own_wider_bound(committed):
    """Gradients sum over every step and sample and drift more (6.5 ULPs measured): bound 32."""
    from rnn_ref.golden.drift import GRADIENT_DRIFT_BOUND_ULPS

    _, fixtures = committed
    index = next(i for i, f in enumerate(fixtures) if f.gradients)
    name = next(n for n in sorted(fixtures[index].gradients) if n.startswith("grad:weight:"))

    def with_gradient_moved(ulps):
        gradients = dict(fixtures[index].gradients)
        moved_array = gradients[name].copy()
        moved_array.flat[0] = moved_array.dtype.type(moved_array.flat[0] + ulps * ulp_of_magnitude(moved_array))
        gradients[name] = moved_array
        fresh = list(fixtures)
        fresh[index] = dataclasses.replace(fixtures[index], gradients=gradients)
        case = fixtures[index].case.id
        return next(d for d in recording_drifts(fixtures, fresh) if d.case == case and d.tensor == name)

    assert with_gradient_moved(DRIFT_BOUND_ULPS + 4).within
    beyond = with_gradient_moved(GRADIENT_DRIFT_BOUND_ULPS + 8)
    assert not beyond.within and "(bound 32)" in beyond.describe()

"""`rnn-ref diagnose` on the frameworks' own files and on a real engine's outputs (each in its engine's env).

One seed of each kind of mistake (each selftest slip, each kind of pair) is written into a
framework file — torch ``.pt``, Keras ``.weights.h5``, Gluon ``.params``, ONNX ``.onnx`` — by
``rnn-ref convert``'s writer (through the framework), read back by its reader, and diagnosed:
nothing may be missed. (Writing a ``.weights.h5`` goes through a Keras model, about 0.3 s a file;
every seed of every kind goes through the same rows in tests/test_diagnose.py's ``.npz`` files,
and ``benchmarks/diagnose_table.py --suffix`` runs them all through a framework's files.) Then the engine itself
runs the layer with a gate swap in its weights, and the outputs form names the swap from the
engine's float32 outputs (and says "no difference" without it). A framework that is not selected
(``--engines``) is skipped, saying how to select it.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.conversion.convert import allowed_suffixes
from rnn_ref.core.state import State
from rnn_ref.diagnosis import Observed, diagnose_outputs
from rnn_ref.diagnosis.catalog import Run
from rnn_ref.diagnosis.gates import reorder
from rnn_ref.diagnosis.seeding import diagnosed_files

pytestmark = pytest.mark.engine

LSTM = RNNSpec("lstm", 8, 4, num_layers=2, bidirectional=True)
FRAMEWORK_FILES = {engine: suffix for engine in ("torch", "keras", "gluon", "onnx")
                   for suffix in allowed_suffixes(engine) if suffix != ".npz"}


@pytest.mark.parametrize("native_engine", list(FRAMEWORK_FILES))
def test_every_seeded_mistake_in_a_framework_file_is_named(native_engine, engine_or_skip, tmp_path):
    engine = engine_or_skip(native_engine).name
    suffix = FRAMEWORK_FILES[engine]
    verdicts = diagnosed_files(engine, LSTM, tmp_path, suffix, pair_stride=29, once=True)
    missed = [name for name, verdict in verdicts if verdict == "missed"]
    assert not missed, f"{engine} {suffix}: missed {missed}"
    assert {name for name, _ in verdicts} >= {"gate-order", "bias", "direction", "layer-order", "transpose"}
    assert any("+" in name for name, _ in verdicts)


@pytest.mark.parametrize("native_engine", list(FRAMEWORK_FILES))
def test_a_gate_swap_in_a_real_engines_weights_is_named_from_its_outputs(native_engine, engine_or_skip):
    adapter = engine_or_skip(native_engine)
    spec = RNNSpec("gru", 3, 4, bidirectional=True)
    reason = adapter.unsupported_reason(spec, "float32", with_lengths=False)
    if reason is not None:
        pytest.skip(f"unsupported by {native_engine}: {reason}")
    params = Params.random(spec, seed=4, dtype=np.float32)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 2, 4)).astype(np.float32)
    run = Run(spec, x, State(h0), None)
    for weights, expected in ((params, []), (Params(spec, reorder(spec, dict(params), ("z", "r", "n"))),
                                             ["gate-order"])):
        result = adapter.run(spec, adapter.build(spec, weights), x, State(h0))
        observed = Observed(np.asarray(result.output), np.asarray(result.h_n))
        diagnosis = diagnose_outputs(params, run, observed)
        assert [f.kind for f in diagnosis.findings] == expected, (native_engine, diagnosis)
        assert diagnosis.exit_code == (1 if expected else 0)

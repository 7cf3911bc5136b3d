"""`rnn-ref diagnose` on the frameworks' own files and on a real engine's outputs (each in its engine's env).

Every seed of rnn_ref.diagnosis.seeding — every mistake of the weights catalog, every gate order,
every square w_hh block transposed, selftest's row slips and every 7th pair of two mistakes of
different kinds — is written into a framework file — torch ``.pt``, Keras ``.weights.h5`` (through
each Keras backend), Gluon ``.params``, ONNX ``.onnx`` — by ``rnn-ref convert``'s writer (through
the framework), read back by its reader, and diagnosed, for a 2-layer bidirectional LSTM and a
bidirectional GRU: nothing may be missed ("found": exactly the seeded set; "ambiguous": another
set of no more mistakes, checked to reproduce the seed; "invisible": the seed changes nothing in
that file, and diagnose says "no difference"). Then the engine itself runs the layer with a gate
swap in its weights, and the outputs form names the swap from the engine's float32 outputs (and
says "no difference" without it). A framework that is not selected (``--engines``) is skipped,
saying how to select it.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec
from rnn_ref.conversion.convert import allowed_suffixes, format_engines
from rnn_ref.core.state import State
from rnn_ref.diagnosis import Observed, diagnose_outputs
from rnn_ref.diagnosis.catalog import Run
from rnn_ref.diagnosis.gates import every_order, reorder
from rnn_ref.diagnosis.seeding import diagnosed_files

pytestmark = pytest.mark.engine

LSTM = RNNSpec("lstm", 8, 4, num_layers=2, bidirectional=True)  # I = D·H: layers 0 and 1 can be exchanged
GRU = RNNSpec("gru", 4, 4, bidirectional=True)  # square w_ih: its transposes too
SPECS = {"lstm-L2-bi": LSTM, "gru-L1-bi": GRU}
#: every engine that writes a framework's own file (not only .npz), and that file's suffix
FRAMEWORK_FILES = {engine: suffix for engine in format_engines()
                   for suffix in allowed_suffixes(engine) if suffix != ".npz"}
FILE_CASES = [(engine, spec_id) for engine in FRAMEWORK_FILES for spec_id in SPECS]


@pytest.mark.parametrize(("native_engine", "spec_id"), FILE_CASES,
                         ids=[f"{engine}{FRAMEWORK_FILES[engine]}-{spec_id}" for engine, spec_id in FILE_CASES])
def test_every_seeded_mistake_in_a_framework_file_is_named(native_engine, spec_id, engine_or_skip, tmp_path):
    adapter = engine_or_skip(native_engine)
    spec = SPECS[spec_id]
    reason = adapter.layer_unsupported_reason(spec)
    if reason is not None:
        pytest.skip(f"unsupported by {native_engine}: {reason}")
    suffix = FRAMEWORK_FILES[native_engine]
    verdicts = diagnosed_files(native_engine, spec, tmp_path, suffix)
    missed = [name for name, verdict in verdicts if verdict == "missed"]
    assert not missed, f"{native_engine} {suffix}: missed {missed}"
    names = {name for name, _ in verdicts}
    assert names >= {"gate-order", "bias", "direction", "transpose"}
    assert (spec.num_layers < 2 or "layer-order" in names) and any("+" in name for name in names)
    orders = sum(name == "gate-order" for name, _ in verdicts)
    assert orders >= len(every_order(spec)), "every gate order is seeded"


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

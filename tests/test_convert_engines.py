"""Converted weights run on the real engines: A -> B gives the same outputs as A.

For the engine under test, weights of every format (canonical and every engine's .npz,
written from canonical params by the rows alone) are converted into the engine's native
file, loaded into the real layer, and run. Its outputs must match the reference on what the
source file held, and, when the source's own engine is selected in this run too (engines
sharing an env), that engine's outputs on its own file. Native file formats (.pt, .params) are
round-tripped through the framework itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_ref import Params, RNNSpec, forward
from rnn_ref.adapters import ENGINES, adapter_object
from rnn_ref.adapters.keras.backend import KERAS_ENGINES
from rnn_ref.conversion.convert import CANONICAL, allowed_suffixes, format_engines, read_params, write_params
from rnn_ref.core.compare import TOLERANCES, compare
from rnn_ref.core.errors import ParamsError

pytestmark = pytest.mark.engine

SPECS = {
    "lstm-L2-bi": RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True),
    "gru-L1": RNNSpec("gru", 3, 4),
    "rnn_tanh-L2": RNNSpec("rnn_tanh", 3, 4, num_layers=2),
}
X = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)  # TNC


def expresses(engine: str, spec: RNNSpec) -> bool:
    return engine == CANONICAL or adapter_object(engine).layer_unsupported_reason(spec) is None


def run_engine(engine: str, params: Params, runs: dict | None = None):
    """``engine``'s output on X with ``params``. ``runs``: outputs already computed in this test,
    by engine and the params' bits: the files of many sources load the very same weights (every
    two-bias source folds to the same Keras bias), and the layer gives them the same output."""
    key = (engine, params.spec, tuple((name, block.dtype.str, block.tobytes()) for name, block in params.items()))
    if runs is not None and key in runs:
        return runs[key]
    adapter = adapter_object(engine)
    result = adapter.run(params.spec, adapter.build(params.spec, params), X)
    if runs is not None:
        runs[key] = result
    return result


@pytest.mark.parametrize("spec_id", list(SPECS))
def test_weights_from_every_format_run_the_same_on_this_engine(engine, spec_id, tmp_path, request):
    spec = SPECS[spec_id]
    reason = adapter_object(engine).unsupported_reason(spec, "float32", with_lengths=False)
    if reason is not None:  # onnx2torch has the layer's parameters, but cannot run it
        pytest.skip(f"unsupported by {engine}: {reason}")
    canonical = Params.random(spec, seed=7, dtype=np.float32)
    tolerance = TOLERANCES["float32"]
    runs: dict = {}
    for source in format_engines():
        if not expresses(source, spec):
            continue
        source_file = tmp_path / f"{source}.npz"
        write_params(source, source_file, canonical)
        held = read_params(source, source_file, spec)  # what the source format holds (Keras: summed biases)
        for suffix in allowed_suffixes(engine):
            target_file = tmp_path / f"{source}-to-{engine}{suffix}"
            write_params(engine, target_file, read_params(source, source_file, spec))
            loaded = read_params(engine, target_file, spec)
            result = run_engine(engine, loaded, runs)
            expected = forward(spec, held, X)
            checks = [compare("output", result.output, expected.output, tolerance),
                      compare("h_n", result.h_n, expected.h_n, tolerance)]
            selected = request.config.rnn_ref_engines  # engines of this env's run (not every importable one)
            if source != CANONICAL and source != engine and source in selected \
                    and adapter_object(source).unsupported_reason(spec, "float32", with_lengths=False) is None:
                other = run_engine(source, held, runs)  # engines that share this env: engine vs engine
                checks.append(compare(f"output vs {source}", result.output, other.output, tolerance))
            failed = [c.describe() for c in checks if not c.passed]
            assert not failed, f"{source} -> {engine} ({suffix}): {failed}"


FRAMEWORK_FORMATS = {engine: suffix for engine in ENGINES for suffix in allowed_suffixes(engine) if suffix != ".npz"}


@pytest.mark.parametrize("native_engine", list(FRAMEWORK_FORMATS))
def test_framework_file_format_round_trip_is_bit_exact(native_engine, engine_or_skip, tmp_path):
    """torch .pt (torch.save of a state_dict), Gluon .params (save_parameters), Keras .weights.h5."""
    engine = engine_or_skip(native_engine).name
    suffix = FRAMEWORK_FORMATS[engine]
    spec = SPECS["lstm-L2-bi"]
    params = Params.random(spec, seed=8)
    if engine in KERAS_ENGINES:  # one bias: what Keras holds is the folded params
        mapping = adapter_object(engine).mapping(spec)
        params = mapping.to_params(mapping.to_native(params))
    write_params(engine, tmp_path / f"w{suffix}", params)
    assert read_params(engine, tmp_path / f"w{suffix}", spec).equal(params)
    assert read_params(engine, tmp_path / f"w{suffix}", spec.replace(input_size=1, hidden_size=1), infer=True).equal(params)


@pytest.mark.parametrize("native_engine", [e for e, suffix in FRAMEWORK_FORMATS.items() if suffix == ".pt"])
def test_a_pickle_that_is_not_a_state_dict_is_refused(native_engine, engine_or_skip, tmp_path):
    engine = engine_or_skip(native_engine).name
    from fractions import Fraction

    import torch

    torch.save({"weight_ih_l0": Fraction(1, 3)}, tmp_path / "evil.pt")  # not a type weights_only may build
    with pytest.raises(ParamsError, match="weights_only=True"):
        read_params(engine, tmp_path / "evil.pt", SPECS["gru-L1"])


# ----------------------------------------------------------------------------- bad framework files
def torch_pt(engine_or_skip, path, state) -> None:
    engine_or_skip("torch")
    import torch

    torch.save(state, path)


def test_a_checkpoint_dict_names_the_key_that_holds_the_state_dict(engine_or_skip, tmp_path):
    import importlib

    torch_pt(engine_or_skip, tmp_path / "ckpt.pt", {})
    torch = importlib.import_module("torch")
    layer = torch.nn.GRU(3, 4)
    torch.save({"model": layer.state_dict(), "optimizer": {"state": {}, "param_groups": []}, "epoch": 3},
               tmp_path / "ckpt.pt")
    with pytest.raises(ParamsError, match=r"checkpoint whose state_dict is under key 'model'"):
        read_params("torch", tmp_path / "ckpt.pt", SPECS["gru-L1"])


def test_integer_keys_in_a_state_dict_are_named(engine_or_skip, tmp_path):
    torch_pt(engine_or_skip, tmp_path / "ints.pt", {})
    import torch

    torch.save({0: torch.zeros(2), 1: torch.zeros(2)}, tmp_path / "ints.pt")
    with pytest.raises(ParamsError, match=r"a state_dict's keys are parameter names, got 0, 1"):
        read_params("torch", tmp_path / "ints.pt", SPECS["gru-L1"])


def test_meta_tensors_are_named(engine_or_skip, tmp_path):
    torch_pt(engine_or_skip, tmp_path / "meta.pt", {})
    import torch

    with torch.device("meta"):
        layer = torch.nn.GRU(3, 4)
    torch.save(layer.state_dict(), tmp_path / "meta.pt")
    with pytest.raises(ParamsError, match=r"weight_ih_l0, .* are meta tensors, which hold no values"):
        read_params("torch", tmp_path / "meta.pt", SPECS["gru-L1"], infer=True)


def test_a_small_weights_h5_claiming_huge_datasets_is_refused_before_reading_them(engine_or_skip, tmp_path):
    """A 38 KB .weights.h5 whose datasets claim gigabytes (chunked, never written) once made the reader
    allocate 3.7 GiB: shapes are read from the metadata and checked before Keras reads any data."""
    engine_or_skip("keras")
    import h5py

    spec = SPECS["gru-L1"]
    write_params("keras", tmp_path / "w.weights.h5", Params.random(spec))
    with h5py.File(tmp_path / "w.weights.h5", "r+") as archive:
        names = []
        archive.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        del archive[names[0]]
        archive.create_dataset(names[0], shape=(30000, 30000), dtype="f8", chunks=(64, 64), compression="gzip")
    assert (tmp_path / "w.weights.h5").stat().st_size < 100_000
    with pytest.raises(ParamsError, match=r"arr_0: expected shape \(3, 12\), got \(30000, 30000\)"):
        read_params("keras", tmp_path / "w.weights.h5", spec)
    with pytest.raises(ParamsError, match=r"datasets do not match"):
        read_params("keras", tmp_path / "w.weights.h5", spec.replace(input_size=1, hidden_size=1), infer=True)

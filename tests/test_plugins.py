"""Engines from other packages: the `rnn_ref.engines` entry points, every command, the shipped suite.

Installation is simulated the way pip leaves it: a folder holding a `*.dist-info` (with
`entry_points.txt`) and the module goes on sys.path (tests/plugin_packages/README.md). The
example engine is examples/numpy_lstm_adapter; everything here needs NumPy alone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnn_ref.cli.check
from rnn_ref import Params, RNNSpec
from rnn_ref.adapters import (
    ENGINES,
    EngineInfo,
    engine_info,
    engine_names,
    load_adapter,
    plugin_problems,
    refresh_plugins,
    registry,
)
from rnn_ref.cases.matrix import all_cases
from rnn_ref.cli import main
from rnn_ref.core.deadline import within
from rnn_ref.golden.fixtures import representative_cases

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "tests" / "plugin_packages"
EXAMPLE = [PACKAGES / "example", ROOT / "examples" / "numpy_lstm_adapter"]  # metadata + code
SWAPPED = [PACKAGES / "swapped", *EXAMPLE[1:]]  # imports the example's adapter
LEGACY = [PACKAGES / "legacy"]
BROKEN = [PACKAGES / "broken"]
DUPLICATE = [PACKAGES / "duplicate"]
HANGS = [PACKAGES / "hangs"]  # blocks at import, for ever
IMPORT_TIME = [PACKAGES / "import_time", *EXAMPLE]  # exits, interrupts or prints at import
RAISING = [PACKAGES / "raising", *EXAMPLE]
BLOCKING = [PACKAGES / "blocking", *EXAMPLE]  # loads; mapping() or version() never returns  # loads; mapping() or unsupported_reason() raises


@pytest.fixture
def install(monkeypatch):
    """``install(*folders)``: those simulated distributions are installed for this test."""

    def add(*folders: Path) -> None:
        for folder in folders:
            monkeypatch.syspath_prepend(str(folder))
        refresh_plugins()

    yield add
    monkeypatch.undo()
    refresh_plugins()


@pytest.fixture
def few_cases(monkeypatch):
    """`rnn-ref check` in-process over the recorded subset of the matrix (48 cases), to stay fast."""
    monkeypatch.setattr(rnn_ref.cli.check, "all_cases", representative_cases)


def run(*argv: str, folders: list[Path], cwd: Path | None = None, timeout: float | None = None,
        ) -> subprocess.CompletedProcess:
    """A command in a fresh interpreter where ``folders`` are installed (on PYTHONPATH)."""
    path = os.pathsep.join([*map(str, folders), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": path})


def test_the_plugin_api_is_importable_from_rnn_ref_adapters():
    from rnn_ref.adapters import (  # noqa: F401  (importing is the test)
        PADDED_REPEAT_LAST,
        PADDED_ZEROS,
        Adapter,
        MappingRow,
        RNNOutput,
        State,
        WeightMapping,
        build_mapping,
        fused_unit_rows,
        stacked_gate_rows,
    )
    from rnn_ref.adapters.adapter import Adapter as BaseAdapter

    assert Adapter is BaseAdapter


def test_an_installed_plugin_is_an_engine_like_a_builtin(install, capsys):
    install(*EXAMPLE)
    assert engine_names().index("numpy-lstm") >= len(ENGINES) and engine_names()[0] == "torch"  # built-ins first
    info = engine_info("numpy-lstm")
    assert info.distribution == "numpy-lstm-adapter 0.1.0" and info.installed()
    assert load_adapter("numpy-lstm").name == "numpy-lstm"
    assert main(["engines"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"numpy-lstm +plug-in numpy-lstm-adapter 0\.1\.0", listing) and "Plug-ins that cannot be used" not in listing


def test_map_convert_and_record_take_a_plugin_engine(install, tmp_path, capsys):
    install(*EXAMPLE)
    assert main(["map", "numpy-lstm", "--mode", "lstm"]) == 0
    assert "[:, 0:H]     = l0.fwd.w_ih.o (transposed)" in capsys.readouterr().out  # gate o first, kernels (I, 4H)
    spec = RNNSpec("lstm", 3, 4, num_layers=2, bidirectional=True)
    Params.random(spec, seed=2).save(tmp_path / "canonical.npz")
    layer = ["--mode", "lstm", "--layers", "2", "--bidirectional"]
    assert main(["convert", "--from", "canonical", "--to", "numpy-lstm", *layer, str(tmp_path / "canonical.npz"),
                 str(tmp_path / "native.npz")]) == 0
    with np.load(tmp_path / "native.npz") as native:  # keyed by the engine's native names
        assert native["layer1/bw/kernel"].shape == (8, 16) and "layer0/fw/bias" in native.files
    assert main(["convert", "--from", "numpy-lstm", "--to", "torch", *layer, str(tmp_path / "native.npz"),
                 str(tmp_path / "torch.npz")]) == 0
    assert main(["record", "--engine", "numpy-lstm"]) == 2
    assert "numpy-lstm is a plug-in from numpy-lstm-adapter 0.1.0: give --output DIR" in capsys.readouterr().err
    assert main(["record", "--engine", "numpy-lstm", "--output", str(tmp_path / "fixtures" / "numpy-lstm")]) == 0
    capsys.readouterr()
    assert main(["check", "--engines", "numpy-lstm", "--replay-only", "--fixtures", str(tmp_path / "fixtures")]) == 0
    assert "numpy-lstm (fixtures, numpy-lstm-adapter 0.1.0" in capsys.readouterr().out


def test_check_runs_a_plugin_engine_live(install, few_cases, capsys):
    install(*EXAMPLE)
    assert main(["check", "--engines", "numpy-lstm"]) == 0
    out = capsys.readouterr().out
    assert "numpy-lstm (live, numpy-lstm-adapter 0.1.0" in out and " 0 failed" in out


def test_a_swapped_gate_fails_with_the_tensor_the_error_and_the_rerun_command(install, few_cases, capsys, tmp_path):
    """`rnn-ref check` exits 1, every LSTM case fails on its output and nothing else does; the printed
    rerun command, run from another folder, reruns that one case and fails it the same way."""
    install(*SWAPPED)
    assert main(["check", "--engines", "numpy-lstm-swapped"]) == 1
    out = capsys.readouterr().out
    case = "lstm-L1-uni-TNC-f32"
    assert f"numpy-lstm-swapped disagrees with the reference on case {case} (RNNSpec(mode='lstm'" in out
    assert "  output: max abs error " in out and "tolerance for float32: atol=2e-06" in out
    rerun = (f"pytest --pyargs rnn_ref.suite --engines numpy-lstm-swapped "
             f"-k 'test_engine_matches_reference[numpy-lstm-swapped-{case}]'")
    assert f"  rerun: {rerun}\n" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(" " * 11)}
    # every LSTM case it runs fails (its option cases are unsupported: the plug-in declares no option); GRU passes
    cases, failed, unsupported = (int(rows["lstm"][i]) for i in (1, 3, 4))
    assert failed == cases - unsupported > 0 and rows["gru_reset_before"][3] == "0"
    rerun_run = run("-m", *shlex.split(rerun), "-p", "no:cacheprovider", folders=SWAPPED, cwd=tmp_path)
    assert rerun_run.returncode == 1 and "1 failed" in rerun_run.stdout, rerun_run.stdout[-2000:]
    assert f"numpy-lstm-swapped disagrees with the reference on case {case}" in rerun_run.stdout


def test_an_adapter_written_against_the_original_base_class_runs_unchanged():
    checked = run("-m", "rnn_ref", "check", "--engines", "legacy-rnn", folders=LEGACY)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr
    assert "legacy-rnn (live, legacy-rnn 1.0)" in checked.stdout
    assert re.search(r"legacy-rnn: \d+ case\(s\): legacy-rnn implements LSTM only", checked.stdout)
    assert re.search(r"legacy-rnn: \d+ case\(s\): legacy-rnn computes in float32 only", checked.stdout)
    passed, unsupported = map(int, re.search(r"(\d+) passed, 0 failed, (\d+) unsupported", checked.stdout).groups())
    assert passed > 0 and passed + unsupported == len(all_cases())


def test_broken_plugins_are_reported_by_name_and_the_others_still_work(install, capsys):
    install(*BROKEN, *LEGACY)
    problems = {p.name: p.error for p in plugin_problems()}
    assert problems["torch"].startswith("the name clashes with the built-in engine 'torch'")
    assert problems["needs-cupy"] == "could not be imported: ModuleNotFoundError: No module named 'cupy_is_not_installed_here'"
    assert engine_info("torch").distribution == "" and "legacy-rnn" in engine_names()  # the built-in is kept
    assert main(["engines"]) == 0
    listing = capsys.readouterr().out
    assert ("- plug-in engine 'needs-cupy' (needs-cupy = 'broken_rnn_plugins:CupyAdapter' from broken-rnn-plugins "
            "1.0): could not be imported: ModuleNotFoundError") in listing
    assert re.search(r"legacy-rnn +plug-in legacy-rnn-adapter 1\.0", listing)
    assert main(["check", "--engines", "needs-cupy"]) == 2
    assert "plug-in engine 'needs-cupy'" in capsys.readouterr().err
    assert main(["map", "torch", "--mode", "gru"]) == 0  # the built-in torch, untouched


def test_every_kind_of_unusable_plugin_is_named_with_its_reason(install):
    install(*BROKEN)
    problems = {p.name: p.error for p in plugin_problems()}
    assert problems["misnamed"] == ("broken_rnn_shapes:Misnamed.name is 'something-else'; "
                                    "it must equal the entry-point name 'misnamed'")
    assert problems["half-done"] == ("broken_rnn_shapes:HalfDone does not implement build, mapping, native_arrays, "
                                     "run, version")
    assert problems["not-an-adapter"] == "broken_rnn_shapes:NotAnAdapter is not a subclass of rnn_ref.adapters.Adapter"
    assert problems["no-class"] == "the entry point must read 'package.module:AdapterClass'"
    assert not {"misnamed", "half-done", "not-an-adapter", "no-class", "needs-cupy"} & set(registry())
    # names come from metadata, before any import: the ones whose entry point reads module:Class
    assert {"misnamed", "half-done", "not-an-adapter", "needs-cupy"} <= set(engine_names())
    assert "no-class" not in engine_names()


def test_two_packages_declaring_one_name_are_both_refused(install):
    install(*LEGACY, *DUPLICATE)
    assert "legacy-rnn" not in engine_names()
    errors = [p.error for p in plugin_problems() if p.name == "legacy-rnn"]
    assert len(errors) == 2 and all(e.startswith("2 plug-ins declare this name") for e in errors)
    assert "from legacy-rnn-fork 2.0" in errors[0] and "from legacy-rnn-adapter 1.0" in errors[0]


def test_check_of_every_engine_reports_a_broken_plugin_and_checks_the_rest(install, few_cases, capsys):
    install(*BROKEN, *LEGACY)
    assert main(["check", "--replay-only"]) == 1
    out = capsys.readouterr().out
    assert "plug-in needs-cupy (not loaded)\n  could not be checked: plug-in engine 'needs-cupy'" in out
    not_checked = out.rsplit("not checked: ", 1)[1].strip().split(", ")
    assert {"legacy-rnn", "plug-in needs-cupy", "plug-in torch"} <= set(not_checked)  # legacy-rnn: no fixtures
    assert "torch (fixtures, " in out  # the built-in still replayed


def test_pytest_names_a_broken_plugin_it_was_asked_for_and_lists_it_otherwise():
    asked = run("-m", "pytest", "--engines", "needs-cupy", "--collect-only", "-q", str(ROOT / "tests" / "test_spec.py"),
                folders=BROKEN, cwd=ROOT)
    assert asked.returncode == 4  # a usage error, never a skip
    assert "--engines: plug-in engine 'needs-cupy'" in asked.stderr and "ModuleNotFoundError" in asked.stderr
    # --engines installed (the default) imports the plug-ins when the matrix is parametrized: one that
    # cannot be used is a warning naming it, and the run goes on
    default = run("-m", "pytest", "--pyargs", "rnn_ref.suite", "--collect-only", "-q", "-p", "no:cacheprovider",
                  folders=BROKEN, cwd=ROOT)
    assert default.returncode in (0, 5), default.stdout + default.stderr  # 5: no engine installed, nothing collected
    assert "PluginWarning: rnn_ref: not loaded: plug-in engine 'needs-cupy'" in default.stdout, default.stdout


def test_the_shipped_suite_runs_from_another_project(tmp_path):
    """`pytest --pyargs rnn_ref.suite` with no test file of ours in the calling folder."""
    suite = run("-m", "pytest", "--pyargs", "rnn_ref.suite", "--engines", "numpy-lstm", "-k", "lstm-L2-bi-NTC-h0-len",
                "-p", "no:cacheprovider", folders=EXAMPLE, cwd=tmp_path)
    assert suite.returncode == 0, suite.stdout[-3000:]
    assert "rnn_ref engines: numpy-lstm" in suite.stdout
    assert " passed" in suite.stdout and "failed" not in suite.stdout


def test_the_pytest_plugin_leaves_another_projects_engine_fixture_alone(tmp_path):
    (tmp_path / "conftest.py").write_text("import pytest\n\n@pytest.fixture\ndef engine():\n    return 'sqlite'\n")
    (tmp_path / "test_db.py").write_text("def test_uses_its_own_engine(engine):\n    assert engine == 'sqlite'\n")
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", folders=[], cwd=tmp_path)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout


def test_engines_is_one_option_with_or_without_the_installed_entry_point():
    """Installed, the pytest11 entry point loads rnn_ref.pytest_plugin and the root conftest.py's
    `pytest_plugins` names the same module (no second registration); without entry points (a plain
    source checkout) the conftest alone defines --engines."""
    for autoload in ("", "1"):
        result = subprocess.run([sys.executable, "-m", "pytest", "--engines", "torch", "--collect-only", "-q",
                                 "-p", "no:cacheprovider", "tests/test_spec.py"], capture_output=True, text=True,
                                cwd=ROOT, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": autoload})
        # --engines torch parsed and validated by the one plugin: collected, or "not installed" (a usage error)
        assert result.returncode in (0, 4), result.stderr
        assert "unrecognized arguments" not in result.stderr and "already registered" not in result.stderr
        assert result.returncode == 0 or "engine 'torch' was requested but cannot run here ('torch' is not installed)" in result.stderr


# ----------------------------------------------------------------------------- plug-ins that misbehave at import
def test_a_pytest_session_of_another_project_imports_no_plugin(tmp_path):
    """The pytest11 entry point loads rnn_ref's pytest plugin in every session of the environment;
    it imports no plug-in, so one that blocks or exits at import cannot hang or end another project's tests."""
    (tmp_path / "test_x.py").write_text("def test_ok():\n    assert True\n")
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", folders=[*HANGS, *IMPORT_TIME], cwd=tmp_path,
                 timeout=60)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr
    assert "HELLO" not in result.stdout + result.stderr


def test_map_of_a_builtin_engine_imports_no_plugin(install, monkeypatch, capsys):
    install(*HANGS, *IMPORT_TIME)
    for module in ("rnnbad_noisy", "rnnbad_hangs"):  # another test of this worker may have imported them
        monkeypatch.delitem(sys.modules, module, raising=False)
    # bounded here, so that code which imports every plug-in fails this test instead of hanging it
    assert within(30, "rnn-ref map torch", main, ["map", "torch", "--mode", "lstm", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "torch"
    assert "rnnbad_noisy" not in sys.modules and "rnnbad_hangs" not in sys.modules
    assert main(["map", "numpy-lstm", "--mode", "gru", "--gru-variant", "reset_before"]) == 0  # only its plug-in
    assert "rnnbad_noisy" not in sys.modules


def test_a_plugin_that_blocks_at_import_is_named_after_the_bound_and_the_others_still_work(install, monkeypatch,
                                                                                             capsys):
    monkeypatch.setenv("RNN_REF_IMPORT_TIMEOUT", "0.3")
    install(*HANGS, *EXAMPLE)
    assert within(30, "rnn-ref engines", main, ["engines"]) == 0
    listing = capsys.readouterr().out
    assert ("- plug-in engine 'hangs-at-import' (hangs-at-import = 'rnnbad_hangs:NeverDefined' from rnnbad-hangs 1.0): "
            "did not import within 0.3 s (its module blocks or is slow at import; RNN_REF_IMPORT_TIMEOUT=SECONDS "
            "changes the bound, 0 removes it)") in listing
    assert re.search(r"numpy-lstm +plug-in numpy-lstm-adapter 0\.1\.0 +yes", listing)
    assert main(["map", "hangs-at-import", "--mode", "lstm"]) == 2  # remembered: not imported a second time
    assert "did not import within 0.3 s" in capsys.readouterr().err


def test_a_bad_import_bound_is_named_by_each_plugin_it_stops(install, monkeypatch):
    monkeypatch.setenv("RNN_REF_IMPORT_TIMEOUT", "soon")
    install(*EXAMPLE)
    with pytest.raises(ValueError, match=r"was not imported: RNN_REF_IMPORT_TIMEOUT must be a number of seconds"):
        engine_info("numpy-lstm")


def test_a_plugin_that_exits_or_interrupts_at_import_is_that_plugins_problem(install, capsys):
    """sys.exit() at import (argparse included) once ended every command, silently with status 0
    for sys.exit(0); a KeyboardInterrupt its own code raises once gave a traceback. Each is now a
    problem of that plug-in, with what it printed, and the other engines still work."""
    install(*IMPORT_TIME)
    problems = {p.name: p.error for p in plugin_problems()}
    assert problems["exits-zero"] == "called sys.exit(0) while being imported"
    assert problems["exits-three"] == ("called sys.exit(3) while being imported; "
                                       "it printed: 'rnnbad: no licence server found'")
    assert problems["parses-arguments"] == (
        "called sys.exit(2) while being imported; it printed: 'usage: rnnbad [-h] --mine MINE rnnbad: error: "
        "the following arguments are required: --mine'")
    assert problems["interrupts"] == "raised KeyboardInterrupt while being imported"
    assert main(["check", "--engines", "exits-zero"]) == 2
    assert capsys.readouterr().err == (
        "rnn-ref check: error: plug-in engine 'exits-zero' (exits-zero = 'rnnbad_exit_zero:Never' from "
        "rnnbad-import-time 1.0): called sys.exit(0) while being imported\n")
    assert main(["map", "numpy-lstm", "--mode", "lstm"]) == 0


def test_what_a_plugin_prints_at_import_stays_out_of_the_commands_output(install, monkeypatch, capfd):
    """Through sys.stdout and through file descriptors 1 and 2 (the probe's `fdprint`): capfd sees both."""
    install(*IMPORT_TIME)
    monkeypatch.delitem(sys.modules, "rnnbad_noisy", raising=False)  # imported afresh: it prints again
    assert main(["map", "noisy-lstm", "--mode", "lstm", "--format", "json"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out)["engine"] == "noisy-lstm" and "HELLO" not in out + err


def test_a_plugin_whose_mapping_or_limits_raise_is_one_line_naming_it(install, tmp_path, capsys):
    install(*RAISING)
    Params.random(RNNSpec("lstm", 3, 4), seed=1).save(tmp_path / "canonical.npz")
    mapping = ("plug-in engine 'bad-mapping' (from rnnbad-raising 1.0): mapping() raised RuntimeError: mapping "
               "exploded (at rnnbad_raising.py:12, in mapping)")
    reason = ("plug-in engine 'bad-reason' (from rnnbad-raising 1.0): {method}() raised TypeError: reason exploded "
              "(at rnnbad_raising.py:21, in unsupported_reason)")
    commands = [
        (["map", "bad-mapping", "--mode", "lstm"], mapping),
        (["map", "bad-reason", "--mode", "lstm"], reason.format(method="layer_unsupported_reason")),
        (["convert", "--from", "canonical", "--to", "bad-mapping", "--mode", "lstm", str(tmp_path / "canonical.npz"),
          str(tmp_path / "out.npz")], mapping),
        (["selftest", "--engines", "bad-mapping"], mapping),
        (["selftest", "--engines", "bad-reason"], reason.format(method="unsupported_reason")),
    ]
    for argv, message in commands:
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"rnn-ref {argv[0]}: error: {message}\n"
    assert not (tmp_path / "out.npz").exists()


# ----------------------------------------------------------------------------- --engines lists, the engine table
def test_an_engines_value_that_names_no_engine_stops_the_suite():
    """`--engines "$ENGINE"` with ENGINE unset once ran the suite as "5 skipped", exit 0."""
    from types import SimpleNamespace

    from rnn_ref.pytest_plugin import requested

    result = run("-m", "pytest", "--pyargs", "rnn_ref.suite", "--engines", ",,", "--collect-only", "-q",
                 "-p", "no:cacheprovider", folders=[], timeout=60)
    assert result.returncode == 4, result.stdout[-1000:]  # a usage error
    assert "--engines names no engine (',,'): give NAME[,NAME...], 'installed' or 'none'" in result.stderr
    for value in (" , ", ""):
        with pytest.raises(pytest.UsageError, match=re.escape(f"--engines names no engine ({value!r})")):
            requested(SimpleNamespace(getoption=lambda option, value=value: value))


def test_an_engine_named_twice_is_selected_once(install, capsys):
    """`check --engines keras,keras` once checked keras twice; names are now taken once each, in order."""
    install(*EXAMPLE)
    assert main(["check", "--engines", "numpy-lstm,numpy-lstm", "--replay-only"]) == 1  # no fixtures recorded
    assert capsys.readouterr().out.count("numpy-lstm (-)") == 1
    from types import SimpleNamespace

    from rnn_ref.pytest_plugin import requested

    config = SimpleNamespace(getoption=lambda option: " numpy-lstm,torch ,numpy-lstm")
    assert requested(config) == ["numpy-lstm", "torch"]
    assert requested(SimpleNamespace(getoption=lambda option: "none")) == []  # the reference-only run


def test_a_long_runs_here_text_keeps_its_distance_from_the_description(monkeypatch, capsys):
    import rnn_ref.cli.engines

    needy = EngineInfo("needy", "needy_adapter:Needy", "needy_pkg_one", "the needy engine",
                       packages=("needy_pkg_one", "needy_pkg_two"))
    monkeypatch.setattr(rnn_ref.cli.engines, "registry", lambda: {"needy": needy})
    monkeypatch.setattr(rnn_ref.cli.engines, "plugin_problems", lambda: [])
    assert main(["engines"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"needy +built-in +no: 'needy_pkg_one' and 'needy_pkg_two' are not installed  the needy engine",
                        listing[1])
    assert listing[0].index("description") == listing[1].index("the needy engine")


def test_pytest_startup_checks_engine_names_without_importing_a_plugin(install, monkeypatch):
    """At startup the pytest plugin refuses what metadata alone shows wrong (an unknown name, a
    built-in that cannot run here); whether a declared plug-in imports waits for rnn_ref's suite."""
    from rnn_ref.pytest_plugin import validated_without_import

    install(*IMPORT_TIME)
    monkeypatch.delitem(sys.modules, "rnnbad_noisy", raising=False)
    with pytest.raises(pytest.UsageError, match=r"^--engines: unknown engine 'nonesuch'; known engines: torch, "):
        validated_without_import(["noisy-lstm", "nonesuch"])
    validated_without_import(["noisy-lstm", "exits-zero"])  # declared: looked at when the suite is collected
    assert "rnnbad_noisy" not in sys.modules


def test_a_plugin_method_that_never_returns_is_one_line_at_the_bound(install, monkeypatch, tmp_path, capsys):
    """The probe's `mapsleep` and `versionsleep` plug-ins: `map`, `convert` and `selftest` waited
    for ever, and `check` too (its version() came before any bounded case)."""
    install(*BLOCKING)
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0.3")
    Params.random(RNNSpec("lstm", 3, 4), seed=1).save(tmp_path / "canonical.npz")
    blocked = "plug-in engine 'mapping-blocks' (from rnnbad-blocking 1.0): mapping() did not finish within 0.3 s"
    for argv in (["map", "mapping-blocks", "--mode", "lstm"],
                 ["convert", "--from", "canonical", "--to", "mapping-blocks", "--mode", "lstm",
                  str(tmp_path / "canonical.npz"), str(tmp_path / "out.npz")],
                 ["selftest", "--engines", "mapping-blocks"]):
        assert within(30, " ".join(argv), main, argv) == 2, argv
        assert capsys.readouterr().err.startswith(f"rnn-ref {argv[0]}: error: {blocked}"), argv
    assert not (tmp_path / "out.npz").exists()
    assert within(30, "check", main, ["check", "--engines", "version-blocks"]) == 1
    assert "could not be checked: DeadlineExceeded: version-blocks's version() did not finish within 0.3 s" in (
        capsys.readouterr().out)


def test_verify_with_a_plugin_whose_version_never_returns_is_one_line(install, monkeypatch, tmp_path, capsys):
    """The probe's `versionsleep` and `versionraise` under `convert --verify`: a hang and a traceback."""
    install(*BLOCKING)
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0.3")
    Params.random(RNNSpec("lstm", 3, 4), seed=1).save(tmp_path / "canonical.npz")
    argv = ["convert", "--from", "canonical", "--to", "version-blocks", "--mode", "lstm", "--verify",
            str(tmp_path / "canonical.npz"), str(tmp_path / "out.npz")]
    assert within(30, "convert --verify", main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rnn-ref convert: error: {tmp_path / 'out.npz'} was written, but cannot be verified: "
                          "version-blocks's version() failed: DeadlineExceeded: version-blocks's version() did not "
                          "finish within 0.3 s"), err

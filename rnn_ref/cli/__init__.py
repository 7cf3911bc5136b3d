"""The ``rnn-ref`` command: ``map``, ``convert``, ``inspect``, ``docs`` (and ``check``, ``record``, ``report`` ...).

Exit codes: 0 success, 1 a check found a failure, 2 bad usage or input (unknown engine, a
layer the engine cannot express, a weight file that does not match).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnn_ref import __version__
from rnn_ref.cli.options import add_option_arguments, option_fields
from rnn_ref.core.deadline import DeadlineExceeded
from rnn_ref.core.errors import ParamsError, SpecError
from rnn_ref.core.spec import GRU_VARIANTS, MODES, RNNSpec

USAGE_ERROR = 2


class CommandError(Exception):
    """A user error: printed as ``rnn-ref CMD: error: ...`` with exit code 2."""


def add_layer_arguments(parser: argparse.ArgumentParser, sizes_required: bool = False, inferable: bool = False) -> None:
    """The layer flags; ``inferable``: each defaults to None, to be read off the file (``convert --layer``)."""
    layer = parser.add_argument_group("layer")
    layer.add_argument("--mode", required=not inferable, choices=MODES)
    layer.add_argument("--layers", type=int, default=None if inferable else 1,
                       help="number of stacked layers (default 1)")
    layer.add_argument("--bidirectional", action="store_true", default=None if inferable else False)
    layer.add_argument("--proj-size", type=int, default=None if inferable else 0,
                       help="LSTM projection size P (0: none)")
    layer.add_argument("--gru-variant", choices=GRU_VARIANTS, help="GRU only (default reset_after)")
    layer.add_argument("--no-bias", action="store_true", default=None if inferable else False,
                       help="a layer without biases")
    layer.add_argument("--input-size", type=int, help="I; without it and --hidden-size, sizes are "
                       + ("read off the input file" if not sizes_required else "shown symbolically"))
    layer.add_argument("--hidden-size", type=int, help="H")
    add_option_arguments(parser)


def spec_from(args: argparse.Namespace, symbolic: bool) -> RNNSpec:
    """The RNNSpec the layer arguments describe.

    The user's values are validated as given. Without --input-size/--hidden-size the sizes are
    placeholders: ``map`` then shows symbolic sizes, ``convert`` reads them off the file.
    """
    if (args.input_size is None) != (args.hidden_size is None):
        raise CommandError("give both --input-size and --hidden-size, or neither")
    from rnn_ref.cli.mapping_view import SYMBOLIC_SIZES

    sized = args.input_size is not None
    try:
        spec = RNNSpec(
            mode=args.mode,
            input_size=args.input_size if sized else 1,
            hidden_size=args.hidden_size if sized else max(args.proj_size, 0) + 1,
            num_layers=args.layers,
            bidirectional=args.bidirectional,
            bias=not args.no_bias,
            proj_size=args.proj_size,
            gru_variant=args.gru_variant,
            **option_fields(args),
        )
    except SpecError as error:
        raise CommandError(str(error)) from None
    if symbolic and not sized:
        sizes = SYMBOLIC_SIZES
        projection = sizes["P"] if spec.proj_size else 0
        spec = spec.replace(input_size=sizes["I"], hidden_size=sizes["H"], proj_size=projection)
    return spec


def known_engine(name: str, allow_canonical: bool = False) -> str:
    """``name`` when it is an engine that loads (or ``canonical``); else a CommandError saying why.

    Of the plug-ins, only ``name``'s is imported (bounded in time): ``map torch`` runs no plug-in code.
    """
    from rnn_ref.adapters import declared_plugins, engine_info, engine_names

    if allow_canonical and name == "canonical":
        return name
    if name not in engine_names() and not any(problem.name == name for problem in declared_plugins()[1]):
        known = (["canonical"] if allow_canonical else []) + engine_names()
        raise CommandError(f"unknown engine {name!r}; known: {', '.join(known)}")
    try:
        engine_info(name)  # a declared plug-in that cannot be used: why, naming it
    except ValueError as error:
        raise CommandError(str(error)) from None
    return name


def engine_list(text: str) -> list[str]:
    """``--engines A,B`` of ``check`` and ``selftest``: each name once, in order, each an engine that loads.

    A value that names no engine (``''``, ``','``) is refused, and so is ``none`` (an unknown
    name here: these commands check engines, and the pytest suite's reference-only ``none`` has
    no meaning for them).
    """
    from rnn_ref.adapters import unique_engine_names

    try:
        names = unique_engine_names(text)
    except ValueError as error:
        raise CommandError(str(error)) from None
    return [known_engine(name) for name in names]


# --------------------------------------------------------------------------- map
def run_map(args: argparse.Namespace) -> int:
    from rnn_ref.cli.mapping_view import Sizes, render
    from rnn_ref.conversion.convert import engine_mapping

    spec = spec_from(args, symbolic=True)
    sizes = Sizes(symbolic=args.input_size is None, proj_size=args.proj_size)
    try:
        mapping = engine_mapping(known_engine(args.engine), spec)
        source = None
        if args.to:
            source, mapping = mapping, engine_mapping(known_engine(args.to), spec)
    except ParamsError as error:
        raise CommandError(str(error)) from None
    print(render(mapping, args.format, sizes, source=source))
    return 0


# --------------------------------------------------------------------------- convert
def run_convert(args: argparse.Namespace) -> int:
    from rnn_ref.cli.layer_choice import resolve
    from rnn_ref.cli.user_files import convert_and_verify, converted_from

    source, target = known_engine(args.source, True), known_engine(args.target, True)
    try:
        choice = resolve(args)
    except ParamsError as error:
        raise CommandError(str(error).splitlines()[0]) from None
    spec = spec_from(args, symbolic=False)
    with converted_from(args, choice) as (in_path, shown):
        return convert_and_verify(args, source, target, spec, choice, in_path, shown)


# --------------------------------------------------------------------------- check and record
def case_timeout(args: argparse.Namespace) -> float:
    """The per-case bound in seconds: ``--case-timeout``, else ``RNN_REF_CASE_TIMEOUT``, else the default."""
    from rnn_ref.core.deadline import case_seconds

    if args.case_timeout is not None:
        return args.case_timeout
    try:
        return case_seconds()
    except ValueError as error:
        raise CommandError(str(error)) from None


def seconds_argument(text: str) -> float:
    """``--case-timeout``'s type: seconds from 0 (no bound) to a week (argparse reports the error)."""
    from rnn_ref.core.deadline import parse_seconds

    try:
        return parse_seconds(text, "--case-timeout")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--case-timeout ")) from None


def add_case_timeout_argument(parser: argparse.ArgumentParser) -> None:
    from rnn_ref.core.deadline import DEFAULT_CASE_SECONDS, ENVIRONMENT_VARIABLE

    parser.add_argument("--case-timeout", type=seconds_argument, metavar="SECONDS",
                        help=f"fail a case whose engine has not returned after SECONDS, and call that engine no "
                        f"more (default: {ENVIRONMENT_VARIABLE}, else {DEFAULT_CASE_SECONDS:g}; 0: no bound)")


def run_record(args: argparse.Namespace) -> int:
    from rnn_ref.adapters import engine_info
    from rnn_ref.golden.fixtures import FixtureError, main_record

    engine = known_engine(args.engine)
    if args.output == "":  # Path("") would be the current folder
        raise CommandError("--output '' names no folder; give the folder to record into")
    info = engine_info(engine)
    if info.distribution and args.output is None:
        raise CommandError(f"{engine} is a plug-in from {info.distribution}: give --output DIR "
                           "(its fixtures belong with its package, not inside rnn_ref's)")
    if info.unavailable_reason() is not None:
        raise CommandError(f"recording {engine} needs it to run here ({info.unavailable_reason()}); "
                           f"use tox -e {info.requires}")
    try:
        manifest = main_record(engine, None if args.output is None else Path(args.output))
    except FixtureError as error:
        raise CommandError(str(error)) from None
    print(f"recorded {len(manifest['cases'])} case(s) of {engine} {manifest['engine_version']}; "
          f"{len(manifest['not_recorded'])} not recorded (unsupported or known defect)")
    return 0


def run_engines(args: argparse.Namespace) -> int:
    from rnn_ref.cli.engines import render_engines

    print(render_engines())
    return 0


def run_selftest(args: argparse.Namespace) -> int:
    from rnn_ref.adapters import AdapterCallError, engine_info, installed_engines, plugin_preflight
    from rnn_ref.judge.selftest import main as selftest

    seconds = case_timeout(args)
    engines = installed_engines() if args.engines is None else engine_list(args.engines)
    missing = [f"{name} ({engine_info(name).unavailable_reason()})" for name in engines
               if not engine_info(name).installed()]
    if missing:
        raise CommandError(f"not installed here: {', '.join(missing)}; run the engine's tox env")
    if not engines:
        raise CommandError("no engine selected (none installed, or --engines names none)")
    try:  # a plug-in whose rows or limits raise: one line naming it, before any case runs
        for engine in engines:
            plugin_preflight(engine, seconds)
    except AdapterCallError as error:
        raise CommandError(str(error)) from None
    return selftest(engines, seconds)


# --------------------------------------------------------------------------- docs
def run_docs(args: argparse.Namespace) -> int:
    from rnn_ref.cli.docs import generate

    text, path = generate(), args.output
    if path.is_dir():
        raise CommandError(f"{path}: is a directory; give the file to {'check' if args.check else 'write'}")
    if args.check:
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            print(f"{path} is stale: regenerate it with `rnn-ref docs`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    from rnn_ref.core.files import FileProblem, atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except FileExistsError:
        raise CommandError(f"{path}: its folder {path.parent} is a file") from None
    except (FileProblem, OSError) as error:
        raise CommandError(str(error)) from None
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- parser
@functools.cache
def sub_command(commands: Any, name: str, run: Callable[[argparse.Namespace], int], **texts: str) -> Any:
    """The sub-parser of command ``name`` (``help``, ``description``), which ``main`` answers with ``run``."""
    parser = commands.add_parser(name, **texts)
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The command line, built once per process (about 1 ms): ``parse_args`` only reads it."""
    parser = argparse.ArgumentParser(
        prog="rnn-ref",
        description=(
            "Cross-framework equivalence suite for recurrent layers: a NumPy reference of "
            "RNN/LSTM/GRU and adapters that check frameworks, runtimes and converters against it."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnn-ref {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    mapper = sub_command(commands, "map", run_map,
        help="which native parameter holds which canonical block (no framework needed)",
        description="List every native parameter of ENGINE's layer and the canonical block each "
        "region holds; with --to OTHER, the direct native-to-native correspondence.",
    )
    mapper.add_argument("engine", metavar="ENGINE")
    add_layer_arguments(mapper)
    mapper.add_argument("--to", metavar="OTHER", help="show OTHER's parameters in terms of ENGINE's")
    mapper.add_argument("--format", choices=("table", "markdown", "json"), default="table")

    from rnn_ref.conversion.formats import formats_text

    converter = sub_command(commands, "convert", run_convert,
        help="convert a weight file between engines (and canonical .npz)",
        description=f"Convert IN (weights of --from) to OUT (weights of --to). Formats: {formats_text()}. "
        "Through an engine with one bias per gate, the two biases of a gate become their sum.",
    )
    converter.add_argument("--from", dest="source", required=True, metavar="A")
    converter.add_argument("--to", dest="target", required=True, metavar="B")
    add_layer_arguments(converter, inferable=True)
    converter.add_argument("--layer", metavar="LOC", help="the source layer at LOC, as `rnn-ref inspect IN` lists it "
                           "(default: IN's only recurrent layer or stack, when no --mode is given): its spec is read "
                           "off IN (the layer flags then only confirm it, and a contradiction is an error)")
    converter.add_argument("--prefix", default="", metavar="P",
                           help="one layer inside a whole model's state_dict, e.g. 'lstm.': reading, take only the "
                           "names under P; writing, put P on the names")
    converter.add_argument("--target-layer", metavar="LOC", help="OUT is an existing model file: write into its "
                           "layer at LOC (default: its only recurrent layer whose shapes fit), keeping all else")
    converter.add_argument("--from-prefix", default="", metavar="P", help="reading only: take the names under P")
    converter.add_argument("--to-prefix", default=None, metavar="P", help="writing only: put P on the names")
    converter.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                           help="then run IN's and OUT's layers (as the files hold them) on seeded inputs (real "
                           "frameworks where installed, else the reference) and exit 1 above tolerance (default: "
                           "on, and where no input set can run on both sides that is said, not an error; "
                           "--no-verify skips it)")
    converter.add_argument("input", metavar="IN")
    converter.add_argument("output", metavar="OUT")

    from rnn_ref.cli.check import add_check

    add_check(commands)
    recorder = sub_command(commands, "record", run_record,
        help="record an engine's golden fixtures (the engine must be installed)")
    recorder.add_argument("--engine", required=True)
    recorder.add_argument("--output", help="folder (default: fixtures/ENGINE)")

    sub_command(commands, "engines", run_engines,
        help="list the engines: built-in and plug-ins (and plug-ins that failed)")
    selftester = sub_command(commands, "selftest", run_selftest,
        help="seed mapping bugs into each engine and check the suite catches every one",
        description="Mutate each engine's mapping rows (gate swaps, transposes, directions, layers, one-bias "
        "folds) and its adapter boundary (state order, layout), and on an engine that differentiates the rows that "
        "bring its gradients back; run a few fixed cases per mutation and "
        "print engine x mutation -> the case that caught it. Exit 1 if a mutation survives.",
    )
    selftester.add_argument("--engines", help="comma-separated engines (default: every installed one)")
    add_case_timeout_argument(selftester)

    from rnn_ref.cli.diagnose import add_diagnose

    add_diagnose(commands)
    from rnn_ref.cli.inspect_files import add_inspect

    add_inspect(commands)
    from rnn_ref.cli.report import add_report

    add_report(commands)
    from rnn_ref.cli.docs import DOCS_PATH

    documenter = sub_command(commands, "docs", run_docs,
        help="regenerate docs/weight-mapping.md from the mapping rows")
    documenter.add_argument("--check", action="store_true", help="exit 1 if the file is stale, write nothing")
    documenter.add_argument("--output", type=Path, default=DOCS_PATH, help="default: %(default)s")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): what it prints would be lost
            raise CommandError("standard output is closed; nothing could be written")
        code = args.run(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not as a traceback at exit
        return code
    except CommandError as error:
        print(f"rnn-ref {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # `rnn-ref map ... | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except DeadlineExceeded as error:  # a TimeoutError, so an OSError: not a failed write
        print(f"rnn-ref {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:  # writing the output failed (disk full, file too large, ...)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more can reach the real stdout
        where = error.filename or "standard output"
        print(f"rnn-ref {args.command}: error: could not write {where} ({error.strerror or error})", file=sys.stderr)
        return USAGE_ERROR

if __name__ == "__main__":
    sys.exit(main())

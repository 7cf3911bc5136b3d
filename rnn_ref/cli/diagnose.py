"""``rnn-ref diagnose``: its parser (``add_diagnose``) and its runner; the search is rnn_ref.diagnosis.

Two forms:

* ``rnn-ref diagnose --from A --to B [layer flags] SOURCE TARGET``: TARGET (weights of B) as a
  conversion of SOURCE (weights of A, taken as correct);
* ``rnn-ref diagnose --engine E [layer flags] [--layout L] WEIGHTS OUTPUTS.npz``: the outputs
  someone's implementation gave on WEIGHTS (of E), OUTPUTS holding ``x`` (and optionally ``h0``,
  ``c0``, ``lengths``) with ``output`` (and optionally ``h_n``, ``c_n``).

Exit codes: 0 no difference, 1 the mistakes were named, 2 no mistake in the catalog explains
it — and 2 for a usage error too (bad flags, a missing or unreadable file), which prints
``rnn-ref diagnose: error: ...``; JSON output tells them apart (``verdict``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rnn_ref.core.spec import RNNSpec
    from rnn_ref.diagnosis import Diagnosis

#: The arrays an OUTPUTS file may hold: what the layer was given, and what it gave.
INPUT_ARRAYS = ("x", "h0", "c0", "lengths")
OUTPUT_ARRAYS = ("output", "h_n", "c_n")

EPILOG = ("exit codes: 0 no difference; 1 the mistakes were named; 2 no mistake in the catalog explains it. "
          "A usage error (bad flags, a missing or unreadable file) exits 2 too and prints 'rnn-ref diagnose: "
          "error: ...' on stderr; --format json tells them apart by its 'verdict'.")


def add_diagnose(commands: Any) -> None:
    """The ``diagnose`` sub-command on ``commands`` (the sub-parsers of ``rnn-ref``)."""
    from rnn_ref.cli import add_layer_arguments, sub_command
    from rnn_ref.core.spec import LAYOUTS

    parser = sub_command(commands, "diagnose", run_diagnose,
        help="name the convention mistake that explains a wrong conversion",
        description="With --from A --to B: compare TARGET's arrays with what a correct conversion of SOURCE writes "
        "and name the smallest set of catalog mistakes (gate order, transposes, biases, directions, layers, forget "
        "bias) that reproduces them. With --engine E: find the mistakes (those, and the GRU variant, a hard "
        "sigmoid, padded steps, layout, final states) under which the reference, run on WEIGHTS and OUTPUTS's x, "
        "gives OUTPUTS's output, h_n, c_n. NumPy alone reads .npz files.",
        epilog=EPILOG)
    parser.add_argument("--from", dest="source", metavar="A", help="the engine of SOURCE (the weights form)")
    parser.add_argument("--to", dest="target", metavar="B", help="the engine of TARGET (the weights form)")
    parser.add_argument("--engine", metavar="E", help="the engine of WEIGHTS (the outputs form)")
    add_layer_arguments(parser)
    parser.add_argument("--layout", choices=LAYOUTS, default="TNC", help="the outputs form: the layout of x and "
                        "output (default TNC)")
    parser.add_argument("--prefix", default="", metavar="P", help="one layer inside a whole model's state_dict")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("first", metavar="SOURCE|WEIGHTS")
    parser.add_argument("second", metavar="TARGET|OUTPUTS")


def read_outputs(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an OUTPUTS file: ``x`` and ``output`` required, the others optional, no other name."""
    from rnn_ref.cli import CommandError
    from rnn_ref.core.errors import InputError
    from rnn_ref.core.files import read_npz

    arrays = read_npz(path, InputError, "outputs .npz file")
    unknown = sorted(set(arrays) - set(INPUT_ARRAYS) - set(OUTPUT_ARRAYS))
    missing = [name for name in ("x", "output") if name not in arrays]
    if unknown or missing:
        raise CommandError(f"{path}: an outputs .npz holds x and output (and optionally h0, c0, lengths, h_n, c_n); "
                           + ", ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                       + ([f"unexpected {', '.join(unknown)}"] if unknown else [])))
    return arrays


def diagnose_files(args: argparse.Namespace, spec: RNNSpec, infer: bool) -> tuple[Diagnosis, str, str | None]:
    """The weights form: (diagnosis, what was compared, the convert command)."""
    from rnn_ref.cli import known_engine
    from rnn_ref.conversion.convert import CANONICAL, engine_mapping, read_params, suffix_of
    from rnn_ref.core.mapping import MappingRow, WeightMapping
    from rnn_ref.core.params import expected_shapes
    from rnn_ref.diagnosis import diagnose_weights
    from rnn_ref.diagnosis.render import convert_command, fixed_name

    source, target = known_engine(args.source, True), known_engine(args.target, True)
    source_path, target_path = Path(args.first), Path(args.second)
    params = read_params(source, source_path, spec, infer=infer, prefix=args.prefix)
    held = read_params(target, target_path, params.spec, prefix=args.prefix)
    if target == CANONICAL:
        shapes = expected_shapes(params.spec)
        mapping = WeightMapping(CANONICAL, params.spec, shapes, tuple(MappingRow(k, (), (k,)) for k in shapes))
    else:
        mapping = engine_mapping(target, params.spec)
    diagnosis = diagnose_weights(params, mapping, held)
    command = convert_command(source, target, params.spec, source_path,
                              fixed_name(target_path, suffix_of(target_path)), args.prefix)
    return diagnosis, f"{target_path} ({target}) as a conversion of {source_path} ({source})", command


def diagnose_run(args: argparse.Namespace, spec: RNNSpec, infer: bool) -> tuple[Diagnosis, str, None]:
    """The outputs form: (diagnosis, what was compared, None)."""
    from rnn_ref.cli import known_engine
    from rnn_ref.conversion.convert import read_params
    from rnn_ref.core.params import Params
    from rnn_ref.core.state import State
    from rnn_ref.diagnosis import Observed, diagnose_outputs
    from rnn_ref.diagnosis.catalog import Run

    engine = known_engine(args.engine, True)
    weights, outputs_path = Path(args.first), Path(args.second)
    params = read_params(engine, weights, spec, infer=infer, prefix=args.prefix)
    arrays = read_outputs(outputs_path)
    layer = params.spec.replace(layout=args.layout)
    state = None if "h0" not in arrays else State(arrays["h0"], arrays.get("c0"))
    run = Run(layer, arrays["x"], state, arrays.get("lengths"))
    observed = Observed(arrays["output"], arrays.get("h_n"), arrays.get("c_n"))
    diagnosis = diagnose_outputs(Params(layer, dict(params)), run, observed)
    return diagnosis, f"{outputs_path} as the outputs of {weights} ({engine})", None


def run_diagnose(args: argparse.Namespace) -> int:
    from rnn_ref.cli import CommandError, spec_from
    from rnn_ref.core.errors import InputError, ParamsError, SpecError
    from rnn_ref.diagnosis.render import render_json, render_text

    weights_form = args.source is not None or args.target is not None
    if weights_form == (args.engine is not None) or (weights_form and None in (args.source, args.target)):
        raise CommandError("give --from A --to B (SOURCE TARGET: two weight files) or --engine E "
                           "(WEIGHTS OUTPUTS.npz: a layer and its outputs), not both")
    spec = spec_from(args, symbolic=False)
    infer = args.input_size is None
    try:
        diagnosis, subject, command = (diagnose_files if weights_form else diagnose_run)(args, spec, infer)
    except (ParamsError, SpecError, InputError) as error:
        raise CommandError(str(error)) from None
    form = "weights" if weights_form else "outputs"
    print(render_json(diagnosis, form, command) if args.format == "json" else render_text(diagnosis, subject, command))
    return diagnosis.exit_code

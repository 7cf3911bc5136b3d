"""``rnn-ref convert`` on a whole model file: one layer taken out of it, as a file the pipeline reads.

``layer_choice.resolve`` picks the layer (``--layer LOC``, or the file's only one). Where the
file's format declares an ``extractor`` (``FileFormat.extractor``: Keras ``.weights.h5`` and
``.keras``, a whole network's Gluon ``.params``, an ``.onnx`` with its external data, a torch
checkpoint at any nesting), that layer's arrays are written, keyed as the family's ``.npz`` of
them, to a temporary folder, and ``convert`` (and ``--verify``) read that ``.npz``: the very
values the user's file holds, through the checks every ``.npz`` gets. Messages name the user's
file and the layer's location, never the temporary file; the folder is removed afterwards.
``convert_and_verify`` is the command's work once IN's layer is such a file: convert, report, ``--verify``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import FoundLayer
from rnn_ref.core.spec import RNNSpec


@contextmanager
def extracted(path: Path, layer: FoundLayer) -> Iterator[tuple[str, Callable[[str], str]]]:
    """(an ``.npz`` of the arrays of ``layer`` of the model file ``path``, keyed as its family's .npz,
    how a message about that .npz names ``path``'s layer); the .npz is removed afterwards."""
    from rnn_ref.cli import CommandError
    from rnn_ref.cli.layer_choice import extractor_of

    fmt = extractor_of(path)
    assert fmt is not None and fmt.extractor is not None
    try:
        arrays = fmt.call(fmt.extractor, path, layer)
    except ParamsError as error:
        raise CommandError(str(error).splitlines()[0]) from None
    if not arrays:
        raise CommandError(f"{path}: no arrays found for the layer at {layer.location!r}")
    with tempfile.TemporaryDirectory(prefix="rnn-ref-layer-") as folder:
        npz = Path(folder) / f"{path.name}.npz"
        files.write_npz(str(npz), arrays)
        named = f"{path} (the layer at {layer.location!r})"
        yield str(npz), lambda text: text.replace(str(npz), named).replace(npz.name, f"{path.name} ({layer.location})")


@contextmanager
def converted_from(args: argparse.Namespace, choice: Any) -> Iterator[tuple[str, Callable[[str], str]]]:
    """(the file ``convert`` reads for IN's layer, how a message about it names IN)."""
    from rnn_ref.cli import CommandError

    if not choice.extract:
        yield args.input, lambda text: text
        return
    path = Path(args.input)
    if files.same_file(path, Path(args.output)):
        raise CommandError(f"{args.output}: is the input file itself; write the conversion to another file")
    assert choice.layer is not None
    with extracted(path, choice.layer) as found:
        yield found


def convert_and_verify(args: argparse.Namespace, source: str, target: str, spec: RNNSpec, choice: Any,
                       in_path: str, shown: Callable[[str], str]) -> int:
    """``convert``'s work once IN's layer is a file the pipeline reads (``in_path``: IN, or the layer's
    arrays taken out of IN); ``shown`` puts IN's own name back into a message about ``in_path``.
    OUT is a new file of the layer alone, or (an existing model file) the layer is written into it."""
    from rnn_ref.cli import CommandError
    from rnn_ref.cli.target_files import check_target_flags, write_into
    from rnn_ref.conversion.convert import convert, engine_mapping, read_params

    out = Path(args.output)
    into: FoundLayer | None = None
    try:
        if check_target_flags(args):
            if choice.out_prefix:
                raise ParamsError(f"{out}: is a model file: --target-layer picks the layer to write, not a prefix")
            if files.same_file(Path(args.input), out):
                raise ParamsError(f"{out}: is the input file itself; write the conversion to another file")
            params = read_params(source, in_path, spec, infer=args.input_size is None, prefix=choice.prefix)
            into = write_into(target, out, params, args.target_layer)
        else:
            params = convert(source, target, spec, in_path, args.output, infer=args.input_size is None,
                             prefix=choice.prefix, out_prefix=choice.out_prefix)
    except ParamsError as error:
        raise CommandError(shown(str(error))) from None
    summed = target != "canonical" and any(r.combine == "sum" for r in engine_mapping(target, params.spec).rows)
    note = f" ({target} keeps one bias per gate: b_ih + b_hh were summed)" if summed else ""
    where = "" if choice.layer is None else \
        f" (the layer at {choice.layer.location!r} of {args.input})" if choice.layer.location else f" (of {args.input})"
    what = f"into its layer at {into.location!r} (all else kept): " if into is not None else ""
    print(f"wrote {args.output}: {what}{target} weights of {params.spec}{where}{note}")
    if args.verify is False:
        return 0
    if into is None:
        return verified(args, source, target, params, in_path, args.output, choice, shown)
    with extracted(out, into) as (out_layer, shown_out):
        return verified(args, source, target, params, in_path, out_layer, choice, lambda t: shown_out(shown(t)))


def verified(args: argparse.Namespace, source: str, target: str, params: Any, in_path: str, out_path: str,
             choice: Any, shown: Callable[[str], str]) -> int:
    """``--verify`` (also the default, ``args.verify`` None): run IN's layer and OUT's (as the files hold them)
    and compare; exit 1 above tolerance. By default, a verification no input set could run is said, not an
    error (a known defect of the engine refuses them all); asked for, it is an error."""
    from rnn_ref.cli import CommandError
    from rnn_ref.conversion.verify import verify_conversion

    try:
        verification = verify_conversion(source, target, params, in_path, out_path,
                                         prefix=choice.prefix if choice.out_prefix is None else choice.out_prefix)
    except ParamsError as error:
        raise CommandError(f"{args.output} was written, but cannot be verified: {shown(str(error))}") from None
    print(shown(verification.render()))
    if args.verify is None and not verification.comparisons:  # the default run, which no side could take
        print(f"not verified: no input set could run on both sides (above); {args.output} was written "
              "(--verify makes this an error)")
        return 0
    if not verification.passed:
        print(f"rnn-ref convert: error: verification failed; {args.output} is kept for inspection", file=sys.stderr)
        return 1
    return 0

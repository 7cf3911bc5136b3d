"""``rnn-ref convert --layer LOC``: the source layer of a whole model file, by its ``inspect`` location.

``rnn-ref inspect IN`` lists the recurrent layers of IN with their locations and the spec the
file determines. ``--layer LOC`` picks one of them: the layer flags the user left out are
filled in from that spec (so ``--mode``, ``--layers``, ``--bidirectional`` ... need not be
typed), a flag the user gave must agree with it (a contradiction is an error naming both),
and a field the file leaves open must be given (the error names the flag). With neither
``--layer`` nor ``--mode``, IN's only layer is taken (``only_layer``; several: an error listing
them). A model file whose format declares an ``extractor`` hands the layer's arrays out
(``rnn_ref/cli/user_files.py``); a named ``.npz`` is read under the prefix its family's
inspector reports (``FoundLayer.prefix``: ``encoder.lstm.``); other files are refused, naming
the formats ``--layer`` takes. The layer is written with plain names unless ``--to-prefix``.
``prefixes`` settles ``--prefix`` (both sides) against ``--from-prefix`` / ``--to-prefix``.

The layer flags of ``convert`` default to None here (``add_layer_arguments(..., inferable=True)``)
so that a flag given can be told from one left out; ``resolve`` sets the plain defaults
(one layer, unidirectional, no projection, with biases) when no ``--layer`` is given.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnn_ref.adapters.file_format import NPZ, FileFormat
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import FoundLayer

#: (the FoundLayer field, the argparse destination, the flag, how the flag's value reads as the field's)
FIELDS: tuple[tuple[str, str, str, Any], ...] = (
    ("mode", "mode", "--mode", lambda v: v),
    ("num_layers", "layers", "--layers", lambda v: v),
    ("bidirectional", "bidirectional", "--bidirectional", lambda v: v),
    ("proj_size", "proj_size", "--proj-size", lambda v: v),
    ("gru_variant", "gru_variant", "--gru-variant", lambda v: v),
    ("bias", "no_bias", "--no-bias", lambda v: not v),
    ("input_size", "input_size", "--input-size", lambda v: v),
    ("hidden_size", "hidden_size", "--hidden-size", lambda v: v),
)
#: what a flag left out means without --layer
DEFAULTS = {"layers": 1, "bidirectional": False, "proj_size": 0, "no_bias": False}


def shown(field: str, value: Any) -> str:
    return {"bias": "with biases" if value else "without biases",
            "bidirectional": "bidirectional" if value else "unidirectional"}.get(field, f"{field}={value!r}")


def chosen_layer(path: Path, location: str) -> FoundLayer:
    """The layer ``inspect`` finds at ``location`` in ``path``; else an error listing the locations found."""
    from rnn_ref.cli.inspect_files import inspect_file

    found = inspect_file(path)
    for layer in found:
        if layer.location == location:
            return layer
    listed = ", ".join(repr(layer.location) for layer in found)
    raise ParamsError(f"{path}: no recurrent layer at --layer {location!r}; rnn-ref inspect finds: {listed}")


def settle(args: argparse.Namespace, layer: FoundLayer) -> None:
    """Fill ``args``' layer flags from ``layer``; refuse a flag that contradicts it, and an open field not given."""
    open_fields = {o.field: o for o in layer.undetermined}
    wrong = []
    for field, destination, flag, reads in FIELDS:
        given = getattr(args, destination)
        found = getattr(layer, field)
        if field == "num_layers" and field in open_fields and given is None and found is not None:
            setattr(args, destination, found)  # a stack named by its location ("l0+l1"): its levels, as listed
            continue
        if field in open_fields or found is None:
            if given is None and field == "mode":
                hint = open_fields.get(field)
                values = f" {'|'.join(hint.values)}" if hint is not None and hint.values else ""
                raise ParamsError(f"{args.input}: the layer at {layer.location!r} leaves the mode open "
                                  f"({hint.why if hint else 'not in the file'}): give {flag}{values}")
            continue
        if given is None:
            setattr(args, destination, found if field != "bias" else not found)
        elif reads(given) != found:
            wrong.append(f"{flag} says {shown(field, reads(given))}, the file {shown(field, found)}")
    if wrong:
        raise ParamsError(f"{args.input}: the flags contradict the layer at {layer.location!r}: {'; '.join(wrong)}")


@dataclass(frozen=True)
class Choice:
    """What ``resolve`` settled: the prefix IN's arrays are read under, the prefix OUT's names get
    (None: the same, where OUT's are named), and the layer picked out of a whole model file
    (``layer``, read through its format's ``extractor`` when ``extract``)."""

    prefix: str
    out_prefix: str | None
    layer: FoundLayer | None = None
    extract: bool = False


def extractor_of(path: Path) -> FileFormat | None:
    """The declared format of ``path`` that hands out one layer's arrays (None: none does)."""
    from rnn_ref.cli.inspect_files import format_for

    fmt = format_for(path) if not path.name.endswith(NPZ) else None
    return fmt if fmt is not None and fmt.extractor is not None else None


def only_layer(args: argparse.Namespace) -> FoundLayer | None:
    """The one recurrent layer of IN when IN is a model file ``inspect`` reads and no layer flag was
    typed; two or more are an error listing them; None where IN is not such a file."""
    from rnn_ref.cli.inspect_files import inspect_file

    path = Path(args.input)
    if args.mode is not None or args.prefix or args.from_prefix or args.source == "canonical":
        return None
    if extractor_of(path) is None and not path.name.endswith(NPZ):
        return None
    try:
        found = inspect_file(path)
    except ParamsError:
        if path.name.endswith(NPZ):  # an .npz of positions or canonical keys: no names to find layers by
            return None
        raise
    if len(found) > 1:
        listed = ", ".join(repr(layer.location) for layer in found)
        raise ParamsError(f"{path}: {len(found)} recurrent layers ({listed}): pick one with --layer LOC")
    return found[0]


def prefixes(args: argparse.Namespace) -> tuple[str, str | None]:
    """(read under, write under) from --prefix (both sides) or --from-prefix / --to-prefix (one each)."""
    if args.prefix and (args.from_prefix or args.to_prefix):
        raise ParamsError("give --prefix (both sides) or --from-prefix / --to-prefix, not both")
    if args.from_prefix or args.to_prefix:
        return args.from_prefix or "", args.to_prefix or ""
    return args.prefix, None


def resolve(args: argparse.Namespace) -> Choice:
    """Settle ``convert``'s layer flags (from ``--layer``, or the only layer of IN, where given)."""
    prefix, out_prefix = prefixes(args)
    layer = chosen_layer(Path(args.input), args.layer) if args.layer is not None else only_layer(args)
    if layer is not None:
        if prefix:
            raise ParamsError("give --layer or --prefix / --from-prefix, not both (--layer LOC reads the names "
                              "under LOC.)")
        extract = extractor_of(Path(args.input)) is not None
        if layer.prefix is None and not extract:
            from rnn_ref.conversion.formats import prefix_formats

            raise ParamsError(f"{args.input}: --layer reads a layer of {prefix_formats()} (named parameters under "
                              f"a prefix) or of a model file; this file's layer at {layer.location!r} is neither")
        settle(args, layer)
        choice = Choice("" if extract else layer.prefix or "", out_prefix or "", layer, extract)
    else:
        if args.mode is None:
            raise ParamsError("give --mode, or --layer LOC to take the layer's spec from IN "
                              "(rnn-ref inspect IN lists the locations)")
        choice = Choice(prefix, out_prefix)
    for destination, default in DEFAULTS.items():
        if getattr(args, destination) is None:
            setattr(args, destination, default)
    return choice

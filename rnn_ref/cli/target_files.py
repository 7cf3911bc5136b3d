"""``rnn-ref convert`` onto a user's own model file: the converted layer written INTO one layer of OUT.

When OUT exists and its format declares an ``injector`` (``FileFormat.injector``: a torch
``.pt`` state_dict or checkpoint, Keras ``.weights.h5`` and ``.keras``, a Gluon ``.params``),
OUT is a model and is not replaced by a file of the layer alone: ``rnn-ref inspect OUT`` lists
its recurrent layers, ``--target-layer LOC`` picks one (default: the only one whose spec, and
so whose shapes, is the converted layer's; none or several is an error listing them), the
converted weights are written as the target engine's ``.npz`` (a temporary file) and handed,
keyed so, to the family's injector, which checks every shape against the file before it
returns the writer. The file is then written through ``files.atomic_write``: on any error
OUT is left byte-identical. Every other part of OUT (other layers, an optimizer's state, a
``.keras`` config) is kept, so the framework's plain loader (``load_weights``,
``load_state_dict(strict=True)``, ``load_parameters``) takes it as it took the file before.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np

from rnn_ref.adapters.file_format import NPZ, FileFormat
from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.inspection import FoundLayer
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec


def injector_of(path: Path) -> FileFormat | None:
    """The declared format of an existing ``path`` that writes into one of its layers (None: none)."""
    from rnn_ref.cli.inspect_files import format_for

    if not path.is_file() or path.name.endswith(NPZ):
        return None
    fmt = format_for(path)
    return fmt if fmt is not None and fmt.injector is not None else None


def fits(layer: FoundLayer, spec: RNNSpec) -> bool:
    """``layer`` has ``spec``'s shapes: the same cell kind, sizes, depth, direction, projection and bias."""
    kind = spec.mode if not spec.mode.startswith("rnn") else "rnn"
    found = layer.mode if layer.mode is None or not layer.mode.startswith("rnn") else "rnn"
    return (found in (kind, None) and (layer.input_size, layer.hidden_size, layer.num_layers, layer.bidirectional,
                                       layer.proj_size, bool(layer.bias))
            == (spec.input_size, spec.hidden_size, spec.num_layers, spec.bidirectional, spec.proj_size, spec.bias)
            and (spec.mode != "gru" or layer.gru_variant in (None, spec.gru_variant)))


def target_layer(out: Path, spec: RNNSpec, location: str | None) -> FoundLayer:
    """The layer of OUT the converted ``spec`` goes into (``--target-layer``, or the only one that fits)."""
    from rnn_ref.cli.inspect_files import inspect_file

    found = inspect_file(out)
    listed = ", ".join(repr(layer.location) for layer in found)
    if location is not None:
        chosen = next((layer for layer in found if layer.location == location), None)
        if chosen is None:
            raise ParamsError(f"{out}: no recurrent layer at --target-layer {location!r}; rnn-ref inspect finds: "
                              f"{listed}")
        if not fits(chosen, spec):
            raise ParamsError(f"{out}: the layer at {location!r} has other shapes than the converted {spec}")
        return chosen
    fitting = [layer for layer in found if fits(layer, spec)]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise ParamsError(f"{out}: no recurrent layer has the shapes of the converted {spec} (found: {listed}); "
                          "nothing was written")
    raise ParamsError(f"{out}: {len(fitting)} recurrent layers fit ({', '.join(repr(f.location) for f in fitting)}):"
                      " pick one with --target-layer LOC")


def native_arrays(engine: str, params: Params) -> dict[str, Any]:
    """The converted layer's arrays keyed as ``engine``'s ``.npz`` (the pipeline's own writer, in memory:
    nothing is written to disk before OUT itself)."""
    from rnn_ref.conversion.convert import writer

    buffer = io.BytesIO()
    writer(engine, Path(f"layer{NPZ}"), params)(buffer)  # type: ignore[arg-type]  # an .npz writer takes a handle
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def write_into(engine: str, out: Path, params: Params, location: str | None) -> FoundLayer:
    """Write ``params`` into the fitting layer of the model file ``out``; the layer written."""
    fmt = injector_of(out)
    assert fmt is not None and fmt.injector is not None
    layer = target_layer(out, params.spec, location)
    write = fmt.call(fmt.injector, out, layer, native_arrays(engine, params))
    suffix = next((s for s in (fmt.suffix,) if out.name.endswith(s)), out.suffix)
    files.atomic_write(out, write, ParamsError, suffix=suffix)
    return layer


def check_target_flags(args: argparse.Namespace) -> bool:
    """Whether OUT is a model file to write into; ``--target-layer`` without one is refused."""
    into = injector_of(Path(args.output)) is not None
    if args.target_layer is not None and not into:
        from rnn_ref.adapters.engine_registry import file_formats

        described = ", ".join(f.described for f in file_formats() if f.injector is not None)
        raise ParamsError(f"{args.output}: --target-layer names a layer of an existing model file ({described}); "
                          "this is not one")
    return into

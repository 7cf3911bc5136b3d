"""What layer a weight file holds: an engine's rows for a layer, and sizes read off a file's shapes.

``infer_sizes`` reads the input and hidden sizes off the arrays' shapes (``--infer``);
``prefix_hint`` finds the ``--prefix`` under which one layer of a whole model's state_dict
lies. Both ask the engine's rows (``engine_mapping``), never a table of engines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rnn_ref.adapters import adapter_call
from rnn_ref.conversion.formats import CANONICAL, early, positional_order
from rnn_ref.core.errors import ParamsError, SpecError
from rnn_ref.core.mapping import WeightMapping
from rnn_ref.core.params import expected_shapes
from rnn_ref.core.spec import RNNSpec


def engine_mapping(engine: str, spec: RNNSpec) -> WeightMapping:
    """The rows of ``engine`` for ``spec``; a layer the engine cannot express is an error."""
    reason = adapter_call(engine, "layer_unsupported_reason", spec)  # a plug-in that raises: AdapterCallError
    if reason is not None:
        options = f" (options: {', '.join(spec.options)})" if spec.options else ""  # name what may be missing
        raise ParamsError(f"{engine} cannot express this {spec.mode} layer{options}: {reason}")
    return adapter_call(engine, "mapping", spec)


def shapes_of(engine: str, spec: RNNSpec) -> dict[str, tuple[int, ...]]:
    return expected_shapes(spec) if engine == CANONICAL else engine_mapping(engine, spec).native_shapes


def probe_shapes(engine: str, spec: RNNSpec, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    return shapes_of(engine, spec.replace(input_size=input_size, hidden_size=hidden_size))


def prefix_hint(engine: str, spec: RNNSpec, names: Iterable[str]) -> str | None:
    """The ``--prefix`` under which exactly one layer's parameters lie, when the names are not bare."""
    expected = list(engine_mapping(engine, spec).native_shapes) if engine != CANONICAL else list(expected_shapes(spec))
    names = set(names)
    if set(expected) <= names:
        return None
    prefixes = {name[: -len(expected[0])] for name in names if name.endswith(expected[0])}
    fitting = sorted(p for p in prefixes if all(p + name in names for name in expected))
    return fitting[0] if len(fitting) == 1 else None


def infer_sizes(engine: str, spec: RNNSpec, shapes: dict[str, tuple[int, ...]], path: Path) -> RNNSpec:
    """``spec`` with input_size and hidden_size read off the file's shapes (everything else as given).

    Every native dimension is an affine function of (I, H) for a given mode, depth and
    direction; three probe layers give its coefficients, and each array of the file whose
    name the layer has then states I or H directly. Linear in the number of arrays. When the
    shapes contradict each other, the reading most arrays agree on is kept, so that the named
    check that follows lists the arrays that disagree with it; when no reading has a majority
    (``weight_ih_l0`` says I=5 and ``weight_ih_l0_reverse`` I=3), the file is refused naming both.
    """
    base_input, base_hidden = 2, spec.proj_size + 2  # any sizes do: the coefficients are differences
    probes = [probe_shapes(engine, spec, base_input + di, base_hidden + dh) for di, dh in ((0, 0), (1, 0), (0, 1))]
    names = list(probes[0])
    order = positional_order(engine, path)
    if order is not None:
        if len(shapes) != len(names):
            raise ParamsError(f"{path}: expected {len(names)} arrays ({order} of {describe(spec, True)}), "
                              f"got {len(shapes)}")
        shapes = {name: shapes[f"arr_{i}"] for i, name in enumerate(names) if f"arr_{i}" in shapes}
    readings: dict[str, list[tuple[int, str]]] = {"input_size": [], "hidden_size": []}
    for name in names:
        if name not in shapes or len(shapes[name]) != len(probes[0][name]):
            continue
        for axis, actual in enumerate(shapes[name]):
            offset = probes[0][name][axis]
            per_input = probes[1][name][axis] - offset
            per_hidden = probes[2][name][axis] - offset
            constant = offset - per_input * base_input - per_hidden * base_hidden
            if per_input and not per_hidden and (actual - constant) % per_input == 0:
                readings["input_size"].append(((actual - constant) // per_input, name))
            elif per_hidden and not per_input and (actual - constant) % per_hidden == 0:
                readings["hidden_size"].append(((actual - constant) // per_hidden, name))
    if not readings["hidden_size"]:  # no name in common: the named check that follows lists them all
        return spec
    hidden = majority_reading("hidden size", readings["hidden_size"], path)
    input_size = majority_reading("input size", readings["input_size"], path) if readings["input_size"] else 1
    try:
        return spec.replace(input_size=input_size, hidden_size=hidden)
    except SpecError as error:
        raise ParamsError(f"{path}: its shapes describe no valid layer ({error})") from None


def majority_reading(what: str, readings: list[tuple[int, str]], path: Path) -> int:
    """The size most of ``readings`` ((size, array name) pairs) state; a tie names the arrays of each side."""
    counts = Counter(size for size, _ in readings).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        sides = "; ".join(f"{', '.join(sorted({name for size, name in readings if size == value}))} "
                          f"say {value}" for value, count in counts if count == counts[0][1])
        raise early(f"{path}: its arrays disagree on the {what}, and no reading has a majority: {sides}. "
                    "Fix the file, or give --input-size and --hidden-size to have every array checked")
    return counts[0][0]


def describe(spec: RNNSpec, unsized: bool) -> str:
    """``spec`` as the error messages show it; ``unsized``: its sizes are placeholders still to
    be read off the file, so they are left out."""
    if not unsized:
        return str(spec)
    fields = ", ".join(f"{name}={value!r}" for name, value in spec.to_dict().items()
                       if name not in ("input_size", "hidden_size"))
    return f"RNNSpec({fields}) of any input and hidden size"

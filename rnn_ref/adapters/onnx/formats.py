"""The ``.onnx`` file format's hooks: how ``rnn-ref convert`` writes it and ``--verify`` runs it.

An ``.onnx`` file is a program, not only weights: ``--verify`` runs the file itself (its own
graph, input and outputs, read and checked again by ``files.read_file``) on one of the
format's engines' runtimes. ``OnnxProgram`` is that file as the generic verification sees it
(``rnn_ref.adapters.file_format.FileProgram``). Declared in ``FORMATS``
(``rnn_ref/adapters/onnx/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from rnn_ref.adapters.file_format import Runner
from rnn_ref.adapters.onnx.files import cannot_run_file, read_file, write_onnx_model
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec
from rnn_ref.core.state import RNNOutput, State


def onnx_writer(engine: str, path: Path, params: Params, native: dict[str, np.ndarray]) -> Callable[[str], None]:
    """The ONNX model of ``params`` (W, R, B per layer as initializers)."""
    return lambda target: write_onnx_model(target, params)


class OnnxProgram:
    """An ``.onnx`` file as ``--verify`` runs it: its graph on an ONNX runtime engine, X alone in."""

    def __init__(self, path: Path, spec: RNNSpec) -> None:
        self.model, self.layer, self.interface = read_file(path, spec)  # the file as it is now, checked again
        self.steps, self.batch = self.interface.steps, self.interface.batch
        self.takes_input_only = (f"{path.name} takes X alone (graph input {self.interface.input!r}): its layer starts "
                                 "from zero states and runs full lengths")

    def cannot_run(self, engine: str) -> str | None:
        return cannot_run_file(engine, self.layer)

    def detail(self) -> str:
        outputs = ", ".join(f"{output.name!r}" for output in self.model.graph.output)
        opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), "none")
        return f"its opset {opset}, graph input {self.interface.input!r}, outputs {outputs}"

    def runner(self, spec: RNNSpec, adapter: Any) -> Runner:
        """The file's graph on ``adapter``'s runtime.

        X goes in as the file's layout wants it; the outputs come back canonical (``output`` in the
        spec's layout, None for an output the file does not have)."""
        model, interface = self.model, self.interface
        session: list[Any] = []  # made on first use, so that a failure is reported like a failed run
        names = [output.name for output in model.graph.output]
        swap = interface.layout != spec.layout

        def run(x: np.ndarray, state: State | None, lengths: np.ndarray | None) -> RNNOutput:
            session[:] = session or [adapter.runner(model)]
            values = session[0]({interface.input: np.ascontiguousarray(x.transpose(1, 0, 2) if swap else x)})
            found = interface.canonical(dict(zip(names, values, strict=True)))
            output = found.get("output")
            output = None if output is None else output.transpose(1, 0, 2) if swap else output
            # a file without Y gives output None, against RNNOutput's type: verify reports it as missing
            return RNNOutput(cast(np.ndarray, output), found.get("h_n"), found.get("c_n"))

        return run

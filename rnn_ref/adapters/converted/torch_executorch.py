"""ExecuTorch: the ``torch`` engine's layer exported by ``torch.export``, lowered to a ``.pte`` program and
run by ExecuTorch's runtime (engines ``torch-executorch`` and ``torch-executorch-xnnpack``).

The weights go in exactly as for the ``torch`` engine (same rows: ``weight_ih_l{k}``, ...,
gates ``i f g o`` / ``r z n``); the module exported is ``torch-onnx``'s exporting module, whose
forward is the ``torch`` adapter's run, ``layer(x, hx)``, taking ``(x, [h0, [c0]])`` and giving
``(y, h_n, [c_n])``. ``torch.export.export`` traces it at the run's shapes (the artifact holds
one input shape: T, N and every size are fixed), ExecuTorch's lowering turns the exported
program into its Edge dialect (there is no fused recurrent operator: ``aten.lstm``, ``gru`` and
``rnn_tanh``/``rnn_relu`` are decomposed into the unrolled steps' matmuls, additions and
activations) and serializes it (``to_executorch().buffer``: the ``.pte`` bytes, the artifact
kept by the converted engines' cache). Two lowerings:

* ``torch-executorch``: ``to_edge`` — every operator runs on ExecuTorch's portable CPU kernels,
  float32 and float64 (true float64: errors about 1e-16).
* ``torch-executorch-xnnpack``: ``to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])``
  — the float32 matmuls, additions and activations go to XNNPACK delegate blobs (a few to tens
  per program, split where the unrolled graph has operators XNNPACK does not take); XNNPACK has
  no float64, so a float64 program keeps every operator on the portable kernels
  (tests/test_executorch_engines.py shows both).

The program runs on ``executorch.runtime.Runtime`` (the pybindings in the ``executorch`` wheel,
which link the installed torch): ``load_program(pte).load_method("forward").execute(inputs)``.
The outputs are copied out: they could live in the method's planned memory, which the next
``execute`` would overwrite (executorch 1.5.1's pybindings return tensors of their own, measured; the
copy keeps it so whatever a release does).

What the tools cannot do: per-sample lengths (``pack_padded_sequence`` does not pass
``torch.export``, with the message observed; tests/test_executorch_engines.py checks it is still
what the tool says), GRU reset_before (torch has none), and every option (torch's layers have none:
``TORCH_HAS_NO_OPTIONS``). LSTM projection exports and runs correctly. No known defect: the recorded
subset passes with float32 errors up to 2.3e-7 and float64 up to 4.4e-16 on both lowerings. A
lowering costs seconds (measured on 2 loaded cores, CPU time: portable 1.2-1.5 s for one layer,
4-5 s for two bidirectional ones; XNNPACK 5-5.5 s and 11-12 s), so the tox env runs a live subset
of the recorded cases and the rest is replayed from fixtures; the whole matrix:
``python -m rnn_ref.cli.conversions``.

torch and executorch are imported lazily: ``mapping`` works without them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rnn_ref.adapters.converted.base import Conversion, ConversionTool, Runtime
from rnn_ref.adapters.converted.torch_onnx import TORCH_HAS_NO_OPTIONS, TorchOnnxAdapter, exporting_module
from rnn_ref.adapters.torch.fused import GRU_RESET_BEFORE
from rnn_ref.cases.limits import ALWAYS, LENGTHS, RESET_BEFORE, Limit


def export_program(layer: Any, conversion: Conversion) -> Any:
    """``torch.export.export`` of the module the torch adapter runs, traced on the run's feeds (as torch tensors)."""
    import torch

    module = exporting_module(conversion.spec, layer, conversion.with_lengths)
    example = tuple(torch.from_numpy(feed) for feed in conversion.feeds)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.export warns about deprecated pytree registrations
        return torch.export.export(module, example)


def lower_portable(layer: Any, conversion: Conversion) -> bytes:
    """The exported program in ExecuTorch's Edge dialect on the portable kernels, as ``.pte`` bytes."""
    from executorch.exir import to_edge

    program = export_program(layer, conversion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(to_edge(program).to_executorch().buffer)


def lower_xnnpack(layer: Any, conversion: Conversion) -> bytes:
    """The exported program with what XNNPACK takes delegated to it (the rest portable), as ``.pte`` bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = export_program(layer, conversion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        return bytes(lowered.to_executorch().buffer)


def delegates(pte: bytes) -> list[str]:
    """The backend of each delegate blob in a ``.pte`` program's forward method (empty: all portable)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(pte)
    program = getattr(program, "program", program)  # 1.x wraps the program with its named data
    return [delegate.id for delegate in program.execution_plan[0].delegates]


def executorch_version() -> str:
    import executorch.version

    return str(executorch.version.__version__)


def portable_version() -> str:
    import torch

    return f"torch {torch.__version__} torch.export, executorch {executorch_version()} to_edge (portable kernels)"


def xnnpack_version() -> str:
    import torch

    return (f"torch {torch.__version__} torch.export, executorch {executorch_version()} "
            "to_edge_transform_and_lower (XnnpackPartitioner)")


class LoadedProgram:
    """A ``.pte`` program loaded by ``executorch.runtime`` and its ``forward`` method (the program kept alive)."""

    def __init__(self, pte: bytes) -> None:
        from executorch.runtime import Runtime as ExecuTorchRuntime

        self.program = ExecuTorchRuntime.get().load_program(pte)
        self.method = self.program.load_method("forward")

    def run(self, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The method's outputs, its inputs fed in order, copied out of the method's memory."""
        import torch

        values = self.method.execute([torch.from_numpy(np.ascontiguousarray(feed)) for feed in feeds])
        return [np.array(value.numpy(), copy=True) for value in values]


def load_program(pte: bytes) -> LoadedProgram:
    return LoadedProgram(pte)


def run_program(session: LoadedProgram, feeds: Sequence[np.ndarray]) -> list[Any]:
    return list(session.run(feeds))


def runtime_version() -> str:
    return f"executorch {executorch_version()} runtime (pybindings)"


#: ``torch.export`` then ``to_edge``: the portable kernels (traced at the feeds' sizes).
EXECUTORCH_PORTABLE = ConversionTool("executorch.exir.to_edge", lower_portable, portable_version, fixed_shapes=True)
#: ``torch.export`` then ``to_edge_transform_and_lower`` with XNNPACK's partitioner.
EXECUTORCH_XNNPACK = ConversionTool("executorch.exir.to_edge_transform_and_lower+XnnpackPartitioner", lower_xnnpack,
                                    xnnpack_version, fixed_shapes=True)
#: ExecuTorch's runtime, through the pybindings of the ``executorch`` wheel.
EXECUTORCH_RUNTIME = Runtime("executorch.runtime", load_program, run_program, runtime_version)

EXPORT_NO_PACKED_SEQUENCE = (
    "torch.export cannot export pack_padded_sequence, so no ExecuTorch program of a layer with per-sample lengths "
    "can be made: it fails with \"TypeError: zeros(): argument 'size' failed to unpack the object at pos 2 with "
    "error 'type must be tuple of ints,but got FakeTensor'\" (pytorch/pytorch#171978; #112044)"
)
EXECUTORCH_INFERENCE_ONLY = Limit(
    "ExecuTorch runs the lowered forward for inference: a .pte method of it computes no gradients (on-device "
    "training lowers a separate joint forward-backward graph, not run here); the frameworks that train these "
    "layers are checked on their own engines",
    ALWAYS, gradients_only=True, label="every case (an inference runtime)")


class TorchExecuTorchAdapter(TorchOnnxAdapter):
    """The torch layer exported by ``torch.export``, lowered by ``to_edge`` (portable kernels), run by ExecuTorch."""

    name = "torch-executorch"
    tool = EXECUTORCH_PORTABLE
    runtime = EXECUTORCH_RUNTIME
    declared_limits: ClassVar[tuple[Limit, ...]] = (
        TORCH_HAS_NO_OPTIONS,
        Limit(GRU_RESET_BEFORE, RESET_BEFORE),
        Limit(EXPORT_NO_PACKED_SEQUENCE, LENGTHS, label="lengths (packed sequences do not export)"),
        EXECUTORCH_INFERENCE_ONLY,
    )


class TorchExecuTorchXnnpackAdapter(TorchExecuTorchAdapter):
    """The same exported program lowered with XNNPACK's partitioner (float32 delegated; float64 stays portable)."""

    name = "torch-executorch-xnnpack"
    tool = EXECUTORCH_XNNPACK

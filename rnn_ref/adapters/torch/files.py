"""The torch family's weight file: ``.pt``, a state_dict saved with ``torch.save``.

Read with ``weights_only=True`` (never unpickled otherwise), after the zip archive's record
sizes were checked (``check_torch_archive``); written with ``torch.save`` of the native arrays.
Declared in ``FORMATS`` (``rnn_ref/adapters/torch/__init__.py``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnn_ref.core import files
from rnn_ref.core.errors import ParamsError
from rnn_ref.core.params import Params
from rnn_ref.core.spec import RNNSpec


def check_torch_archive(path: Path) -> None:
    """The sizes of a ``torch.save`` zip archive, checked before torch reads it: its records must
    be stored or deflated, no larger than the file can hold, and inflate by at most
    ``files.MAX_INFLATION`` (a deflated 1 MB ``.pt`` once made torch allocate 1 GiB). The names
    lie in the pickle, which only torch's weights_only loader reads; they are checked after it.
    torch's legacy (non-zip) format holds its tensors uncompressed: it cannot inflate."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            on_disk = path.stat().st_size
            infos = archive.infolist()
            for info in infos:
                files.check_zip_entry(info, on_disk)
            files.check_inflation(infos, on_disk)
    except files.READ_ERRORS as problem:
        raise ParamsError(f"{path}: not a readable torch.save archive ({files.reason(problem)})") from None


def read_torch_pt(path: Path, spec: RNNSpec | None = None) -> dict[str, np.ndarray]:
    """The tensors of a state_dict file by name (``spec`` unused: sizes are read off the arrays)."""
    check_torch_archive(path)
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ParamsError(f"{path}: not a state_dict that loads with weights_only=True ({error})") from error
    if not isinstance(state, dict):
        raise ParamsError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(state).__name__}")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ParamsError(f"{path}: expected a state_dict (a mapping of names to tensors){checkpoint_hint(state)}")
    not_names = [repr(name) for name in state if not isinstance(name, str)]
    if not_names:
        raise ParamsError(f"{path}: a state_dict's keys are parameter names, got {', '.join(not_names[:5])}")
    meta = [name for name, t in state.items() if t.device.type == "meta"]
    if meta:
        raise ParamsError(f"{path}: {', '.join(meta[:5])} are meta tensors, which hold no values; save the "
                          "state_dict of a layer whose weights were loaded or initialised")
    unreadable = [f"{name} ({t.dtype}, {t.layout})" for name, t in state.items()
                  if t.dtype not in (torch.float32, torch.float64) or t.layout != torch.strided]
    if unreadable:
        raise ParamsError(f"{path}: only dense float32/float64 tensors convert; got {', '.join(unreadable)}")
    return {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}


def checkpoint_hint(state: dict) -> str:
    """Where the state_dict of a training checkpoint (``{"model": state_dict, ...}``) is, if anywhere."""
    import torch

    holders = [key for key, value in state.items()
               if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values())]
    if len(holders) == 1:
        return (f"; this looks like a checkpoint whose state_dict is under key {holders[0]!r}: "
                f"torch.save(checkpoint[{holders[0]!r}], PATH) and convert that file")
    if holders:
        return f"; this looks like a checkpoint with state_dicts under keys {holders}: save the one of the RNN layer"
    return ""


def pt_writer(engine: str, path: Path, params: Params, native: dict[str, np.ndarray]) -> Callable[[str], None]:
    """``torch.save`` of the native arrays (named as given, --prefix included)."""
    import torch

    return lambda target: torch.save({name: torch.from_numpy(a) for name, a in native.items()}, target)

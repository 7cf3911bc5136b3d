"""The folder a recording goes into: checked before any case runs, swapped in all or nothing.

``record`` (rnn_ref.golden.recording) writes a new set into a scratch folder beside the output
folder ``out_dir``, named ``.<name>.recording.<pid>.<random>`` (``scratch_prefix``), and only a
complete set replaces the files the old manifest listed (``replace_recording``); files the old
manifest does not list are never touched (``prepare_output`` refuses to overwrite them). A
SIGTERM while the cases run stops the recording; during the swap SIGTERM and SIGINT wait
(``SigtermGuard``). A scratch folder that a killed recording left (SIGKILL) is removed by the
next recording, once its process is gone (``remove_stale_scratch``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from rnn_ref.golden.manifest import MANIFEST, FixtureError, read_manifest, short


class Terminated(BaseException):
    """A SIGTERM came while the cases ran (a BaseException: an engine's ``except Exception`` lets it through)."""


class SigtermGuard:
    """SIGTERM during ``record``: raises ``Terminated`` while the cases run, so that the scratch
    folder is removed on the way out. From ``hold()`` on (the swap of old and new files, which
    must not stop half done) SIGTERM and SIGINT wait; on leaving the guard its handlers of
    before are put back and a signal that came is raised again. Python handles signals in the
    main thread only: elsewhere the guard does nothing.
    """

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: dict[int, Any] = {}
        self.waiting_signals: list[int] | None = None  # None: not waiting; else the signals that came

    def __enter__(self) -> SigtermGuard:
        if self.active:
            self.previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self.handle)
        return self

    def handle(self, signum: int, frame: object) -> None:
        if self.waiting_signals is not None:
            self.waiting_signals.append(signum)
            return
        raise Terminated

    def hold(self) -> None:
        """From now on SIGTERM and SIGINT wait until the guard is left."""
        self.waiting_signals = []
        if self.active:
            self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self.handle)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        for number in dict.fromkeys(self.waiting_signals or []):
            signal.raise_signal(number)


def scratch_prefix(out_dir: Path) -> str:
    """Scratch folders of a recording into ``out_dir`` are ``.<name>.recording.<pid>.<random>`` beside it."""
    return f".{out_dir.name}.recording."


def remove_stale_scratch(out_dir: Path) -> list[Path]:
    """Remove the scratch folders that recordings into ``out_dir`` left when killed; return them.

    Only folders named by ``scratch_prefix`` whose process is gone, that hold plain files only,
    are removed: another recording that is still running keeps its own.
    """
    pattern = re.compile(re.escape(scratch_prefix(out_dir)) + r"(\d+)\.[A-Za-z0-9_]+")
    removed: list[Path] = []
    try:
        candidates = list(out_dir.parent.iterdir())
    except OSError:
        return removed
    for folder in candidates:
        match = pattern.fullmatch(folder.name)
        if not match or folder.is_symlink() or not folder.is_dir() or process_alive(int(match[1])):
            continue
        try:
            if all(entry.is_file() and not entry.is_symlink() for entry in folder.iterdir()):
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:
            continue  # not ours to fight over: the new recording uses a folder of its own
    return removed


def process_alive(pid: int) -> bool:
    """True when process ``pid`` runs (or may: one of another user, or a system without kill(pid, 0))."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


def prepare_output(out_dir: Path, new_files: list[str], engine: str) -> list[str]:
    """Check ``out_dir`` before recording ``engine``; return the files of its current recording (manifest last).

    Refused: an ``out_dir`` that is not a folder, an old manifest that is unreadable, is another
    engine's, or names a file outside the folder or a non-file, and a new file name that would
    overwrite a file the old manifest does not list.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise FixtureError(f"{out_dir}: is not a folder; --output names the folder to record into")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FixtureError(f"{out_dir.parent}: cannot create it ({error.strerror or error})") from None
    old: list[str] = []
    try:
        if (out_dir / MANIFEST).exists():
            manifest = read_manifest(out_dir)
            if manifest["engine"] != engine:
                raise FixtureError(f"{out_dir / MANIFEST} holds fixtures of {manifest['engine']!r}, not {engine!r}: "
                                   "nothing was recorded or deleted; record into another folder")
            old = [entry["file"] for entry in manifest["cases"]]
            not_files = [name for name in old if (out_dir / name).exists() and not (out_dir / name).is_file()]
            if not_files:
                raise FixtureError(f"{out_dir / MANIFEST} lists {', '.join(not_files)}, which are not files: "
                                   "nothing was recorded or deleted; fix or remove the manifest")
            old.append(MANIFEST)
        foreign = [name for name in new_files if name not in old and (out_dir / name).exists()]
    except OSError as error:  # a name the file system refuses (too long, ...)
        raise FixtureError(f"{out_dir}: cannot look up {short(Path(error.filename or '?').name)} "
                           f"({error.strerror or error}): nothing was recorded or deleted") from None
    if foreign:
        raise FixtureError(f"{out_dir}: recording would overwrite {', '.join(foreign)}, which its manifest does not "
                           "list; move them away first")
    return old


def replace_recording(staging: Path, out_dir: Path, old_files: list[str]) -> None:
    """Swap the finished recording in ``staging`` for the files of the old one, all or nothing.

    The old files move to a backup folder, the new ones move in; if any step fails, the new
    ones are taken out again and the old ones put back.
    """
    out_dir.mkdir(exist_ok=True)
    backup = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
    moved_out: list[str] = []
    moved_in: list[str] = []
    new_files = [*sorted(p.name for p in staging.iterdir() if p.name != MANIFEST), MANIFEST]  # manifest last
    try:
        for name in old_files:
            if (out_dir / name).exists():
                os.replace(out_dir / name, backup / name)
                moved_out.append(name)
        for name in new_files:
            os.replace(staging / name, out_dir / name)
            moved_in.append(name)
    except OSError as error:
        for name in reversed(moved_in):
            os.replace(out_dir / name, staging / name)
        for name in reversed(moved_out):
            os.replace(backup / name, out_dir / name)
        shutil.rmtree(backup, ignore_errors=True)
        raise FixtureError(f"{out_dir}: could not move the new recording in ({error.strerror or error}); "
                           "the previous recording is unchanged") from None
    shutil.rmtree(backup, ignore_errors=True)


"""Crash-safe training checkpoints (``md.checkpoint``).

A checkpoint is a directory ``<root>/step-000123/`` holding tensors as safetensors files
(``model.safetensors``, ``ema.safetensors``, ``optimizer.safetensors``) and a ``state.json`` with
everything else (step, epoch, data order, generator states, configs) plus the size and SHA-256
of every tensor file. ``<root>/latest`` is a one-line text file naming the newest directory.

Writing never leaves a half-written checkpoint where a reader would look: every file goes to a
temporary name, is fsynced and renamed; the files are assembled in a hidden temporary directory
that is renamed to its final name only when complete; ``latest`` is replaced last, atomically.
A crash at any point leaves the previous checkpoint and ``latest`` intact (and at worst hidden
``.tmp-*``/``.deleting-*`` directories or a ``.latest.*.tmp`` file, removed by the next save).
Loading re-checks sizes and checksums and names the damaged file in a ``CheckpointError``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "list_checkpoints",
    "load_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
]

FORMAT_VERSION = 1
STATE_FILE = "state.json"
LATEST_FILE = "latest"
STATE_CHECKSUM = "state_sha256"  # state.json's checksum of its own values
CHECKPOINTS_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_LATEST_TEMPORARY = re.compile(rf"^\.{LATEST_FILE}\.\w+\.tmp$")  # atomic_write_bytes' temporary name


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, truncated or corrupt; the message names the file."""


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint: ``state`` (the JSON data) and ``tensors[group][name]`` arrays."""

    path: Path
    state: dict[str, Any]
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.state["step"])


def step_dir_name(step: int) -> str:
    return f"step-{int(step):06d}"


# ---- atomic file primitives


def _fsync_dir(path: Path) -> None:
    # makes a rename inside `path` durable; not every platform/filesystem lets a directory be opened
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    # /proc reads the umask without changing it; os.umask can only read it by setting it, and another
    # thread creating a file in between would get the temporary value
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(directory: bool = False) -> int:
    """The mode open() or mkdir() would give a new file or directory: mkstemp and mkdtemp create theirs
    0600 and 0700, which would keep other users from reading a model or a sample grid."""
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a fsynced temporary file and a rename."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Calls ``write(file)`` on a temporary file next to ``path``, fsyncs it and renames it to
    ``path``: readers see the old file or the whole new one. If ``write`` raises, the temporary
    file is removed and ``path`` is untouched. (``md.save`` streams a pickle through it.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():  # else the rename fails naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file name", str(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # it names the random temporary name; the user knows the file they asked for
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, _default_mode())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename is None:
            # a full disk (at the write or the fsync) names no file: name the one we were writing
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _state_checksum(state: dict[str, Any]) -> str:
    """SHA-256 of the state's values in a canonical JSON form (key order and whitespace do not
    matter; any changed value does), the checksum entry itself left out."""
    body = {k: v for k, v in state.items() if k != STATE_CHECKSUM}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8"))


# ---- saving


def _serialise_tensors(tensors: dict[str, np.ndarray], step: int) -> bytes:
    from safetensors.numpy import save

    # np.require, not np.ascontiguousarray: that one makes a 0-d array (a step count, a scalar buffer) 1-d
    arrays = {k: np.require(v, requirements="C") for k, v in tensors.items()}
    # one metadata entry only: safetensors writes several in a random (hash) order, and equal
    # checkpoints should be equal byte for byte (the step is in state.json)
    return save(arrays, metadata={"format": "np"})


def _restore_swapped(root: Path) -> None:
    """Puts back a checkpoint that a save of the same step moved aside (``.old-<name>-*/<name>``) before it
    failed or was killed, ahead of renaming the new one into its place."""
    for entry in root.iterdir():
        if not (entry.name.startswith(".old-") and entry.is_dir()):
            continue
        for inner in entry.iterdir():
            if _STEP_DIR.match(inner.name) and inner.is_dir() and not (root / inner.name).exists():
                os.replace(inner, root / inner.name)
        with contextlib.suppress(OSError):  # left for the next save's clean-up when it is not empty
            entry.rmdir()


def _remove_stale_temporaries(root: Path) -> None:
    """Removes what a killed save or prune left in ``root``; only names our own temporaries have."""
    if not root.is_dir():
        return
    _restore_swapped(root)  # a moved-aside checkpoint whose replacement never arrived is no temporary
    for entry in root.iterdir():
        if entry.name.startswith((".tmp-", ".old-", ".deleting-")) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif _LATEST_TEMPORARY.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    tensors: dict[str, dict[str, np.ndarray]],
    state: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Writes checkpoint ``step`` under ``root`` and points ``root/latest`` at it; returns its path.

    ``tensors`` maps a group name to arrays (``{"model": {...}, "ema": {...}}`` becomes
    ``model.safetensors`` and ``ema.safetensors``); ``state`` must be JSON-serialisable. When
    ``keep`` is set, only the ``keep`` newest checkpoints remain afterwards.
    """
    # checked before anything is written: a negative step names a directory no reader finds ("step--00001"),
    # and a bad `keep` would fail in the pruning after the new checkpoint is already in place
    if int(step) < 0:
        raise ValueError(f"save_checkpoint: step must be >= 0, got {step}")
    if keep is not None and keep < 1:
        raise ValueError(f"save_checkpoint: keep must be >= 1 (or None to keep all), got {keep}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root)
    name = step_dir_name(step)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
    old = None
    try:
        os.chmod(tmp, _default_mode(directory=True))
        files = {}
        for group, arrays in tensors.items():
            filename = f"{group}.safetensors"
            data = _serialise_tensors(arrays, step)
            atomic_write_bytes(tmp / filename, data)
            files[filename] = {"bytes": len(data), "sha256": _sha256(data)}
        full_state = {"format_version": FORMAT_VERSION, **state, "step": int(step), "files": files}
        full_state[STATE_CHECKSUM] = _state_checksum(full_state)
        atomic_write_json(tmp / STATE_FILE, full_state)
        _fsync_dir(tmp)

        final = root / name
        if final.exists():  # the same step saved again (e.g. after a resume): swap, then drop the old one
            old = Path(tempfile.mkdtemp(dir=root, prefix=f".old-{name}-"))
            os.replace(final, old / name)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            _restore_swapped(root)  # the new one did not take the old one's place: the old one stays
        raise
    atomic_write_bytes(root / LATEST_FILE, (name + "\n").encode("utf-8"))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if keep is not None:
        prune_checkpoints(root, keep)
    return final


def _step_of(name: str) -> int:
    return int(_STEP_DIR.match(name).group(1))


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint directories under ``root`` (those with a state.json), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        m = _STEP_DIR.match(entry.name)
        if m and entry.is_dir() and (entry / STATE_FILE).is_file():
            found.append((int(m.group(1)), entry))
    return [p for _, p in sorted(found)]


def prune_checkpoints(root: str | os.PathLike, keep: int) -> list[Path]:
    """Deletes all but the ``keep`` newest checkpoints (never the one ``latest`` names); returns the deleted."""
    if keep < 1:
        raise ValueError(f"prune_checkpoints: keep must be >= 1, got {keep}")
    root = Path(root)
    _remove_stale_temporaries(root)
    latest = _read_latest(root)
    found = list_checkpoints(root)
    if latest is not None and any(p.name == latest for p in found):
        # Steps beyond the one `latest` names are left from before a resume from an earlier checkpoint (the
        # metrics rows of those steps were dropped then): they are older than the resumed run's own, so they
        # go first rather than crowd out the newest checkpoints of the run that goes on.
        last = _step_of(latest)
        found = [p for p in found if _step_of(p.name) > last] + [p for p in found if _step_of(p.name) <= last]
    deleted = []
    for path in found[:-keep]:
        if latest is not None and path.name == latest:
            continue
        # out of sight in one rename first: a kill during the deletion then leaves a hidden directory that
        # the next save removes, not a step-* directory without state.json that nothing would ever remove
        holder = Path(tempfile.mkdtemp(dir=root, prefix=f".deleting-{path.name}-"))
        os.replace(path, holder / path.name)
        shutil.rmtree(holder, ignore_errors=True)
        deleted.append(path)
    return deleted


# ---- loading


def _read_latest(root: Path) -> str | None:
    try:
        name = (root / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _STEP_DIR.match(name) else None


def resolve_checkpoint(path: str | os.PathLike, which: str = "latest") -> Path:
    """The checkpoint directory meant by ``path``.

    ``path`` may be a checkpoint directory itself, a checkpoints root (holding ``latest`` and
    ``step-*`` directories) or a run's output directory (holding ``checkpoints/``). In the last
    two cases ``which`` is "latest" (the directory ``latest`` names; the newest complete one when
    ``latest`` is missing) or a step number.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: the path does not exist")
    if (path / STATE_FILE).exists() or _STEP_DIR.match(path.name):
        return path
    root = path / CHECKPOINTS_DIR if (path / CHECKPOINTS_DIR).is_dir() else path
    if str(which) != "latest":
        try:
            step = int(which)
        except ValueError:
            raise ValueError(f"resolve_checkpoint: which must be 'latest' or a step number, got {which!r}") from None
        target = root / step_dir_name(step)
        if not target.is_dir():
            raise FileNotFoundError(f"no checkpoint for step {step} in {root}")
        return target
    name = _read_latest(root)
    if name is not None:
        target = root / name
        if not target.is_dir():
            with contextlib.suppress(OSError):  # killed while saving the same step again: the old one is aside
                _restore_swapped(root)
        if not target.is_dir():
            raise CheckpointError(f"{root / LATEST_FILE} names {name}, which does not exist in {root}")
        return target
    found = list_checkpoints(root)
    if not found:
        raise FileNotFoundError(f"no checkpoint found in {root} (no {LATEST_FILE} file and no step-* directories)")
    return found[-1]


def _read_state(path: Path) -> dict[str, Any]:
    state_path = path / STATE_FILE
    if not state_path.is_file():
        raise CheckpointError(f"checkpoint {path} is incomplete: {STATE_FILE} is missing")
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: {STATE_FILE} is truncated or corrupt ({e})") from None
    if not isinstance(state, dict) or "step" not in state or not isinstance(state.get("files"), dict):
        raise CheckpointError(f"checkpoint {path}: {STATE_FILE} lacks the 'step' and 'files' entries")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: {STATE_FILE} gives format version {version!r}, this minidiff reads version "
            f"{FORMAT_VERSION} (or the file is corrupt)"
        )
    # a flipped byte that still parses (a digit of the step, a recorded size) is caught here
    if state.get(STATE_CHECKSUM) != _state_checksum(state):
        raise CheckpointError(f"checkpoint {path}: {STATE_FILE} is corrupt (its checksum does not match its contents)")
    return state


def _read_tensor_file(path: Path, filename: str, expected: dict[str, Any]) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    file = path / filename
    if not file.is_file():
        raise CheckpointError(f"checkpoint {path} is incomplete: {filename} is missing")
    data = file.read_bytes()
    size = int(expected.get("bytes", -1))
    if len(data) != size:
        what = "truncated" if len(data) < size else "longer than recorded"
        raise CheckpointError(f"checkpoint {path}: {filename} is {what} ({len(data)} bytes, expected {size})")
    if _sha256(data) != expected.get("sha256"):
        raise CheckpointError(f"checkpoint {path}: {filename} is corrupt (its SHA-256 does not match {STATE_FILE})")
    try:
        return load(data)
    except Exception as e:  # safetensors raises its own exception types
        raise CheckpointError(f"checkpoint {path}: {filename} cannot be parsed ({e})") from None


def load_checkpoint(path: str | os.PathLike, which: str = "latest") -> Checkpoint:
    """Reads and verifies a checkpoint (``path`` as in ``resolve_checkpoint``)."""
    target = resolve_checkpoint(path, which)
    if not target.is_dir():
        raise FileNotFoundError(f"no checkpoint at {target}")
    state = _read_state(target)
    tensors = {}
    for filename, expected in sorted(state["files"].items()):
        if not filename.endswith(".safetensors"):
            raise CheckpointError(f"checkpoint {target}: unexpected file entry {filename!r} in {STATE_FILE}")
        tensors[filename[: -len(".safetensors")]] = _read_tensor_file(target, filename, expected)
    return Checkpoint(path=target, state=state, tensors=tensors)

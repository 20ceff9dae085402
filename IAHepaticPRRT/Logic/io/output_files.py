"""Writing outputs safely: nothing half-written, nothing overwritten that the project did not write.

- One file: written beside its target and renamed into place (:func:`atomic_path`): a reader never
  sees a half-written file and a failure leaves the previous file untouched.
- Several files of one command (:func:`files_together`): each written beside its target, all renamed
  into place only once every one of them is complete.
- An output folder (:func:`output_folder`): refused when it holds files the project did not write
  (a folder is the project's when it carries the marker file :data:`MARKER`, which lists the files
  the run wrote: a file added later, a user's note or an edited manifest, makes the folder not the
  project's, so a rerun never deletes it); a previous output is
  moved aside, the new one written, and the previous one deleted only when everything succeeded, or
  put back when anything failed.
- Files and folders get the user's umask (0644 / 0755 under umask 022), not the 0600 of temporary
  files. A write that fails because the disk is full or read-only, or the path is impossible, is one
  :class:`~iahepaticprrt.errors.InputError` naming the path, never a traceback.

Inputs are never opened for writing by this package (DESIGN.md, "Contracts").
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..version import __version__

#: Every output folder the project writes carries this file; a folder holding other files without
#: it belongs to someone else and is never written into.
MARKER = ".iahepaticprrt-output"
_MARKER_TEXT = f"Written by IAHepaticPRRT {__version__}: this folder may be replaced by a later run of the same command.\n"
#: The marker's line before the list of files the run wrote (relative paths, one per line).
_FILES_HEADER = "Files written (any other file makes this folder not the project's):"


def _files_below(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p != folder / MARKER}


def _foreign_files(folder: Path) -> list[str]:
    """The files in ``folder`` that its marker does not list (nothing for a marker of a version that
    did not list its files)."""
    lines = (folder / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    if _FILES_HEADER not in lines:
        return []
    return sorted(_files_below(folder) - set(lines[lines.index(_FILES_HEADER) + 1:]))


def _read_umask() -> int:
    # os.umask can only be read by setting it: done once, at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _give_user_mode(path: Path, directory: bool = False) -> None:
    """Temporary files and folders are created private (0600/0700); outputs get the umask's mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


def _write_error(exc: OSError, path) -> InputError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
    elif exc.errno == errno.EROFS:
        reason = "the disk is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) and not Path(path).is_dir():
        reason = "a part of the path is a file, not a folder"
    return InputError(f"cannot write the output: {reason}; nothing was written", path)


def os_error_of_failed_write(path: str | os.PathLike, message: str, expected_bytes: int = 0) -> OSError:
    """The OSError a library's write failure stands for. ITK reports a full or read-only disk as a
    RuntimeError with its own words ("failed to write to file"): look at the file system instead."""
    folder = Path(path).parent
    try:
        usage = os.statvfs(folder)
        if usage.f_flag & os.ST_RDONLY:
            return OSError(errno.EROFS, os.strerror(errno.EROFS))
        if usage.f_bavail * usage.f_frsize <= max(expected_bytes, 1 << 20):
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError:
        pass
    return OSError(errno.EIO, message)


def _suffix(path: Path) -> str:
    """Full suffix (``.seg.nrrd``, ``.nii.gz``) so writers that choose a format by name still work."""
    name = path.name
    for double in (".seg.nrrd", ".nii.gz"):
        if name.lower().endswith(double):
            return name[-len(double):]
    return path.suffix


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...] | None = None,
                      option: str = "-o") -> Path:
    """Refuse, before any work, an output file path that cannot be written: a folder, a name
    without an accepted suffix, or a parent that is a file."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder: give a file name", path, option)
    if suffixes and not path.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise InputError(f"the file name must end with {' or '.join(suffixes)}", path, option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError("a part of the path is a file, not a folder", path, option)
            break
    return path


def check_output_folder(path: str | os.PathLike, option: str = "-o") -> Path:
    """Refuse, before any work, an output folder the project may not write: a file, a folder whose
    parent is a file, or a folder holding files the project did not write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("is a file, not a folder", path, option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError("a part of the path is a file, not a folder", path, option)
            break
    if path.is_dir():
        foreign = _foreign_files(path) if (path / MARKER).is_file() else sorted(p.name for p in path.iterdir())
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise InputError(f"the folder holds files IAHepaticPRRT did not write ({shown}): give an empty or "
                             "new folder", path, option)
    return path


def _temporary_beside(path: Path) -> Path:
    """A new empty hidden file beside ``path`` (same folder, so the final rename is atomic) keeping
    its suffix; the folder is created when missing. An OS failure is an :class:`InputError` naming ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + _suffix(path), dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(exc, path) from None
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the target's suffix. On an exception the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    tmp = _temporary_beside(path)
    try:
        try:
            yield tmp
            _give_user_mode(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_error(exc, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def files_together():
    """Several output files that appear together or not at all.

    Yields ``stage(path) -> temporary path``: write each output to the temporary path ``stage``
    gives (beside its target, same suffix); when the block succeeds every file is renamed into place;
    when it fails none is, and the temporary files are removed."""
    staged: list[tuple[Path, Path]] = []

    def stage(path: str | os.PathLike) -> Path:
        path = Path(path)
        tmp = _temporary_beside(path)
        staged.append((tmp, path))
        return tmp

    try:
        yield stage
        for tmp, path in staged:
            try:
                _give_user_mode(tmp)
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_error(exc, path) from None
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, option: str = "-o"):
    """An output folder written whole or not at all.

    Refuses a folder holding files the project did not write (:func:`check_output_folder`). A
    previous output of the project is moved aside (a hidden sibling), the new folder is created,
    marked and yielded; when the block succeeds the previous output is deleted, when it fails the
    partial new folder is deleted and the previous output put back, untouched."""
    path = check_output_folder(path, option)
    previous = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{path.name}.previous-", dir=path.parent))
            os.replace(path, previous)
        path.mkdir()
        (path / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        if previous is not None and previous.exists():
            shutil.rmtree(path, ignore_errors=True)
            os.replace(previous, path)
        raise _write_error(exc, path) from None
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        if previous is not None:
            os.replace(previous, path)
        raise
    try:  # the files this run wrote; a write failure here leaves the marker as a list-less one
        (path / MARKER).write_text(_MARKER_TEXT + "\n".join([_FILES_HEADER, *sorted(_files_below(path))]) + "\n",
                                   encoding="utf-8")
    except OSError:
        pass
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite_or_none(value):
    """JSON has no NaN/Infinity: write them as null (the reason must be in a warning)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite_or_none(value.tolist())
    if isinstance(value, np.floating):
        return _finite_or_none(float(value))
    return value


def to_json_text(data) -> str:
    return json.dumps(_finite_or_none(data), indent=2, default=_json_default, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON (NaN written as null), atomically."""
    text = to_json_text(data)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows (dicts) as CSV with a header line, atomically. Missing values are left empty."""
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return Path(path)


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return value

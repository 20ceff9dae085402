"""Writing outputs safely: a new file is written beside the target and renamed into place.

A reader never sees a half-written file, and a failure leaves no partial output behind
(DESIGN.md, "Contracts"). Inputs are never opened for writing by this package.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def _suffix(path: Path) -> str:
    """Full suffix (``.seg.nrrd``, ``.nii.gz``) so writers that choose a format by name still work."""
    name = path.name
    for double in (".seg.nrrd", ".nii.gz"):
        if name.lower().endswith(double):
            return name[-len(double):]
    return path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the target's suffix. On an exception the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + _suffix(path), dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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

"""Landmark files and target registration error (TRE).

Format (one file per image, the same names in both):

- CSV with a header ``name,x,y,z``: one landmark per row, coordinates in LPS mm (DICOM patient
  coordinates, as the DICOM viewer or ``iahprrt`` report them). Lines starting with ``#`` are skipped.
- Slicer ``.fcsv`` (Markups fiducials, 3D Slicer 4.x-5.x): the header line
  ``# CoordinateSystem = RAS`` (or ``0``) or ``LPS`` (or ``1``) is honoured; RAS is converted to LPS;
  the landmark name is the ``label`` column.

TRE of a landmark = ``| T(p_fixed) - p_moving |`` in mm, with ``T`` the registration transform
(fixed -> moving, ITK convention); "before" is the same distance with the identity
(``| p_fixed - p_moving |``), so a user sees what the registration gained.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text_files import read_csv_rows


def read_landmarks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{name: LPS point (mm)} from a CSV (name,x,y,z LPS) or Slicer .fcsv file."""
    path = Path(path)
    lines = read_csv_rows(path, "landmarks file")
    if path.suffix.lower() == ".fcsv":
        return _read_fcsv(path, lines)
    points: dict[str, np.ndarray] = {}
    rows = [row for row in lines if row and not row[0].strip().startswith("#")]
    if not rows:
        raise InputError("no landmarks", path)
    header = [c.strip().lower() for c in rows[0]]
    if header[:4] != ["name", "x", "y", "z"]:
        raise InputError("the first line must be the header 'name,x,y,z' (LPS mm)", path, "header")
    for line_number, row in enumerate(rows[1:], start=2):
        _add(points, row[0] if row else "", row[1:4], path, line_number)
    if not points:
        raise InputError("no landmarks", path)
    return points


def _add(points: dict, name: str, values, path: Path, line_number: int, flip: bool = False) -> None:
    name = name.strip()
    if not name:
        raise InputError(f"line {line_number}: landmark without a name", path, "name")
    if name in points:
        raise InputError(f"line {line_number}: landmark '{name}' appears twice", path, "name")
    try:
        point = np.array([float(v) for v in values])
    except ValueError:
        raise InputError(f"line {line_number}: coordinates are not numbers", path, "x,y,z") from None
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise InputError(f"line {line_number}: expected three finite coordinates", path, "x,y,z")
    points[name] = point * np.array([-1.0, -1.0, 1.0]) if flip else point


def _read_fcsv(path: Path, rows: list[list[str]]) -> dict[str, np.ndarray]:
    ras = True  # Slicer's default for old files without the header line
    points: dict[str, np.ndarray] = {}
    for line_number, row in enumerate(rows, start=1):
        if not row:
            continue
        if row[0].startswith("#"):
            text = ",".join(row)
            if "CoordinateSystem" in text:
                value = text.split("=", 1)[-1].strip().upper()
                ras = value in ("RAS", "0")
                if value not in ("RAS", "0", "LPS", "1"):
                    raise InputError(f"unknown coordinate system '{value}'", path, "CoordinateSystem")
            continue
        if len(row) < 12:
            raise InputError(f"line {line_number}: expected the Markups fiducial columns", path, "columns")
        _add(points, row[11] or row[0], row[1:4], path, line_number, flip=ras)
    if not points:
        raise InputError("no landmarks", path)
    return points


def target_registration_error(transform, fixed_points: dict, moving_points: dict) -> dict:
    """Per-landmark TRE (mm) after and before registration for the names present in both files."""
    names = [n for n in fixed_points if n in moving_points]
    if not names:
        raise InputError("the two landmark files share no landmark name", "landmarks", "name")
    rows = []
    for name in names:
        p, q = fixed_points[name], moving_points[name]
        mapped = np.array(transform.TransformPoint(tuple(float(v) for v in p)))
        rows.append({"name": name, "tre_mm": float(np.linalg.norm(mapped - q)),
                     "distance_before_mm": float(np.linalg.norm(p - q))})
    tre = np.array([r["tre_mm"] for r in rows])
    before = np.array([r["distance_before_mm"] for r in rows])
    unmatched = sorted(set(fixed_points) ^ set(moving_points))
    return {"landmarks": rows, "mean_tre_mm": float(tre.mean()), "max_tre_mm": float(tre.max()),
            "mean_distance_before_mm": float(before.mean()), "unmatched": unmatched}

"""A small NRRD reader and writer for segmentation files (Slicer's ``.seg.nrrd``).

Slicer stores segmentations as NRRD with one or more layers (a leading ``list`` axis when there
are several) and per-segment ``SegmentN_*`` key/value fields. SimpleITK reads the geometry but
turns the layer axis into vector components and does not write ``list`` axes, so this module
handles the format directly. Supported: attached headers, ``raw`` and ``gzip`` encodings, integer
types, LPS or RAS space. Format reference: http://teem.sourceforge.net/nrrd/format.html
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .output_files import atomic_path

_TYPES = {
    "uchar": np.uint8, "unsigned char": np.uint8, "uint8": np.uint8, "uint8_t": np.uint8,
    "signed char": np.int8, "int8": np.int8, "int8_t": np.int8,
    "short": np.int16, "short int": np.int16, "signed short": np.int16, "int16": np.int16, "int16_t": np.int16,
    "ushort": np.uint16, "unsigned short": np.uint16, "uint16": np.uint16, "uint16_t": np.uint16,
    "int": np.int32, "signed int": np.int32, "int32": np.int32, "int32_t": np.int32,
    "uint": np.uint32, "unsigned int": np.uint32, "uint32": np.uint32, "uint32_t": np.uint32,
}
_TYPE_NAMES = {np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short",
               np.dtype(np.int16): "short", np.dtype(np.int32): "int"}


def _vector(text: str) -> np.ndarray | None:
    text = text.strip()
    if text == "none":
        return None
    return np.array([float(v) for v in text.strip("()").split(",")])


def read_nrrd(path: str | os.PathLike) -> tuple[np.ndarray, dict, dict]:
    """Read an attached-header NRRD.

    Returns ``(array, fields, key_values)``: the array indexed [k, j, i] (or [k, j, i, layer] for a
    leading list axis), the standard fields, and the ``key:=value`` pairs. Geometry is returned in
    ``fields["space directions"]`` / ``fields["space origin"]`` converted to LPS.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path) from exc
    if not raw.startswith(b"NRRD000"):
        raise InputError("not a NRRD file (no NRRD magic line)", path)
    end = raw.find(b"\n\n")
    if end < 0:
        raise InputError("NRRD header has no end (blank line)", path)
    header_lines = raw[:end].decode("latin-1").splitlines()[1:]
    data = raw[end + 2:]
    fields: dict = {}
    key_values: dict = {}
    for line in header_lines:
        if not line or line.startswith("#"):
            continue
        if ":=" in line:
            key, value = line.split(":=", 1)
            key_values[key] = value
        elif ": " in line:
            key, value = line.split(": ", 1)
            fields[key.strip().lower()] = value.strip()
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in fields:
            raise InputError("missing NRRD field", path, required)
    if "data file" in fields or "datafile" in fields:
        raise InputError("detached NRRD headers are not supported for segmentations", path, "data file")
    dtype = _TYPES.get(fields["type"])
    if dtype is None:
        raise InputError(f"unsupported voxel type '{fields['type']}' for a segmentation", path, "type")
    dtype = np.dtype(dtype)
    if dtype.itemsize > 1:
        endian = fields.get("endian", "little")
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    sizes = [int(v) for v in fields["sizes"].split()]
    encoding = fields["encoding"]
    if encoding in ("gzip", "gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"corrupt gzip data ({exc})", path, "encoding") from exc
    elif encoding != "raw":
        raise InputError(f"unsupported NRRD encoding '{encoding}'", path, "encoding")
    count = int(np.prod(sizes))
    if len(data) < count * dtype.itemsize:
        raise InputError(f"truncated data: {len(data)} bytes for {count} voxels", path, "sizes")
    array = np.frombuffer(data[: count * dtype.itemsize], dtype=dtype).reshape(sizes[::-1]).astype(dtype.newbyteorder("="))
    # Geometry: find the three spatial axes ('none' direction marks a list axis).
    directions_text = re.findall(r"\([^)]*\)|none", fields.get("space directions", ""))
    directions = [_vector(t) for t in directions_text]
    space = fields.get("space", "left-posterior-superior").lower()
    flip = np.array([-1.0, -1.0, 1.0]) if space in ("right-anterior-superior", "ras") else np.ones(3)
    if space not in ("left-posterior-superior", "lps", "right-anterior-superior", "ras"):
        raise InputError(f"unsupported NRRD space '{space}'", path, "space")
    spatial = [d for d in directions if d is not None]
    if len(spatial) != 3:
        raise InputError("expected three spatial axes", path, "space directions")
    # A leading list axis is the fastest-varying one, so numpy order is already [k, j, i, layer].
    if not (directions and directions[0] is None) and len(sizes) != 3:
        raise InputError(f"unexpected dimension {len(sizes)}", path, "dimension")
    origin = _vector(fields.get("space origin", "(0,0,0)"))
    fields["space directions"] = np.column_stack([d * flip for d in spatial])  # columns i, j, k
    fields["space origin"] = origin * flip
    return array, fields, key_values


def write_nrrd(path: str | os.PathLike, array: np.ndarray, ijk_to_lps: np.ndarray, key_values: dict) -> Path:
    """Write an integer label array ([k, j, i] or [k, j, i, layer]) as gzip NRRD in LPS, atomically."""
    array = np.ascontiguousarray(array)
    if array.dtype not in _TYPE_NAMES:
        raise ValueError(f"unsupported dtype {array.dtype}")
    layered = array.ndim == 4
    sizes = list(array.shape[::-1])  # fastest axis first: (layer,) i, j, k
    axes = [f"({','.join(repr(float(v)) for v in ijk_to_lps[:3, c])})" for c in range(3)]
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_TYPE_NAMES[array.dtype]}",
        f"dimension: {array.ndim}",
        "space: left-posterior-superior",
        f"sizes: {' '.join(str(s) for s in sizes)}",
        f"space directions: {'none ' if layered else ''}{' '.join(axes)}",
        f"kinds: {'list ' if layered else ''}domain domain domain",
        "encoding: gzip",
    ]
    if array.dtype.itemsize > 1:
        lines.append("endian: little")
    lines.append(f"space origin: ({','.join(repr(float(v)) for v in ijk_to_lps[:3, 3])})")
    for key, value in key_values.items():
        lines.append(f"{key}:={value}")
    header = ("\n".join(lines) + "\n\n").encode("latin-1")
    payload = gzip.compress(array.astype(array.dtype.newbyteorder("<")).tobytes(), compresslevel=6, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + payload)
    return Path(path)

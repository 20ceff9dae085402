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
import zlib
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


#: A segmentation grid larger than this on any axis is not a patient (mm).
MAX_EXTENT_MM = 3000.0
#: Voxels in one segmentation grid (all layers): above this the file is refused before any data is
#: decompressed (a 1024 x 1024 x 1024 CT grid is 1.07e9 voxels; real segmentations are far smaller).
MAX_VOXELS = 2 ** 30
#: Deflate cannot expand data by more than about 1032:1 (RFC 1951: 258 bytes per 2-bit code at
#: best); a header declaring more than that was not written from this file's data.
MAX_DEFLATE_RATIO = 1100


def _vector(text: str, path: Path, field: str) -> np.ndarray | None:
    text = text.strip()
    if text == "none":
        return None
    try:
        values = np.array([float(v) for v in text.strip("()").split(",")])
    except ValueError:
        raise InputError(f"'{text}' is not a vector of numbers", path, field) from None
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise InputError(f"'{text}' is not a finite 3-D vector", path, field)
    return values


def _sizes(text: str, path: Path, dimension_text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split()]
        dimension = int(dimension_text)
    except ValueError:
        raise InputError(f"sizes '{text}' or dimension '{dimension_text}' are not integers", path, "sizes") from None
    if len(sizes) != dimension:
        raise InputError(f"{len(sizes)} sizes for dimension {dimension}", path, "sizes")
    if any(n < 1 for n in sizes):
        raise InputError(f"sizes must be positive, got '{text}'", path, "sizes")
    return sizes


def _gunzip(data: bytes, expected: int, path: Path) -> bytes:
    """Decompress at most ``expected`` bytes (a file holding more or less than it declares is corrupt)."""
    if expected > MAX_DEFLATE_RATIO * max(len(data), 1):
        raise InputError(f"the header declares {expected / 2 ** 20:.0f} MB of voxels, more than {len(data) / 2 ** 20:.2f} "
                         "MB of gzip data can hold: corrupt or not this file's header", path, "sizes")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, expected)
    except zlib.error as exc:
        raise InputError(f"corrupt gzip data ({exc})", path, "encoding") from None
    if len(out) < expected:
        raise InputError(f"truncated data: {len(out)} bytes for {expected} declared", path, "sizes")
    return out


def read_nrrd(path: str | os.PathLike) -> tuple[np.ndarray, dict, dict]:
    """Read an attached-header NRRD.

    Returns ``(array, fields, key_values)``: the array indexed [k, j, i] (or [k, j, i, layer] for a
    leading list axis), the standard fields, and the ``key:=value`` pairs. Geometry is returned in
    ``fields["space directions"]`` / ``fields["space origin"]`` converted to LPS.

    Every header field is checked, and the declared grid against the data's size, before anything
    is decompressed or allocated: a malformed or absurd header is one :class:`InputError`.
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
        if endian not in ("little", "big"):
            raise InputError(f"unknown endian '{endian}'", path, "endian")
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    sizes = _sizes(fields["sizes"], path, fields["dimension"])
    encoding = fields["encoding"]
    if encoding not in ("gzip", "gz", "raw"):
        raise InputError(f"unsupported NRRD encoding '{encoding}'", path, "encoding")
    # Geometry: find the three spatial axes ('none' direction marks a list axis).
    directions_text = re.findall(r"\([^)]*\)|none", fields.get("space directions", ""))
    directions = [_vector(t, path, "space directions") for t in directions_text]
    space = fields.get("space", "left-posterior-superior").lower()
    if space not in ("left-posterior-superior", "lps", "right-anterior-superior", "ras"):
        raise InputError(f"unsupported NRRD space '{space}'", path, "space")
    flip = np.array([-1.0, -1.0, 1.0]) if space in ("right-anterior-superior", "ras") else np.ones(3)
    spatial = [d for d in directions if d is not None]
    if len(spatial) != 3 or len(directions) != len(sizes):
        raise InputError("expected three spatial axes (and one direction per axis)", path, "space directions")
    # A leading list axis is the fastest-varying one, so numpy order is already [k, j, i, layer].
    if not (directions and directions[0] is None) and len(sizes) != 3:
        raise InputError(f"unexpected dimension {len(sizes)}", path, "dimension")
    spatial_sizes = [n for n, d in zip(sizes, directions) if d is not None]
    extents = [n * float(np.linalg.norm(d)) for n, d in zip(spatial_sizes, spatial)]
    if max(extents) > MAX_EXTENT_MM or min(float(np.linalg.norm(d)) for d in spatial) == 0:
        raise InputError(f"a grid of {' x '.join(f'{e:.0f}' for e in extents)} mm is not a patient's", path,
                         "sizes, space directions")
    count = int(np.prod(sizes, dtype=np.int64))
    if count > MAX_VOXELS:
        raise InputError(f"{count:.3g} voxels is more than any segmentation grid ({MAX_VOXELS:.3g})", path, "sizes")
    origin = _vector(fields.get("space origin", "(0,0,0)"), path, "space origin")
    if origin is None:
        raise InputError("the origin is 'none'", path, "space origin")
    expected = count * dtype.itemsize
    if encoding in ("gzip", "gz"):
        data = _gunzip(data, expected, path)
    elif len(data) < expected:
        raise InputError(f"truncated data: {len(data)} bytes for {count} voxels", path, "sizes")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(sizes[::-1])
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
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

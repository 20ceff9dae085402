"""DICOM Segmentation objects (SEG, PS3.3 A.51 / C.8.20), read with pydicom alone.

Each frame is one segment on one plane: its segment number (SegmentIdentificationSequence), its
position (PlanePositionSequence) and the shared or per-frame orientation and pixel measures. The
frames are placed on one grid: the image axes of the SEG, the slice spacing from
SpacingBetweenSlices (else the smallest step between frame positions), spanning the frames'
positions (a SEG stores only the planes that hold a segment, so missing planes are empty, not
gaps). A frame more than 10 % of a slice off that grid is refused (docs/physics.md section 10).

BINARY segments are read as stored. FRACTIONAL ones (PROBABILITY or OCCUPANCY, 0 to
MaximumFractionalValue) become masks at a fraction of 0.5 or more, the project's coverage
threshold for a voxel to belong to a VOI (section 10). The Frame of Reference must be the image's.
Writing SEG objects is :mod:`iahepaticprrt.io.dicom_results` (highdicom).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
#: Fraction at or above which a fractional SEG voxel is in the segment (the coverage threshold of
#: docs/physics.md section 10).
FRACTION_THRESHOLD = 0.5
#: Largest distance of a frame from the SEG's slice grid, in slices.
FRAME_POSITION_TOLERANCE = 0.1


def is_seg(ds) -> bool:
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS_UID or str(ds.get("Modality", "")) == "SEG"


def _functional(ds, frame_item, sequence: str, attribute: str, path, field: str):
    """An attribute of a functional group: per-frame first, then shared."""
    for group in (frame_item, (ds.get("SharedFunctionalGroupsSequence") or [None])[0]):
        if group is None or sequence not in group:
            continue
        items = group[sequence].value
        if items and attribute in items[0]:
            return items[0][attribute].value
    raise InputError("missing attribute", path, f"{sequence} > {attribute} ({field})")


def _lab_to_rgb(lab) -> tuple[float, float, float] | None:
    """DICOM CIELab (PS3.3 C.10.7.1.1, scaled to 0..65535) to sRGB 0..1 (D65)."""
    try:
        l, a, b = (float(v) for v in lab)
    except (TypeError, ValueError):
        return None
    l, a, b = l / 65535.0 * 100.0, a / 65535.0 * 255.0 - 128.0, b / 65535.0 * 255.0 - 128.0
    fy = (l + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def inverse(t):
        return t ** 3 if t ** 3 > 0.008856 else (t - 16.0 / 116.0) / 7.787

    x, y, z = 0.95047 * inverse(fx), 1.0 * inverse(fy), 1.08883 * inverse(fz)
    rgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]) @ [x, y, z]
    rgb = np.where(rgb > 0.0031308, 1.055 * np.clip(rgb, 0, None) ** (1 / 2.4) - 0.055, 12.92 * rgb)
    return tuple(float(v) for v in np.clip(rgb, 0.0, 1.0))


def read_dicom_seg(path: str | os.PathLike, frame_of_reference_uid: str = "", ds=None) -> Segmentation:
    """The segments of a DICOM SEG file on their own grid (see the module docstring)."""
    from .dicom_decode import decode_pixels, read_dataset
    from .rtstruct import check_frame_of_reference

    path = Path(path)
    ds = ds if ds is not None else read_dataset(path)
    if ds is None or not is_seg(ds):
        raise InputError("not a DICOM Segmentation object", path, "SOPClassUID (0008,0016)")
    check_frame_of_reference(str(ds.get("FrameOfReferenceUID", "") or ""), frame_of_reference_uid, path,
                             "FrameOfReferenceUID (0020,0052)")
    seg_type = str(ds.get("SegmentationType", "")).upper()
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise InputError(f"SegmentationType '{seg_type}' is not supported (BINARY or FRACTIONAL)", path,
                         "SegmentationType (0062,0001)")
    frames = ds.get("PerFrameFunctionalGroupsSequence") or []
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if len(frames) != n_frames:
        raise InputError(f"{len(frames)} per-frame items for {n_frames} frames", path,
                         "PerFrameFunctionalGroupsSequence (5200,9230)")
    pixels, _ = decode_pixels(ds, path)
    pixels = np.asarray(pixels).reshape(n_frames, int(ds.Rows), int(ds.Columns))
    orientation = np.array(_functional(ds, frames[0], "PlaneOrientationSequence", "ImageOrientationPatient", path,
                                       "(0020,0037)"), dtype=float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    pixel_spacing = np.array(_functional(ds, frames[0], "PixelMeasuresSequence", "PixelSpacing", path, "(0028,0030)"),
                             dtype=float)
    positions, numbers = [], []
    for n, item in enumerate(frames):
        other = np.array(_functional(ds, item, "PlaneOrientationSequence", "ImageOrientationPatient", path,
                                     "(0020,0037)"), dtype=float)
        if not np.allclose(other, orientation, atol=1e-4):
            raise InputError(f"frame {n + 1} has another orientation", path, "ImageOrientationPatient (0020,0037)")
        positions.append(np.array(_functional(ds, item, "PlanePositionSequence", "ImagePositionPatient", path,
                                              "(0020,0032)"), dtype=float))
        numbers.append(int(_functional(ds, item, "SegmentIdentificationSequence", "ReferencedSegmentNumber", path,
                                       "(0062,000B)")))
    positions = np.array(positions)
    distance = positions @ normal
    unique = np.unique(np.round(distance, 4))
    try:
        spacing = abs(float(_functional(ds, frames[0], "PixelMeasuresSequence", "SpacingBetweenSlices", path, "")))
    except InputError:
        spacing = float(np.min(np.diff(unique))) if len(unique) > 1 else float(
            _functional(ds, frames[0], "PixelMeasuresSequence", "SliceThickness", path, "(0018,0050)"))
    if not spacing > 0:
        raise InputError("slice spacing must be positive", path, "SpacingBetweenSlices (0018,0088)")
    k_float = (distance - unique[0]) / spacing
    k = np.round(k_float).astype(int)
    worst = int(np.argmax(np.abs(k_float - k)))
    if abs(k_float[worst] - k[worst]) > FRAME_POSITION_TOLERANCE:
        raise InputError(f"frame {worst + 1} lies {abs(k_float[worst] - k[worst]) * spacing:.3f} mm off the "
                         f"{spacing:.4f} mm slice grid of the segmentation", path, "ImagePositionPatient (0020,0032)")
    first = positions[int(np.argmin(distance))]
    in_plane = positions - first - np.outer(distance - distance.min(), normal)
    if np.max(np.abs(in_plane)) > 0.01 * max(pixel_spacing) + 1e-3:
        raise InputError("frames are shifted within their planes (not one stack of slices)", path,
                         "ImagePositionPatient (0020,0032)")
    grid = Grid((int(k.max()) + 1, int(ds.Rows), int(ds.Columns)), (pixel_spacing[1], pixel_spacing[0], spacing),
                tuple(first), np.column_stack([row_dir, col_dir, normal]))
    if seg_type == "FRACTIONAL":
        maximum = float(ds.get("MaximumFractionalValue", 255) or 255)
        inside = pixels.astype(np.float64) / maximum >= FRACTION_THRESHOLD
    else:
        inside = pixels.astype(bool)
    segmentation = Segmentation(grid, source=str(path))
    for item in ds.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        name = str(item.get("SegmentLabel", "") or f"Segment {number}").strip()
        if name in segmentation:
            raise InputError(f"two segments labelled '{name}'", path, "SegmentLabel (0062,0005)")
        mask = np.zeros(grid.shape_kji, dtype=bool)
        for n in np.nonzero(np.array(numbers) == number)[0]:
            mask[k[n]] |= inside[n]
        segmentation.add(name, mask, _lab_to_rgb(item.get("RecommendedDisplayCIELabValue")))
    if not segmentation.segments:
        raise InputError("the SEG holds no segment", path, "SegmentSequence (0062,0002)")
    return segmentation

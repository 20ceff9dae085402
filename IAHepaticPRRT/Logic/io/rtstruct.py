"""DICOM RT Structure Sets (RTSTRUCT): VOIs drawn as planar contours in a PACS or planning system.

Reading (:func:`read_rtstruct`) rasterises each ROI's closed planar contours onto a grid aligned
with the image the VOIs are used on (docs/physics.md section 10, "RTSTRUCT"):

- The Frame of Reference of the structure set (StructureSetROISequence /
  ReferencedFrameOfReferenceSequence) must be the image's; a mismatch is refused.
- Only CLOSED_PLANAR contours are used (POINT and OPEN_PLANAR contours are not volumes: an ROI
  with only those is refused); each contour must lie in one plane parallel to the image's slices.
- Rasterisation grid: the image's axes, each voxel split in-plane into sub-voxels of at most
  1 mm (``SUBVOXEL_INPLANE_MM``), cropped to the contours' bounding box. Along the normal: when
  all contour planes lie on one uniform lattice (the slices the VOIs were drawn on, within 10 % of
  its spacing), one slice per lattice plane; otherwise the image's slices split into sub-slices of
  at most 2.5 mm (``SUBVOXEL_NORMAL_MM``). A sub-voxel belongs to the ROI when its centre is inside
  the contours of the contour plane nearest to it, by the even-odd rule over all that plane's
  contours (a contour inside another is a hole; keyhole contours work the same way), and that
  plane is within half the ROI's contour spacing (each contour stands for a slab one contour
  spacing thick, centred on its plane; an ROI on one plane gets one image slice). The image's
  partial-voxel fractions then come from this fine grid like those of any segmentation on another
  grid (section 10).

Writing (:func:`write_rtstruct`) turns masks into contours that follow the voxel edges exactly
(one polygon per boundary loop, holes as separate contours), so that reading them back onto the
same grid gives the same masks. It serves sites whose planning system reads RTSTRUCT, and the tests.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"
#: Sub-voxel sizes of the rasterisation grid (mm): in-plane and along the slice normal.
SUBVOXEL_INPLANE_MM = 1.0
SUBVOXEL_NORMAL_MM = 2.5
#: A contour's points may stray this far (mm) from its plane, and its plane be this far from
#: parallel to the image's slices (the normal component of in-plane vectors, mm per mm).
PLANE_TOLERANCE_MM = 0.1


def is_rtstruct(ds) -> bool:
    return str(ds.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS_UID or str(ds.get("Modality", "")) == "RTSTRUCT"


def _frame_of_reference(ds, path: Path) -> str:
    uids = {str(item.get("ReferencedFrameOfReferenceUID", "")) for item in ds.get("StructureSetROISequence", [])}
    uids |= {str(item.get("FrameOfReferenceUID", "")) for item in ds.get("ReferencedFrameOfReferenceSequence", [])}
    uids.discard("")
    if len(uids) > 1:
        raise InputError(f"the structure set refers to several frames of reference ({', '.join(sorted(uids))})",
                         path, "ReferencedFrameOfReferenceUID (3006,0024)")
    return next(iter(uids), "")


def check_frame_of_reference(found: str, expected: str, path, field: str) -> None:
    """Refuse VOIs whose Frame of Reference is not the image's (both known and different)."""
    if found and expected and found != expected:
        raise InputError(f"Frame of Reference {found} is not the image's ({expected}): the VOIs were drawn on "
                         "another scan (register it and propagate the VOIs instead)", path, field)


def _subdivision(grid: Grid) -> tuple[int, int, int]:
    di, dj, dk = grid.spacing_mm
    return (max(1, math.ceil(di / SUBVOXEL_INPLANE_MM - 1e-9)), max(1, math.ceil(dj / SUBVOXEL_INPLANE_MM - 1e-9)),
            max(1, math.ceil(dk / SUBVOXEL_NORMAL_MM - 1e-9)))


def _fill_polygon(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Toggle (even-odd) the cells of ``mask`` [row, column] whose centres (column, row) lie inside
    the closed polygon with vertices (x, y) in continuous index units of the mask."""
    x0, y0 = x, y
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    rows = np.arange(max(0, int(math.floor(y.min()))), min(mask.shape[0], int(math.ceil(y.max())) + 1))
    if len(rows) == 0:
        return
    yc = rows.astype(float)[:, None]
    # Half-open rule: an edge counts for rows with min(y0, y1) <= y < max(y0, y1).
    crosses = ((y0 <= yc) & (yc < y1)) | ((y1 <= yc) & (yc < y0))
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = x0 + (yc - y0) * (x1 - x0) / (y1 - y0)
    for r, row in enumerate(rows):
        hits = np.sort(xs[r][crosses[r]])
        for a, b in zip(hits[0::2], hits[1::2]):
            # Cells whose centre c satisfies a <= c < b.
            lo, hi = max(0, int(math.ceil(a))), min(mask.shape[1], int(math.ceil(b)))
            if hi > lo:
                mask[row, lo:hi] ^= True


def read_rtstruct(path: str | os.PathLike, reference: Grid, frame_of_reference_uid: str = "",
                  ds=None) -> Segmentation:
    """Rasterise the ROIs of an RTSTRUCT file for use with an image on ``reference`` (see the
    module docstring). ``frame_of_reference_uid``: the image's, checked when both are known."""
    from .dicom_decode import read_dataset

    path = Path(path)
    ds = ds if ds is not None else read_dataset(path)
    if ds is None or not is_rtstruct(ds):
        raise InputError("not a DICOM RT Structure Set", path, "SOPClassUID (0008,0016)")
    check_frame_of_reference(_frame_of_reference(ds, path), frame_of_reference_uid, path,
                             "ReferencedFrameOfReferenceUID (3006,0024)")
    names = {}
    for item in ds.get("StructureSetROISequence", []):
        names[int(item.ROINumber)] = str(item.get("ROIName", "") or f"ROI {int(item.ROINumber)}").strip()
    sub = _subdivision(reference)
    fine_spacing = tuple(s / n for s, n in zip(reference.spacing_mm, sub))
    # Fine grid over the whole reference first (index arithmetic), then cropped to the contours.
    first_centre = reference.index_to_lps([-(1.0 - 1.0 / n) / 2.0 for n in sub])
    fine_full = Grid(tuple(n * m for n, m in zip(reference.shape_kji, sub[::-1])), fine_spacing,
                     tuple(first_centre), reference.direction)
    rois = []
    for item in ds.get("ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        name = names.get(number, f"ROI {number}")
        planes: dict[float, list[np.ndarray]] = {}
        kinds = set()
        for contour in item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType", "")).upper()
            kinds.add(kind)
            if kind != "CLOSED_PLANAR":
                continue
            points = np.asarray(contour.ContourData, dtype=float)
            if points.size % 3 or points.size < 9:
                raise InputError(f"ROI '{name}': a contour needs at least 3 points (x, y, z triplets)", path,
                                 "ContourData (3006,0050)")
            index = fine_full.lps_to_index(points.reshape(-1, 3))
            k = index[:, 2]
            if np.ptp(k) * fine_spacing[2] > PLANE_TOLERANCE_MM + 1e-6 * abs(k).max():
                raise InputError(f"ROI '{name}': a contour is not in a plane parallel to the image's slices "
                                 f"(it spans {np.ptp(k) * fine_spacing[2]:.2f} mm along the slice normal)", path,
                                 "ContourData (3006,0050)")
            planes.setdefault(round(float(k.mean()) * fine_spacing[2], 3), []).append(index[:, :2])
        if not planes:
            if kinds - {"CLOSED_PLANAR", ""}:
                raise InputError(f"ROI '{name}' has no closed planar contour ({', '.join(sorted(kinds))}): not a volume",
                                 path, "ContourGeometricType (3006,0042)")
            continue  # an empty ROI: nothing to rasterise
        color = item.get("ROIDisplayColor")
        rois.append((name, planes, tuple(float(c) / 255.0 for c in color) if color and len(color) == 3 else None))
    if not rois:
        raise InputError("the structure set holds no contoured ROI", path, "ROIContourSequence (3006,0039)")
    lattice = _plane_lattice([np.array(sorted(planes)) for _, planes, _ in rois])
    if lattice is not None:
        # Every contour plane on one uniform lattice (the slices the VOIs were drawn on): one
        # rasterisation slice per plane, each standing for a slab one plane spacing thick.
        plane_origin, plane_spacing = lattice
        fine_spacing = (fine_spacing[0], fine_spacing[1], plane_spacing)
        count = int(round((max(max(planes) for _, planes, _ in rois) - plane_origin) / plane_spacing)) + 1
        origin = fine_full.index_to_lps((0.0, 0.0, 0.0)) + fine_full.direction[:, 2] * plane_origin
        fine_full = Grid((count, *fine_full.shape_kji[1:]), fine_spacing, tuple(origin), fine_full.direction)
        rois = [(name, {round(position - plane_origin, 3): polygons for position, polygons in planes.items()}, color)
                for name, planes, color in rois]
    # Crop the fine grid to all contours (+ half the contour spacing along the normal, + 1 voxel).
    lo = np.array([np.inf] * 3)
    hi = -lo
    extents = []
    for name, planes, _ in rois:
        positions = np.array(sorted(planes))
        spacing = float(np.median(np.diff(positions))) if len(positions) > 1 else reference.spacing_mm[2]
        extents.append(spacing)
        for position, polygons in planes.items():
            for poly in polygons:
                lo[:2] = np.minimum(lo[:2], poly.min(axis=0))
                hi[:2] = np.maximum(hi[:2], poly.max(axis=0))
        lo[2] = min(lo[2], (positions[0] - spacing / 2) / fine_spacing[2])
        hi[2] = max(hi[2], (positions[-1] + spacing / 2) / fine_spacing[2])
    start = np.maximum(np.floor(lo).astype(int) - 1, 0)
    stop = np.minimum(np.ceil(hi).astype(int) + 1, np.array(fine_full.size_ijk) - 1)
    if np.any(stop < start):
        raise InputError("the contours lie outside the image", path, "ContourData (3006,0050)")
    shape_ijk = stop - start + 1
    origin = fine_full.index_to_lps(start.astype(float))
    grid = Grid(tuple(shape_ijk[::-1]), fine_spacing, tuple(origin), reference.direction)
    segmentation = Segmentation(grid, source=str(path))
    k_positions = (start[2] + np.arange(shape_ijk[2])) * fine_spacing[2]  # sub-slice centres, mm from fine k = 0
    for (name, planes, color), spacing in zip(rois, extents):
        if name in segmentation:
            raise InputError(f"two ROIs named '{name}'", path, "ROIName (3006,0026)")
        masks = {}
        for position, polygons in planes.items():
            plane = np.zeros((shape_ijk[1], shape_ijk[0]), dtype=bool)
            for poly in polygons:
                _fill_polygon(plane, poly[:, 0] - start[0], poly[:, 1] - start[1])
            masks[position] = plane
        positions = np.array(sorted(masks))
        mask = np.zeros(grid.shape_kji, dtype=bool)
        nearest = np.abs(k_positions[:, None] - positions[None, :]).argmin(axis=1)
        for k, p in enumerate(nearest):
            if abs(k_positions[k] - positions[p]) <= spacing / 2.0 + 1e-6:
                mask[k] = masks[positions[p]]
        segmentation.add(name, mask, color)
    return segmentation


def _plane_lattice(positions: list[np.ndarray]) -> tuple[float, float] | None:
    """(first plane, spacing) in mm when every ROI's contour planes lie on one uniform lattice
    (within 10 % of its spacing), else None."""
    planes = np.unique(np.round(np.concatenate(positions), 3))
    if len(planes) < 2:
        return None
    spacing = float(np.min(np.diff(planes)))
    if spacing <= 0:
        return None
    steps = (planes - planes[0]) / spacing
    if np.max(np.abs(steps - np.round(steps))) > 0.1:
        return None
    # Refine the spacing over the whole span (rounded plane positions).
    count = float(np.round(steps[-1]))
    return float(planes[0]), float((planes[-1] - planes[0]) / count) if count > 0 else spacing


# ---- writing ---------------------------------------------------------------------------------
def _boundary_loops(mask: np.ndarray) -> list[np.ndarray]:
    """Closed polygons (vertices in pixel-corner coordinates (i, j), i.e. pixel centre +- 0.5)
    tracing the edges between the mask's pixels and the rest. The even-odd union of the loops is
    exactly the mask (any pairing at corners where two loops touch gives the same edge set)."""
    padded = np.pad(mask, 1)
    edges: dict[tuple, list[tuple]] = {}
    rows, cols = np.nonzero(mask)
    for j, i in zip(rows, cols):
        pj, pi = j + 1, i + 1
        # Corners: (i - 0.5, j - 0.5) etc.; walk each outside edge with the pixel on the left.
        if not padded[pj - 1, pi]:   # edge at j - 0.5, from (i + .5) to (i - .5)
            edges.setdefault((i + 0.5, j - 0.5), []).append((i - 0.5, j - 0.5))
        if not padded[pj, pi - 1]:   # edge at i - 0.5, from (j - .5) to (j + .5)
            edges.setdefault((i - 0.5, j - 0.5), []).append((i - 0.5, j + 0.5))
        if not padded[pj + 1, pi]:   # edge at j + 0.5, from (i - .5) to (i + .5)
            edges.setdefault((i - 0.5, j + 0.5), []).append((i + 0.5, j + 0.5))
        if not padded[pj, pi + 1]:   # edge at i + 0.5, from (j + .5) to (j - .5)
            edges.setdefault((i + 0.5, j + 0.5), []).append((i + 0.5, j - 0.5))
    loops = []
    while edges:
        start = min(edges)
        loop = [start]
        current = start
        while True:
            targets = edges[current]
            nxt = targets.pop()
            if not targets:
                del edges[current]
            if nxt == start:
                break
            loop.append(nxt)
            current = nxt
        points = np.array(loop)
        # Drop vertices in the middle of straight runs.
        prev, following = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
        cross = (points[:, 0] - prev[:, 0]) * (following[:, 1] - points[:, 1]) - \
                (points[:, 1] - prev[:, 1]) * (following[:, 0] - points[:, 0])
        loops.append(points[cross != 0])
    return loops


def write_rtstruct(segmentation: Segmentation, path: str | os.PathLike, frame_of_reference_uid: str,
                   referenced: dict | None = None, uid_key: str = "") -> Path:
    """Write the segments as an RTSTRUCT of closed planar contours on the segmentation's slices
    (its k axis must be the normal of its i and j axes). ``referenced``: StudyInstanceUID,
    SeriesInstanceUID and patient attributes of the image series the VOIs belong to."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from .dicom_writer import _ds_number, deterministic_uid, new_dataset, save_dataset

    grid = segmentation.grid
    if not np.allclose(np.cross(grid.direction[:, 0], grid.direction[:, 1]), grid.direction[:, 2], atol=1e-6):
        raise ValueError("contours need slices along the normal of the rows and columns")
    referenced = dict(referenced or {})
    uid_key = uid_key or str(path)
    ds = new_dataset(RTSTRUCT_SOP_CLASS_UID, deterministic_uid(uid_key, "rtstruct instance"))
    ds.Modality = "RTSTRUCT"
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(ds, key, referenced.get(key, ""))
    if not ds.StudyInstanceUID:
        ds.StudyInstanceUID = deterministic_uid(uid_key, "study")
    ds.SeriesInstanceUID = deterministic_uid(uid_key, "rtstruct series")
    ds.SeriesNumber = 901
    ds.InstanceNumber = 1
    ds.Manufacturer = "IAHepaticPRRT"
    ds.StructureSetLabel = "VOIs"
    ds.StructureSetDate, ds.StructureSetTime = referenced.get("StudyDate", ""), referenced.get("StudyTime", "")
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_of_reference_uid
    if referenced.get("SeriesInstanceUID"):
        series = Dataset()
        series.SeriesInstanceUID = referenced["SeriesInstanceUID"]
        series.ContourImageSequence = Sequence([])
        study = Dataset()
        study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired; as planning systems write)
        study.ReferencedSOPInstanceUID = ds.StudyInstanceUID
        study.RTReferencedSeriesSequence = Sequence([series])
        frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois, contours, observations = [], [], []
    corner = grid.ijk_to_lps()
    for number, segment in enumerate(segmentation.segments, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        roi.ROIName = segment.name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        item = Dataset()
        color = segment.color or (0.5, 0.5, 0.5)
        item.ROIDisplayColor = [int(round(255 * c)) for c in color]
        item.ReferencedROINumber = number
        sequence = []
        for k in range(grid.shape_kji[0]):
            if not segment.mask[k].any():
                continue
            for loop in _boundary_loops(segment.mask[k]):
                ijk = np.column_stack([loop, np.full(len(loop), float(k))])
                lps = ijk @ corner[:3, :3].T + corner[:3, 3]
                contour = Dataset()
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(lps)
                contour.ContourData = [_ds_number(round(float(v), 4)) for v in lps.ravel()]
                sequence.append(contour)
        item.ContourSequence = Sequence(sequence)
        contours.append(item)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = "ORGAN"
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataset(ds, path)
    return path

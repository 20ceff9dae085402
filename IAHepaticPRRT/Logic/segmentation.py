"""Segmentations as named boolean masks on a grid: reading, writing and resampling.

Accepted files:

- Slicer ``.seg.nrrd`` (one or several layers; segment names from ``SegmentN_Name``);
- a label map (NRRD, NIfTI, MetaImage) with a labels CSV of ``value,name`` rows.

Resampling to another grid (a PET or SPECT) is done one documented way per use:
``"nearest"`` (a target voxel is in the segment when its centre falls in a segment voxel) or
``"fraction"`` (the fraction of the target voxel covered, from 3 x 3 x 3 sub-samples per voxel).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .grid import Grid
from .nrrd_format import read_nrrd, write_nrrd
from .output_files import write_csv

#: Sub-samples per axis for fractional coverage (27 per voxel: coverage resolved to 1/27).
FRACTION_SUBSAMPLES = 3
#: Sample positions are moved by this much (mm, along the target's i, j, k axes). Image and
#: segmentation grids are often aligned so that sample positions fall exactly on the faces of
#: segmentation voxels; nearest-neighbour lookup then depends on floating-point round-off (a 30 mm
#: sphere's volume changed by 3 % between a cropped and an uncropped copy of one mask). A shift far
#: above round-off and far below any voxel size breaks those ties one fixed way.
TIE_BREAK_SHIFT_MM = (1.7e-4, 2.3e-4, 2.9e-4)


@dataclass
class Segment:
    name: str
    mask: np.ndarray  # bool, indexed [k, j, i] on the segmentation's grid
    color: tuple[float, float, float] | None = None

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))


@dataclass
class Segmentation:
    """Ordered named masks on one grid. Masks may overlap (for example Liver and Lesion 1)."""

    grid: Grid
    segments: list[Segment] = field(default_factory=list)
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise InputError(f"no segment named '{name}' (segments: {', '.join(self.names) or 'none'})",
                         self.source or None, "segment name")

    def mask(self, name: str) -> np.ndarray:
        return self.segment(name).mask

    def add(self, name: str, mask: np.ndarray, color=None) -> Segment:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.grid.shape_kji:
            raise ValueError(f"mask shape {mask.shape} does not match grid {self.grid.shape_kji}")
        if name in self:
            raise ValueError(f"segment '{name}' already exists")
        segment = Segment(name, mask, color)
        self.segments.append(segment)
        return segment

    def volume_ml(self, name: str) -> float:
        return self.segment(name).voxel_count * self.grid.voxel_volume_ml

    def resampled(self, grid: Grid, mode: str = "nearest") -> "Segmentation":
        """The same segments on ``grid`` (boolean masks; see :func:`resample_mask`)."""
        if self.grid.is_same(grid):
            return Segmentation(grid, [Segment(s.name, s.mask.copy(), s.color) for s in self.segments], self.source)
        out = Segmentation(grid, source=self.source)
        for s in self.segments:
            out.add(s.name, resample_mask(s.mask, self.grid, grid, "nearest") if mode == "nearest"
                    else resample_mask(s.mask, self.grid, grid, "fraction") >= 0.5, s.color)
        return out


# ---- resampling ------------------------------------------------------------------------------
def resample_mask(mask: np.ndarray, source: Grid, target: Grid, mode: str = "nearest") -> np.ndarray:
    """Resample a boolean mask from ``source`` to ``target``.

    ``mode="nearest"`` returns a bool array (target voxel centre inside a source voxel of the mask);
    ``mode="fraction"`` returns float32 coverage fractions in [0, 1] (sub-sampled voxel centres,
    ``FRACTION_SUBSAMPLES`` per axis). Points outside the source grid count as outside the mask.
    """
    import SimpleITK as sitk

    if mode not in ("nearest", "fraction"):
        raise ValueError(f"unknown resampling mode '{mode}'")
    mask = np.asarray(mask, dtype=bool)
    if source.is_same(target):
        return mask.copy() if mode == "nearest" else mask.astype(np.float32)
    out_dtype = bool if mode == "nearest" else np.float32
    result = np.zeros(target.shape_kji, dtype=out_dtype)
    if not mask.any():
        return result
    # Restrict the work to the target voxels around the mask's bounding box.
    kk, jj, ii = np.nonzero(mask)
    lo = np.array([ii.min(), jj.min(), kk.min()], float) - 1.0
    hi = np.array([ii.max(), jj.max(), kk.max()], float) + 1.0
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    target_index = target.lps_to_index(source.index_to_lps(corners))
    size = np.array(target.size_ijk)
    t_lo = np.clip(np.floor(target_index.min(axis=0)).astype(int) - 1, 0, size - 1)
    t_hi = np.clip(np.ceil(target_index.max(axis=0)).astype(int) + 1, 0, size - 1)
    if np.any(t_hi < t_lo):
        return result
    n = FRACTION_SUBSAMPLES if mode == "fraction" else 1
    sub_size = (t_hi - t_lo + 1) * n
    sub_spacing = np.array(target.spacing_mm) / n
    # Centre of the first sub-sample of voxel t_lo: voxel centre - (n - 1) / 2 sub-steps.
    first_index = t_lo - (n - 1) / (2.0 * n)
    reference = sitk.Image([int(v) for v in sub_size], sitk.sitkUInt8)
    reference.SetSpacing([float(v) for v in sub_spacing])
    origin = target.index_to_lps(first_index) + target.direction @ np.array(TIE_BREAK_SHIFT_MM)
    reference.SetOrigin([float(v) for v in origin])
    reference.SetDirection(tuple(target.direction.ravel()))
    moving = source.to_sitk(mask.astype(np.uint8))
    resampled = sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    block = sitk.GetArrayFromImage(resampled)
    sl = tuple(slice(int(a), int(b) + 1) for a, b in zip(t_lo[::-1], t_hi[::-1]))
    if mode == "nearest":
        result[sl] = block.astype(bool)
    else:
        nk, nj, ni = (t_hi - t_lo + 1)[::-1]
        result[sl] = block.reshape(nk, n, nj, n, ni, n).mean(axis=(1, 3, 5), dtype=np.float32)
    return result


# ---- reading ---------------------------------------------------------------------------------
def read_labels_csv(path: str | os.PathLike) -> dict[int, str]:
    """Read ``value,name`` rows (a header line ``value,name`` is optional)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("labels file not found", path)
    labels: dict[int, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line_number, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            if len(row) < 2:
                raise InputError(f"line {line_number}: expected 'value,name'", path, "labels")
            value_text, name = row[0].strip(), row[1].strip()
            if line_number == 1 and value_text.lower() in ("value", "label", "label_value"):
                continue
            try:
                value = int(value_text)
            except ValueError:
                raise InputError(f"line {line_number}: label value '{value_text}' is not an integer", path,
                                 "value") from None
            if value <= 0:
                raise InputError(f"line {line_number}: label value must be positive (0 is background)", path, "value")
            if not name:
                raise InputError(f"line {line_number}: empty segment name", path, "name")
            if value in labels or name in labels.values():
                raise InputError(f"line {line_number}: duplicate value or name '{value},{name}'", path, "labels")
            labels[value] = name
    if not labels:
        raise InputError("no labels", path)
    return labels


def _parse_color(text: str | None):
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        return None
    return values if len(values) == 3 else None


def read_seg_nrrd(path: str | os.PathLike) -> Segmentation:
    """Read a Slicer ``.seg.nrrd`` into a :class:`Segmentation` on its stored grid."""
    path = Path(path)
    array, fields, kv = read_nrrd(path)
    directions = fields["space directions"]
    spacing = np.linalg.norm(directions, axis=0)
    grid = Grid(array.shape[:3], spacing, fields["space origin"], directions / spacing)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    indices = sorted({int(k[len("Segment"):].split("_", 1)[0]) for k in kv
                      if k.startswith("Segment") and k[len("Segment"):].split("_", 1)[0].isdigit()})
    if not indices:
        raise InputError("no SegmentN_* fields: not a Slicer segmentation", path, "Segment0_Name")
    seg = Segmentation(grid, source=str(path))
    for index in indices:
        name = kv.get(f"Segment{index}_Name") or kv.get(f"Segment{index}_ID")
        if not name:
            raise InputError("segment without a name", path, f"Segment{index}_Name")
        try:
            layer = int(kv.get(f"Segment{index}_Layer", "0"))
            label = int(kv.get(f"Segment{index}_LabelValue", "1"))
        except ValueError as exc:
            raise InputError(f"invalid layer or label value ({exc})", path, f"Segment{index}_LabelValue") from None
        if not 0 <= layer < array.shape[3]:
            raise InputError(f"layer {layer} does not exist", path, f"Segment{index}_Layer")
        if name in seg:
            raise InputError(f"two segments named '{name}'", path, f"Segment{index}_Name")
        seg.add(name, array[..., layer] == label, _parse_color(kv.get(f"Segment{index}_Color")))
    return seg


def read_labelmap(path: str | os.PathLike, labels: dict[int, str]) -> Segmentation:
    """Read a label-map volume and name its values with ``labels`` ({value: name})."""
    from .volume_files import read_volume

    volume = read_volume(path)
    values = volume.array
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(values == np.round(values)):
            raise InputError("label map holds non-integer values", path, "voxel values")
        values = values.astype(np.int64)
    present = {int(v) for v in np.unique(values)} - {0}
    unknown = sorted(present - set(labels))
    if unknown:
        raise InputError(f"label values {unknown} are in the label map but not in the labels file", path, "labels")
    seg = Segmentation(volume.grid, source=str(path))
    for value, name in labels.items():
        seg.add(name, values == value)
    return seg


def read_segmentation(path: str | os.PathLike, labels_csv: str | os.PathLike | None = None) -> Segmentation:
    """Read a ``.seg.nrrd``, or a label map with its ``value,name`` CSV."""
    path = Path(path)
    if not path.is_file():
        raise InputError("segmentation file not found", path)
    if labels_csv is not None:
        return read_labelmap(path, read_labels_csv(labels_csv))
    if path.name.lower().endswith(".seg.nrrd"):
        return read_seg_nrrd(path)
    raise InputError("a label map needs its labels: give --labels CSV with value,name rows "
                     "(or use a Slicer .seg.nrrd)", path, "labels")


# ---- writing ---------------------------------------------------------------------------------
def _layers(seg: Segmentation) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Pack segments into as few label layers as needed without overlap.

    Returns the [k, j, i, layer] uint8 array and, per segment, (layer, label value)."""
    layers: list[np.ndarray] = []
    placement = []
    for segment in seg.segments:
        for index, layer in enumerate(layers):
            if not np.any(layer[segment.mask]) and layer.max() < 255:
                label = int(layer.max()) + 1
                layer[segment.mask] = label
                placement.append((index, label))
                break
        else:
            layer = np.zeros(seg.grid.shape_kji, dtype=np.uint8)
            layer[segment.mask] = 1
            layers.append(layer)
            placement.append((len(layers) - 1, 1))
    if not layers:
        layers.append(np.zeros(seg.grid.shape_kji, dtype=np.uint8))
    return np.stack(layers, axis=-1), placement


def _default_color(index: int) -> tuple[float, float, float]:
    palette = [(0.9, 0.3, 0.2), (0.2, 0.6, 0.9), (0.3, 0.8, 0.3), (0.95, 0.8, 0.2), (0.7, 0.4, 0.8),
               (0.95, 0.55, 0.2), (0.4, 0.8, 0.8), (0.85, 0.45, 0.6), (0.6, 0.6, 0.3), (0.5, 0.5, 0.9)]
    return palette[index % len(palette)]


def write_seg_nrrd(seg: Segmentation, path: str | os.PathLike) -> Path:
    """Write a Slicer-readable ``.seg.nrrd`` (binary labelmap representation), atomically."""
    if not str(path).lower().endswith(".seg.nrrd"):
        raise ValueError("a Slicer segmentation file name ends with .seg.nrrd")
    array, placement = _layers(seg)
    i_max, j_max, k_max = (n - 1 for n in seg.grid.size_ijk)
    kv = {}
    for index, (segment, (layer, label)) in enumerate(zip(seg.segments, placement)):
        color = segment.color or _default_color(index)
        kv[f"Segment{index}_Color"] = " ".join(f"{c:g}" for c in color)
        kv[f"Segment{index}_ColorAutoGenerated"] = "0"
        kv[f"Segment{index}_Extent"] = f"0 {i_max} 0 {j_max} 0 {k_max}"
        kv[f"Segment{index}_ID"] = segment.name
        kv[f"Segment{index}_LabelValue"] = str(label)
        kv[f"Segment{index}_Layer"] = str(layer)
        kv[f"Segment{index}_Name"] = segment.name
        kv[f"Segment{index}_NameAutoGenerated"] = "0"
        kv[f"Segment{index}_Tags"] = "|"
    kv["Segmentation_ContainedRepresentationNames"] = "Binary labelmap|"
    kv["Segmentation_MasterRepresentation"] = "Binary labelmap"
    kv["Segmentation_ReferenceImageExtentOffset"] = "0 0 0"
    data = array[..., 0] if array.shape[-1] == 1 else array
    return write_nrrd(path, data, seg.grid.ijk_to_lps(), kv)


def write_labelmap(seg: Segmentation, path: str | os.PathLike, labels_csv: str | os.PathLike) -> tuple[Path, Path]:
    """Write non-overlapping segments as one label map (value = position + 1) and its labels CSV."""
    from .volume import Volume
    from .volume_files import write_volume

    labelmap = np.zeros(seg.grid.shape_kji, dtype=np.uint16)
    for value, segment in enumerate(seg.segments, start=1):
        if np.any(labelmap[segment.mask]):
            raise InputError(f"segment '{segment.name}' overlaps another: a label map cannot hold it "
                             "(write a .seg.nrrd instead)", seg.source or None, segment.name)
        labelmap[segment.mask] = value
    write_volume(Volume(labelmap, seg.grid), path)
    write_csv(labels_csv, [{"value": v, "name": s.name} for v, s in enumerate(seg.segments, start=1)],
              ["value", "name"])
    return Path(path), Path(labels_csv)

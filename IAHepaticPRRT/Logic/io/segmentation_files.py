"""Segmentation files: Slicer ``.seg.nrrd``, label maps with a ``value,name`` CSV, DICOM RTSTRUCT
and DICOM SEG.

Accepted files:

- Slicer ``.seg.nrrd`` (one or several layers; segment names from ``SegmentN_Name``);
- a label map (NRRD, NIfTI, MetaImage) with a labels CSV of ``value,name`` rows;
- a DICOM RT Structure Set (:mod:`iahepaticprrt.io.rtstruct`): rasterised for the image it is used
  on, which must then be given (``reference``), Frame of Reference checked;
- a DICOM Segmentation object, binary or fractional (:mod:`iahepaticprrt.io.dicom_seg`).

A DICOM file, or a folder holding exactly one RTSTRUCT or SEG object, is recognised by its SOP
class whatever its name.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.grid import Grid
from ..imaging.segmentation import Segmentation
from .nrrd import read_nrrd, write_nrrd
from .output_files import write_csv
from .text_files import open_text, read_csv_rows, read_json


# ---- reading ---------------------------------------------------------------------------------
def read_labels_csv(path: str | os.PathLike) -> dict[int, str]:
    """Read ``value,name`` rows (a header line ``value,name`` is optional)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("labels file not found", path)
    labels: dict[int, str] = {}
    with open_text(path, "labels file") as f:
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


def _dicom_segmentation_object(path: Path):
    """(kind, file, dataset) of an RTSTRUCT or SEG file, or of the one such file in a folder;
    None when ``path`` holds neither."""
    from .dicom_decode import read_dataset
    from .dicom_seg import is_seg
    from .rtstruct import is_rtstruct

    if path.is_dir():
        found = []
        for candidate in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            ds = read_dataset(candidate)
            if ds is not None and (is_rtstruct(ds) or is_seg(ds)):
                found.append((candidate, ds))
        if len(found) > 1:
            raise InputError(f"{len(found)} RTSTRUCT/SEG objects in the folder ({', '.join(p.name for p, _ in found)}): "
                             "give one file", path, "segmentation")
        if not found:
            raise InputError("no DICOM RTSTRUCT or SEG object in the folder", path, "segmentation")
        candidate, ds = found[0]
        return ("rtstruct" if is_rtstruct(ds) else "seg"), candidate, ds
    lower = path.name.lower()
    if lower.endswith((".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".csv", ".json")):
        return None
    ds = read_dataset(path)
    if ds is None:
        return None
    if is_rtstruct(ds):
        return "rtstruct", path, ds
    if is_seg(ds):
        return "seg", path, ds
    raise InputError(f"a DICOM {ds.get('Modality', '')} object is not a segmentation (expected RTSTRUCT or SEG)",
                     path, "SOPClassUID (0008,0016)")


def read_segmentation(path: str | os.PathLike, labels_csv: str | os.PathLike | None = None,
                      reference=None) -> Segmentation:
    """Read a ``.seg.nrrd``, a label map with its ``value,name`` CSV, a DICOM RTSTRUCT or a DICOM SEG.

    ``reference``: the image (:class:`~iahepaticprrt.imaging.volume.Volume`, or a
    :class:`~iahepaticprrt.imaging.grid.Grid`) the VOIs are used on. An RTSTRUCT needs it (its
    contours are rasterised for that grid); for RTSTRUCT and SEG, its Frame of Reference UID
    (``metadata["frame_of_reference_uid"]`` of a volume read from DICOM) must match theirs."""
    path = Path(path)
    if not path.exists():
        raise InputError("segmentation file not found", path)
    dicom = _dicom_segmentation_object(path)
    if dicom is not None:
        kind, file, ds = dicom
        grid = getattr(reference, "grid", reference)
        frame = str(getattr(reference, "metadata", {}).get("frame_of_reference_uid", "") or "")
        if kind == "seg":
            from .dicom_seg import read_dicom_seg

            return read_dicom_seg(file, frame, ds)
        if grid is None:
            raise InputError("an RTSTRUCT holds contours, not voxels: it needs the image it is used on "
                             "(give the scan it was drawn on)", file, "reference image")
        from .rtstruct import read_rtstruct

        return read_rtstruct(file, grid, frame, ds)
    if not path.is_file():
        raise InputError("segmentation file not found", path)
    if labels_csv is not None:
        return read_labelmap(path, read_labels_csv(labels_csv))
    if path.name.lower().endswith(".seg.nrrd"):
        return read_seg_nrrd(path)
    raise InputError("a label map needs its labels: give --labels CSV with value,name rows "
                     "(or use a Slicer .seg.nrrd, a DICOM RTSTRUCT or a DICOM SEG)", path, "labels")


# ---- writing ---------------------------------------------------------------------------------
def _layers(seg: Segmentation) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Pack segments into as few label layers as needed without overlap.

    Returns the [k, j, i, layer] uint8 array and, per segment, (layer, label value). Each segment
    gets a label of its own even when it is empty: labels are counted per layer, not read back from
    the painted voxels (an empty segment would otherwise share the next segment's label and be
    read back as a copy of it)."""
    layers: list[np.ndarray] = []
    labels_used: list[int] = []
    placement = []
    for segment in seg.segments:
        for index, layer in enumerate(layers):
            if labels_used[index] < 255 and not np.any(layer[segment.mask]):
                labels_used[index] += 1
                layer[segment.mask] = labels_used[index]
                placement.append((index, labels_used[index]))
                break
        else:
            layer = np.zeros(seg.grid.shape_kji, dtype=np.uint8)
            layer[segment.mask] = 1
            layers.append(layer)
            labels_used.append(1)
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
    from ..imaging.volume import Volume
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


# ---- segment names -------------------------------------------------------------------------
def read_name_mapping(path: str | os.PathLike) -> dict[str, str]:
    """Read a renaming file: JSON ``{"site name": "default name"}`` or CSV rows ``site name,default name``."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        mapping = read_json(path, "mapping file")
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise InputError("expected an object of name: name pairs", path)
        return mapping
    mapping = {}
    for number, row in enumerate(read_csv_rows(path, "mapping file"), start=1):
        if not row or row[0].strip().startswith("#"):
            continue
        if len(row) != 2:
            raise InputError(f"line {number}: expected 'site name,default name'", path)
        if number == 1 and [c.strip().lower() for c in row] in (["from", "to"], ["name", "default"]):
            continue
        mapping[row[0].strip()] = row[1].strip()
    return mapping

"""Small synthetic PET series for the SUV and uptake tests (written with dicom_writer).

A 4 x 5 x 6 grid, one uniform value per slice (powers of two times 1000 Bq/mL, stored exactly at
the writer's per-slice RescaleSlope). Header attributes default to a plain BQML / START series that
tests change one at a time.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.io.dicom_writer import write_image_series

GRID = Grid((4, 5, 6), (4.0, 4.0, 3.0), (-10.0, -12.0, 30.0))
SLICE_VALUES = np.array([1000.0, 2000.0, 4000.0, 8000.0])


def slice_volume(values=SLICE_VALUES, grid: Grid = GRID) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, float)[:, None, None], grid.shape_kji).astype(np.float32)


def radiopharmaceutical(dose="150000000", half_life="4057.7", start_datetime="20250101100000.000000",
                        start_time="100000.000000", code_meaning="^68^Gallium", **extra) -> Sequence:
    item = Dataset()
    item.Radiopharmaceutical = "DOTATATE"
    if dose is not None:
        item.RadionuclideTotalDose = dose
    if half_life is not None:
        item.RadionuclideHalfLife = half_life
    if start_datetime is not None:
        item.RadiopharmaceuticalStartDateTime = start_datetime
    if start_time is not None:
        item.RadiopharmaceuticalStartTime = start_time
    code = Dataset()
    code.CodeValue = "C-131A3"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = code_meaning
    item.RadionuclideCodeSequence = Sequence([code])
    for key, value in extra.items():
        setattr(item, key, value)
    return Sequence([item])


def base_header(**changes) -> dict:
    header = {
        "PatientName": "Suv^Rules", "PatientID": "SUV-001", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.77",
        "SeriesDescription": "synthetic PET", "Manufacturer": "Synthetic",
        "Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY"],
        "SeriesDate": "20250101", "SeriesTime": "110000.000000",
        "AcquisitionDate": "20250101", "AcquisitionTime": "110000.000000",
        "ActualFrameDuration": "300000", "FrameReferenceTime": "150000",
        "PatientWeight": "80", "PatientSize": "1.80", "PatientSex": "M",
        "RadiopharmaceuticalInformationSequence": radiopharmaceutical(),
    }
    for key, value in changes.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    return header


def write_pet(folder, header: dict | None = None, per_slice: list[dict] | None = None, values=SLICE_VALUES,
              uid_key: str = "suv rules", grid: Grid = GRID, array=None):
    """Write the series; returns the (k, j, i) values the pixels hold after rescale."""
    array = slice_volume(values, grid) if array is None else np.asarray(array, dtype=np.float32)
    write_image_series(array, grid, folder, "PT", header if header is not None else base_header(),
                       per_slice=per_slice, uid_key=uid_key)
    return array

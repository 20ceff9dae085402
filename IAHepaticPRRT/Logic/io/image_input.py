"""One image argument of the command line: a DICOM series folder or a volume file (NRRD, NIfTI, MHA)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..imaging.volume import Volume


def read_image(path: str | os.PathLike, series_uid: str | None = None, modalities: tuple[str, ...] | None = None) -> Volume:
    """A volume file as stored, or a single-frame DICOM series (rescale applied, HU for CT).

    A folder holding several series needs ``series_uid`` (the refusal lists them).
    """
    from .volume_files import VOLUME_SUFFIXES, read_volume

    path = Path(path)
    if path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES):
        return read_volume(path)
    if path.is_dir() or path.is_file():
        from .dicom_series import read_series

        return read_series(path, series_uid=series_uid, modalities=modalities).volume
    raise InputError("no such file or folder (expected a DICOM series folder or a .nrrd/.nii.gz volume)", path)

"""Reading and writing volume files (NRRD, NIfTI, MetaImage) with SimpleITK."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.volume import Volume
from .output_files import atomic_path, os_error_of_failed_write

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def is_volume_file(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return Path(path).is_file() and name.endswith(VOLUME_SUFFIXES)


def read_volume(path: str | os.PathLike, unit: str = "") -> Volume:
    """Read a 3-D scalar volume; refuse 4-D, vector or unreadable files with the file named."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read as a volume ({str(exc).strip().splitlines()[-1]})", path) from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"expected a 3-D scalar volume, got {image.GetDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s)", path)
    volume = Volume.from_sitk(image, unit=unit, metadata={"source_file": str(path)})
    if np.issubdtype(volume.array.dtype, np.floating) and not np.all(np.isfinite(volume.array)):
        raise InputError("the volume holds non-finite values (NaN or infinity)", path, "voxel values")
    return volume


def write_volume(volume: Volume, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write ``volume`` atomically; the format follows the file name's suffix."""
    import SimpleITK as sitk

    image = volume.to_sitk()
    if volume.unit:
        image.SetMetaData("unit", volume.unit)
    path = Path(path)
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        raise InputError(f"a volume file name ends with one of {', '.join(VOLUME_SUFFIXES)}", path, "output")
    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=compress)
        except RuntimeError as exc:  # ITK reports a full or read-only disk as a RuntimeError
            raise os_error_of_failed_write(tmp, str(exc).strip().splitlines()[-1], volume.array.nbytes) from None
    return path

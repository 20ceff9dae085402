"""Transform files: ITK transform files (.tfm, .txt, .h5, .hdf5, .mat), as SimpleITK, ITK tools and
Slicer read and write them. Conventions of the transforms themselves: :mod:`iahepaticprrt.imaging.transforms`."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..imaging.transforms import simplify
from .output_files import atomic_path, os_error_of_failed_write

#: Transform file suffixes SimpleITK (and Slicer) read and write.
TRANSFORM_SUFFIXES = (".tfm", ".txt", ".h5", ".hdf5", ".mat")


def write_transform(transform, path: str | os.PathLike) -> Path:
    """Write an ITK transform file (.tfm text or .h5), atomically. Deformable composites need .h5
    or .tfm; both are read by SimpleITK, ITK tools and Slicer (Transforms module, Add Data)."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.name.lower().endswith(TRANSFORM_SUFFIXES):
        raise InputError(f"a transform file name ends with one of {', '.join(TRANSFORM_SUFFIXES)}", path)
    with atomic_path(path) as tmp:
        try:
            sitk.WriteTransform(transform, str(tmp))
        except RuntimeError as exc:  # ITK reports a full or read-only disk as a RuntimeError
            raise os_error_of_failed_write(tmp, str(exc).strip().splitlines()[-1]) from None
    return path


def read_transform(path: str | os.PathLike):
    """Read an ITK transform file; a composite holding a single transform is returned unwrapped."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise InputError("transform file not found", path)
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read as an ITK transform ({str(exc).strip().splitlines()[-1]})", path) from exc
    if transform.GetDimension() != 3:
        raise InputError(f"expected a 3-D transform, got {transform.GetDimension()}-D", path)
    return simplify(transform)

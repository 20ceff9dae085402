"""A voxel array with its geometry and unit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import Grid


@dataclass
class Volume:
    """Scalar image: ``array`` indexed [k, j, i] on ``grid``.

    ``unit`` names what a voxel holds (``"HU"``, ``"Bq/mL"``, ``"SUVbw"``, ``"counts"``, ``"Gy"``).
    ``metadata`` keeps where the values came from (series UID, file paths, header choices).
    """

    array: np.ndarray
    grid: Grid
    unit: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if tuple(self.array.shape) != self.grid.shape_kji:
            raise ValueError(f"array shape {self.array.shape} does not match grid shape {self.grid.shape_kji}")

    def to_sitk(self):
        return self.grid.to_sitk(self.array)

    @classmethod
    def from_sitk(cls, image, unit: str = "", metadata: dict | None = None) -> "Volume":
        import SimpleITK as sitk

        return cls(sitk.GetArrayFromImage(image), Grid.from_sitk(image), unit, dict(metadata or {}))

"""Voxel grids: the geometry that ties a numpy array to the patient.

Conventions used everywhere in the package (the same as SimpleITK and DICOM):

- Arrays are indexed ``[k, j, i]`` (slice, row, column), as ``SimpleITK.GetArrayFromImage`` and
  Slicer's ``arrayFromVolume`` return them.
- ``spacing_mm`` is ``(di, dj, dk)``: the distance between voxel centres along i, j and k.
- ``origin_lps_mm`` is the centre of voxel ``[0, 0, 0]`` in patient LPS coordinates (DICOM's
  patient coordinate system: +x left, +y posterior, +z superior).
- ``direction`` is a 3 x 3 matrix whose columns are the unit vectors of the i, j and k axes in LPS
  (SimpleITK's direction matrix). Slicer works in RAS: the MRML adapter flips x and y.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: LPS <-> RAS: negate x and y.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """Geometry of a 3-D voxel array.

    Attributes
    ----------
    shape_kji: number of voxels along k, j, i (the numpy shape).
    spacing_mm: voxel spacing along i, j, k in mm.
    origin_lps_mm: LPS position of the centre of voxel [0, 0, 0] in mm.
    direction: 3 x 3 matrix, columns are the i, j, k axis directions in LPS.
    """

    shape_kji: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self):
        object.__setattr__(self, "shape_kji", tuple(int(n) for n in self.shape_kji))
        object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))
        object.__setattr__(self, "origin_lps_mm", tuple(float(o) for o in self.origin_lps_mm))
        direction = np.array(self.direction, dtype=float).reshape(3, 3)
        direction.setflags(write=False)
        object.__setattr__(self, "direction", direction)
        if len(self.shape_kji) != 3 or min(self.shape_kji) < 1:
            raise ValueError(f"grid shape must be three positive sizes, got {self.shape_kji}")
        if min(self.spacing_mm) <= 0 or not np.all(np.isfinite(self.spacing_mm)):
            raise ValueError(f"grid spacing must be positive and finite, got {self.spacing_mm} mm")

    def __eq__(self, other) -> bool:  # dataclass equality would compare arrays element-wise
        return isinstance(other, Grid) and self.is_same(other, tolerance_mm=0.0)

    def __hash__(self):
        return hash((self.shape_kji, self.spacing_mm, self.origin_lps_mm, self.direction.tobytes()))

    # ---- derived quantities -------------------------------------------------------------------
    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (1 mL = 1000 mm^3)."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k (SimpleITK's GetSize order)."""
        return tuple(reversed(self.shape_kji))

    def ijk_to_lps(self) -> np.ndarray:
        """4 x 4 matrix mapping homogeneous (i, j, k, 1) to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing_mm)
        m[:3, 3] = self.origin_lps_mm
        return m

    def ijk_to_ras(self) -> np.ndarray:
        """4 x 4 matrix mapping homogeneous (i, j, k, 1) to RAS mm (Slicer's IJKToRAS)."""
        return LPS_TO_RAS @ self.ijk_to_lps()

    def lps_to_ijk(self) -> np.ndarray:
        return np.linalg.inv(self.ijk_to_lps())

    def index_to_lps(self, ijk) -> np.ndarray:
        """LPS positions (mm) of continuous indices ``ijk`` (..., 3) given in i, j, k order."""
        ijk = np.asarray(ijk, dtype=float)
        m = self.ijk_to_lps()
        return ijk @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps) -> np.ndarray:
        """Continuous i, j, k indices of LPS points (..., 3)."""
        lps = np.asarray(lps, dtype=float)
        m = self.lps_to_ijk()
        return lps @ m[:3, :3].T + m[:3, 3]

    def center_lps_mm(self) -> np.ndarray:
        return self.index_to_lps((np.array(self.size_ijk, dtype=float) - 1.0) / 2.0)

    def corners_lps_mm(self) -> np.ndarray:
        """The 8 corners of the grid's field of view (outer voxel faces), LPS mm, shape (8, 3)."""
        n = np.array(self.size_ijk, dtype=float)
        corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
        return self.index_to_lps(corners * n - 0.5)

    def is_same(self, other: "Grid", tolerance_mm: float = 1e-4) -> bool:
        """True when both grids put every voxel at the same place (within ``tolerance_mm``)."""
        if self.shape_kji != other.shape_kji:
            return False
        return bool(np.allclose(self.ijk_to_lps(), other.ijk_to_lps(), rtol=0.0, atol=max(tolerance_mm, 1e-9)))

    # ---- SimpleITK ----------------------------------------------------------------------------
    @classmethod
    def from_sitk(cls, image) -> "Grid":
        size = image.GetSize()
        if len(size) != 3:
            raise ValueError(f"expected a 3-D image, got {len(size)}-D")
        return cls(
            shape_kji=tuple(reversed(size)),
            spacing_mm=image.GetSpacing(),
            origin_lps_mm=image.GetOrigin(),
            direction=np.array(image.GetDirection()).reshape(3, 3),
        )

    def apply_to_sitk(self, image):
        """Give a SimpleITK image this grid's geometry (size must already match)."""
        if tuple(image.GetSize()) != self.size_ijk:
            raise ValueError(f"image size {image.GetSize()} does not match grid {self.size_ijk}")
        image.SetSpacing(self.spacing_mm)
        image.SetOrigin(self.origin_lps_mm)
        image.SetDirection(tuple(self.direction.ravel()))
        return image

    def to_sitk(self, array: np.ndarray):
        """SimpleITK image of ``array`` (indexed k, j, i) with this grid's geometry."""
        import SimpleITK as sitk

        array = np.asarray(array)
        if array.shape != self.shape_kji:
            raise ValueError(f"array shape {array.shape} does not match grid {self.shape_kji}")
        return self.apply_to_sitk(sitk.GetImageFromArray(array))

    def to_dict(self) -> dict:
        """JSON-friendly description (for provenance)."""
        return {
            "shape_kji": list(self.shape_kji),
            "spacing_mm": list(self.spacing_mm),
            "origin_lps_mm": list(self.origin_lps_mm),
            "direction": self.direction.ravel().tolist(),
        }

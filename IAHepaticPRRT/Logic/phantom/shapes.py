"""Analytic solids of the synthetic patient, rigid patient poses, and painting them on voxel grids.

Each solid works in its own local coordinates ``u = R^T (x - centre)`` (LPS mm, reference pose)
and provides:

- ``gauge(u)``: the convex gauge ``s`` (s <= 1 inside, s = 1 on the surface): membership is exact;
- ``inradius_mm``: radius of a ball about the centre inside the solid, so that
  ``|s - 1| x inradius`` is a lower bound of the distance to the surface (homothety of a convex
  body), which limits the exact work to a thin band around the surface;
- ``surface(u)``: first-order signed distance ``d`` (exact on the surface), the outward normal and
  the mean curvature ``H`` there;
- ``volume_ml`` (exact, closed form) and ``centroid``.

Painting a voxel crossed by a surface uses the coverage fraction
``f = clip(0.5 - (d + H w^2 / 12) / w, 0, 1)``: a linear ramp whose width
``w = sqrt(sum_i ((n . axis_i) spacing_i)^2)`` has the variance of the voxel projected on the
normal, shifted by ``H w^2 / 12`` so that curved surfaces keep their exact volume to second
order (without the shift a sphere of radius r would gain w^2 / (4 r^2) of its volume). Testing/
test_phantom_anatomy.py checks painted against exact volumes.

Poses: a :class:`RigidPose` maps reference (IA day 0) coordinates to a scan's coordinates,
``x_scan = R (x_ref - c) + c + t``, with ``R = Rz(rz) Rx(rx) Ry(ry)`` (SimpleITK's
``Euler3DTransform`` default ZXY order, angles about the LPS x, y, z axes, right-handed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..imaging.grid import Grid

#: Voxels per painting slab (bounds the memory of the coordinate arrays).
SLAB_VOXELS = 1_500_000


def rotation_matrix_deg(rx: float, ry: float, rz: float) -> np.ndarray:
    """R = Rz Rx Ry for angles in degrees about the LPS x, y, z axes (ITK Euler3D default order)."""
    ax, ay, az = (math.radians(v) for v in (rx, ry, rz))
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    r_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    r_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return r_z @ r_x @ r_y


@dataclass(frozen=True)
class RigidPose:
    """x_scan = R (x_ref - c) + c + t (LPS mm); ``matrix`` overrides the Euler angles when given."""

    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    center_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    matrix: np.ndarray | None = None

    @property
    def rotation(self) -> np.ndarray:
        return np.array(self.matrix, dtype=float) if self.matrix is not None else rotation_matrix_deg(*self.rotation_deg)

    def affine(self) -> np.ndarray:
        """4 x 4 homogeneous matrix of the mapping reference -> scan."""
        m = np.eye(4)
        r = self.rotation
        c = np.asarray(self.center_lps_mm, float)
        m[:3, :3] = r
        m[:3, 3] = c - r @ c + np.asarray(self.translation_mm, float)
        return m

    def apply(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        m = self.affine()
        return p @ m[:3, :3].T + m[:3, 3]

    def inverse_apply(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        m = np.linalg.inv(self.affine())
        return p @ m[:3, :3].T + m[:3, 3]

    def then(self, other: "RigidPose") -> "RigidPose":
        """The pose ``other(self(x))`` (self first), as a matrix pose."""
        m = other.affine() @ self.affine()
        return RigidPose(translation_mm=tuple(float(v) for v in m[:3, 3]), matrix=m[:3, :3])


IDENTITY = RigidPose()


# ---- solids ------------------------------------------------------------------------------------
def _rot(rotation) -> np.ndarray:
    return np.eye(3) if rotation is None else np.asarray(rotation, dtype=float).reshape(3, 3)


def _ellipsoid_surface(u: list, axes: np.ndarray):
    """First-order signed distance, outward normal and mean curvature for sum((u_i/a_i)^2) = 1
    (2 or 3 axes; for 2 axes, the curvature returned is the mean curvature of the cylinder)."""
    s = np.sqrt(sum((ui / ai) ** 2 for ui, ai in zip(u, axes)))
    grad = [ui / ai ** 2 for ui, ai in zip(u, axes)]
    gnorm = np.sqrt(sum(g ** 2 for g in grad))
    safe = np.maximum(gnorm, 1e-12)
    d = np.where(gnorm > 0, (s - 1.0) * s / safe, -float(np.min(axes)))
    normal = [g / safe for g in grad]
    # Curvature at the point scaled onto the surface (u / s).
    ss = np.maximum(s, 1e-9)
    h = np.sqrt(sum((ui / ss / ai ** 2) ** 2 for ui, ai in zip(u, axes)))
    if len(axes) == 3:
        a2 = axes ** 2
        r2 = sum((ui / ss) ** 2 for ui in u)
        mean_curvature = (a2.sum() - r2) / (2.0 * np.prod(a2) * h ** 3)
    else:
        mean_curvature = 0.5 / (np.prod(axes ** 2) * h ** 3)
    return d, normal, mean_curvature


@dataclass(frozen=True)
class Ellipsoid:
    """Solid ellipsoid: semi-axes along the columns of ``rotation`` (local x, y, z), LPS mm."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    rotation: np.ndarray | None = None

    kind = "ellipsoid"

    @property
    def inradius_mm(self) -> float:
        return float(min(self.semi_axes))

    def gauge(self, u):
        a = self.semi_axes
        return np.sqrt((u[0] / a[0]) ** 2 + (u[1] / a[1]) ** 2 + (u[2] / a[2]) ** 2)

    def surface(self, u):
        return _ellipsoid_surface(u, np.asarray(self.semi_axes, float))

    @property
    def volume_ml(self) -> float:
        a, b, c = self.semi_axes
        return 4.0 / 3.0 * math.pi * a * b * c / 1000.0

    def half_extent(self) -> np.ndarray:
        r = _rot(self.rotation)
        return np.sqrt(((r * np.asarray(self.semi_axes, float)) ** 2).sum(axis=1))

    def to_dict(self) -> dict:
        return {"type": self.kind, "centre_lps_mm": list(self.centre), "semi_axes_mm": list(self.semi_axes),
                "axes": _rot(self.rotation).T.tolist()}


@dataclass(frozen=True)
class Sphere:
    centre: tuple[float, float, float]
    radius_mm: float

    kind = "sphere"
    rotation = None

    @property
    def inradius_mm(self) -> float:
        return self.radius_mm

    def gauge(self, u):
        return np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) / self.radius_mm

    def surface(self, u):
        r = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2)
        safe = np.maximum(r, 1e-12)
        return r - self.radius_mm, [ui / safe for ui in u], np.full(r.shape, 1.0 / self.radius_mm)

    @property
    def volume_ml(self) -> float:
        return 4.0 / 3.0 * math.pi * self.radius_mm ** 3 / 1000.0

    def half_extent(self) -> np.ndarray:
        return np.full(3, self.radius_mm)

    def to_dict(self) -> dict:
        return {"type": self.kind, "centre_lps_mm": list(self.centre), "radius_mm": self.radius_mm}


@dataclass(frozen=True)
class EllipticCylinder:
    """Solid elliptic cylinder: cross-section semi-axes (a, b) along local x, y; axis along local z,
    from -half_height to +half_height about ``centre``."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float]
    half_height_mm: float
    rotation: np.ndarray | None = None

    kind = "elliptic_cylinder"

    @property
    def inradius_mm(self) -> float:
        return float(min(*self.semi_axes, self.half_height_mm))

    def gauge(self, u):
        a, b = self.semi_axes
        return np.maximum(np.sqrt((u[0] / a) ** 2 + (u[1] / b) ** 2), np.abs(u[2]) / self.half_height_mm)

    def surface(self, u):
        d_r, n_r, h_r = _ellipsoid_surface(u[:2], np.asarray(self.semi_axes, float))
        d_z = np.abs(u[2]) - self.half_height_mm
        radial = d_r >= d_z
        normal = [np.where(radial, n_r[0], 0.0), np.where(radial, n_r[1], 0.0), np.where(radial, 0.0, np.sign(u[2]))]
        return np.maximum(d_r, d_z), normal, np.where(radial, h_r, 0.0)

    @property
    def volume_ml(self) -> float:
        a, b = self.semi_axes
        return math.pi * a * b * 2.0 * self.half_height_mm / 1000.0

    def half_extent(self) -> np.ndarray:
        r = _rot(self.rotation)
        a, b = self.semi_axes
        return np.sqrt((r[:, 0] * a) ** 2 + (r[:, 1] * b) ** 2) + np.abs(r[:, 2]) * self.half_height_mm

    def to_dict(self) -> dict:
        return {"type": self.kind, "centre_lps_mm": list(self.centre), "semi_axes_mm": list(self.semi_axes),
                "half_height_mm": self.half_height_mm, "axes": _rot(self.rotation).T.tolist()}


@dataclass(frozen=True)
class Box:
    """Solid rectangular box with half sizes along the columns of ``rotation``."""

    centre: tuple[float, float, float]
    half_sizes_mm: tuple[float, float, float]
    rotation: np.ndarray | None = None

    kind = "box"

    @property
    def inradius_mm(self) -> float:
        return float(min(self.half_sizes_mm))

    def gauge(self, u):
        h = self.half_sizes_mm
        return np.maximum(np.maximum(np.abs(u[0]) / h[0], np.abs(u[1]) / h[1]), np.abs(u[2]) / h[2])

    def surface(self, u):
        excess = np.stack([np.abs(ui) - hi for ui, hi in zip(u, self.half_sizes_mm)])
        axis = np.argmax(excess, axis=0)
        normal = [np.where(axis == n, np.sign(u[n]), 0.0) for n in range(3)]
        return excess.max(axis=0), normal, np.zeros(axis.shape)

    @property
    def volume_ml(self) -> float:
        return 8.0 * float(np.prod(self.half_sizes_mm)) / 1000.0

    def half_extent(self) -> np.ndarray:
        return (np.abs(_rot(self.rotation)) * np.asarray(self.half_sizes_mm, float)).sum(axis=1)

    def to_dict(self) -> dict:
        return {"type": self.kind, "centre_lps_mm": list(self.centre), "half_sizes_mm": list(self.half_sizes_mm),
                "axes": _rot(self.rotation).T.tolist()}


@dataclass(frozen=True)
class CappedEllipsoid:
    """Axis-aligned ellipsoid cut by the plane z = ``z_max_mm`` (the part below it): a lung base.

    Its local origin is ``centre``; the gauge is max(ellipsoid gauge, plane gauge about the point
    ``inner_centre`` halfway between the bottom and the cap, so the band bound holds)."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    z_max_mm: float

    kind = "capped_ellipsoid"
    rotation = None

    @property
    def inradius_mm(self) -> float:
        return 0.0  # no band shortcut: every voxel in the box gets the exact surface terms

    def gauge(self, u):
        a = self.semi_axes
        s = np.sqrt((u[0] / a[0]) ** 2 + (u[1] / a[1]) ** 2 + (u[2] / a[2]) ** 2)
        plane = u[2] - (self.z_max_mm - self.centre[2])
        return np.where(plane > 0, np.maximum(s, 1.0 + 1e-9), s)

    def surface(self, u):
        d_e, n_e, h_e = _ellipsoid_surface(u, np.asarray(self.semi_axes, float))
        d_p = u[2] - (self.z_max_mm - self.centre[2])
        plane = d_p > d_e
        normal = [np.where(plane, 0.0, n_e[0]), np.where(plane, 0.0, n_e[1]), np.where(plane, 1.0, n_e[2])]
        return np.maximum(d_e, d_p), normal, np.where(plane, 0.0, h_e)

    @property
    def volume_ml(self) -> float:
        a, b, c = self.semi_axes
        height = min(max(self.z_max_mm - (self.centre[2] - c), 0.0), 2.0 * c)
        return math.pi * a * b * height ** 2 * (3.0 * c - height) / (3.0 * c ** 2) / 1000.0

    def half_extent(self) -> np.ndarray:
        return np.asarray(self.semi_axes, float)

    def to_dict(self) -> dict:
        return {"type": self.kind, "centre_lps_mm": list(self.centre), "semi_axes_mm": list(self.semi_axes),
                "z_max_mm": self.z_max_mm}


def centroid(shape) -> np.ndarray:
    return np.asarray(shape.centre, float)


def bounding_box(shape) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) LPS corners of an axis-aligned box holding ``shape`` (reference pose)."""
    c, e = np.asarray(shape.centre, float), shape.half_extent()
    lo, hi = c - e, c + e
    if isinstance(shape, CappedEllipsoid):
        hi[2] = min(hi[2], shape.z_max_mm)
    return lo, hi


def local_coordinates(shape, points: np.ndarray) -> list:
    """Local coordinates (list of 3 arrays) of reference-pose points (..., 3)."""
    u = (np.asarray(points, float) - np.asarray(shape.centre, float)) @ _rot(shape.rotation)
    return [u[..., 0], u[..., 1], u[..., 2]]


def contains(shape, points: np.ndarray) -> np.ndarray:
    return shape.gauge(local_coordinates(shape, points)) <= 1.0


# ---- tissues and painting ----------------------------------------------------------------------
@dataclass
class Tissue:
    """One material of the phantom: a union of solids painted with one value.

    ``parent`` is the tissue whose solid contains this one (the painter draws parents first);
    ``segment`` the segment name this tissue's visible part belongs to (or "")."""

    name: str
    shapes: list
    hu: float
    density_g_per_ml: float
    parent: str = ""
    segment: str = ""
    kind: str = "tissue"
    properties: dict = field(default_factory=dict)

    @property
    def shape_volume_ml(self) -> float:
        return float(sum(s.volume_ml for s in self.shapes))


def _index_range(grid: Grid, pose: RigidPose, lo: np.ndarray, hi: np.ndarray, margin_vox: float = 1.5):
    """Index box (k0, k1, j0, j1, i0, i1), clipped to the grid, holding the reference box [lo, hi]
    once posed into the scan."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    index = grid.lps_to_index(pose.apply(corners))
    low = np.floor(index.min(axis=0) - margin_vox).astype(int)
    high = np.ceil(index.max(axis=0) + margin_vox).astype(int) + 1
    size = np.array(grid.size_ijk)
    low = np.clip(low, 0, size)
    high = np.clip(high, 0, size)
    return int(low[2]), int(high[2]), int(low[1]), int(high[1]), int(low[0]), int(high[0])


def _local_affine(grid: Grid, pose: RigidPose, shape) -> np.ndarray:
    """4 x 4 matrix from grid indices (i, j, k, 1) to the shape's local coordinates."""
    to_local = np.eye(4)
    r = _rot(shape.rotation)
    to_local[:3, :3] = r.T
    to_local[:3, 3] = -r.T @ np.asarray(shape.centre, float)
    return to_local @ np.linalg.inv(pose.affine()) @ grid.ijk_to_lps()


def _paint_shape(out: np.ndarray, grid: Grid, pose: RigidPose, shape, value: float, antialias: bool) -> None:
    k0, k1, j0, j1, i0, i1 = _index_range(grid, pose, *bounding_box(shape))
    if k1 <= k0 or j1 <= j0 or i1 <= i0:
        return
    m = _local_affine(grid, pose, shape)
    spacing = np.asarray(grid.spacing_mm, float)
    # local coordinates of the grid's unit index steps: column i = axis i (mm per index)
    axes_local = m[:3, :3] / spacing
    band_mm = float(np.sqrt(np.sum(spacing ** 2)))
    ii = np.arange(i0, i1, dtype=float)
    jj = np.arange(j0, j1, dtype=float)[:, None]
    step = max(1, SLAB_VOXELS // ((j1 - j0) * (i1 - i0)))
    for ks in range(k0, k1, step):
        ke = min(k1, ks + step)
        kk = np.arange(ks, ke, dtype=float)[:, None, None]
        u = [m[r, 3] + m[r, 0] * ii + m[r, 1] * jj + m[r, 2] * kk for r in range(3)]
        s = shape.gauge(u)
        block = out[ks:ke, j0:j1, i0:i1]
        if not antialias:
            block[s <= 1.0] = value
            continue
        inradius = shape.inradius_mm
        if inradius > 0:
            deep = s <= 1.0 - band_mm / inradius
            band = ~deep & (s < 1.0 + band_mm / inradius)
        else:
            deep = np.zeros(s.shape, bool)
            band = np.ones(s.shape, bool)
        block[deep] = value
        if not band.any():
            continue
        ub = [ui[band] if ui.shape == s.shape else np.broadcast_to(ui, s.shape)[band] for ui in u]
        d, normal, curvature = shape.surface(ub)
        width2 = sum(((normal[0] * axes_local[0, n] + normal[1] * axes_local[1, n] + normal[2] * axes_local[2, n])
                      * spacing[n]) ** 2 for n in range(3))
        width = np.sqrt(np.maximum(width2, 1e-12))
        fraction = np.clip(0.5 - (d + curvature * width2 / 12.0) / width, 0.0, 1.0)
        old = block[band]
        block[band] = old + (value - old) * fraction


def paint(grid: Grid, pose: RigidPose, tissues: list[Tissue], values: dict[str, float], background: float = 0.0,
          antialias: bool = True, dtype=np.float32) -> np.ndarray:
    """Voxel values of the posed phantom on ``grid``: each tissue (in list order, parents first) is
    painted over what lies below it with its value; ``antialias`` uses the coverage fraction (see
    the module docstring), otherwise the voxel centre decides."""
    out = np.full(grid.shape_kji, background, dtype=np.float64)
    for tissue in tissues:
        value = float(values[tissue.name])
        for shape in tissue.shapes:
            _paint_shape(out, grid, pose, shape, value, antialias)
    return out.astype(dtype, copy=False)


def label_map(grid: Grid, pose: RigidPose, tissues: list[Tissue]) -> np.ndarray:
    """Tissue index + 1 at each voxel centre (0 = air), later tissues over earlier ones."""
    values = {t.name: float(n + 1) for n, t in enumerate(tissues)}
    return paint(grid, pose, tissues, values, 0.0, antialias=False, dtype=np.float32).astype(np.int16)

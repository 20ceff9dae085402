"""A small analytic body-like CT with known anatomy, for registration and VOI tests.

The anatomy is defined in an "anatomy frame" (LPS mm, patient centred near 0): body (elliptic
cross-section varying along z, subcutaneous fat), lungs at the top, spine (vertebral bodies with
discs, spinal canal), liver with lesions (20, 25, 30 mm spheres), kidneys, spleen.

An image of the patient moved by a known transform is made by sampling the anatomy at
``anatomy_point = M(image_point)``: ``M`` is any SimpleITK transform mapping the image's space to
the anatomy frame. For a scan whose anatomy sits at ``x_moving = T(x_anatomy)`` (a registration
truth from anatomy/fixed space to moving space), ``M = T^-1``.
"""

from __future__ import annotations

import numpy as np

from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.imaging.volume import Volume

LESIONS = {  # name: (centre LPS mm, diameter mm, HU)
    "Lesion 1": ((-75.0, -20.0, 30.0), 30.0, 120.0),
    "Lesion 2": ((-40.0, 10.0, 5.0), 25.0, 20.0),
    "Lesion 3": ((-85.0, 15.0, 50.0), 20.0, 130.0),
}
LIVER = ((-60.0, 0.0, 25.0), (75.0, 65.0, 55.0), 70.0)  # centre, semi-axes mm, HU
KIDNEYS = {"Left kidney": ((70.0, 45.0, -35.0), (25.0, 30.0, 45.0), 160.0),
           "Right kidney": ((-70.0, 45.0, -45.0), (25.0, 30.0, 45.0), 160.0)}
SPLEEN = ((85.0, 25.0, 35.0), (30.0, 40.0, 45.0), 50.0)
VERTEBRA_PITCH_MM = 32.0  # body height + disc
DISC_MM = 8.0
SPINE_CENTRE_XY = (0.0, 70.0)  # vertebral-body axis (LPS x, y)
VERTEBRA_RADII_MM = (22.0, 16.0)  # vertebral body semi-axes (x, y)


def default_grid(spacing_mm=(3.0, 3.0, 3.0), extent_mm=(360.0, 260.0, 240.0), center=(0.0, 10.0, 0.0)) -> Grid:
    size = [int(round(e / s)) for e, s in zip(extent_mm, spacing_mm)]
    origin = np.array(center) - (np.array(size) - 1) / 2.0 * np.array(spacing_mm)
    return Grid(tuple(reversed(size)), spacing_mm, tuple(origin))


def _points(grid: Grid, transform=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anatomy-frame coordinates x, y, z (arrays [k, j, i]) of the grid's voxel centres."""
    import SimpleITK as sitk

    if transform is None:
        k, j, i = np.meshgrid(*(np.arange(n, dtype=float) for n in grid.shape_kji), indexing="ij")
        pts = grid.index_to_lps(np.stack([i, j, k], axis=-1))
        return pts[..., 0], pts[..., 1], pts[..., 2]
    # Let SimpleITK map every voxel centre: a displacement field of the transform on the grid.
    reference = sitk.Image([int(n) for n in grid.size_ijk], sitk.sitkUInt8)
    grid.apply_to_sitk(reference)
    field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, reference.GetSize(),
                                              reference.GetOrigin(), reference.GetSpacing(), reference.GetDirection())
    disp = sitk.GetArrayFromImage(field)
    x, y, z = _points(grid)
    return x + disp[..., 0], y + disp[..., 1], z + disp[..., 2]


def _ellipsoid_distance(x, y, z, centre, semi):
    """Approximate signed distance (mm, negative inside) to an ellipsoid surface (first order)."""
    u, v, w = (x - centre[0]) / semi[0], (y - centre[1]) / semi[1], (z - centre[2]) / semi[2]
    f = u * u + v * v + w * w - 1.0
    gradient = 2.0 * np.sqrt((u / semi[0]) ** 2 + (v / semi[1]) ** 2 + (w / semi[2]) ** 2) + 1e-9
    return f / gradient


def _sphere_distance(x, y, z, centre, radius):
    return np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2) - radius


def anatomy_distances(x, y, z) -> dict[str, np.ndarray]:
    """Signed distances (mm, negative inside) to the named structures at anatomy-frame points.

    Intersections are max(), unions min(), differences max(a, -b) of the distances: exact enough
    near the surfaces, which is where they matter (partial-volume blending and the true masks)."""
    half_width = 150.0 + 12.0 * np.sin(z / 45.0)
    half_depth = 100.0 + 8.0 * np.cos(z / 60.0)

    def elliptic_cylinder(hw, hd):
        u, v = x / hw, (y - 5.0) / hd
        return (u * u + v * v - 1.0) / (2.0 * np.sqrt((u / hw) ** 2 + (v / hd) ** 2) + 1e-9)

    d = {}
    d["Body"] = np.maximum(elliptic_cylinder(half_width, half_depth), np.abs(z) - 400.0)
    d["Fat"] = np.maximum(d["Body"], -elliptic_cylinder(half_width - 15.0, half_depth - 15.0))
    lungs = np.minimum(_ellipsoid_distance(x, y, z, (-70.0, 20.0, 140.0), (55.0, 65.0, 70.0)),
                       _ellipsoid_distance(x, y, z, (70.0, 20.0, 140.0), (55.0, 65.0, 70.0)))
    d["Lungs"] = np.maximum(d["Body"], lungs)
    d["Liver"] = np.maximum(_ellipsoid_distance(x, y, z, LIVER[0], LIVER[1]), -d["Lungs"])
    for name, (c, diameter, _) in LESIONS.items():
        d[name] = _sphere_distance(x, y, z, c, diameter / 2.0)
    for name, (c, semi, _) in KIDNEYS.items():
        d[name] = _ellipsoid_distance(x, y, z, c, semi)
    d["Spleen"] = _ellipsoid_distance(x, y, z, SPLEEN[0], SPLEEN[1])
    rx, ry = VERTEBRA_RADII_MM
    sx, sy = SPINE_CENTRE_XY
    u, v = (x - sx) / rx, (y - sy) / ry
    column = (u * u + v * v - 1.0) / (2.0 * np.sqrt((u / rx) ** 2 + (v / ry) ** 2) + 1e-9)
    phase = np.mod(z, VERTEBRA_PITCH_MM)
    # Distance along z to the disc slab [0, DISC_MM) of the current period (periodic).
    disc_z = np.minimum(np.abs(phase - DISC_MM / 2.0), np.abs(phase - VERTEBRA_PITCH_MM - DISC_MM / 2.0)) - DISC_MM / 2.0
    d["Vertebral bodies"] = np.maximum(column, -disc_z)
    d["Discs"] = np.maximum(column, disc_z)
    u3, v3 = (x - sx) / (rx - 3.0), (y - sy) / (ry - 3.0)
    inner = (u3 * u3 + v3 * v3 - 1.0) / (2.0 * np.sqrt((u3 / (rx - 3.0)) ** 2 + (v3 / (ry - 3.0)) ** 2) + 1e-9)
    d["Cortex"] = np.maximum(d["Vertebral bodies"], -inner)
    canal_y = sy + ry + 10.0
    radial = np.sqrt((x - sx) ** 2 + (y - canal_y) ** 2)
    d["Canal"] = radial - 8.0
    arch = np.maximum(radial - 14.0, -(radial - 8.0))
    spinous = np.maximum(np.abs(x - sx) - 4.0, np.maximum(canal_y - y, y - (canal_y + 30.0)))
    d["Posterior elements"] = np.maximum(np.minimum(arch, spinous), -disc_z)
    return d


def anatomy_masks(x, y, z) -> dict[str, np.ndarray]:
    """Boolean masks of the named structures at anatomy-frame points (point inside)."""
    return {name: dist <= 0.0 for name, dist in anatomy_distances(x, y, z).items()}


#: Layers painted in this order (later ones over earlier ones), with their HU.
def _hu_layers():
    layers = [("Body", 40.0), ("Fat", -100.0), ("Lungs", -820.0), ("Spleen", 50.0), ("Liver", LIVER[2])]
    layers += [(name, value) for name, (_, _, value) in LESIONS.items()]
    layers += [(name, value) for name, (_, _, value) in KIDNEYS.items()]
    layers += [("Discs", 90.0), ("Vertebral bodies", 230.0), ("Cortex", 650.0), ("Posterior elements", 500.0),
               ("Canal", 20.0)]
    return layers


def paint(distances: dict[str, np.ndarray], layers, background: float, edge_mm: float) -> np.ndarray:
    """Intensities with partial-volume-like edges: each layer blends in with weight
    clip(0.5 - d / edge_mm, 0, 1) (a linear ramp one voxel wide centred on the surface)."""
    out = np.full(next(iter(distances.values())).shape, background, dtype=np.float32)
    for name, value in layers:
        weight = np.clip(0.5 - distances[name] / edge_mm, 0.0, 1.0).astype(np.float32)
        out += weight * (np.float32(value) - out)
    return out


def body_ct(grid: Grid, to_anatomy=None, noise_hu: float = 0.0, seed: int = 0) -> Volume:
    """CT (HU, int16) of the anatomy sampled on ``grid``; ``to_anatomy`` maps grid space to anatomy.
    Edges are blended over about one voxel (partial volume), so edge positions are sub-voxel exact."""
    distances = anatomy_distances(*_points(grid, to_anatomy))
    hu = paint(distances, _hu_layers(), -1000.0, float(np.mean(grid.spacing_mm)))
    if noise_hu:
        hu += np.random.default_rng(seed).normal(0.0, noise_hu, hu.shape).astype(np.float32)
    return Volume(np.round(hu).astype(np.int16), grid, "HU")


def segmentation(grid: Grid, to_anatomy=None, names=("Liver", "Lesion 1", "Lesion 2", "Lesion 3", "Left kidney",
                                                       "Right kidney", "Spleen", "Body")) -> Segmentation:
    """The true segments of the anatomy on ``grid`` (voxel centre inside the structure)."""
    masks = anatomy_masks(*_points(grid, to_anatomy))
    seg = Segmentation(grid)
    for name in names:
        seg.add(name, masks[name])
    return seg


def smooth_deformation(grid: Grid, amplitude_mm: float = 10.0, centre=LIVER[0], width_mm: float = 60.0):
    """A smooth displacement-field transform (LPS mm): a Gaussian bump pushing the liver region
    along a fixed direction, zero far away. Returns a SimpleITK DisplacementFieldTransform."""
    import SimpleITK as sitk

    x, y, z = _points(grid)
    r2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    bump = amplitude_mm * np.exp(-r2 / (2.0 * width_mm ** 2))
    direction = np.array([0.6, -0.3, 0.74])
    direction /= np.linalg.norm(direction)
    field = np.stack([bump * direction[0], bump * direction[1], bump * direction[2]], axis=-1)
    image = sitk.GetImageFromArray(field.astype(np.float64), isVector=True)
    grid.apply_to_sitk(image)
    return sitk.DisplacementFieldTransform(image)


#: T1-weighted-like intensities (arbitrary units): fat bright, liver mid, lesions dark, cortex and
#: air black: not a monotonic function of the CT numbers, as between real MRI and CT.
MR_VALUES = {"Body": 300.0, "Fat": 900.0, "Lungs": 40.0, "Spleen": 380.0, "Liver": 520.0, "Lesion": 220.0,
             "Kidney": 450.0, "Discs": 260.0, "Vertebral bodies": 650.0, "Cortex": 60.0,
             "Posterior elements": 600.0, "Canal": 150.0}


def body_mr(grid: Grid, to_anatomy=None, noise: float = 0.0, seed: int = 0, bias: float = 0.15) -> Volume:
    """MR-like image of the same anatomy (float32) with a smooth multiplicative bias field."""
    x, y, z = _points(grid, to_anatomy)
    distances = anatomy_distances(x, y, z)
    layers = [(name, MR_VALUES[name]) for name in ("Body", "Fat", "Lungs", "Spleen", "Liver")]
    layers += [(name, MR_VALUES["Lesion"]) for name in LESIONS]
    layers += [(name, MR_VALUES["Kidney"]) for name in KIDNEYS]
    layers += [(name, MR_VALUES[name]) for name in ("Discs", "Vertebral bodies", "Cortex", "Posterior elements", "Canal")]
    v = paint(distances, layers, 0.0, float(np.mean(grid.spacing_mm)))
    v *= (1.0 + bias * np.sin(x / 120.0) * np.cos(y / 150.0)).astype(np.float32)
    if noise:
        v += np.random.default_rng(seed).normal(0.0, noise, v.shape).astype(np.float32)
    return Volume(v.astype(np.float32), grid, "")

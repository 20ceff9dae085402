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

from iahepaticprrt.grid import Grid
from iahepaticprrt.segmentation import Segmentation
from iahepaticprrt.volume import Volume

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


def _ellipsoid(x, y, z, centre, semi):
    return ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2 + ((z - centre[2]) / semi[2]) ** 2 <= 1.0


def anatomy_masks(x, y, z) -> dict[str, np.ndarray]:
    """Boolean masks of the named structures at anatomy-frame points."""
    half_width = 150.0 + 12.0 * np.sin(z / 45.0)
    half_depth = 100.0 + 8.0 * np.cos(z / 60.0)
    r_body = (x / half_width) ** 2 + ((y - 5.0) / half_depth) ** 2
    body = (r_body <= 1.0) & (np.abs(z) <= 400.0)
    inner = (x / (half_width - 15.0)) ** 2 + ((y - 5.0) / (half_depth - 15.0)) ** 2 <= 1.0
    masks = {"Body": body, "Fat": body & ~inner}
    masks["Lungs"] = body & (_ellipsoid(x, y, z, (-70.0, 20.0, 140.0), (55.0, 65.0, 70.0))
                             | _ellipsoid(x, y, z, (70.0, 20.0, 140.0), (55.0, 65.0, 70.0)))
    masks["Liver"] = _ellipsoid(x, y, z, LIVER[0], LIVER[1]) & ~masks["Lungs"]
    for name, (c, d, _) in LESIONS.items():
        masks[name] = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= (d / 2.0) ** 2
    for name, (c, s, _) in KIDNEYS.items():
        masks[name] = _ellipsoid(x, y, z, c, s)
    masks["Spleen"] = _ellipsoid(x, y, z, SPLEEN[0], SPLEEN[1])
    rx, ry = VERTEBRA_RADII_MM
    column = ((x - SPINE_CENTRE_XY[0]) / rx) ** 2 + ((y - SPINE_CENTRE_XY[1]) / ry) ** 2 <= 1.0
    phase = np.mod(z, VERTEBRA_PITCH_MM)
    disc = phase < DISC_MM
    masks["Vertebral bodies"] = column & ~disc
    masks["Discs"] = column & disc
    cortex_in = ((x - SPINE_CENTRE_XY[0]) / (rx - 3.0)) ** 2 + ((y - SPINE_CENTRE_XY[1]) / (ry - 3.0)) ** 2 <= 1.0
    masks["Cortex"] = masks["Vertebral bodies"] & ~cortex_in
    canal_y = SPINE_CENTRE_XY[1] + ry + 10.0
    canal = (x - SPINE_CENTRE_XY[0]) ** 2 + (y - canal_y) ** 2 <= 8.0 ** 2
    arch = ((x - SPINE_CENTRE_XY[0]) ** 2 + (y - canal_y) ** 2 <= 14.0 ** 2) & ~canal
    spinous = (np.abs(x - SPINE_CENTRE_XY[0]) <= 4.0) & (y > canal_y) & (y <= canal_y + 30.0)
    masks["Posterior elements"] = (arch | spinous) & ~disc
    masks["Canal"] = canal
    return masks


def anatomy_hu(masks: dict[str, np.ndarray]) -> np.ndarray:
    hu = np.full(masks["Body"].shape, -1000.0, dtype=np.float32)
    hu[masks["Body"]] = 40.0
    hu[masks["Fat"]] = -100.0
    hu[masks["Lungs"]] = -820.0
    hu[masks["Spleen"]] = 50.0
    hu[masks["Liver"]] = LIVER[2]
    for name, (_, _, value) in LESIONS.items():
        hu[masks[name]] = value
    for name, (_, _, value) in KIDNEYS.items():
        hu[masks[name]] = value
    hu[masks["Discs"]] = 90.0
    hu[masks["Vertebral bodies"]] = 230.0
    hu[masks["Cortex"]] = 650.0
    hu[masks["Posterior elements"]] = 500.0
    hu[masks["Canal"]] = 20.0
    return hu


def body_ct(grid: Grid, to_anatomy=None, noise_hu: float = 0.0, seed: int = 0) -> Volume:
    """CT (HU, int16) of the anatomy sampled on ``grid``; ``to_anatomy`` maps grid space to anatomy."""
    masks = anatomy_masks(*_points(grid, to_anatomy))
    hu = anatomy_hu(masks)
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
    masks = anatomy_masks(x, y, z)
    v = np.zeros(masks["Body"].shape, dtype=np.float32)
    v[masks["Body"]] = MR_VALUES["Body"]
    for name in ("Fat", "Lungs", "Spleen", "Liver"):
        v[masks[name]] = MR_VALUES[name]
    for name in LESIONS:
        v[masks[name]] = MR_VALUES["Lesion"]
    for name in KIDNEYS:
        v[masks[name]] = MR_VALUES["Kidney"]
    for name in ("Discs", "Vertebral bodies", "Cortex", "Posterior elements", "Canal"):
        v[masks[name]] = MR_VALUES[name]
    v *= (1.0 + bias * np.sin(x / 120.0) * np.cos(y / 150.0)).astype(np.float32)
    if noise:
        v += np.random.default_rng(seed).normal(0.0, noise, v.shape).astype(np.float32)
    return Volume(v.astype(np.float32), grid, "")

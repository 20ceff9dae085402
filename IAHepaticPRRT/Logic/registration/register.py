"""Image registration with SimpleITK: rigid or affine (CT to CT, MRI to CT) and a B-spline stage.

Convention (ITK's): the transform maps points of the FIXED image's space to the MOVING image's
space (``x_moving = T(x_fixed)``), so ``resample_volume(moving, fixed.grid, result.transform)``
brings the moving image onto the fixed grid, and a segmentation drawn on the moving scan is carried
onto the fixed grid through the same transform (:mod:`iahepaticprrt.registration.propagation`). Rigid parameters are
reported about a stated centre (:mod:`iahepaticprrt.imaging.transforms`).

How the registration runs (choices and why):

1. Working images: both images are averaged down (``BinShrink``, integer factors) towards
   ``working_spacing_mm`` (default 2 mm): registration accuracy well below a voxel of the working
   grid needs no more, and a 512 x 512 x 300 CT then registers in seconds. The fixed image is
   cropped to the region (the optimiser's parameter scales then fit the region), and both images
   are clamped to their intensity range inside the region (0.5 to 99.5 percentiles): otherwise the
   histogram of mutual information spends its bins on air and bone and puts liver and muscle in
   the same bin.
   Without a mask the region is the Otsu foreground (body on CT/MRI, uptake on SPECT) grown by 20 mm.
2. Initialisation (``initialization``): ``"none"`` (the scanners' frames agree), ``"geometry"``
   (centres of the fields of view), ``"moments"`` (centres of mass of the body, from an Otsu
   threshold, so air and table do not count), or ``"auto"`` (default): the three candidates are
   scored with the metric at the coarsest level and the best is kept.
3. Rigid (6 parameters, Euler3D about the centre of the fixed region) or affine (12) by regular-step
   gradient descent (first step 4 mm, x 0.8 at each change of direction), three levels (shrink 4,
   2, 1 of the working grid; smoothing 2, 1, 0 voxels), metric Mattes mutual information
   (``"mattes"``, default; also across modalities) or normalised correlation (``"correlation"``,
   same modality only), a fixed number of random samples per level
   drawn inside the region (``fixed_mask``) when given. Image gradients are computed on the fly
   (SimpleITK's default precomputes gradient images of the whole moving image at every level:
   seconds and hundreds of MB for a 512 x 512 x 300 CT).
4. Optional B-spline stage (:func:`register_deformable`) on top of the linear result: control points
   every ``mesh_spacing_mm`` (default 50 mm), L-BFGS-B, two levels, correlation.
5. Checks, with the package's own metric (:class:`SampleMetric`: the same 60 000 fixed points for
   every evaluation, linear interpolation of the moving image, 50 x 50-bin histogram mutual
   information or Pearson correlation; these are the ``initial_metric_value`` and
   ``metric_value`` reported): at least ``min_overlap_fraction`` of the fixed region must map inside
   the moving image at the start and at the end; the images must have contrast there; the metric
   must improve; and the result must be a clear optimum: worse at each of the six shifts of 15 mm
   along x, y, z, by 0.01 on average (a flat metric, images without shared structure, fails this).
   When the optimiser does not improve on a start that is itself a clear optimum (images already
   aligned), the start is returned with a warning.
   Otherwise :class:`ComputationError` is raised: a failed registration never returns a transform.
   The inputs are never modified.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ComputationError
from ..imaging.transforms import (
    DEFAULT_ORDER,
    RigidParameters,
    matrix_and_offset,
    nearest_rotation,
    rigid_parameters,
    simplify,
)
from ..imaging.volume import Volume

METRICS = ("mattes", "correlation")
INITIALIZATIONS = ("auto", "none", "geometry", "moments")
#: Default working resolution (mm): images are averaged down to about this spacing.
WORKING_SPACING_MM = 2.0
#: Random metric samples per resolution level (inside the region when a mask is given).
SAMPLES_PER_LEVEL = 60_000
#: Histogram bins of Mattes mutual information.
HISTOGRAM_BINS = 50
#: Intensity window: each image is clamped to these percentiles of its values in the region.
CLIP_PERCENTILES = (0.5, 99.5)
#: Margin (mm) kept around the region when the fixed image is cropped to it.
REGION_PAD_MM = 10.0
#: Margin (mm) added around the Otsu foreground when no region is given.
FOREGROUND_MARGIN_MM = 20.0
#: Fraction of the fixed region that must map inside the moving image.
MIN_OVERLAP_FRACTION = 0.5
#: Threads of ITK's optimisation (docs/physics.md section 17): one, for reproducible transforms.
REGISTRATION_THREADS = 1


@dataclass
class RegistrationResult:
    """What a registration found.

    ``transform`` maps fixed-space LPS points to moving space (ITK convention). ``translation_mm``
    and ``rotation_deg`` are its rigid parameters about ``center_lps_mm`` in ``rotation_order``
    (see :mod:`iahepaticprrt.imaging.transforms`); for an affine or deformable result they describe the linear stage's
    nearest rotation (affine) or the linear stage itself (deformable). Metric values are ITK's
    (lower is better: negative mutual information or negative correlation) on the same sample points
    of the working images, before (``initial_metric_value``, at the initialisation) and after.
    """

    transform: object
    metric_value: float
    initial_metric_value: float
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    elapsed_s: float
    stop_condition: str = ""
    center_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_order: str = DEFAULT_ORDER
    metric: str = "mattes"
    transform_type: str = "rigid"
    linear_transform: object = None
    initialization: str = ""
    overlap_fraction: float = math.nan
    stages: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def parameters_about(self, center_lps_mm, order: str = DEFAULT_ORDER) -> RigidParameters:
        """Rigid parameters of the (linear stage of the) transform about another centre."""
        return rigid_parameters(_nearest_rigid(self.linear_transform or self.transform, center_lps_mm), center_lps_mm,
                                order)

    def to_dict(self) -> dict:
        linear = self.linear_transform or self.transform
        a, o = matrix_and_offset(linear)
        parameters = rigid_parameters(_nearest_rigid(linear, self.center_lps_mm), self.center_lps_mm, self.rotation_order)
        return {
            "transform_type": self.transform_type,
            "metric": self.metric,
            "initial_metric_value": self.initial_metric_value,
            "metric_value": self.metric_value,
            "initialization": self.initialization,
            "rigid": parameters.to_dict(),
            "translation_mm": list(self.translation_mm),
            "rotation_deg": list(self.rotation_deg),
            "center_lps_mm": list(self.center_lps_mm),
            "linear_matrix": a.tolist(),
            "linear_offset_mm": o.tolist(),
            "overlap_fraction": self.overlap_fraction,
            "elapsed_s": self.elapsed_s,
            "stop_condition": self.stop_condition,
            "stages": list(self.stages),
            "warnings": list(self.warnings),
            "convention": "transform maps fixed-image LPS points to moving-image LPS points (ITK)",
        }


# ---- helpers ----------------------------------------------------------------------------------
_THREADS_LOCK = __import__("threading").Lock()
_THREADS_STATE = {"users": 0, "saved": None}


class _single_threaded_itk:
    """ITK's global default thread count set to ``REGISTRATION_THREADS`` while registrations run
    (restored when the last one ends; registrations may run in parallel Python threads, each then
    on one core). ITK's multi-threaded metrics sum in an order that varies from run to run, so
    transforms differed in their last digits; with one thread each the same inputs give
    byte-identical transforms (docs/physics.md section 17)."""

    def __enter__(self):
        import SimpleITK as sitk

        with _THREADS_LOCK:
            if _THREADS_STATE["users"] == 0:
                _THREADS_STATE["saved"] = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(REGISTRATION_THREADS)
            _THREADS_STATE["users"] += 1
        return self

    def __exit__(self, *exc):
        import SimpleITK as sitk

        with _THREADS_LOCK:
            _THREADS_STATE["users"] -= 1
            if _THREADS_STATE["users"] == 0 and _THREADS_STATE["saved"]:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(_THREADS_STATE["saved"])
        return False

def _nearest_rigid(transform, centre=(0.0, 0.0, 0.0)):
    """Rigid transform with the nearest rotation (polar decomposition) of a linear transform, agreeing
    with it at ``centre`` (the same transform when it is rigid)."""
    a, o = matrix_and_offset(transform)
    r = nearest_rotation(a)
    centre = np.asarray(centre, dtype=float)
    # Same image of the centre: R c + o' = A c + o.
    return _about_centre(r, a @ centre + o - r @ centre, centre, "rigid")


def _about_centre(a: np.ndarray, o: np.ndarray, centre, kind: str):
    """Euler3D (rigid, ``a`` a rotation) or affine transform ``x -> a x + o`` parameterised about ``centre``."""
    import SimpleITK as sitk

    centre = np.asarray(centre, dtype=float)
    t = sitk.Euler3DTransform() if kind == "rigid" else sitk.AffineTransform(3)
    t.SetCenter(tuple(float(v) for v in centre))
    t.SetMatrix(tuple(float(v) for v in np.asarray(a).ravel()))
    t.SetTranslation(tuple(float(v) for v in o + a @ centre - centre))
    return t


def _working_image(volume: Volume, spacing_mm: float | None):
    """Float32 image averaged down by integer factors towards ``spacing_mm`` (a new image; the
    averaging is done in the stored type first so that no full-size float copy is made)."""
    import SimpleITK as sitk

    image = volume.to_sitk()
    if spacing_mm:
        factors = [max(1, int(math.floor(spacing_mm / s + 1e-6))) for s in image.GetSpacing()]
        factors = [min(f, max(1, n // 16)) for f, n in zip(factors, image.GetSize())]  # keep >= 16 voxels
        if max(factors) > 1:
            if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
                image = sitk.Cast(image, sitk.sitkInt32) if image.GetPixelID() == sitk.sitkUInt32 else image
            image = sitk.BinShrink(image, factors)
    return sitk.Cast(image, sitk.sitkFloat32)


def _mask_on(image, mask: np.ndarray | None, grid):
    """A uint8 mask image on ``image``'s grid from a bool mask on ``grid`` (None passes through)."""
    import SimpleITK as sitk

    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grid.shape_kji:
        raise ValueError(f"mask shape {mask.shape} does not match the image grid {grid.shape_kji}")
    if not mask.any():
        raise ComputationError("the registration region (mask) is empty")
    source = grid.to_sitk(mask.astype(np.float32))
    resampled = sitk.Resample(source, image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    out = sitk.Cast(resampled >= 0.5, sitk.sitkUInt8)
    if not np.any(sitk.GetArrayViewFromImage(out)):
        raise ComputationError("the registration region (mask) vanishes at the working resolution")
    return out


def _crop_to_region(image, region, pad_mm: float):
    """``image`` and ``region`` cropped to the region's bounding box plus ``pad_mm``."""
    import SimpleITK as sitk

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(region)
    if not stats.HasLabel(1):
        return image, region
    box = stats.GetBoundingBox(1)
    lo = [max(0, box[a] - int(math.ceil(pad_mm / image.GetSpacing()[a]))) for a in range(3)]
    hi = [min(image.GetSize()[a] - 1, box[a] + box[a + 3] - 1 + int(math.ceil(pad_mm / image.GetSpacing()[a])))
          for a in range(3)]
    size = [h - l + 1 for l, h in zip(lo, hi)]
    if list(size) == list(image.GetSize()):
        return image, region
    return sitk.RegionOfInterest(image, size, lo), sitk.RegionOfInterest(region, size, lo)


def _foreground(image):
    """Otsu foreground (the body on CT and MRI) as uint8, the largest part of the image otherwise."""
    import SimpleITK as sitk

    mask = sitk.OtsuThreshold(image, 0, 1)
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        mask = sitk.Cast(image == image, sitk.sitkUInt8)
    return mask


def _dilated(mask, margin_mm: float):
    """``mask`` grown by about ``margin_mm`` (distance map on a 4x coarser grid: the margin needs no
    precision, and a full-resolution distance map of a 512 x 512 x 300 CT costs seconds)."""
    import SimpleITK as sitk

    factors = [max(1, min(4, n // 8)) for n in mask.GetSize()]
    coarse = sitk.Cast(sitk.BinShrink(sitk.Cast(mask, sitk.sitkFloat32), factors) > 0, sitk.sitkUInt8)
    distance = sitk.SignedMaurerDistanceMap(coarse, insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True)
    grown = sitk.Cast(distance <= margin_mm, sitk.sitkUInt8)
    back = sitk.Resample(grown, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.Or(back, mask)


def _default_region(image):
    """Where the metric is sampled without a mask: the Otsu foreground (the body on CT and MRI, the
    uptake on SPECT or PET) grown by ``FOREGROUND_MARGIN_MM``, so that its edges, the most
    informative structure, are inside."""
    return _dilated(_foreground(image), FOREGROUND_MARGIN_MM)


#: A padded slab is left out only where the other image's body reaches more than this far into it (mm,
#: above patient motion between scans plus a working slice): beyond a body's end, constant air may be
#: real (a noise-free phantom) and its edge helps.
PADDING_OVERLAP_MM = 20.0


def _padded_slabs(image) -> tuple[int, int, float] | None:
    """(first, end, value): the slices [first, end) of ``image`` (along k, the scan axis) outside
    the slabs at its ends that hold one constant value not above the image's median, the padding
    a scanner or an export writes where the field of view ended (a CT cropped to a shorter scan,
    filled with air; real anatomy and air are never exactly constant). One more slice is counted
    as padding on each padded side (at the working resolution it mixes padding and anatomy).
    None when there is no such slab."""
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(image)
    n = array.shape[0]
    if n < 32:
        return None
    low = float(np.median(array[::max(1, n // 16)]))  # padding is air-like: not above the median
    minima = array.reshape(n, -1).min(axis=1)
    constant = (minima == array.reshape(n, -1).max(axis=1)) & (minima <= low)
    lo = 0
    while lo < n and constant[lo] and minima[lo] == minima[0]:
        lo += 1
    hi = n
    while hi > lo and constant[hi - 1] and minima[hi - 1] == minima[-1]:
        hi -= 1
    value = float(minima[0] if lo > 0 else minima[-1])
    lo = lo + 1 if lo > 0 else 0
    hi = hi - 1 if hi < n else n
    if (lo == 0 and hi == n) or hi - lo < 16:
        return None
    return lo, hi, value


def _body_k_range(body_of, image) -> tuple[float, float]:
    """The extent of ``body_of``'s Otsu foreground in ``image``'s continuous k index."""
    import SimpleITK as sitk

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(_foreground(body_of))
    if not stats.HasLabel(1):
        return math.inf, -math.inf
    x, y, z, nx, ny, nz = stats.GetBoundingBox(1)
    corners = [body_of.TransformContinuousIndexToPhysicalPoint((a, b, c))
               for a in (x - 0.5, x + nx - 0.5) for b in (y - 0.5, y + ny - 0.5) for c in (z - 0.5, z + nz - 0.5)]
    ks = [image.TransformPhysicalPointToContinuousIndex(p)[2] for p in corners]
    return min(ks), max(ks)


def _valid_field_of_view(image, other):
    """``image`` without its padded end slabs (:func:`_padded_slabs`) on each side where the body
    of ``other`` (Otsu foreground, in scanner coordinates) reaches more than
    ``PADDING_OVERLAP_MM`` into the padding: there the padding would be compared with anatomy and
    pull the optimum. Returns (image, description or None)."""
    import SimpleITK as sitk

    padded = _padded_slabs(image)
    if padded is None:
        return image, None
    lo, hi, value = padded
    n, spacing = image.GetSize()[2], image.GetSpacing()[2]
    first, last = _body_k_range(other, image)
    reach = PADDING_OVERLAP_MM / spacing
    start = lo if lo > 0 and first < lo - reach else 0
    end = hi if hi < n and last > hi - 1 + reach else n
    if start == 0 and end == n:
        return image, None
    size = list(image.GetSize())
    size[2] = end - start
    cropped = sitk.RegionOfInterest(image, size, [0, 0, start])
    return cropped, {"padded_mm_removed": [start * spacing, (n - end) * spacing], "padding_value": value}


def _working_pair(fixed: Volume, moving: Volume, fixed_mask, working_spacing_mm, fov_masks: dict | None = None):
    """Both images at the working resolution, each limited to its valid field of view (padded
    slabs that the other image's body reaches into removed, :func:`_valid_field_of_view`), and the
    metric region on the fixed one (the user's mask, or the default foreground region).
    ``fov_masks`` receives what was removed."""
    fixed_full = _working_image(fixed, working_spacing_mm)
    moving_full = _working_image(moving, working_spacing_mm)
    fixed_image, fixed_fov = _valid_field_of_view(fixed_full, moving_full)
    moving_image, moving_fov = _valid_field_of_view(moving_full, fixed_full)
    if fov_masks is not None:
        fov_masks.update({"fixed": fixed_fov, "moving": moving_fov})
    region = _mask_on(fixed_image, fixed_mask, fixed.grid)
    if region is None:
        region = _default_region(fixed_image)
    return fixed_image, moving_image, region


def _centre_of_mass(mask) -> np.ndarray:
    import SimpleITK as sitk

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    if not stats.HasLabel(1):
        return np.array(mask.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in mask.GetSize()]))
    return np.array(stats.GetCentroid(1))


def _image_centre(image) -> np.ndarray:
    return np.array(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in image.GetSize()]))


def _region_kji(region, max_points: int, seed: int) -> np.ndarray:
    """[k, j, i] indices of (a random subset of) the region's voxels."""
    import SimpleITK as sitk

    kji = np.argwhere(sitk.GetArrayViewFromImage(region) > 0)
    if len(kji) > max_points:
        kji = kji[np.sort(np.random.default_rng(seed).choice(len(kji), max_points, replace=False))]
    return kji


def _map_points(transform, points: np.ndarray) -> np.ndarray:
    from ..imaging.transforms import is_linear, transform_points

    if is_linear(transform):
        a, o = matrix_and_offset(transform)
        return points @ a.T + o
    return transform_points(transform, points)


def _sample_moving(moving_image, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, inside) of the moving image at LPS points, linear interpolation."""
    import SimpleITK as sitk
    from scipy import ndimage

    from ..imaging.grid import Grid

    index = Grid.from_sitk(moving_image).lps_to_index(points)
    size = np.array(moving_image.GetSize(), dtype=float)
    inside = np.all((index >= 0.0) & (index <= size - 1.0), axis=1)
    values = np.full(len(points), np.nan)
    if inside.any():
        array = sitk.GetArrayViewFromImage(moving_image)
        values[inside] = ndimage.map_coordinates(array, [index[inside, 2], index[inside, 1], index[inside, 0]], order=1)
    return values, inside


class SampleMetric:
    """The package's own metric, for checks and reports: fixed sample points drawn once inside the
    region, the moving image interpolated (linear) at their transformed positions.

    ``"mattes"``: minus the mutual information (nats) of a 50 x 50-bin joint histogram (bin edges
    fixed: the fixed samples' range and the moving image's range). ``"correlation"``: minus the
    Pearson correlation. Lower is better, as in ITK. Points mapped outside the moving image are left
    out; :meth:`inside_fraction` says how many.
    """

    def __init__(self, fixed_image, moving_image, region, metric: str, samples: int = SAMPLES_PER_LEVEL,
                 seed: int = 0, bins: int = HISTOGRAM_BINS):
        import SimpleITK as sitk

        from ..imaging.grid import Grid

        if metric not in METRICS:
            raise ValueError(f"unknown metric '{metric}' (expected one of {', '.join(METRICS)})")
        self.metric, self.bins, self.moving_image = metric, bins, moving_image
        kji = _region_kji(region, samples, seed)
        self.points = Grid.from_sitk(region).index_to_lps(kji[:, ::-1].astype(float))
        fixed_array = sitk.GetArrayViewFromImage(fixed_image)
        self.fixed_values = np.asarray(fixed_array[kji[:, 0], kji[:, 1], kji[:, 2]], dtype=np.float64)
        moving_array = sitk.GetArrayViewFromImage(moving_image)
        self.fixed_edges = np.linspace(self.fixed_values.min(), self.fixed_values.max() + 1e-6, bins + 1) \
            if len(self.fixed_values) else None
        self.moving_edges = np.linspace(float(moving_array.min()), float(moving_array.max()) + 1e-6, bins + 1)

    def inside_fraction(self, transform) -> float:
        if len(self.points) == 0:
            return 0.0
        _, inside = _sample_moving(self.moving_image, _map_points(transform, self.points))
        return float(np.count_nonzero(inside)) / len(self.points)

    def __call__(self, transform) -> float:
        values, inside = _sample_moving(self.moving_image, _map_points(transform, self.points))
        if np.count_nonzero(inside) < max(100, 0.1 * len(self.points)):
            raise ComputationError("the images do not overlap enough to evaluate the metric")
        a, b = self.fixed_values[inside], values[inside]
        if self.metric == "correlation":
            sa, sb = a.std(), b.std()
            return 0.0 if sa == 0 or sb == 0 else -float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
        joint, _, _ = np.histogram2d(a, b, bins=(self.fixed_edges, self.moving_edges))
        p = joint / joint.sum()
        pa, pb = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
        nz = p > 0
        return -float(np.sum(p[nz] * np.log(p[nz] / (pa @ pb)[nz])))


def overlap_fraction(transform, fixed_region, moving_image, max_points: int = 20_000, seed: int = 0) -> float:
    """Fraction of the fixed region's voxels (uint8 image) whose transformed centre falls inside the
    moving image's field of view (a random subset of ``max_points`` voxels for large regions)."""
    from ..imaging.grid import Grid

    kji = _region_kji(fixed_region, max_points, seed)
    if len(kji) == 0:
        return 0.0
    points = Grid.from_sitk(fixed_region).index_to_lps(kji[:, ::-1].astype(float))
    index = Grid.from_sitk(moving_image).lps_to_index(_map_points(transform, points))
    size = np.array(moving_image.GetSize(), dtype=float)
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    return float(np.count_nonzero(inside)) / len(kji)


def _clip_to_region(fixed_image, moving_image, region, transform, percentiles):
    """Both images clamped to their intensity range inside the region (fixed: the region; moving:
    where the region falls through ``transform``), between the given percentiles.

    Why: CT spans -1000 to +1500 HU and the histogram bins of mutual information would then put
    liver and muscle (tens of HU apart) in the same bin; the region's own range keeps that contrast
    (the same holds for the weight of air and bone edges in correlation)."""
    import SimpleITK as sitk

    from ..imaging.grid import Grid

    kji = _region_kji(region, 20_000, 0)
    points = Grid.from_sitk(region).index_to_lps(kji[:, ::-1].astype(float))
    fixed_samples = np.asarray(sitk.GetArrayViewFromImage(fixed_image)[kji[:, 0], kji[:, 1], kji[:, 2]], float)
    moving_samples, inside = _sample_moving(moving_image, _map_points(transform, points))
    out, windows = [], []
    for image, samples in ((fixed_image, fixed_samples), (moving_image, moving_samples[inside])):
        if len(samples) < 100:
            out.append(image)
            windows.append(None)
            continue
        lo, hi = (float(v) for v in np.percentile(samples, percentiles))
        if hi <= lo:
            out.append(image)
            windows.append(None)
            continue
        out.append(sitk.Clamp(image, sitk.sitkFloat32, lo, hi))
        windows.append((lo, hi))
    return out[0], out[1], windows


def _set_metric(method, metric: str, bins: int = HISTOGRAM_BINS, gradient_images: bool = False):
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    elif metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        raise ValueError(f"unknown metric '{metric}' (expected one of {', '.join(METRICS)})")
    # Gradients on the fly: the gradient-image filters cost seconds and 3 float64 copies of the
    # whole moving image at every level.
    method.SetMetricUseFixedImageGradientFilter(gradient_images)
    method.SetMetricUseMovingImageGradientFilter(gradient_images)


def _sampling_percentages(region_voxels: int, shrink_factors, samples: int) -> list[float]:
    out = []
    for f in shrink_factors:
        n = max(1.0, region_voxels / float(f) ** 3)
        out.append(float(min(1.0, samples / n)))
    return out


def _last_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _initial_transforms(fixed_image, moving_image, fixed_region, moving_foreground, centre) -> dict:
    """Candidate rigid starting transforms (Euler3D about ``centre``)."""
    import SimpleITK as sitk

    def euler(translation):
        t = sitk.Euler3DTransform()
        t.SetCenter(tuple(float(v) for v in centre))
        t.SetTranslation(tuple(float(v) for v in translation))
        return t

    fixed_fg = _foreground(fixed_image)
    return {
        "none": euler((0.0, 0.0, 0.0)),
        "geometry": euler(_image_centre(moving_image) - _image_centre(fixed_image)),
        "moments": euler(_centre_of_mass(moving_foreground) - _centre_of_mass(fixed_fg)),
    }


def _check_improved(initial_metric: float, final_metric: float, stage: str) -> None:
    if not (np.isfinite(final_metric) and np.isfinite(initial_metric)):
        raise ComputationError(f"{stage}: the metric is not finite ({initial_metric} -> {final_metric})")
    if final_metric >= initial_metric:
        raise ComputationError(f"{stage} did not improve the metric ({initial_metric:.5f} -> {final_metric:.5f}): "
                               "no transform is returned (check that the images show the same anatomy and "
                               "overlap, or restrict the region)")


# ---- linear registration -------------------------------------------------------------------------
def register_rigid(fixed: Volume, moving: Volume, fixed_mask: np.ndarray | None = None, *args, **kwargs):
    """Rigid (6 degrees of freedom) or affine registration; see :func:`_register_linear` for the
    parameters. The optimisation runs with ITK single-threaded (reproducible transforms,
    :class:`_single_threaded_itk`); the image preparation keeps ITK's threads."""
    return _register_linear(fixed, moving, fixed_mask, *args, **kwargs)


def _register_linear(fixed: Volume, moving: Volume, fixed_mask: np.ndarray | None = None,
                   sampling_fraction: float | None = None, seed: int = 1, *,
                   metric: str = "mattes", initialization: str = "auto", transform_type: str = "rigid",
                   working_spacing_mm: float | None = WORKING_SPACING_MM, shrink_factors=(4, 2, 1),
                   smoothing_sigmas=(2.0, 1.0, 0.0), samples_per_level: int = SAMPLES_PER_LEVEL,
                   iterations: int = 200, min_step_mm: float = 0.01, learning_rate_mm: float = 4.0,
                   center_lps_mm=None, initial_transform=None,
                   min_overlap_fraction: float = MIN_OVERLAP_FRACTION, relaxation: float = 0.8,
                   clip_percentiles=CLIP_PERCENTILES, histogram_bins: int = HISTOGRAM_BINS) -> RegistrationResult:
    """Rigid (6 degrees of freedom) or affine (``transform_type="affine"``, 12) registration.

    ``fixed_mask`` (bool on the fixed grid) restricts the metric to a region, for example the liver
    plus a margin. ``sampling_fraction`` (kept for the first version's callers) fixes the fraction
    of region voxels sampled per level instead of ``samples_per_level``. ``center_lps_mm`` is the
    centre the rigid parameters are reported about (default: the centre of mass of the fixed region,
    which is also the rotation centre used while optimising). ``initial_transform`` (fixed -> moving)
    replaces the initialisation. ``working_spacing_mm=None`` registers at the native resolution.

    Raises :class:`ComputationError` when the images do not overlap or the metric does not improve.
    """
    import SimpleITK as sitk

    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}' (expected one of {', '.join(METRICS)})")
    if initialization not in INITIALIZATIONS:
        raise ValueError(f"unknown initialization '{initialization}' (expected one of {', '.join(INITIALIZATIONS)})")
    if transform_type not in ("rigid", "affine"):
        raise ValueError(f"transform_type must be 'rigid' or 'affine', got '{transform_type}'")
    start = time.perf_counter()
    fov: dict = {}
    fixed_image, moving_image, region = _working_pair(fixed, moving, fixed_mask, working_spacing_mm, fov)
    # The fixed image cropped to the region: the optimiser's parameter scales (from the physical
    # shift of the domain's corners) then match the region, and the pyramid costs less.
    fixed_image, region = _crop_to_region(fixed_image, region, REGION_PAD_MM)
    moving_fg = _foreground(moving_image)
    centre = _centre_of_mass(region)

    # -- initialisation
    warnings: list[str] = []
    for which, removed in fov.items():
        if removed:
            warnings.append(f"{which} image: padded slabs at the ends of its field of view ({removed['padded_mm_removed'][0]:g} "
                            f"and {removed['padded_mm_removed'][1]:g} mm of constant {removed['padding_value']:g}) left out of "
                            "the metric")
    if initial_transform is not None:
        chosen = "given"
        a, o = matrix_and_offset(_nearest_rigid(initial_transform, centre) if transform_type == "rigid"
                                 else initial_transform)
        start_transform = _about_centre(a, o, centre, transform_type)
    else:
        candidates = _initial_transforms(fixed_image, moving_image, region, moving_fg, centre)
        if initialization == "auto":
            # Scored on smoothed coarse images (a wider basin than the working resolution).
            factor = [min(shrink_factors[0], max(1, n // 8)) for n in fixed_image.GetSize()]
            coarse_fixed = sitk.BinShrink(fixed_image, factor)
            coarse_moving = sitk.BinShrink(moving_image, [min(shrink_factors[0], max(1, n // 8))
                                                          for n in moving_image.GetSize()])
            coarse_region = sitk.Cast(sitk.Resample(region, coarse_fixed, sitk.Transform(), sitk.sitkNearestNeighbor, 0),
                                      sitk.sitkUInt8)
            scores = {}
            if np.any(sitk.GetArrayViewFromImage(coarse_region)):
                scorer = SampleMetric(coarse_fixed, coarse_moving, coarse_region, metric, 20_000, seed)
                for name, t in candidates.items():
                    if scorer.inside_fraction(t) < min_overlap_fraction:
                        continue
                    try:
                        scores[name] = scorer(t)
                    except ComputationError:
                        continue
            if not scores:
                raise ComputationError("the images do not overlap under any initialisation (identity, field-of-view "
                                       "centres, body centres)")
            chosen = min(scores, key=scores.get)
        else:
            chosen = initialization
        start_transform = candidates[chosen]
        if transform_type == "affine":
            start_transform = _about_centre(*matrix_and_offset(start_transform), centre, "affine")

    overlap_start = overlap_fraction(start_transform, region, moving_image)
    if overlap_start < min_overlap_fraction:
        raise ComputationError(f"the images do not overlap: only {overlap_start:.0%} of the fixed region maps inside "
                               f"the moving image at the start (initialisation '{chosen}')")
    windows = None
    if clip_percentiles is not None:
        fixed_image, moving_image, windows = _clip_to_region(fixed_image, moving_image, region, start_transform,
                                                             clip_percentiles)
    score = SampleMetric(fixed_image, moving_image, region, metric, samples_per_level, seed)
    if np.ptp(score.fixed_values) == 0 or score.moving_edges[-1] - score.moving_edges[0] <= 1e-6:
        raise ComputationError("an image has no contrast (constant values) where it is registered: nothing to align")
    initial_metric = score(start_transform)

    # -- optimisation
    method = sitk.ImageRegistrationMethod()
    _set_metric(method, metric, histogram_bins)
    region_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(region)))
    method.SetMetricSamplingStrategy(method.RANDOM)
    if sampling_fraction is not None:
        method.SetMetricSamplingPercentagePerLevel([float(sampling_fraction)] * len(shrink_factors), seed)
    else:
        method.SetMetricSamplingPercentagePerLevel(_sampling_percentages(region_voxels, shrink_factors,
                                                                         samples_per_level), seed)
    method.SetMetricFixedMask(region)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=learning_rate_mm, minStep=min_step_mm,
                                                    numberOfIterations=iterations, relaxationFactor=relaxation,
                                                    gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_sigmas))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(start_transform, inPlace=False)
    method.SetNumberOfThreads(REGISTRATION_THREADS)
    try:
        with _single_threaded_itk():  # reproducible transforms
            transform = method.Execute(fixed_image, moving_image)
    except RuntimeError as exc:
        raise ComputationError(f"registration failed: {_last_line(exc)}") from exc
    transform = simplify(transform)
    overlap_end = overlap_fraction(transform, region, moving_image)
    if overlap_end < min_overlap_fraction:
        raise ComputationError(f"the registration left only {overlap_end:.0%} of the fixed region inside the moving "
                               "image: not a trustworthy result")
    final_metric = score(transform)
    if final_metric >= initial_metric and _is_clear_optimum(score, start_transform, initial_metric):
        # The start was already aligned (for example the same scanner frame and no movement): keep it.
        warnings.append("the optimiser did not improve on the start, which is a clear optimum of the metric "
                        "(images already aligned): the start transform is returned")
        transform, final_metric = start_transform, initial_metric
    else:
        _check_improved(initial_metric, final_metric, f"{transform_type} registration")
        if not _is_clear_optimum(score, transform, final_metric):
            raise ComputationError(f"{transform_type} registration: the result is not a clear optimum of the metric "
                                   f"(its value {final_metric:.5f} is not clearly better {PROBE_SHIFT_MM:g} mm away): "
                                   "the images share too little structure; no transform is returned")
    report_centre = np.asarray(center_lps_mm if center_lps_mm is not None else centre, dtype=float)
    parameters = rigid_parameters(_nearest_rigid(transform, report_centre), report_centre)
    if transform_type == "affine":
        singular = np.linalg.svd(matrix_and_offset(transform)[0], compute_uv=False)
        warnings.append(f"affine: scalings {', '.join(f'{s:.4f}' for s in singular)}; rotation_deg is the nearest "
                        "rotation's")
    stage = {"stage": transform_type, "metric": metric, "initial_metric_value": initial_metric,
             "metric_value": final_metric, "iterations": method.GetOptimizerIteration(),
             "stop_condition": method.GetOptimizerStopConditionDescription(), "initialization": chosen,
             "working_spacing_mm": list(fixed_image.GetSpacing()),
             "intensity_windows": {"fixed": windows[0], "moving": windows[1]} if windows else None,
             "field_of_view_padding_removed": {k: v for k, v in fov.items() if v}}
    return RegistrationResult(
        transform=transform, metric_value=final_metric, initial_metric_value=initial_metric,
        translation_mm=parameters.translation_mm, rotation_deg=parameters.rotation_deg,
        elapsed_s=time.perf_counter() - start, stop_condition=method.GetOptimizerStopConditionDescription(),
        center_lps_mm=tuple(float(v) for v in report_centre), metric=metric, transform_type=transform_type,
        linear_transform=transform, initialization=chosen, overlap_fraction=overlap_end, stages=[stage],
        warnings=warnings)


#: Shift (mm) used to probe whether a transform is a clear minimum of the metric.
PROBE_SHIFT_MM = 15.0
#: Mean rise of the metric (nats of mutual information, or correlation) 15 mm away from a clear
#: optimum. Measured on the test phantoms: 0.1 to 0.6 at true alignments, below 0.001 for noise.
MIN_BASIN_DEPTH = 0.01


def _is_clear_optimum(score: SampleMetric, transform, value: float) -> bool:
    """True when ``value`` (the metric at ``transform``) is lower than at each of the six shifts of
    +-15 mm along x, y and z, by ``MIN_BASIN_DEPTH`` on average: the transform sits in a basin of the
    metric. (One direction may be shallow: along z for a cylinder-like body cut by the field of
    view.) Without shared structure (noise, an empty image) the metric is flat and this is False."""
    import SimpleITK as sitk

    probes = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            shift = np.zeros(3)
            shift[axis] = sign * PROBE_SHIFT_MM
            translation = sitk.TranslationTransform(3, tuple(shift))
            try:
                probes.append(score(sitk.CompositeTransform([transform, translation])))
            except ComputationError:
                continue
    if len(probes) < 3:
        return False
    depths = np.array(probes) - value
    return bool(np.all(depths > 0.0) and depths.mean() > MIN_BASIN_DEPTH)


def register_multimodal(fixed: Volume, moving: Volume, fixed_mask: np.ndarray | None = None, *,
                        transform_type: str = "rigid", **kwargs) -> RegistrationResult:
    """MRI (moving) to CT (fixed): Mattes mutual information (intensities differ between modalities),
    body-centre initialisation. ``transform_type="affine"`` registers rigidly first, then refines an
    affine transform from there (:func:`refine_affine`; an affine start far from the answer is
    less robust)."""
    kwargs.setdefault("initialization", "moments")
    kwargs["metric"] = "mattes"
    rigid = register_rigid(fixed, moving, fixed_mask, transform_type="rigid", **kwargs)
    if transform_type == "rigid":
        return rigid
    kwargs.pop("initialization", None)
    return refine_affine(fixed, moving, rigid, fixed_mask, **kwargs)


def refine_affine(fixed: Volume, moving: Volume, rigid: RegistrationResult, fixed_mask: np.ndarray | None = None,
                  **kwargs) -> RegistrationResult:
    """Affine (12 parameters) registration started from a rigid result: small first steps and no
    coarse level (they let an affine transform drift away from a good start)."""
    kwargs.setdefault("metric", rigid.metric)
    kwargs.setdefault("learning_rate_mm", 1.0)
    kwargs.setdefault("shrink_factors", (2, 1))
    kwargs.setdefault("smoothing_sigmas", (1.0, 0.0))
    kwargs.setdefault("center_lps_mm", rigid.center_lps_mm)
    affine = register_rigid(fixed, moving, fixed_mask, transform_type="affine", initial_transform=rigid.transform,
                            **kwargs)
    affine.stages = list(rigid.stages) + affine.stages
    affine.initial_metric_value = rigid.initial_metric_value
    affine.elapsed_s += rigid.elapsed_s
    affine.initialization = rigid.initialization
    return affine


# ---- deformable stage ------------------------------------------------------------------------------
def register_deformable(fixed: Volume, moving: Volume, linear: RegistrationResult, fixed_mask: np.ndarray | None = None,
                        **kwargs) -> RegistrationResult:
    """B-spline refinement (:func:`_register_bspline`); the optimisation ITK single-threaded (reproducible)."""
    return _register_bspline(fixed, moving, linear, fixed_mask, **kwargs)


def _register_bspline(fixed: Volume, moving: Volume, linear: RegistrationResult, fixed_mask: np.ndarray | None = None,
                      *, metric: str = "correlation", mesh_spacing_mm: float = 50.0,
                        working_spacing_mm: float | None = 3.0, shrink_factors=(2, 1), smoothing_sigmas=(1.0, 0.0),
                        samples_per_level: int = 10_000, iterations: int = 30, seed: int = 1,
                        gradient_tolerance: float = 1e-7, histogram_bins: int = 32) -> RegistrationResult:
    """B-spline refinement on top of a linear result: ``T(x) = L(x + u(x))``, ``u`` a cubic B-spline
    displacement (fixed space) with control points every ``mesh_spacing_mm`` over the fixed region's
    bounding box (the whole fixed image without a mask).

    Returns a result whose ``transform`` is the composite (``.h5`` or ``.tfm`` files) and whose
    ``linear_transform`` is ``linear.transform``. Raises :class:`ComputationError` when the metric
    does not improve over the linear result.
    """
    import SimpleITK as sitk

    start = time.perf_counter()
    fixed_image, moving_image, region = _working_pair(fixed, moving, fixed_mask, working_spacing_mm)
    linear_transform = linear.linear_transform or linear.transform
    score = SampleMetric(fixed_image, moving_image, region, metric, samples_per_level, seed)
    initial_metric = score(linear_transform)

    # B-spline domain: the region's bounding box (padded by one mesh cell), on the fixed image's axes.
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(region)
    x0, y0, z0, nx, ny, nz = stats.GetBoundingBox(1)
    pad = [int(math.ceil(mesh_spacing_mm / s)) for s in fixed_image.GetSpacing()]
    lo = [max(0, v - p) for v, p in zip((x0, y0, z0), pad)]
    hi = [min(n - 1, v + w - 1 + p) for v, w, p, n in zip((x0, y0, z0), (nx, ny, nz), pad, fixed_image.GetSize())]
    domain = sitk.RegionOfInterest(fixed_image, [h - l + 1 for l, h in zip(lo, hi)], lo)
    extent = [(h - l + 1) * s for l, h, s in zip(lo, hi, fixed_image.GetSpacing())]
    mesh_size = [max(1, int(round(e / mesh_spacing_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(domain, mesh_size, 3)

    method = sitk.ImageRegistrationMethod()
    # Precomputed gradient images pay off here (many evaluations, images of a few 100 000 voxels).
    _set_metric(method, metric, histogram_bins, gradient_images=True)
    region_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(region)))
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(_sampling_percentages(region_voxels, shrink_factors, samples_per_level),
                                               seed)
    method.SetMetricFixedMask(region)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetMovingInitialTransform(linear_transform)
    method.SetInitialTransform(bspline, inPlace=True)
    method.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=gradient_tolerance, numberOfIterations=iterations,
                                maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=2 * iterations,
                                costFunctionConvergenceFactor=1e7)
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_sigmas))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    try:
        with _single_threaded_itk():  # reproducible transforms
            method.Execute(fixed_image, moving_image)
    except RuntimeError as exc:
        raise ComputationError(f"deformable registration failed: {_last_line(exc)}") from exc
    composite = sitk.CompositeTransform([linear_transform, bspline])
    final_metric = score(composite)
    _check_improved(initial_metric, final_metric, "deformable registration")
    displacement = float(np.max(np.linalg.norm(np.stack(
        [sitk.GetArrayFromImage(c).ravel() for c in bspline.GetCoefficientImages()], axis=1), axis=1)))
    stage = {"stage": "bspline", "metric": metric, "initial_metric_value": initial_metric, "metric_value": final_metric,
             "iterations": method.GetOptimizerIteration(), "stop_condition": method.GetOptimizerStopConditionDescription(),
             "mesh_size": mesh_size, "mesh_spacing_mm": mesh_spacing_mm,
             "max_coefficient_displacement_mm": displacement}
    return RegistrationResult(
        transform=composite, metric_value=final_metric, initial_metric_value=linear.initial_metric_value,
        translation_mm=linear.translation_mm, rotation_deg=linear.rotation_deg,
        elapsed_s=linear.elapsed_s + time.perf_counter() - start,
        stop_condition=method.GetOptimizerStopConditionDescription(), center_lps_mm=linear.center_lps_mm,
        rotation_order=linear.rotation_order, metric=metric, transform_type=f"{linear.transform_type}+bspline",
        linear_transform=linear_transform, initialization=linear.initialization,
        overlap_fraction=linear.overlap_fraction, stages=list(linear.stages) + [stage], warnings=list(linear.warnings))

"""Uncertainty of the enhancement ratio from the noise of the two PET scans (docs/physics.md section 23).

1. **Noise of a scan**, from its reference region (the liver reference sphere; the healthy liver when
   there is no sphere): the voxel standard deviation at the region's mean SUV, and the lag-1
   autocorrelation along i, j and k (reconstructed PET noise is spatially correlated: neighbouring
   voxels share counts through the reconstruction and any post-filter). The noise in the rest of the
   image is modelled with a variance proportional to the local SUV (counting statistics, the default
   ``"poisson"`` model) or a constant coefficient of variation (``"proportional"``, more cautious for
   hot lesions), and with the measured correlation: white Gaussian noise filtered along each axis by
   a sampled Gaussian whose lag-1 autocorrelation equals the measured one (an autocorrelation not
   above 2/sqrt(number of voxel pairs) is taken as zero), then scaled to unit variance.
2. **Noise bias and spread of SUVmax and SUVpeak** of each lesion on each scan, by SIMEX (simulation
   extrapolation; Cook and Stefanski 1994): the statistic is recomputed on the lesion's image with
   extra simulated noise of lambda times the scan's noise variance (lambda = 0.5, 1, 2, 3;
   ``REPLICATES_PER_LEVEL`` images each), a quadratic in lambda through the mean values and the
   observed value is extrapolated to lambda = -1 (no noise), and the difference from the observed
   value is the noise bias. Maxima (SUVmax, and SUVpeak, the maximum of 1 mL sphere means) are
   biased upwards by noise, the less-counted intravenous scan more; the quadratic extrapolant is the
   standard one and corrects most but not all of a maximum's bias (measured: docs/physics.md
   section 23). The spread is that of the statistic over the lambda = 1 images.
3. **Intervals**: each lesion's noise-free value on each scan is sampled as observed - bias -
   spread deviation (drawn with replacement, ``SAMPLES`` draws, one fixed seed), the two scans
   independently; ratios, and the mean of the target lesions' ratios, are formed sample by sample.
   The interval is the central ``confidence`` percentile range of the samples;
   ``probability_at_least_threshold`` is the fraction of samples of the mean at or above the
   threshold (an approximate probability for the noise-free mean ratio, given the noise model);
   ``borderline`` is true exactly when the interval contains the threshold.

Not included: the uncertainty of the noise estimate itself (a 3 cm sphere holds about 220 voxels of
4 mm: its SD is known within about 5 %), registration or segmentation differences between the two
scans, and calibration (common to both scans of one site).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, ndimage

from ..imaging.grid import Grid
from .voi_statistics import VoiWeights, sphere_kernel

#: Extra-noise levels (multiples of the scan's noise variance) of the SIMEX extrapolation.
SIMEX_LAMBDAS = (0.5, 1.0, 2.0, 3.0)
#: Simulated images per level.
REPLICATES_PER_LEVEL = 100
#: Noisy copies of a lesion's image, and inner images per level, that measure the SD of the SIMEX
#: estimate itself.
VARIANCE_COPIES = 20
VARIANCE_REPLICATES_PER_LEVEL = 20
#: Samples of the interval distributions.
SAMPLES = 4000
#: Fixed seed of every random draw (two runs on the same inputs give identical outputs).
DEFAULT_SEED = 20240614
NOISE_MODELS = ("poisson", "proportional")
#: Largest batch of simulated voxels in memory at once (replicates x padded box).
BATCH_VOXELS = 4_000_000
#: Coefficient of variation below which a reference region is taken as noise-free (16-bit storage).
QUANTISATION_CV = 1e-4
#: Gaussian kernels are truncated at this many standard deviations.
TRUNCATE_SIGMA = 4.0


# ---- the noise of one scan -----------------------------------------------------------------------
def _gaussian_kernel_1d(sigma_voxels: float) -> np.ndarray:
    if sigma_voxels <= 0:
        return np.ones(1)
    radius = max(1, int(TRUNCATE_SIGMA * sigma_voxels + 0.5))
    x = np.arange(-radius, radius + 1, dtype=float)
    h = np.exp(-0.5 * (x / sigma_voxels) ** 2)
    return h / h.sum()


def lag1_autocorrelation_of_filter(sigma_voxels: float) -> float:
    """Lag-1 autocorrelation of white noise filtered by the sampled Gaussian of ``sigma_voxels``."""
    h = _gaussian_kernel_1d(sigma_voxels)
    if h.size == 1:
        return 0.0
    return float(np.sum(h[:-1] * h[1:]) / np.sum(h * h))


def filter_sigma_for_autocorrelation(rho: float) -> float:
    """The Gaussian filter sigma (voxels) whose lag-1 autocorrelation is ``rho`` (0 for rho <= 0)."""
    if not rho > 0:
        return 0.0
    rho = min(rho, 0.99)
    lo, hi = 0.05, 50.0
    if lag1_autocorrelation_of_filter(lo) >= rho:
        return lo
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if lag1_autocorrelation_of_filter(mid) < rho:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def estimate_noise(suv: np.ndarray, grid: Grid, region: VoiWeights, model: str = "poisson") -> dict | None:
    """The scan's noise from a reference region's voxels (covered >= 50 %): mean, SD, lag-1
    autocorrelation per axis (i, j, k) and the correlation filter. None without at least 10 voxels."""
    if region.box is None:
        return None
    core = region.core
    values = suv[region.box].astype(np.float64)
    n = int(np.count_nonzero(core))
    if n < 10:
        return None
    inside = values[core]
    mean = float(inside.mean())
    sd = float(inside.std(ddof=1))
    residual = values - mean
    variance = float(np.mean(residual[core] ** 2))
    #: Below this coefficient of variation the "noise" is the image's quantisation (a noise-free
    #: image): no correlation is estimated from it.
    quantisation_only = not (mean > 0 and sd / mean > QUANTISATION_CV)
    rho, pairs, sigma_vox = [], [], []
    for axis_kji in (2, 1, 0):  # i, j, k
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis_kji] = slice(0, -1)
        b[axis_kji] = slice(1, None)
        both = core[tuple(a)] & core[tuple(b)]
        count = int(np.count_nonzero(both))
        if count < 2 or variance <= 0:
            r = 0.0
        else:
            r = float(np.sum(residual[tuple(a)][both] * residual[tuple(b)][both]) / count / variance)
        significant = count >= 2 and r > 2.0 / math.sqrt(count) and not quantisation_only
        rho.append(r)
        pairs.append(count)
        sigma_vox.append(filter_sigma_for_autocorrelation(r) if significant else 0.0)
    spacing = grid.spacing_mm
    return {
        "reference_region": region.name, "voxels": n, "suv_mean": mean, "suv_sd": sd,
        "coefficient_of_variation": sd / mean if mean > 0 else None,
        "lag1_autocorrelation_ijk": rho, "voxel_pairs_ijk": pairs,
        "correlation_filter_sigma_mm_ijk": [s * d for s, d in zip(sigma_vox, spacing)],
        "model": model,
        "model_description": ("noise variance proportional to the SUV (counting statistics), scaled from the "
                              "reference region" if model == "poisson" else
                              "noise SD proportional to the SUV (constant coefficient of variation of the "
                              "reference region)"),
        "_sigma_voxels_kji": tuple(reversed(sigma_vox)),
    }


def public_noise(noise: dict | None) -> dict | None:
    return None if noise is None else {k: v for k, v in noise.items() if not k.startswith("_")}


def noise_sd(values: np.ndarray, noise: dict) -> np.ndarray:
    """The modelled noise SD (SUV) of voxels whose noise-free value is about ``values``."""
    v = np.clip(values, 0.0, None)
    mean, sd = noise["suv_mean"], noise["suv_sd"]
    if not mean > 0 or not sd > 0:
        return np.zeros_like(v)
    if noise["model"] == "proportional":
        return v * (sd / mean)
    return np.sqrt(v * (sd * sd / mean))


def correlated_unit_noise(rng: np.random.Generator, shape: tuple, sigma_voxels_kji) -> np.ndarray:
    """Gaussian noise of unit variance with the given correlation (``shape`` = (n, k, j, i))."""
    noise = rng.standard_normal(shape)
    scale = 1.0
    for axis, sigma in enumerate(sigma_voxels_kji, start=1):
        if sigma > 0:
            h = _gaussian_kernel_1d(sigma)
            noise = ndimage.correlate1d(noise, h, axis=axis, mode="reflect")
            scale *= float(np.sum(h * h))
    return noise / math.sqrt(scale)


# ---- SUVmax and SUVpeak of one lesion under extra noise ---------------------------------------------
class LesionImage:
    """A lesion's image box on one scan (padded so every SUVpeak sphere of a candidate centre fits, when
    the image allows), its candidate voxels (covered >= 50 %) and the sphere kernel."""

    def __init__(self, suv: np.ndarray, grid: Grid, voi: VoiWeights, noise: dict):
        self.kernel = sphere_kernel(grid.spacing_mm)
        half = np.array(self.kernel.shape) // 2
        reach = half + np.array([_gaussian_kernel_1d(s).size // 2 for s in noise["_sigma_voxels_kji"]]) + 1
        lo = np.array([s.start for s in voi.box]) - reach
        hi = np.array([s.stop for s in voi.box]) + reach
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, suv.shape)
        self.box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        self.image = suv[self.box].astype(np.float64)
        self.core = np.zeros(self.image.shape, bool)
        offset = [s.start - b.start for s, b in zip(voi.box, self.box)]
        self.core[tuple(slice(o, o + n) for o, n in zip(offset, voi.weights.shape))] = voi.core
        self.sd = noise_sd(self.image, noise)
        self.sigma_kji = noise["_sigma_voxels_kji"]
        shape = [fft.next_fast_len(int(n + m - 1), real=True) for n, m in zip(self.image.shape, self.kernel.shape)]
        self.fft_shape = shape
        self.kernel_spectrum = fft.rfftn(self.kernel[::-1, ::-1, ::-1], shape)
        # Sphere weight inside the box at each voxel: the image outside the box is never read, so a
        # sphere cut by the image's edge averages the part inside, as voi_statistics does.
        self.weight = self._correlate(np.ones((1,) + self.image.shape))[0]

    def _correlate(self, images: np.ndarray) -> np.ndarray:
        spectrum = fft.rfftn(images, self.fft_shape, axes=(1, 2, 3))
        spectrum *= self.kernel_spectrum
        full = fft.irfftn(spectrum, self.fft_shape, axes=(1, 2, 3))
        h = np.array(self.kernel.shape) // 2
        n = self.image.shape
        return full[:, h[0]:h[0] + n[0], h[1]:h[1] + n[1], h[2]:h[2] + n[2]]

    def statistics(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SUVmax and SUVpeak of each image (n, k, j, i) over the lesion's candidate voxels."""
        suv_max = images[:, self.core].max(axis=1)
        means = self._correlate(images)[:, self.core] / self.weight[self.core]
        return suv_max, means.max(axis=1)

    def simulate(self, rng: np.random.Generator, lam: float, count: int) -> tuple[np.ndarray, np.ndarray]:
        """SUVmax and SUVpeak of ``count`` images = this image + lambda x the scan's noise variance."""
        per_batch = max(1, BATCH_VOXELS // max(int(np.prod(self.fft_shape)), 1))
        maxima, peaks = [], []
        for start in range(0, count, per_batch):
            n = min(per_batch, count - start)
            noise = correlated_unit_noise(rng, (n,) + self.image.shape, self.sigma_kji)
            images = self.image[None] + math.sqrt(lam) * self.sd[None] * noise
            m, p = self.statistics(images)
            maxima.append(m)
            peaks.append(p)
        return np.concatenate(maxima), np.concatenate(peaks)


def simex(observed: float, level_means: dict[float, float]) -> float:
    """The SIMEX estimate of the noise-free value: the quadratic in lambda through (0, observed) and
    (lambda, mean at lambda), evaluated at lambda = -1."""
    lam = np.array([0.0] + list(level_means))
    values = np.array([observed] + list(level_means.values()))
    if np.ptp(values) == 0:
        return float(observed)
    return float(np.polyval(np.polyfit(lam, values, 2), -1.0))


def _simex_of(image: LesionImage, base: np.ndarray, noise_fields: dict[float, np.ndarray]) -> tuple[float, float]:
    """The SIMEX estimates (SUVmax, SUVpeak) of one image ``base`` with given unit-noise fields per level."""
    observed = image.statistics(base[None])
    means = {0: {}, 1: {}}
    for lam, fields in noise_fields.items():
        values = image.statistics(base[None] + math.sqrt(lam) * image.sd[None] * fields)
        for index in (0, 1):
            means[index][lam] = float(values[index].mean())
    return simex(float(observed[0][0]), means[0]), simex(float(observed[1][0]), means[1])


def lesion_noise_errors(suv: np.ndarray, grid: Grid, voi: VoiWeights, noise: dict, rng: np.random.Generator,
                        replicates: int = REPLICATES_PER_LEVEL, copies: int = VARIANCE_COPIES,
                        inner_replicates: int = VARIANCE_REPLICATES_PER_LEVEL) -> dict | None:
    """SUVmax and SUVpeak of one lesion on one scan: observed value, SIMEX noise bias, and the spread
    of the noise-free estimate.

    The spread: the deviations of the statistic over the lambda = 1 images, scaled by the ratio of the
    SD of the SIMEX estimate itself to theirs. That SD is measured by repeating the SIMEX on ``copies``
    noisy copies of the image (this image + one draw of the scan's noise), each with the same inner
    noise fields (common random numbers, so their Monte Carlo error does not enter the SD): the bias
    correction amplifies the observed value's own noise (it weighs the observed value by 2.1), and the
    interval must carry that."""
    if voi.box is None or not np.any(voi.core):
        return None
    image = LesionImage(suv, grid, voi, noise)
    observed_max, observed_peak = (float(v[0]) for v in image.statistics(image.image[None]))
    levels = {lam: image.simulate(rng, lam, replicates) for lam in SIMEX_LAMBDAS}
    inflation = (1.0, 1.0)
    if copies >= 2 and float(image.sd.max()) > 0:
        fields = {lam: correlated_unit_noise(rng, (inner_replicates,) + image.image.shape, image.sigma_kji)
                  for lam in SIMEX_LAMBDAS}
        estimates = np.array([
            _simex_of(image, image.image + image.sd * correlated_unit_noise(rng, (1,) + image.image.shape,
                                                                             image.sigma_kji)[0], fields)
            for _ in range(copies)])
        spread = [float(levels[1.0][index].std(ddof=1)) for index in (0, 1)]
        inflation = tuple(max(1.0, float(estimates[:, index].std(ddof=1)) / spread[index]) if spread[index] > 0
                          else 1.0 for index in (0, 1))
    out = {}
    for index, key in enumerate(("suv_max", "suv_peak")):
        observed = observed_max if index == 0 else observed_peak
        means = {lam: float(values[index].mean()) for lam, values in levels.items()}
        corrected = simex(observed, means)
        at_one = levels[1.0][index]
        deviations = (at_one - at_one.mean()) * inflation[index]
        out[key] = {"observed": observed, "noise_bias": observed - corrected, "noise_free_estimate": corrected,
                    "sd": float(deviations.std(ddof=1)) if deviations.size > 1 else 0.0,
                    "sd_inflation_for_the_bias_correction": inflation[index],
                    "_deviations": deviations}
    return out


# ---- intervals ---------------------------------------------------------------------------------------
def _samples(entry: dict, rng: np.random.Generator, count: int) -> np.ndarray:
    deviations = entry["_deviations"]
    drawn = rng.choice(deviations, count) if deviations.size else np.zeros(count)
    return entry["noise_free_estimate"] - drawn


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def ratio_intervals(errors: dict[str, dict], targets_in_mean: list[str], threshold: float, confidence: float,
                    rng: np.random.Generator, samples: int = SAMPLES) -> tuple[dict, dict]:
    """Per-lesion ratio intervals and the mean ratio's, for SUVmax and SUVpeak.

    ``errors[lesion][route]`` is :func:`lesion_noise_errors`'s result (or None). Returns (per lesion:
    {metric: {...}}, per metric: {...} for the mean over ``targets_in_mean``)."""
    per_lesion: dict[str, dict] = {}
    drawn: dict[str, dict[str, np.ndarray]] = {}
    for name, routes in errors.items():
        if routes.get("ia") is None or routes.get("iv") is None:
            continue
        per_lesion[name] = {}
        drawn[name] = {}
        for metric in ("suv_max", "suv_peak"):
            ia, iv = routes["ia"][metric], routes["iv"][metric]
            if not (ia["observed"] is not None and iv["observed"] > 0 and iv["noise_free_estimate"] > 0):
                continue
            numerator = _samples(ia, rng, samples)
            denominator = _samples(iv, rng, samples)
            ratio = numerator / np.where(denominator > 0, denominator, np.nan)
            ratio = ratio[np.isfinite(ratio)]
            if ratio.size < samples // 2:
                continue
            drawn[name][metric] = ratio if ratio.size == samples else np.resize(ratio, samples)
            low, high = _interval(ratio, confidence)
            per_lesion[name][metric] = {
                "ratio": ia["observed"] / iv["observed"],
                "noise_corrected_ratio": ia["noise_free_estimate"] / iv["noise_free_estimate"],
                "ci_low": low, "ci_high": high,
            }
    means: dict[str, dict] = {}
    for metric in ("suv_max", "suv_peak"):
        if not targets_in_mean or any(metric not in drawn.get(name, {}) for name in targets_in_mean):
            means[metric] = None
            continue
        stacked = np.stack([drawn[name][metric] for name in targets_in_mean])
        mean_samples = stacked.mean(axis=0)
        low, high = _interval(mean_samples, confidence)
        means[metric] = {
            "mean_ratio": float(np.mean([per_lesion[n][metric]["ratio"] for n in targets_in_mean])),
            "noise_corrected_mean_ratio": float(np.mean([per_lesion[n][metric]["noise_corrected_ratio"]
                                                         for n in targets_in_mean])),
            "ci_low": low, "ci_high": high, "confidence": confidence,
            "probability_at_least_threshold": float(np.mean(mean_samples >= threshold)),
            "borderline": bool(low <= threshold <= high),
            "lesions": list(targets_in_mean),
        }
    return per_lesion, means


def public_errors(entry: dict | None) -> dict | None:
    if entry is None:
        return None
    return {metric: {k: v for k, v in values.items() if not k.startswith("_")} for metric, values in entry.items()}

"""CT-to-CT rigid registration with SimpleITK (first version; see issue 5 for the full capability).

Convention (ITK's): the transform maps points of the FIXED image's space to the MOVING image's
space, so ``resample_volume(moving, fixed.grid, result.transform)`` brings the moving image onto
the fixed grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import ComputationError
from .volume import Volume


@dataclass
class RegistrationResult:
    transform: object            # SimpleITK transform, fixed -> moving
    metric_value: float          # final metric value (lower is better for ITK metrics)
    initial_metric_value: float  # metric value before optimisation
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    elapsed_s: float
    stop_condition: str = ""

    def to_dict(self) -> dict:
        return {
            "metric_value": self.metric_value,
            "initial_metric_value": self.initial_metric_value,
            "translation_mm": list(self.translation_mm),
            "rotation_deg": list(self.rotation_deg),
            "elapsed_s": self.elapsed_s,
            "stop_condition": self.stop_condition,
        }


def _euler_parameters(transform) -> tuple[tuple, tuple]:
    import SimpleITK as sitk

    euler = sitk.Euler3DTransform()
    euler.SetMatrix(transform.GetMatrix())
    euler.SetCenter(transform.GetCenter())
    euler.SetTranslation(transform.GetTranslation())
    angles = tuple(float(np.degrees(a)) for a in (euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()))
    return tuple(float(t) for t in euler.GetTranslation()), angles


def register_rigid(fixed: Volume, moving: Volume, fixed_mask: np.ndarray | None = None,
                   sampling_fraction: float = 0.1, seed: int = 1) -> RegistrationResult:
    """Rigid (6 degrees of freedom) registration, Mattes mutual information, 3 resolution levels.

    ``fixed_mask`` (bool on the fixed grid) restricts the metric to a region, for example the liver
    plus a margin. Raises :class:`ComputationError` when the images do not overlap or the metric
    does not improve.
    """
    import SimpleITK as sitk

    start = time.perf_counter()
    fixed_image = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_image = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(sampling_fraction, seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed.grid.to_sitk(np.asarray(fixed_mask, dtype=np.uint8)))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=200,
                                                    gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        initial_metric = method.MetricEvaluate(fixed_image, moving_image)
        transform = method.Execute(fixed_image, moving_image)
    except RuntimeError as exc:
        raise ComputationError(f"registration failed: {str(exc).strip().splitlines()[-1]}") from exc
    final_metric = method.GetMetricValue()
    if not np.isfinite(final_metric) or final_metric >= initial_metric:
        raise ComputationError(f"registration did not improve the metric ({initial_metric:.4f} -> {final_metric:.4f})")
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms() == 1:
        transform = transform.GetNthTransform(0)
    translation, rotation = _euler_parameters(transform)
    return RegistrationResult(transform, float(final_metric), float(initial_metric), translation, rotation,
                              time.perf_counter() - start, method.GetOptimizerStopConditionDescription())

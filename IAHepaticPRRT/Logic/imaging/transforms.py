"""Spatial transforms: rigid parameters about a stated centre, point mapping, inverses.

Transform files are read and written by :mod:`iahepaticprrt.io.transform_files`.

Conventions
-----------
- Coordinates are DICOM patient LPS in mm (as :mod:`iahepaticprrt.imaging.grid`).
- A registration transform ``T`` follows ITK: it maps a point of the FIXED image's space to the
  MOVING image's space (``x_moving = T(x_fixed)``), so resampling the moving image through ``T``
  onto the fixed grid aligns it with the fixed image.
- A rigid transform is reported as a rotation ``R`` and a translation ``t`` about a centre ``c``::

      x_moving = R (x_fixed - c) + c + t

  The same transform has a different ``t`` about a different centre (``t' = t + (R - I)(c' - c)``);
  :func:`rigid_parameters` gives the parameters about any centre, so they can be compared with a
  known truth stated about its own centre (the synthetic patient's ``center_lps_mm``).
- Angles ``rotation_deg = (rx, ry, rz)`` in degrees about the LPS x, y, z axes, composed as
  ``R = Rz(rz) Rx(rx) Ry(ry)`` (rotate about y first, then x, then z, fixed axes): SimpleITK's
  ``Euler3DTransform`` default and the synthetic patient's ``truth.transforms`` convention; called
  order ``"yxz"`` here (the order in which the rotations are applied). Other orders are accepted
  where angles are read or written (``"xyz"``: ``R = Rz Ry Rx``). Right-handed rotations:
  ``Rz(90) (1, 0, 0) = (0, 1, 0)``.
- Comparing two rotations without any angle convention: :func:`rotation_angle_deg` of
  ``R_a^T R_b`` (the angle of the residual rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: Default order in which the three Euler angles are applied: y first, then x, then z
#: (R = Rz Rx Ry, SimpleITK's Euler3DTransform and the synthetic patient's truth).
DEFAULT_ORDER = "yxz"


# ---- rotations --------------------------------------------------------------------------------
def _axis_rotation(axis: str, angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _check_order(order: str) -> str:
    if sorted(order) != ["x", "y", "z"]:
        raise ValueError(f"rotation order must be a permutation of 'xyz', got '{order}'")
    return order


def rotation_matrix(rotation_deg, order: str = DEFAULT_ORDER) -> np.ndarray:
    """3 x 3 rotation from angles (rx, ry, rz) in degrees, applied in ``order`` about fixed axes.

    ``order="xyz"`` gives ``Rz Ry Rx``; ``order="yxz"`` gives ``Rz Rx Ry`` (ITK's Euler3D).
    """
    angles = dict(zip("xyz", np.radians(np.asarray(rotation_deg, dtype=float))))
    matrix = np.eye(3)
    for axis in _check_order(order):
        matrix = _axis_rotation(axis, angles[axis]) @ matrix
    return matrix


def euler_angles_deg(matrix, order: str = DEFAULT_ORDER) -> tuple[float, float, float]:
    """Angles (rx, ry, rz) in degrees with ``rotation_matrix(angles, order) == matrix``.

    The middle axis's angle is taken in [-90, 90] degrees (the usual branch; unique away from
    gimbal lock, which does not occur for patient repositioning).
    """
    m = np.asarray(matrix, dtype=float)
    order = _check_order(order)
    a, b, c = ("xyz".index(ax) for ax in order)  # first, second, third axis applied
    # R = R_c(t3) R_b(t2) R_a(t1). With a permutation sign, the standard Tait-Bryan extraction:
    sign = 1.0 if (b - a) % 3 == 1 else -1.0
    t2 = np.arcsin(np.clip(-sign * m[c, a], -1.0, 1.0))
    t1 = np.arctan2(sign * m[c, b], m[c, c])
    t3 = np.arctan2(sign * m[b, a], m[a, a])
    angles = np.zeros(3)
    angles[a], angles[b], angles[c] = t1, t2, t3
    result = tuple(float(v) for v in np.degrees(angles))
    if not np.allclose(rotation_matrix(result, order), m, atol=1e-6):
        raise ValueError("matrix is not a rotation (or is at gimbal lock)")
    return result


def nearest_rotation(matrix) -> np.ndarray:
    """The rotation nearest to a 3 x 3 matrix (polar decomposition; the matrix itself for a rotation)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=float))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def rotation_angle_deg(matrix) -> float:
    """Angle (degrees) of the rotation ``matrix`` about its axis, in [0, 180]."""
    m = np.asarray(matrix, dtype=float)
    return float(np.degrees(np.arccos(np.clip((np.trace(m) - 1.0) / 2.0, -1.0, 1.0))))


# ---- rigid and affine transforms ---------------------------------------------------------------
@dataclass(frozen=True)
class RigidParameters:
    """``x_moving = R (x_fixed - c) + c + t``, R from ``rotation_deg`` in ``order`` (LPS mm)."""

    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    center_lps_mm: tuple[float, float, float]
    order: str = DEFAULT_ORDER

    @property
    def convention(self) -> str:
        factors = " ".join(f"R{ax}" for ax in reversed(self.order))
        return (f"x_moving = R (x_fixed - c) + c + t (LPS mm); R = {factors} from rotation_deg "
                f"(rx, ry, rz) about the x, y, z axes")

    def matrix(self) -> np.ndarray:
        return rotation_matrix(self.rotation_deg, self.order)

    def to_dict(self) -> dict:
        return {"translation_mm": list(self.translation_mm), "rotation_deg": list(self.rotation_deg),
                "center_lps_mm": list(self.center_lps_mm), "rotation_angle_deg": rotation_angle_deg(self.matrix()),
                "translation_norm_mm": float(np.linalg.norm(self.translation_mm)), "convention": self.convention}


def matrix_and_offset(transform) -> tuple[np.ndarray, np.ndarray]:
    """(A, o) with ``T(x) = A x + o`` for a linear SimpleITK transform (composites of linear ones too)."""
    import SimpleITK as sitk

    if isinstance(transform, sitk.CompositeTransform) or transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        a, o = np.eye(3), np.zeros(3)
        # The last transform in the list is applied first.
        for n in range(composite.GetNumberOfTransforms()):
            a_n, o_n = matrix_and_offset(composite.GetNthTransform(n))
            a, o = a @ a_n, a @ o_n + o
        return a, o
    if not transform.IsLinear():
        raise ValueError(f"{transform.GetName()} is not linear")
    # Probe the transform: works for every linear transform type.
    origin = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    columns = [np.array(transform.TransformPoint(tuple(e))) - origin for e in np.eye(3)]
    return np.column_stack(columns), origin


def rigid_parameters(transform, center_lps_mm=(0.0, 0.0, 0.0), order: str = DEFAULT_ORDER,
                     tolerance: float = 1e-4) -> RigidParameters:
    """Rotation and translation of a rigid ``transform`` about ``center_lps_mm``.

    Refuses a transform whose linear part is not a rotation (within ``tolerance``): express an
    affine result with :func:`matrix_and_offset` instead.
    """
    a, offset = matrix_and_offset(transform)
    if not (np.allclose(a.T @ a, np.eye(3), atol=tolerance) and np.linalg.det(a) > 0):
        raise ValueError("the transform is not rigid (its matrix is not a rotation)")
    c = np.asarray(center_lps_mm, dtype=float)
    # A x + o = A (x - c) + c + t  =>  t = o + A c - c
    t = offset + a @ c - c
    return RigidParameters(tuple(float(v) for v in t), euler_angles_deg(a, order), tuple(float(v) for v in c), order)


def rigid_transform(translation_mm=(0.0, 0.0, 0.0), rotation_deg=(0.0, 0.0, 0.0), center_lps_mm=(0.0, 0.0, 0.0),
                    order: str = DEFAULT_ORDER):
    """SimpleITK Euler3DTransform for ``x_moving = R (x_fixed - c) + c + t``."""
    import SimpleITK as sitk

    euler = sitk.Euler3DTransform()
    euler.SetCenter(tuple(float(v) for v in center_lps_mm))
    euler.SetMatrix(tuple(rotation_matrix(rotation_deg, order).ravel()))
    euler.SetTranslation(tuple(float(v) for v in translation_mm))
    return euler


def rigid_error(estimated, truth, points_lps_mm) -> dict:
    """Differences between two transforms: residual rotation angle and point displacements (mm).

    For affine transforms the rotations compared are the nearest ones (polar decomposition).
    ``points_lps_mm`` (N, 3) are where the error matters (for example lesion centres); the
    translation difference about each point is the distance between where the two transforms send it.
    """
    a_est = nearest_rotation(matrix_and_offset(estimated)[0])
    a_true = nearest_rotation(matrix_and_offset(truth)[0])
    points = np.atleast_2d(np.asarray(points_lps_mm, dtype=float))
    distances = np.linalg.norm(transform_points(estimated, points) - transform_points(truth, points), axis=1)
    return {"rotation_error_deg": rotation_angle_deg(a_est.T @ a_true), "point_error_mm": distances.tolist(),
            "max_point_error_mm": float(distances.max())}


def transform_points(transform, points_lps_mm) -> np.ndarray:
    """Map LPS points (N, 3) through a SimpleITK transform."""
    points = np.atleast_2d(np.asarray(points_lps_mm, dtype=float))
    return np.array([transform.TransformPoint(tuple(p)) for p in points])


def is_linear(transform) -> bool:
    import SimpleITK as sitk

    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        return all(is_linear(composite.GetNthTransform(n)) for n in range(composite.GetNumberOfTransforms()))
    return bool(transform.IsLinear())


def linear_part_and_displacement_bound(transform) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(A, o, b): ``T(x)`` lies within ``b`` mm (before A) of ``A x + o``, for region-of-work bounds.

    Handles linear transforms and composites ``linear o B-spline`` as the deformable registration
    produces them (a cubic B-spline's displacement is a convex combination of its coefficients, so
    ``b`` = the largest coefficient vector length bounds it). None when the transform is of another kind.
    """
    import SimpleITK as sitk

    if is_linear(transform):
        a, o = matrix_and_offset(transform)
        return a, o, 0.0
    if transform.GetName() != "CompositeTransform":
        return None
    composite = sitk.CompositeTransform(transform)
    a, o, bound = np.eye(3), np.zeros(3), 0.0
    for n in range(composite.GetNumberOfTransforms()):
        part = composite.GetNthTransform(n)
        if is_linear(part):
            if bound > 0.0:
                return None  # a linear part applied before a deformation: not the expected layout
            a_n, o_n = matrix_and_offset(part)
            a, o = a @ a_n, a @ o_n + o
        elif part.GetName() == "BSplineTransform":
            coefficients = np.stack([np.ravel(_coefficient_array(img)) for img in
                                     sitk.BSplineTransform(part).GetCoefficientImages()], axis=1)
            bound += float(np.max(np.linalg.norm(coefficients, axis=1))) if coefficients.size else 0.0
        else:
            return None
    return a, o, bound


def _coefficient_array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(image)


def simplify(transform):
    """Unwrap composites of one transform (SimpleITK's registration returns those), recursively."""
    import SimpleITK as sitk

    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        if composite.GetNumberOfTransforms() == 1:
            return simplify(composite.GetNthTransform(0))
        composite.FlattenTransform()
        return composite
    # Downcast (ReadTransform returns the base class).
    name = transform.GetName()
    if hasattr(sitk, name):
        try:
            return getattr(sitk, name)(transform)
        except (TypeError, RuntimeError):
            return transform
    return transform


def inverse(transform):
    """Inverse of a linear transform (refuses deformable ones: their inverse is only approximate)."""
    if not is_linear(transform):
        raise InputError("this transform is deformable: its exact inverse is not available; register the "
                         "two scans the other way round instead", "transform")
    import SimpleITK as sitk

    a, o = matrix_and_offset(transform)
    inv = sitk.AffineTransform(3)
    a_inv = np.linalg.inv(a)
    inv.SetMatrix(tuple(a_inv.ravel()))
    inv.SetTranslation(tuple(-a_inv @ o))
    return inv

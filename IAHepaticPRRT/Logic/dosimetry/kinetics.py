"""Time-activity curve (TAC) fits and time-integrated activity (TIA), with uncertainties.

Models (t in h after administration, A in MBq; docs/physics.md section 5):

- ``mono-exp``:       A0 e^(-l t)                                       TIA = A0 / l
- ``bi-exp-uptake``:  A (e^(-l1 t) - e^(-l2 t)), l2 > l1                TIA = A (1/l1 - 1/l2)
- ``bi-exp``:         A1 e^(-l1 t) + A2 e^(-l2 t), l2 > l1, A1, A2 >= 0  TIA = A1/l1 + A2/l2
- ``tri-exp``:        A1 e^(-l1 t) + A2 e^(-l2 t) - (A1 + A2) e^(-l3 t), l1 < l2 < l3 (two washout
  phases and an uptake phase, zero at t = 0)                            TIA = A1/l1 + A2/l2 - (A1+A2)/l3
- ``trapezoid``:      straight lines between the points, from A = 0 at t = 0 (``start="zero"``, the
  default: nothing is in the VOI at administration) or the first value held back to t = 0
  (``start="constant"``), then physical decay after the last point: + A_n / l_phys.
- ``hanscheid-stp``:  one time point, TIA = A(t) 2 t / ln 2 (Hänscheid et al., JNM 2018;59:75): the
  mono-exponential TIA exact when the effective half-life equals t (best for t near 72-96 h).
- ``auto``: see :func:`fit_auto`.

Clamping: every washout rate constant is kept >= the physical decay constant of 177Lu (ICRP 107,
T1/2 = 6.647 d), since biological elimination can only add to physical decay. When the clamp is
active and an unclamped fit puts the slowest rate more than 2 standard uncertainties below the
physical constant, the data say the VOI was still gaining activity: the clamped (physical-decay)
tail is kept and a warning says so; ``clamp=False`` lets the rate go down to zero instead.

Weighting and uncertainty (EANM guideline, Gear et al., EJNMMI 2018;45:2456): with per-point
standard uncertainties the fit is weighted by them and the covariance is absolute; without them
the fit is weighted by relative errors (sigma_i proportional to A_i) and the covariance is scaled
by the residuals (needs at least one degree of freedom). The TIA uncertainty follows from the
covariance by the delta method; the calibration-factor and recovery uncertainties (relative, the
same at every time point, hence fully correlated) are added in quadrature by :func:`combine_uncertainty`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ComputationError, InputError
from .lu177 import DECAY_CONSTANT_PER_H

MODELS = ("mono-exp", "bi-exp-uptake", "bi-exp", "tri-exp", "trapezoid", "hanscheid-stp")
MODEL_CHOICES = MODELS + ("auto",)
EXPONENTIAL_MODELS = ("mono-exp", "bi-exp-uptake", "bi-exp", "tri-exp")

#: Floor of the weighted residual sum of squares per point in the AICc (noise-free data would give log 0).
_WRSS_FLOOR_PER_POINT = 1e-12
#: Lower bound of a rate constant when the clamp is off (1/h): effectively zero, keeps TIA finite.
_UNCLAMPED_MIN_RATE_PER_H = 1e-6


# ---- models ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Exponential:
    """A sum-of-exponentials model. Internal parameters q keep the rates ordered (l2 = l1 + d2 ...);
    natural parameters p = M q are what users read."""

    name: str
    names: tuple[str, ...]       # natural parameter names (units in the names)
    formula: str
    matrix: np.ndarray           # p = matrix @ q
    amplitude_index: tuple[int, ...]   # positions in q of amplitudes (>= 0)
    rate_index: tuple[int, ...]        # positions in q of the slowest rate (bounded below by l_min)

    @property
    def n_parameters(self) -> int:
        return len(self.names)

    def natural(self, q) -> np.ndarray:
        return self.matrix @ np.asarray(q, dtype=float)

    def evaluate(self, t, p) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if self.name == "mono-exp":
            a0, l = p
            return a0 * np.exp(-l * t)
        if self.name == "bi-exp-uptake":
            a, l1, l2 = p
            return a * (np.exp(-l1 * t) - np.exp(-l2 * t))
        if self.name == "bi-exp":
            a1, l1, a2, l2 = p
            return a1 * np.exp(-l1 * t) + a2 * np.exp(-l2 * t)
        a1, l1, a2, l2, l3 = p
        return a1 * np.exp(-l1 * t) + a2 * np.exp(-l2 * t) - (a1 + a2) * np.exp(-l3 * t)

    def tia(self, p) -> float:
        if self.name == "mono-exp":
            a0, l = p
            return a0 / l
        if self.name == "bi-exp-uptake":
            a, l1, l2 = p
            return a * (1.0 / l1 - 1.0 / l2)
        if self.name == "bi-exp":
            a1, l1, a2, l2 = p
            return a1 / l1 + a2 / l2
        a1, l1, a2, l2, l3 = p
        return a1 / l1 + a2 / l2 - (a1 + a2) / l3

    def tia_gradient(self, p) -> np.ndarray:
        """d TIA / d p (natural parameters)."""
        if self.name == "mono-exp":
            a0, l = p
            return np.array([1.0 / l, -a0 / l ** 2])
        if self.name == "bi-exp-uptake":
            a, l1, l2 = p
            return np.array([1.0 / l1 - 1.0 / l2, -a / l1 ** 2, a / l2 ** 2])
        if self.name == "bi-exp":
            a1, l1, a2, l2 = p
            return np.array([1.0 / l1, -a1 / l1 ** 2, 1.0 / l2, -a2 / l2 ** 2])
        a1, l1, a2, l2, l3 = p
        return np.array([1.0 / l1 - 1.0 / l3, -a1 / l1 ** 2, 1.0 / l2 - 1.0 / l3, -a2 / l2 ** 2,
                         (a1 + a2) / l3 ** 2])

    def jacobian(self, t, q) -> np.ndarray:
        """d A(t_i) / d q (n x k), analytic."""
        p = self.natural(q)
        t = np.asarray(t, dtype=float)
        if self.name == "mono-exp":
            a0, l = p
            e = np.exp(-l * t)
            jp = np.column_stack([e, -a0 * t * e])
        elif self.name == "bi-exp-uptake":
            a, l1, l2 = p
            e1, e2 = np.exp(-l1 * t), np.exp(-l2 * t)
            jp = np.column_stack([e1 - e2, -a * t * e1, a * t * e2])
        elif self.name == "bi-exp":
            a1, l1, a2, l2 = p
            e1, e2 = np.exp(-l1 * t), np.exp(-l2 * t)
            jp = np.column_stack([e1, -a1 * t * e1, e2, -a2 * t * e2])
        else:
            a1, l1, a2, l2, l3 = p
            e1, e2, e3 = np.exp(-l1 * t), np.exp(-l2 * t), np.exp(-l3 * t)
            jp = np.column_stack([e1 - e3, -a1 * t * e1, e2 - e3, -a2 * t * e2, (a1 + a2) * t * e3])
        return jp @ self.matrix

    def basis(self, t, rates) -> np.ndarray:
        """Columns multiplying the amplitudes for fixed rates (variable projection start values)."""
        t = np.asarray(t, dtype=float)
        e = [np.exp(-r * t) for r in rates]
        if self.name == "mono-exp":
            return np.column_stack([e[0]])
        if self.name == "bi-exp-uptake":
            return np.column_stack([e[0] - e[1]])
        if self.name == "bi-exp":
            return np.column_stack([e[0], e[1]])
        return np.column_stack([e[0] - e[2], e[1] - e[2]])

    def internal_from(self, amplitudes, rates) -> np.ndarray:
        if self.name == "mono-exp":
            return np.array([amplitudes[0], rates[0]])
        if self.name == "bi-exp-uptake":
            return np.array([amplitudes[0], rates[0], rates[1] - rates[0]])
        if self.name == "bi-exp":
            return np.array([amplitudes[0], rates[0], amplitudes[1], rates[1] - rates[0]])
        return np.array([amplitudes[0], rates[0], amplitudes[1], rates[1] - rates[0], rates[2] - rates[1]])

    @property
    def n_rates(self) -> int:
        return {"mono-exp": 1, "bi-exp-uptake": 2, "bi-exp": 2, "tri-exp": 3}[self.name]


def _matrix(rows) -> np.ndarray:
    m = np.array(rows, dtype=float)
    m.setflags(write=False)
    return m


_MODELS = {
    "mono-exp": _Exponential("mono-exp", ("a0_mbq", "lambda_per_h"), "A0 exp(-lambda t)",
                             _matrix(np.eye(2)), (0,), (1,)),
    "bi-exp-uptake": _Exponential(
        "bi-exp-uptake", ("a_mbq", "lambda_washout_per_h", "lambda_uptake_per_h"),
        "A (exp(-lambda_washout t) - exp(-lambda_uptake t))",
        _matrix([[1, 0, 0], [0, 1, 0], [0, 1, 1]]), (0,), (1,)),
    "bi-exp": _Exponential(
        "bi-exp", ("a1_mbq", "lambda1_per_h", "a2_mbq", "lambda2_per_h"),
        "A1 exp(-lambda1 t) + A2 exp(-lambda2 t)",
        _matrix([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1]]), (0, 2), (1,)),
    "tri-exp": _Exponential(
        "tri-exp", ("a1_mbq", "lambda1_per_h", "a2_mbq", "lambda2_per_h", "lambda_uptake_per_h"),
        "A1 exp(-lambda1 t) + A2 exp(-lambda2 t) - (A1 + A2) exp(-lambda_uptake t)",
        _matrix([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 1, 0, 1, 1]]), (0, 2), (1,)),
}

#: Fewest points each model accepts (parameters for the exponentials: an exact fit has no degree of freedom).
MINIMUM_POINTS = {"mono-exp": 2, "bi-exp-uptake": 3, "bi-exp": 4, "tri-exp": 5, "trapezoid": 1, "hanscheid-stp": 1}


def parameter_count(model: str) -> int:
    return _MODELS[model].n_parameters if model in _MODELS else 0


# ---- results ---------------------------------------------------------------------------------
@dataclass
class FitResult:
    """One TAC integrated by one model."""

    model: str
    formula: str
    parameters: dict
    parameter_uncertainties: dict
    tia_mbqh: float
    tia_fit_uncertainty_mbqh: float | None   # from the fit (or the points' uncertainties), None when unknown
    n_points: int
    n_parameters: int
    weighted_rss: float | None = None
    aicc: float | None = None
    clamped: bool = False
    uncertainty_source: str = ""
    warnings: list = field(default_factory=list)
    times_h: np.ndarray | None = None
    activities_mbq: np.ndarray | None = None
    trapezoid_start: str = "zero"
    selection: str = ""  # why `auto` chose this model (information, not a warning)
    bound_parameters: list = field(default_factory=list)  # parameters held at a bound (fixed in the covariance)
    starts: int = 0       # converged starts of the multi-start fit

    def activity_mbq(self, t_h) -> np.ndarray:
        """The fitted (or interpolated) activity at ``t_h``."""
        t = np.asarray(t_h, dtype=float)
        if self.model in _MODELS:
            p = [self.parameters[n] for n in _MODELS[self.model].names]
            return _MODELS[self.model].evaluate(t, p)
        if self.model == "hanscheid-stp":
            # Mono-exponential with effective half-life = t_measured, for which the STP formula is exact.
            a, t0 = self.parameters["activity_mbq"], self.parameters["time_h"]
            return a * np.exp(-math.log(2.0) / t0 * (t - t0))
        if self.model == "trapezoid":
            return _trapezoid_curve(self.times_h, self.activities_mbq, t, self.trapezoid_start)
        raise ValueError(self.model)

    def to_dict(self) -> dict:
        return {
            "model": self.model, "formula": self.formula, "parameters": dict(self.parameters),
            "parameter_uncertainties": dict(self.parameter_uncertainties), "tia_mbqh": self.tia_mbqh,
            "tia_fit_uncertainty_mbqh": self.tia_fit_uncertainty_mbqh, "n_points": self.n_points,
            "n_parameters": self.n_parameters, "weighted_rss": self.weighted_rss, "aicc": self.aicc,
            "clamped_to_physical_decay": self.clamped, "uncertainty_source": self.uncertainty_source,
            "model_selection": self.selection,
        }


# ---- validation ------------------------------------------------------------------------------
def validate_tac(times_h, activities_mbq, uncertainties_mbq=None, source: str | None = None,
                 voi: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check a TAC; raise :class:`InputError` naming the VOI for anything that cannot give a correct TIA."""
    what = f"VOI '{voi}'" if voi else "TAC"
    t = np.asarray(times_h, dtype=float).ravel()
    a = np.asarray(activities_mbq, dtype=float).ravel()
    if t.size == 0:
        raise InputError(f"{what}: no time points", source, "time_h")
    if t.shape != a.shape:
        raise InputError(f"{what}: {t.size} times but {a.size} activities", source, "activity_mbq")
    if not np.all(np.isfinite(t)):
        raise InputError(f"{what}: non-finite time", source, "time_h")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what}: non-finite activity", source, "activity_mbq")
    if np.any(t < 0):
        raise InputError(f"{what}: time point {t.min():g} h lies before the administration", source, "time_h")
    if np.any(np.diff(t) <= 0):
        raise InputError(f"{what}: time points must be strictly increasing (got {', '.join(f'{v:g}' for v in t)} h)",
                         source, "time_h")
    if np.any(a < 0):
        raise InputError(f"{what}: negative activity {a.min():g} MBq", source, "activity_mbq")
    u = None
    if uncertainties_mbq is not None:
        u = np.asarray(uncertainties_mbq, dtype=float).ravel()
        if u.shape != t.shape or not np.all(np.isfinite(u)) or np.any(u <= 0):
            raise InputError(f"{what}: activity uncertainties must be positive and finite, one per point",
                             source, "activity_uncertainty_mbq")
    return t, a, u


# ---- exponential fits ------------------------------------------------------------------------
def _sigma(a: np.ndarray, u: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if u is not None:
        return u, True
    return np.maximum(np.abs(a), 1e-3 * np.max(np.abs(a))), False


def _rate_grid(t: np.ndarray, lambda_min: float) -> np.ndarray:
    positive = t[t > 0]
    t_small = positive.min() if positive.size else 1.0
    upper = max(20.0 / t_small, 100.0 * lambda_min, 1.0)
    return np.geomspace(max(lambda_min, 1e-6) * 1.0001, upper, 28)


def rate_upper_bound_per_h(t: np.ndarray, lambda_min: float) -> float:
    """Largest rate constant a fit may take: ten times the top of the start grid (200 / earliest time).
    A faster rate has decayed to e^-200 by the first sample, so the data cannot tell it from any other
    fast rate: a fit that ends there has an undetermined rate (warned), instead of drifting to 1e6 /h."""
    return 10.0 * float(_rate_grid(t, lambda_min)[-1])


#: Starts kept for a model with more than two parameters, chosen with distinct fastest rates.
MULTI_STARTS = 6


def _start_values(model: _Exponential, t, a, sigma, lambda_min, keep: int = 3) -> list[np.ndarray]:
    """Variable projection on a grid of ordered rates: for each rate combination the non-negative
    amplitudes that fit best (weighted least squares, vectorised over combinations). The best
    combination is always a start; further starts (up to ``keep``) are the best combinations whose
    fastest rate differs by at least a factor 2 from every start already taken, so that the starts
    cover the range of uptake (or fast washout) rates instead of clustering in one basin."""
    grid = _rate_grid(t, lambda_min)
    combos = np.array(list(itertools.combinations(grid, model.n_rates)))      # (c, r)
    e = np.exp(-combos[:, :, None] * t[None, None, :]) / sigma               # (c, r, n) weighted
    y = a / sigma
    if model.name == "mono-exp":
        columns = [e[:, 0]]
    elif model.name == "bi-exp-uptake":
        columns = [e[:, 0] - e[:, 1]]
    elif model.name == "bi-exp":
        columns = [e[:, 0], e[:, 1]]
    else:
        columns = [e[:, 0] - e[:, 2], e[:, 1] - e[:, 2]]
    best_residual = np.full(len(combos), np.inf)
    best_amplitudes = np.zeros((len(combos), len(columns)))
    # Non-negative least squares with one or two amplitudes: try every support set, keep the best feasible.
    supports = [(0,)] if len(columns) == 1 else [(0, 1), (0,), (1,)]
    for support in supports:
        b = np.stack([columns[i] for i in support], axis=1)                  # (c, s, n)
        gram = np.einsum("csn,cun->csu", b, b)
        rhs = np.einsum("csn,n->cs", b, y)
        with np.errstate(all="ignore"):
            if len(support) == 1:
                amplitudes = rhs / gram[:, :, 0]
            else:  # 2 x 2 normal equations, Cramer's rule (a singular combination gives inf/nan: infeasible)
                det = gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] ** 2
                amplitudes = np.stack([(gram[:, 1, 1] * rhs[:, 0] - gram[:, 0, 1] * rhs[:, 1]) / det,
                                       (gram[:, 0, 0] * rhs[:, 1] - gram[:, 0, 1] * rhs[:, 0]) / det], axis=1)
        feasible = np.all(amplitudes > 0, axis=1) & np.all(np.isfinite(amplitudes), axis=1)
        residual = np.sum((y[None, :] - np.einsum("cs,csn->cn", amplitudes, b)) ** 2, axis=1)
        better = feasible & (residual < best_residual)
        best_residual[better] = residual[better]
        full = np.zeros((len(combos), len(columns)))
        full[:, list(support)] = amplitudes
        best_amplitudes[better] = full[better]
    chosen: list[int] = []
    for i in np.argsort(best_residual):
        if len(chosen) >= keep or not np.isfinite(best_residual[i]):
            break
        fastest = combos[i, -1]
        if all(abs(math.log(fastest / combos[j, -1])) >= math.log(2.0) for j in chosen):
            chosen.append(int(i))
    return [model.internal_from(best_amplitudes[i], combos[i]) for i in chosen]


@dataclass
class _Optimum:
    """The best of the multi-start fits, and what the other starts found."""

    q: np.ndarray
    wrss: float
    jac: np.ndarray
    active: np.ndarray            # parameters at a bound (held fixed in the covariance)
    undetermined: np.ndarray      # fast rates the data cannot determine (at the upper bound, or a term that
                                  # has vanished before the first time point)
    local_optima: list            # (wrss, tia) of every converged start


def _fit_exponential(model: _Exponential, t, a, u, lambda_min) -> _Optimum:
    """Bounded weighted least squares from several starts (one for two-parameter models, up to
    :data:`MULTI_STARTS` otherwise); the lowest residual wins (docs/physics.md section 5.2)."""
    from scipy.optimize import least_squares

    sigma, _ = _sigma(a, u)
    k = model.n_parameters
    lower = np.zeros(k)
    for index in model.rate_index:
        lower[index] = lambda_min
    upper = np.full(k, np.inf)
    rate_max = rate_upper_bound_per_h(t, lambda_min)
    amplitudes = set(model.amplitude_index)
    for index in range(k):
        if index not in amplitudes:  # every rate and rate increment
            upper[index] = rate_max
    best, optima = None, []
    starts = _start_values(model, t, a, sigma, lambda_min, keep=1 if k <= 2 else MULTI_STARTS)
    for q0 in starts:
        q0 = np.clip(q0, lower, upper)
        q0 = np.where(q0 == lower, lower + np.maximum(np.abs(lower), 1e-9) * 1e-6 + 1e-12, q0)
        q0 = np.where(q0 >= upper, upper * (1.0 - 1e-6), q0)
        try:
            result = least_squares(lambda q: (model.evaluate(t, model.natural(q)) - a) / sigma, q0,
                                   jac=lambda q: model.jacobian(t, q) / sigma[:, None], bounds=(lower, upper),
                                   method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=1000)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not np.all(np.isfinite(result.x)):
            continue
        optima.append((float(2.0 * result.cost), float(model.tia(model.natural(result.x)))))
        if best is None or result.cost < best.cost:
            best = result
    if best is None:
        raise ComputationError(f"the {model.name} fit did not converge")
    x = best.x.copy()
    undetermined = np.isfinite(upper) & (x >= upper * (1.0 - 1e-6))
    if _fastest_term_vanished(model, model.natural(x), t, a):
        # Any faster rate fits as well: report the limit (the rate at its upper bound) rather than
        # wherever the optimiser stopped, so that the TIA does not depend on it.
        undetermined[k - 1] = True
        x[k - 1] += rate_max - model.natural(x)[-1]
    residual = (model.evaluate(t, model.natural(x)) - a) / sigma
    wrss = float(residual @ residual)
    jac = model.jacobian(t, x) / sigma[:, None]
    active = np.isclose(x, lower, rtol=1e-7, atol=1e-12) & np.isfinite(lower) & (lower > 0)
    active |= undetermined
    # Amplitudes at zero are active bounds too.
    for index in model.amplitude_index:
        if x[index] <= 1e-12 * max(1.0, float(np.max(a))):
            active[index] = True
    return _Optimum(x, wrss, jac, active, undetermined, optima)


#: A term smaller than this fraction of the largest activity at every time point does not shape the fit.
VANISHED_TERM_FRACTION = 1e-6


def _fastest_term_vanished(model: _Exponential, p, t, a) -> bool:
    """True when the term of the fastest rate (uptake, or fast washout) has decayed below 1e-6 of the
    data by the first time point: the data then cannot determine that rate (its last internal
    parameter), whatever value the optimiser stopped at."""
    if model.name == "bi-exp-uptake":
        amplitude, rate = p[0], p[2]
    elif model.name == "bi-exp":
        amplitude, rate = p[2], p[3]
    elif model.name == "tri-exp":
        amplitude, rate = p[0] + p[2], p[4]
    else:
        return False
    return bool(abs(amplitude) * math.exp(-rate * float(np.min(t))) < VANISHED_TERM_FRACTION * float(np.max(np.abs(a))))


def _covariance(jac, active, wrss, n, k, absolute) -> tuple[np.ndarray | None, str]:
    """Internal-parameter covariance; parameters at a bound are held fixed (zero variance)."""
    free = ~active
    dof = n - int(free.sum())
    if not absolute and dof < 1:
        return None, "none (no degree of freedom and no measurement uncertainties)"
    cov = np.zeros((k, k))
    jf = jac[:, free]
    try:
        inverse = np.linalg.pinv(jf.T @ jf, rcond=1e-13)
    except np.linalg.LinAlgError:
        return None, "none (singular fit)"
    scale = 1.0 if absolute else wrss / dof
    cov[np.ix_(free, free)] = inverse * scale
    return cov, ("measurement uncertainties (absolute)" if absolute else f"residuals ({dof} degrees of freedom)")


def aicc(wrss: float, n: int, k: int) -> float | None:
    """Corrected Akaike information criterion n ln(WRSS/n) + 2k + 2k(k+1)/(n-k-1); None when n <= k+1
    (Glatting et al., Med Phys 2007;34:4285)."""
    if n - k - 1 <= 0:
        return None
    wrss = max(wrss, _WRSS_FLOOR_PER_POINT * n)
    return n * math.log(wrss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def fit_exponential(model_name: str, times_h, activities_mbq, uncertainties_mbq=None, clamp: bool = True,
                    voi: str = "", source: str | None = None) -> FitResult:
    """Fit one exponential model (see the module docstring)."""
    t, a, u = validate_tac(times_h, activities_mbq, uncertainties_mbq, source, voi)
    model = _MODELS[model_name]
    n, k = t.size, model.n_parameters
    if n < k:
        raise InputError(f"VOI '{voi}': {model_name} needs at least {k} time points, got {n}", source, "model")
    if not np.any(a > 0):
        raise InputError(f"VOI '{voi}': zero activity at every time point", source, "activity_mbq")
    lambda_min = DECAY_CONSTANT_PER_H if clamp else _UNCLAMPED_MIN_RATE_PER_H
    optimum = _fit_exponential(model, t, a, u, lambda_min)
    q, wrss, jac, active = optimum.q, optimum.wrss, optimum.jac, optimum.active
    p = model.natural(q)
    cov_q, source_text = _covariance(jac, active, wrss, n, k, u is not None)
    warnings = []
    clamped = bool(clamp and any(active[i] for i in model.rate_index))
    if cov_q is not None:
        cov_p = model.matrix @ cov_q @ model.matrix.T
        g = model.tia_gradient(p)
        tia_u = float(math.sqrt(max(g @ cov_p @ g, 0.0)))
        p_u = {name: float(math.sqrt(max(cov_p[i, i], 0.0))) for i, name in enumerate(model.names)}
    else:
        tia_u = None
        p_u = {name: None for name in model.names}
        warnings.append(f"{model_name}: the fit has no degree of freedom and no per-point uncertainties were "
                        "given: its TIA uncertainty is unknown")
    if clamped:
        warnings.append(_clamp_warning(model, t, a, u, voi))
    undetermined = [model.names[i] for i in np.flatnonzero(optimum.undetermined)]
    if undetermined:
        warnings.append(f"{model_name}: {', '.join(undetermined)} not determined by the data (its term has vanished "
                        f"before the first time point, or the rate reached its upper bound "
                        f"{rate_upper_bound_per_h(t, lambda_min):.3g} /h): the fit reduces to a simpler model")
    tia = float(model.tia(p))
    if not math.isfinite(tia) or tia < 0:
        raise ComputationError(f"VOI '{voi}': the {model_name} fit gave a non-finite or negative TIA")
    rival = _rival_optimum(optimum.local_optima, wrss, tia, n)
    if rival is not None:
        warnings.append(f"{model_name}: another start reached an almost equally good fit (weighted residual "
                        f"{rival[0]:.3g} against {wrss:.3g}) with a TIA of {rival[1]:.0f} MBq h against {tia:.0f}: the "
                        "curve does not determine the model's parameters; prefer a simpler model")
    return FitResult(model_name, model.formula, dict(zip(model.names, map(float, p))), p_u, tia, tia_u, n, k,
                     wrss, aicc(wrss, n, k), clamped, source_text, [w for w in warnings if w], t, a,
                     bound_parameters=[model.names[i] for i in np.flatnonzero(active)],
                     starts=len(optimum.local_optima))


#: Two local optima whose weighted residuals differ by less than this fraction are "equally good".
RIVAL_RESIDUAL_FRACTION = 0.01
#: ... and they disagree when their TIAs differ by more than this fraction.
RIVAL_TIA_FRACTION = 0.02


def _rival_optimum(optima, wrss: float, tia: float, n: int) -> tuple[float, float] | None:
    """A converged start whose residual is within 1 % of the best but whose TIA differs by more than 2 %."""
    tolerance = max(RIVAL_RESIDUAL_FRACTION * wrss, _WRSS_FLOOR_PER_POINT * n)
    rivals = [(w, x) for w, x in optima if w <= wrss + tolerance and abs(x - tia) > RIVAL_TIA_FRACTION * abs(tia)]
    return max(rivals, key=lambda r: abs(r[1] - tia)) if rivals else None


def _clamp_warning(model: _Exponential, t, a, u, voi) -> str:
    """Say whether the data themselves put the slowest rate below physical decay."""
    try:
        optimum = _fit_exponential(model, t, a, u, _UNCLAMPED_MIN_RATE_PER_H)
    except ComputationError:
        return f"{model.name}: slowest rate clamped to the physical decay constant of 177Lu"
    p = model.natural(optimum.q)
    slow = p[1]
    cov_q, _ = _covariance(optimum.jac, optimum.active, optimum.wrss, t.size, model.n_parameters, u is not None)
    slow_u = math.sqrt(max((model.matrix @ cov_q @ model.matrix.T)[1, 1], 0.0)) if cov_q is not None else float("nan")
    if math.isfinite(slow_u) and slow + 2.0 * slow_u < DECAY_CONSTANT_PER_H:
        return (f"{model.name}: the data put the slowest rate at {slow:.5f} +- {slow_u:.5f} /h, below the physical "
                f"decay constant {DECAY_CONSTANT_PER_H:.5f} /h (the VOI was still gaining activity at the last point); "
                "the clamped fit (physical-decay tail) is kept; a later time point would settle it")
    return (f"{model.name}: slowest rate clamped to the physical decay constant {DECAY_CONSTANT_PER_H:.5f} /h "
            f"(unclamped fit {slow:.5f} /h, within 2 standard uncertainties)")


# ---- trapezoid and single time point ---------------------------------------------------------
def _trapezoid_weights(t: np.ndarray, start: str) -> np.ndarray:
    """TIA = sum(w_i A_i): straight lines between points, a start segment, physical decay after the last."""
    n = t.size
    w = np.zeros(n)
    for i in range(n - 1):
        half = 0.5 * (t[i + 1] - t[i])
        w[i] += half
        w[i + 1] += half
    w[0] += 0.5 * t[0] if start == "zero" else t[0]
    w[-1] += 1.0 / DECAY_CONSTANT_PER_H
    return w


def _trapezoid_curve(t, a, t_eval, start: str) -> np.ndarray:
    t_eval = np.asarray(t_eval, dtype=float)
    tt = np.concatenate([[0.0], t]) if t[0] > 0 else t
    aa = np.concatenate([[0.0 if start == "zero" else a[0]], a]) if t[0] > 0 else a
    inside = np.interp(t_eval, tt, aa)
    tail = a[-1] * np.exp(-DECAY_CONSTANT_PER_H * (t_eval - t[-1]))
    return np.where(t_eval > t[-1], tail, inside)


def fit_trapezoid(times_h, activities_mbq, uncertainties_mbq=None, start: str = "zero", voi: str = "",
                  source: str | None = None) -> FitResult:
    """Trapezoidal integration with a physical-decay tail (no extrapolation of biological clearance)."""
    if start not in ("zero", "constant"):
        raise ValueError(f"unknown trapezoid start '{start}'")
    t, a, u = validate_tac(times_h, activities_mbq, uncertainties_mbq, source, voi)
    w = _trapezoid_weights(t, start)
    tia = float(w @ a)
    warnings = []
    if u is not None:
        tia_u = float(math.sqrt(np.sum((w * u) ** 2)))
        source_text = "measurement uncertainties (absolute)"
    else:
        tia_u = None
        source_text = "none (trapezoid without per-point uncertainties)"
        warnings.append("trapezoid: no per-point activity uncertainties were given: the TIA uncertainty holds "
                        "only the calibration and recovery terms")
    tail_share = a[-1] / DECAY_CONSTANT_PER_H / tia if tia > 0 else 0.0
    if tail_share > 0.5:
        warnings.append(f"trapezoid: {100 * tail_share:.0f} % of the TIA is the physical-decay tail after the last "
                        "point (an upper bound where biological clearance continues)")
    return FitResult("trapezoid", f"trapezoid from {'A=0' if start == 'zero' else 'A(t1)'} at t=0, physical decay "
                     "after the last point", {"tail_fraction": float(tail_share)}, {}, tia, tia_u, t.size, 0,
                     None, None, False, source_text, warnings, t, a, start)


def hanscheid_model_relative_uncertainty(time_h: float) -> float:
    """Relative standard uncertainty of the STP approximation at ``time_h``.

    The approximation 2 t / ln 2 equals the mono-exponential TIA / A(t) = e^(l t) / l when the
    effective half-life is t; for another half-life the ratio is 2 x e^(-x) / ln 2 with x = l t.
    The effective half-life is taken as uniformly distributed between t/2 and min(2 t, physical
    half-life); the standard deviation of the ratio over that range is returned (a stated model
    assumption, not a published figure).
    """
    from .lu177 import HALF_LIFE_H

    t_eff = np.linspace(0.5 * time_h, max(0.5 * time_h, min(2.0 * time_h, HALF_LIFE_H)), 401)
    x = math.log(2.0) / t_eff * time_h
    ratio = 2.0 * x * np.exp(-x) / math.log(2.0)
    return float(np.std(1.0 / ratio))


def fit_hanscheid(times_h, activities_mbq, uncertainties_mbq=None, voi: str = "", source: str | None = None) -> FitResult:
    """Single-time-point TIA = A(t) 2 t / ln 2 (Hänscheid et al., JNM 2018;59:75)."""
    t, a, u = validate_tac(times_h, activities_mbq, uncertainties_mbq, source, voi)
    if t.size != 1:
        raise InputError(f"VOI '{voi}': hanscheid-stp takes exactly one time point, got {t.size}", source, "model")
    if t[0] <= 0:
        raise InputError(f"VOI '{voi}': hanscheid-stp needs a time after administration", source, "time_h")
    factor_h = 2.0 * t[0] / math.log(2.0)
    tia = float(a[0] * factor_h)
    model_u = hanscheid_model_relative_uncertainty(float(t[0])) * tia
    measurement_u = float(u[0] * factor_h) if u is not None else 0.0
    warnings = []
    if not 48.0 <= t[0] <= 120.0:
        warnings.append(f"hanscheid-stp: the time point ({t[0]:.1f} h) is outside 48-120 h; the approximation is "
                        "best near 72-96 h (Hänscheid et al. 2018)")
    return FitResult("hanscheid-stp", "A(t) 2 t / ln 2", {"activity_mbq": float(a[0]), "time_h": float(t[0])}, {},
                     tia, float(math.hypot(model_u, measurement_u)), 1, 0, None, None, False,
                     "model (effective half-life between t/2 and 2t)" + (" and measurement" if u is not None else ""),
                     warnings, t, a)


# ---- choice ----------------------------------------------------------------------------------
#: Which simpler exponentials each model contains as a special case (a rate going to infinity or an
#: amplitude to zero): the pairs the F-test of :func:`fit_auto` may compare.
NESTED_MODELS = {"bi-exp-uptake": ("mono-exp",), "bi-exp": ("mono-exp",),
                 "tri-exp": ("mono-exp", "bi-exp-uptake", "bi-exp")}
#: Significance level of the F-test between nested models.
F_TEST_ALPHA = 0.05


def f_test(simple: FitResult, rich: FitResult) -> tuple[float, float]:
    """F statistic and p-value of the richer of two nested least-squares fits to the same points:
    F = ((WRSS_s - WRSS_r) / (k_r - k_s)) / (WRSS_r / (n - k_r)), with (k_r - k_s, n - k_r) degrees of
    freedom (the F-test of nested models; Glatting et al., Med Phys 2007;34:4285). WRSS floored as in
    the AICc (noise-free data)."""
    from scipy.stats import f as f_distribution

    n = simple.n_points
    floor = _WRSS_FLOOR_PER_POINT * n
    ws, wr = max(simple.weighted_rss, floor), max(rich.weighted_rss, floor)
    df1, df2 = rich.n_parameters - simple.n_parameters, n - rich.n_parameters
    if df1 <= 0 or df2 <= 0:
        raise ValueError("the F-test needs a richer model and at least one residual degree of freedom")
    statistic = max(ws - wr, 0.0) / df1 / (wr / df2)
    return float(statistic), float(f_distribution.sf(statistic, df1, df2))


def fit_auto(times_h, activities_mbq, uncertainties_mbq=None, clamp: bool = True, voi: str = "",
             source: str | None = None) -> FitResult:
    """Choose the model (docs/physics.md section 5.6).

    - 1 point: ``hanscheid-stp``; 2 points: ``trapezoid``.
    - 3 points or more: every exponential with at least one degree of freedom (n > k) is fitted; those
      whose AICc exists (n >= k + 2) are ranked and the lowest AICc wins (with 3 points no model has an
      AICc: ``mono-exp``, the only one with a degree of freedom, is taken).
    - A richer model that the AICc cannot rank (n = k + 1: bi-exp-uptake at 4 points, bi-exp at 5,
      tri-exp at 6) replaces the choice when it contains it as a special case and an F-test says it fits
      significantly better (p < 0.05), provided none of its parameters sits at a bound (a rate at a
      bound or a zero amplitude means the extra parameter is not determined by the data).
    - A candidate whose fit fails is skipped; when none is left the trapezoid is used, with a warning.
    """
    t, a, u = validate_tac(times_h, activities_mbq, uncertainties_mbq, source, voi)
    n = t.size
    if n == 1:
        return fit_hanscheid(t, a, u, voi, source)
    if n == 2:
        result = fit_trapezoid(t, a, u, voi=voi, source=source)
        result.selection = ("auto: two time points: trapezoid (too few points for an exponential fit with an "
                            "uncertainty)")
        return result
    fits, failures = [], []
    for name in EXPONENTIAL_MODELS:
        k = _MODELS[name].n_parameters
        if n <= k:
            continue
        try:
            fits.append(fit_exponential(name, t, a, u, clamp, voi, source))
        except ComputationError as exc:
            failures.append(f"{name}: {exc}")
    ranked = [f for f in fits if f.aicc is not None]
    if ranked:
        best = min(ranked, key=lambda f: f.aicc)
        note = "auto: lowest AICc among " + ", ".join(f"{f.model} ({f.aicc:.2f})" for f in ranked)
    elif fits and fits[0].model == "mono-exp":
        best = fits[0]
        note = f"auto: {n} points: mono-exp (the only model with a degree of freedom; AICc needs n >= k + 2)"
    else:
        best = fit_trapezoid(t, a, u, voi=voi, source=source)
        note = "auto: no exponential fit converged (" + "; ".join(failures) + "): trapezoid"
        best.warnings.append(note)
        best.selection = note
        return best
    for rich in sorted((f for f in fits if f.aicc is None), key=lambda f: f.n_parameters):
        if best.model not in NESTED_MODELS.get(rich.model, ()):
            continue
        if rich.bound_parameters:
            note += (f"; {rich.model} not tested against it ({', '.join(rich.bound_parameters)} at a bound: "
                     "the extra parameter is not determined)")
            continue
        statistic, p_value = f_test(best, rich)
        verdict = "significantly better" if p_value < F_TEST_ALPHA else "not significantly better"
        note += (f"; F-test {rich.model} against {best.model}: F = {statistic:.3g}, p = {p_value:.3g} "
                 f"({verdict} at {F_TEST_ALPHA:g})")
        if p_value < F_TEST_ALPHA:
            best = rich
    best.selection = note + f": {best.model}"
    best.warnings.extend(failures)
    return best


def fit_tac(model: str, times_h, activities_mbq, uncertainties_mbq=None, clamp: bool = True, voi: str = "",
            source: str | None = None, trapezoid_start: str = "zero") -> FitResult:
    """Integrate one TAC with ``model`` (one of :data:`MODEL_CHOICES`)."""
    if model not in MODEL_CHOICES:
        raise InputError(f"unknown kinetic model '{model}' (choose from {', '.join(MODEL_CHOICES)})", source, "model")
    t, a, u = validate_tac(times_h, activities_mbq, uncertainties_mbq, source, voi)
    if t.size < MINIMUM_POINTS.get(model, 1):
        raise InputError(f"VOI '{voi}': {model} needs at least {MINIMUM_POINTS[model]} time points, got {t.size}",
                         source, "model")
    if model == "auto":
        return fit_auto(t, a, u, clamp, voi, source)
    if model == "trapezoid":
        return fit_trapezoid(t, a, u, trapezoid_start, voi, source)
    if model == "hanscheid-stp":
        return fit_hanscheid(t, a, u, voi, source)
    return fit_exponential(model, t, a, u, clamp, voi, source)


def combine_uncertainty(tia_mbqh: float, fit_uncertainty_mbqh: float | None, calibration_relative: float = 0.0,
                        recovery_relative: float = 0.0) -> tuple[float | None, dict]:
    """Total TIA standard uncertainty: fit (or points) and the relative calibration and recovery terms
    in quadrature (EANM, Gear et al. 2018). None when the fit term is unknown and nothing else is given."""
    components = {
        "fit_mbqh": fit_uncertainty_mbqh,
        "calibration_mbqh": abs(calibration_relative) * tia_mbqh,
        "recovery_mbqh": abs(recovery_relative) * tia_mbqh,
    }
    known = [v for v in components.values() if v is not None]
    if fit_uncertainty_mbqh is None and not any(known):
        return None, components
    return float(math.sqrt(sum(v * v for v in known))), components

"""Scaling laws of transfer learning (paper 3, *Scaling law of Sim2Real transfer learning*).

The test error R of a model pretrained on n source samples and fine-tuned on m target samples:

* one dimension (m fixed):  ``R(n) = D · n^(-alpha) + C``; C is the **transfer gap**, the error
  that no amount of source data removes;
* two dimensions:           ``R(n, m) = (A · n^(-alpha) + B) · m^(-beta) + eps``;
* the **marginal rate of substitution** ``MRS = (dR/dm) / (dR/dn)``: how many source samples one
  more target sample is worth at (n, m), in source samples per target sample.

Fits are nonlinear least squares on log R (relative residuals, so the small errors at large n
weigh as much as the large ones at small n) with every parameter >= 0, to the mean error over
repeats. Confidence intervals are percentile bootstraps over repeats: resample the repeats with
replacement, average, refit. Pure numpy/scipy; knows nothing of the training engine.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

POWER_LAW_PARAMS = ("D", "alpha", "C")
POWER_LAW_2D_PARAMS = ("A", "alpha", "B", "beta", "eps")
MAX_EXPONENT = 10.0
"""Upper bound of the fitted exponents alpha and beta."""


class ScalingFitError(ValueError):
    """Data that cannot be fitted (too few points, non-positive errors, wrong shapes)."""


# --------------------------------------------------------------------------- the laws


def power_law(n: np.ndarray | float, D: float, alpha: float, C: float) -> np.ndarray:
    """``D · n^(-alpha) + C`` (n > 0, any shape)."""
    return D * np.power(np.asarray(n, dtype=np.float64), -alpha) + C


def power_law_2d(
    n: np.ndarray | float, m: np.ndarray | float, A: float, alpha: float, B: float, beta: float, eps: float
) -> np.ndarray:
    """``(A · n^(-alpha) + B) · m^(-beta) + eps`` (n, m > 0; broadcast together)."""
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    return (A * np.power(n, -alpha) + B) * np.power(m, -beta) + eps


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScalingFit:
    """A fitted law: point estimates, bootstrap CIs and the bootstrap samples.

    Attributes:
        params: parameter name -> estimate (fit to the mean over all repeats).
        ci_low, ci_high: parameter name -> bounds of the percentile bootstrap CI (NaN without repeats).
        confidence: CI level, e.g. 0.95.
        samples: bootstrap estimates, float64 [n_bootstrap, n_params] in :attr:`names` order
            (rows of failed refits are dropped); empty with one repeat.
        rmse_log: root-mean-square residual of the point fit in log R.
        n_points: number of (mean) data points fitted.
        n_repeats: number of repeats averaged.
    """

    params: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    confidence: float
    samples: np.ndarray = field(repr=False)
    rmse_log: float
    n_points: int
    n_repeats: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.params)

    def __getitem__(self, name: str) -> float:
        return self.params[name]

    def sample_params(self) -> list[dict[str, float]]:
        """The bootstrap estimates as one dict per resample."""
        return [dict(zip(self.names, row)) for row in self.samples]


@dataclass(frozen=True)
class PowerLawFit(ScalingFit):
    """``R(n) = D n^-alpha + C``; ``C`` is the transfer gap."""

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        return power_law(n, **self.params)


@dataclass(frozen=True)
class PowerLaw2DFit(ScalingFit):
    """``R(n, m) = (A n^-alpha + B) m^-beta + eps``."""

    def predict(self, n: np.ndarray | float, m: np.ndarray | float) -> np.ndarray:
        return power_law_2d(n, m, **self.params)

    def transfer_gap(self, m: np.ndarray | float) -> np.ndarray:
        """The error left at n → ∞ for m target samples: ``B m^-beta + eps``."""
        return self.params["B"] * np.power(np.asarray(m, dtype=np.float64), -self.params["beta"]) + self.params["eps"]


# --------------------------------------------------------------------------- input checks


def _as_repeats(R: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """R as float64 [repeats, *shape] (a single repeat may omit the first axis); NaN = missing."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape == shape:
        R = R[None]
    if R.shape[1:] != shape:
        raise ScalingFitError(f"{what}: R has shape {R.shape}, expected [repeats, {', '.join(map(str, shape))}]")
    if np.any(R[np.isfinite(R)] <= 0):
        raise ScalingFitError(f"{what}: errors must be > 0 (the fit is in log R)")
    if np.any(np.isinf(R)):
        raise ScalingFitError(f"{what}: errors must be finite (NaN marks a missing value)")
    return R


def _sizes(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ScalingFitError(f"{name}: expected a 1-D array of sample sizes")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ScalingFitError(f"{name}: sample sizes must be finite and > 0 (got {values.tolist()})")
    return values


def _mean_over(R: np.ndarray, rows: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": all-NaN -> NaN
        return np.nanmean(R[rows], axis=0)


# --------------------------------------------------------------------------- core fitting


def _power_law_gradient(n: np.ndarray, D: float, alpha: float, C: float) -> np.ndarray:
    """d power_law / d(D, alpha, C), [k, 3]."""
    n_alpha = np.power(n, -alpha)
    return np.stack([n_alpha, -D * n_alpha * np.log(n), np.ones_like(n)], axis=1)


def _power_law_2d_gradient(n: np.ndarray, m: np.ndarray, A: float, alpha: float, B: float, beta: float, eps: float) -> np.ndarray:
    """d power_law_2d / d(A, alpha, B, beta, eps), [k, 5]."""
    n_alpha = np.power(n, -alpha)
    m_beta = np.power(m, -beta)
    return np.stack(
        [n_alpha * m_beta, -A * n_alpha * np.log(n) * m_beta, m_beta, -(A * n_alpha + B) * m_beta * np.log(m), np.ones_like(n)],
        axis=1,
    )


def _fit_log_least_squares(
    model, gradient, x: tuple[np.ndarray, ...], y: np.ndarray, starts: list[np.ndarray], lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Best of several bounded least-squares fits of log(model(x, p)) to log y; returns (p, rmse)."""
    log_y = np.log(y)
    tiny = np.finfo(np.float64).tiny

    def residuals(p: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(model(*x, *p), tiny)) - log_y

    def jacobian(p: np.ndarray) -> np.ndarray:
        return gradient(*x, *p) / np.maximum(model(*x, *p), tiny)[:, None]

    best, best_cost = None, np.inf
    for start in starts:
        start = np.clip(start, lower + 1e-12, upper - 1e-12)
        try:
            result = least_squares(
                residuals, start, jac=jacobian, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=2000
            )
        except (ValueError, FloatingPointError):  # pragma: no cover - defensive
            continue
        if np.isfinite(result.cost) and result.cost < best_cost:
            best, best_cost = result.x, result.cost
    if best is None:
        raise ScalingFitError("the least-squares fit failed from every starting point")
    return best, float(np.sqrt(2.0 * best_cost / y.size))


def _power_law_starts(n: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Starting points: for a few guesses of C, a log-log line through y - C gives D and alpha."""
    starts = []
    for c_fraction in (0.0, 0.5, 0.9):
        C = c_fraction * float(y.min())
        excess = np.maximum(y - C, 1e-3 * float(y.min()))
        slope, intercept = np.polyfit(np.log(n), np.log(excess), 1)
        starts.append(np.array([np.exp(intercept), float(np.clip(-slope, 0.01, MAX_EXPONENT - 0.01)), C]))
    return starts


def _bootstrap(
    R: np.ndarray, fit_mean, point: np.ndarray, n_bootstrap: int, seed: int
) -> np.ndarray:
    """Refit ``fit_mean(mean over resampled repeats, start)`` for each resample; [n_ok, n_params]."""
    n_repeats = R.shape[0]
    if n_repeats < 2 or n_bootstrap < 1:
        return np.empty((0, point.size))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_bootstrap):
        mean = _mean_over(R, rng.integers(0, n_repeats, size=n_repeats))
        try:
            rows.append(fit_mean(mean, [point]))
        except ScalingFitError:
            continue
    return np.asarray(rows, dtype=np.float64).reshape(-1, point.size)


def _make_fit(cls, names, point, rmse, samples, confidence, n_points, n_repeats) -> ScalingFit:
    if samples.shape[0] >= 2:
        tail = 100.0 * (1.0 - confidence) / 2.0
        low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    else:
        low = high = np.full(point.size, np.nan)
    return cls(
        params={k: float(v) for k, v in zip(names, point)},
        ci_low={k: float(v) for k, v in zip(names, low)},
        ci_high={k: float(v) for k, v in zip(names, high)},
        confidence=confidence, samples=samples, rmse_log=rmse, n_points=n_points, n_repeats=n_repeats,
    )


# --------------------------------------------------------------------------- public API


def fit_power_law(
    n: np.ndarray, R: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> PowerLawFit:
    """Fit ``R(n) = D n^-alpha + C`` with a bootstrap over repeats.

    Args:
        n: source sample sizes, [k] (k >= 3 distinct values with data).
        R: errors, [repeats, k] (or [k] for one repeat, then no CI); NaN marks a missing value.
        n_bootstrap: bootstrap resamples of the repeats.
        confidence: level of the percentile CI.
        seed: seed of the bootstrap.

    Returns:
        :class:`PowerLawFit` with D, alpha, C >= 0 (``C`` = transfer gap, units of R).

    Raises:
        ScalingFitError: shapes, fewer than 3 sizes, non-positive errors.
    """
    n = _sizes(n, "n")
    R = _as_repeats(R, (n.size,), "fit_power_law")
    _check_confidence(confidence)
    lower = np.zeros(3)
    upper = np.array([np.inf, MAX_EXPONENT, np.inf])

    def fit_mean(mean: np.ndarray, starts: list[np.ndarray] | None = None) -> np.ndarray:
        ok = np.isfinite(mean)
        if np.unique(n[ok]).size < 3:
            raise ScalingFitError(f"fit_power_law: needs errors at >= 3 distinct n for 3 parameters (got {np.unique(n[ok]).size})")
        x, y = n[ok], mean[ok]
        all_starts = starts or _power_law_starts(x, y)
        return _fit_log_least_squares(power_law, _power_law_gradient, (x,), y, all_starts, lower, upper)[0]

    mean = _mean_over(R, np.arange(R.shape[0]))
    point = fit_mean(mean)
    ok = np.isfinite(mean)
    rmse = float(np.sqrt(np.mean((np.log(power_law(n[ok], *point)) - np.log(mean[ok])) ** 2)))
    samples = _bootstrap(R, lambda m, s: fit_mean(m, s), point, n_bootstrap, seed)
    return _make_fit(PowerLawFit, POWER_LAW_PARAMS, point, rmse, samples, confidence, int(ok.sum()), R.shape[0])


def fit_power_law_2d(
    n: np.ndarray, m: np.ndarray, R: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> PowerLaw2DFit:
    """Fit ``R(n, m) = (A n^-alpha + B) m^-beta + eps`` with a bootstrap over repeats.

    Args:
        n: source sample sizes, [k_n] (>= 2 distinct).
        m: target sample sizes, [k_m] (>= 2 distinct).
        R: errors on the grid, [repeats, k_n, k_m] (or [k_n, k_m] for one repeat); NaN = missing.
            At least 6 grid points must have data (5 parameters).
        n_bootstrap, confidence, seed: as in :func:`fit_power_law`.

    Returns:
        :class:`PowerLaw2DFit` with every parameter >= 0.
    """
    n = _sizes(n, "n")
    m = _sizes(m, "m")
    if np.unique(n).size < 2 or np.unique(m).size < 2:
        raise ScalingFitError("fit_power_law_2d: needs >= 2 distinct n and >= 2 distinct m")
    R = _as_repeats(R, (n.size, m.size), "fit_power_law_2d")
    _check_confidence(confidence)
    nn, mm = np.meshgrid(n, m, indexing="ij")
    lower = np.zeros(5)
    upper = np.array([np.inf, MAX_EXPONENT, np.inf, MAX_EXPONENT, np.inf])

    def fit_mean(mean: np.ndarray, starts: list[np.ndarray] | None = None) -> np.ndarray:
        ok = np.isfinite(mean)
        if ok.sum() < 6:
            raise ScalingFitError(f"fit_power_law_2d: needs >= 6 grid points with data for 5 parameters (got {int(ok.sum())})")
        x, y = (nn[ok], mm[ok]), mean[ok]
        if starts:
            return _fit_log_least_squares(power_law_2d, _power_law_2d_gradient, x, y, starts, lower, upper)[0]
        all_starts = []
        y_min = float(y.min())
        # beta from the m-slope at the largest n, alpha from the n-slope at the smallest m
        for eps_fraction in (0.0, 0.5):
            eps = eps_fraction * y_min
            for b_fraction in (0.1, 0.5):
                for alpha0 in (0.3, 1.0):
                    for beta0 in (0.3, 1.0):
                        scale = float(np.median((y - eps) * np.power(x[1], beta0)))
                        B = b_fraction * scale
                        A = max(scale - B, 1e-6) * float(np.median(x[0])) ** alpha0
                        all_starts.append(np.array([A, alpha0, B, beta0, eps]))
        return _fit_log_least_squares(power_law_2d, _power_law_2d_gradient, x, y, all_starts, lower, upper)[0]

    mean = _mean_over(R, np.arange(R.shape[0]))
    point = fit_mean(mean)
    ok = np.isfinite(mean)
    rmse = float(np.sqrt(np.mean((np.log(power_law_2d(nn[ok], mm[ok], *point)) - np.log(mean[ok])) ** 2)))
    samples = _bootstrap(R, lambda mu, s: fit_mean(mu, s), point, n_bootstrap, seed)
    return _make_fit(PowerLaw2DFit, POWER_LAW_2D_PARAMS, point, rmse, samples, confidence, int(ok.sum()), R.shape[0])


def marginal_rate_of_substitution(
    params: Mapping[str, float], n: np.ndarray | float, m: np.ndarray | float
) -> np.ndarray:
    """``(dR/dm) / (dR/dn)`` of the 2-D law at (n, m): source samples that one target sample is worth.

    Closed form: ``(beta / alpha) · (n / m) · (1 + (B / A) · n^alpha)``. Both derivatives are
    negative (more data, less error), so the ratio is positive: adding one target sample lowers R
    as much as adding MRS source samples. ``inf`` when source data does not help (A = 0 or alpha = 0).

    Args:
        params: A, alpha, B, beta (eps is not needed), e.g. a :class:`PowerLaw2DFit`'s ``params``.
        n, m: sample sizes (> 0), broadcast together.

    Returns:
        float64 array of the broadcast shape, in source samples per target sample.
    """
    A, alpha, B, beta = (float(params[k]) for k in ("A", "alpha", "B", "beta"))
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if np.any(n <= 0) or np.any(m <= 0):
        raise ValueError("marginal_rate_of_substitution: n and m must be > 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        d_dn = -alpha * A * np.power(n, -alpha - 1.0) * np.power(m, -beta)
        d_dm = -beta * (A * np.power(n, -alpha) + B) * np.power(m, -beta - 1.0)
        ratio = np.where(d_dn != 0.0, d_dm / np.where(d_dn != 0.0, d_dn, 1.0), np.inf)
    return np.asarray(ratio, dtype=np.float64)


def marginal_rate_ci(fit: PowerLaw2DFit, n: float, m: float) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) of the MRS at (n, m) from the fit and its bootstrap samples."""
    estimate = float(marginal_rate_of_substitution(fit.params, n, m))
    if fit.samples.shape[0] < 2:
        return estimate, float("nan"), float("nan")
    values = np.array([float(marginal_rate_of_substitution(p, n, m)) for p in fit.sample_params()])
    tail = 100.0 * (1.0 - fit.confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return estimate, float(low), float(high)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ScalingFitError(f"confidence = {confidence!r}: expected a number strictly between 0 and 1")

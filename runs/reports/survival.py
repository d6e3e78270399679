"""Time to threshold as survival data: Kaplan-Meier, restricted mean (RMST), paired comparisons.

A (trial, condition, lab) run is one subject. Its time is the number of observations (``n_obs``,
the initial points counted) at which the lab's best-so-far first reached its threshold; a run
that never reached it is **censored** at its last observation (``n_obs_total``). Nothing is
dropped: an unreached run still says "not before n_obs_total".

- :func:`km_curve` / :func:`km_median`: the Kaplan-Meier estimate of P(not reached after t
  observations) and its median with a CI (lifelines, exponential Greenwood interval).
- :func:`rmst`: the restricted mean time, RMST(tau) = integral from 0 to tau of S(t) dt =
  E[min(T, tau)] (observations). With tau at most every run's last observation (the default
  :func:`restriction_time`) every ``min(T, tau)`` is observed: RMST is then the plain mean of
  ``min(time, tau)`` with unreached runs counted as tau.
- :func:`paired_rmst_difference`: the headline comparison of two conditions that share trial
  seeds (and so initial points): a paired bootstrap over trial indices (a resample draws whole
  trials and recomputes each condition's KM-RMST on it), with the stratified log-rank test
  (:func:`stratified_logrank`, strata = trials) beside it.
- :func:`paired_mean_difference`: the same paired bootstrap for any per-trial value (the best
  value found after a fixed budget of observations).

Shapes: per-subject arrays are 1-D of equal length; ``time`` in observations (> 0), ``event``
boolean (True = reached).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import chi2, nct, norm, t as student_t

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


# --------------------------------------------------------------------------- survival data


def survival_data(obs: pd.DataFrame) -> pd.DataFrame:
    """``obs`` (:func:`labnet.runs.reports.analysis.observations_to_threshold`) with ``time`` and ``event``.

    ``time`` = ``n_obs_to_threshold`` where reached, else ``n_obs_total`` (censored there);
    ``event`` = reached.
    """
    missing = [c for c in ("n_obs_to_threshold", "reached", "n_obs_total") if c not in obs.columns]
    if missing:
        raise ValueError(f"survival data: missing column(s) {', '.join(missing)}; expected the columns of "
                         "observations_to_threshold.csv (n_obs_to_threshold, reached, n_obs_total)")
    reached = obs["reached"].astype(bool).to_numpy()
    time = np.where(reached, obs["n_obs_to_threshold"].to_numpy(float), obs["n_obs_total"].to_numpy(float))
    return obs.assign(time=time, event=reached)


def _arrays(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    if time.shape != event.shape or time.ndim != 1:
        raise ValueError(f"time and event must be 1-D arrays of one length (got shapes {time.shape}, {event.shape})")
    if time.size and (not np.all(np.isfinite(time)) or time.min() < 0):
        raise ValueError("time: expected finite, non-negative numbers of observations")
    return time, event


def km_steps(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier step function: (event times t_j ascending, S just after t_j).

    S(t) = prod over t_j <= t of (1 - d_j / n_j), d_j events at t_j, n_j subjects with time >= t_j.
    Censored subjects at t_j count as at risk at t_j (the usual convention). S = 1 before t_1.
    """
    time, event = _arrays(time, event)
    if not event.any():
        return np.empty(0), np.empty(0)
    times = np.unique(time[event])
    at_risk = (time[None, :] >= times[:, None]).sum(axis=1)
    deaths = (event[None, :] & (time[None, :] == times[:, None])).sum(axis=1)
    return times, np.cumprod(1.0 - deaths / at_risk)


def rmst(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray, tau: float) -> float:
    """Restricted mean time to threshold up to ``tau`` observations: integral of the KM S(t) over [0, tau].

    NaN for no subjects. Equals ``mean(min(time, tau))`` when no subject is censored before tau.
    """
    time, event = _arrays(time, event)
    if time.size == 0 or not np.isfinite(tau):
        return float("nan")
    times, surv = km_steps(time, event)
    keep = times < tau
    knots = np.concatenate([[0.0], times[keep], [tau]])
    levels = np.concatenate([[1.0], surv[keep]])
    return float(np.sum(np.diff(knots) * levels))


def restriction_time(*times: np.ndarray) -> float:
    """Default tau: the smallest last observation over the given subjects (``n_obs_total``), so
    every compared subject is followed up to tau."""
    values = [np.asarray(t, dtype=float) for t in times if np.asarray(t).size]
    return float(min(v.min() for v in values)) if values else float("nan")


@dataclass(frozen=True)
class Median:
    """KM median time to threshold with its CI (observations); NaN/inf when not reached by half."""

    median: float
    ci_low: float
    ci_high: float


def km_median(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray,
              confidence: float = DEFAULT_CONFIDENCE) -> Median:
    """Median time to threshold (lifelines KaplanMeierFitter) and its CI from the exponential
    Greenwood band; ``inf`` where the curve (or a CI bound) never falls to 0.5."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    time, event = _arrays(time, event)
    if time.size == 0:
        return Median(float("nan"), float("nan"), float("nan"))
    fitter = KaplanMeierFitter(alpha=1 - confidence).fit(time, event)
    bounds = median_survival_times(fitter.confidence_interval_).to_numpy(float).ravel()
    return Median(float(fitter.median_survival_time_), float(bounds[0]), float(bounds[1]))


def km_curve(time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray,
             confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """KM curve with its pointwise CI (lifelines): columns ``time, survival, ci_low, ci_high``
    starting at time 0 with S = 1."""
    from lifelines import KaplanMeierFitter

    time, event = _arrays(time, event)
    fitter = KaplanMeierFitter(alpha=1 - confidence).fit(time, event)
    band = fitter.confidence_interval_
    return pd.DataFrame({
        "time": fitter.survival_function_.index.to_numpy(float),
        "survival": fitter.survival_function_.iloc[:, 0].to_numpy(float),
        "ci_low": band.iloc[:, 0].to_numpy(float),
        "ci_high": band.iloc[:, 1].to_numpy(float),
    })


# --------------------------------------------------------------------------- one condition


@dataclass(frozen=True)
class Interval:
    """An estimate with its percentile-bootstrap CI and its N."""

    estimate: float
    ci_low: float
    ci_high: float
    n: int


def rmst_with_ci(time: np.ndarray, event: np.ndarray, tau: float, seed: int = 0,
                 n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """RMST(tau) of one condition and its percentile-bootstrap CI over subjects (seeded)."""
    time, event = _arrays(time, event)
    estimate = rmst(time, event, tau)
    if time.size == 0:
        return Interval(estimate, float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, time.size, size=(n_resamples, time.size))
    values = _rmst_many(time, event, tau, draws)
    low, high = _percentiles(values, confidence)
    return Interval(estimate, low, high, int(time.size))


def _rmst_many(time: np.ndarray, event: np.ndarray, tau: float, draws: np.ndarray) -> np.ndarray:
    """RMST(tau) of every resample (rows of index array ``draws``)."""
    if np.all(time[~event] >= tau):  # nobody censored before tau: RMST = mean(min(time, tau)), vectorized
        return np.minimum(time, tau)[draws].mean(axis=1)
    return np.array([rmst(time[row], event[row], tau) for row in draws])


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return (float(low), float(high))


# --------------------------------------------------------------------------- paired comparisons


@dataclass(frozen=True)
class PairedDifference:
    """A paired comparison a - b over trials that both conditions ran.

    Attributes:
        estimate_a, estimate_b: each condition's estimate on the paired trials.
        difference: estimate_a - estimate_b.
        ci_low, ci_high: percentile-bootstrap CI of the difference (resampling trials).
        se: bootstrap standard error of the difference.
        p_value: two-sided bootstrap p (twice the smaller share of resampled differences on
            either side of 0; at least 1 / n_resamples).
        effect_size: standardized paired effect d_z = difference / (se * sqrt(n)), i.e. the
            mean paired difference over its per-pair standard deviation.
        n: number of pairs (trials).
    """

    estimate_a: float
    estimate_b: float
    difference: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    effect_size: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)


def _paired(estimate_a: float, estimate_b: float, resampled: np.ndarray, n: int, confidence: float,
            n_resamples: int) -> PairedDifference:
    difference = estimate_a - estimate_b
    resampled = resampled[np.isfinite(resampled)]
    if n == 0 or resampled.size == 0:
        nan = float("nan")
        return PairedDifference(estimate_a, estimate_b, difference, nan, nan, nan, nan, nan, n)
    low, high = _percentiles(resampled, confidence)
    se = float(resampled.std(ddof=1)) if resampled.size > 1 else float("nan")
    below, above = np.mean(resampled <= 0), np.mean(resampled >= 0)
    p_value = float(min(1.0, max(2 * min(below, above), 1 / n_resamples)))
    if se > 0:
        effect = difference / (se * np.sqrt(n))
    else:
        effect = 0.0 if difference == 0 else float(np.sign(difference) * np.inf)
    return PairedDifference(estimate_a, estimate_b, float(difference), low, high, se, p_value, float(effect), n)


def paired_rmst_difference(
    time_a: np.ndarray, event_a: np.ndarray, time_b: np.ndarray, event_b: np.ndarray, tau: float,
    seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
) -> PairedDifference:
    """RMST(tau) of a minus that of b, ``time_a[i]`` and ``time_b[i]`` from the same trial i.

    Paired bootstrap: each resample draws n trial indices with replacement and recomputes both
    conditions' KM-RMST on those trials, so the pairing (shared seed and initial points) is kept.
    """
    time_a, event_a = _arrays(time_a, event_a)
    time_b, event_b = _arrays(time_b, event_b)
    if time_a.size != time_b.size:
        raise ValueError(f"paired comparison: {time_a.size} and {time_b.size} subjects; expected one per trial each")
    n = int(time_a.size)
    if n == 0:
        return _paired(float("nan"), float("nan"), np.empty(0), 0, confidence, n_resamples)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    resampled = _rmst_many(time_a, event_a, tau, draws) - _rmst_many(time_b, event_b, tau, draws)
    return _paired(rmst(time_a, event_a, tau), rmst(time_b, event_b, tau), resampled, n, confidence, n_resamples)


def paired_mean_difference(
    values_a: np.ndarray, values_b: np.ndarray, seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairedDifference:
    """Mean of a minus mean of b over paired trials (``values_a[i]``, ``values_b[i]`` from trial i),
    with the paired bootstrap over trials."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison: shapes {a.shape} and {b.shape}; expected one value per trial each")
    n = int(a.size)
    if n == 0:
        return _paired(float("nan"), float("nan"), np.empty(0), 0, confidence, n_resamples)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    differences = a - b
    return _paired(float(a.mean()), float(b.mean()), differences[draws].mean(axis=1), n, confidence, n_resamples)


def cluster_bootstrap_mean_ci(values: np.ndarray, clusters: np.ndarray, seed: int = 0,
                              n_resamples: int = DEFAULT_RESAMPLES,
                              confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile CI of the mean of ``values`` resampling whole clusters (e.g. every lab of a trial
    together, as they share one network)."""
    values = np.asarray(values, dtype=float)
    names, index = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(index, weights=values, minlength=names.size)
    counts = np.bincount(index, minlength=names.size)
    draws = np.random.default_rng(seed).integers(0, names.size, size=(n_resamples, names.size))
    return _percentiles(sums[draws].sum(axis=1) / counts[draws].sum(axis=1), confidence)


def stratified_logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray, stratum: np.ndarray) -> float:
    """Two-sided p of the log-rank test of two groups stratified by ``stratum`` (here: the trial).

    Within each stratum, at every event time: observed minus expected events of the first group
    (hypergeometric expectation d * n_1 / n) and its variance d (n_1/n)(1 - n_1/n)(n - d)/(n - 1);
    both summed over strata; chi-square with 1 degree of freedom. NaN when there is no event or
    no variance (e.g. every pair tied).
    """
    time, event = _arrays(time, event)
    group = np.asarray(group)
    stratum = np.asarray(stratum)
    labels = list(dict.fromkeys(group.tolist()))
    if len(labels) != 2:
        raise ValueError(f"stratified log-rank: expected 2 groups, got {len(labels)}")
    first = group == labels[0]
    observed_minus_expected, variance = 0.0, 0.0
    for value in np.unique(stratum):
        inside = stratum == value
        t, e, g = time[inside], event[inside], first[inside]
        for moment in np.unique(t[e]):
            at_risk = t >= moment
            n, n1 = at_risk.sum(), (at_risk & g).sum()
            d, d1 = (e & (t == moment)).sum(), (e & g & (t == moment)).sum()
            observed_minus_expected += d1 - d * n1 / n
            if n > 1:
                variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    if variance <= 0:
        return float("nan")
    return float(chi2.sf(observed_minus_expected**2 / variance, df=1))


# --------------------------------------------------------------------------- paired t-interval


@dataclass(frozen=True)
class PairedTInterval:
    """Paired t-interval of a mean difference at level ``1 - alpha`` (units of the differences)."""

    n: int
    difference: float
    sd: float
    """Standard deviation of the per-pair differences (ddof 1; NaN for n < 2)."""
    alpha: float
    ci_low: float
    ci_high: float
    half_width: float

    @property
    def excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)

    def verdict(self, a: str, b: str, precision: float | None = None) -> str:
        """``"<a> faster"`` / ``"<b> faster"`` (the interval of a - b excludes 0), ``"no difference
        detected (half-width <= <precision>)"`` (the interval contains 0 and is at most ``precision``
        wide), else ``"undecided"``."""
        if self.excludes_zero:
            return f"{a} faster" if self.ci_high < 0 else f"{b} faster"
        if self.is_precise(precision):
            return f"no difference detected (half-width <= {precision:g})"
        return "undecided"

    def is_precise(self, precision: float | None) -> bool:
        return bool(precision is not None and self.half_width <= precision)


def paired_t_interval(differences: Sequence[float] | np.ndarray, alpha: float = 0.05) -> PairedTInterval:
    """mean(d) +- t_{n-1, 1-alpha/2} sd(d) / sqrt(n) over per-pair differences ``d`` (1-D); infinite
    half-width for n < 2."""
    d = np.asarray(differences, dtype=float)
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    if n < 2:
        return PairedTInterval(n, mean, float("nan"), alpha, -np.inf, np.inf, np.inf)
    sd = float(d.std(ddof=1))
    half = float(student_t.ppf(1 - alpha / 2, df=n - 1)) * sd / np.sqrt(n)
    return PairedTInterval(n, mean, sd, alpha, mean - half, mean + half, half)


# --------------------------------------------------------------------------- power


def power_at(n: int, effect: float, sd_paired: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` with ``n`` pairs against a mean
    difference ``effect`` at per-pair standard deviation ``sd_paired`` (exact under normality: the
    noncentral t with n - 1 degrees of freedom and noncentrality effect sqrt(n) / sd). NaN for
    n < 2 or an unknown spread."""
    if n < 2 or not np.isfinite(sd_paired) or sd_paired <= 0 or not np.isfinite(effect):
        return float("nan")
    df = n - 1
    critical = student_t.ppf(1 - alpha / 2, df)
    shift = abs(effect) * np.sqrt(n) / sd_paired
    upper, lower = float(nct.sf(critical, df, shift)), float(nct.cdf(-critical, df, shift))
    # scipy's nct returns NaN for some far-tail values (< 1e-10 where it does so here): count them as 0
    return float(np.nan_to_num(upper) + np.nan_to_num(lower))


def pairs_needed(effect: float, sd_paired: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The fewest pairs (>= 2) for which :func:`power_at` reaches ``power`` (the paired t-test's own
    power; the normal approximation n = ((z_{1-alpha/2} + z_power) sd / effect)^2 is only the search's
    start). ``inf`` for a zero effect; NaN for an unknown spread."""
    if not np.isfinite(sd_paired) or not np.isfinite(effect):
        return float("nan")
    if effect == 0:
        return float("inf")
    if sd_paired == 0:
        return 2.0
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    n = max(2, int(np.ceil((z * sd_paired / abs(effect)) ** 2)))
    while power_at(n, effect, sd_paired, alpha) < power:
        n += 1
    while n > 2 and power_at(n - 1, effect, sd_paired, alpha) >= power:
        n -= 1
    return float(n)


def detectable_difference(n: int, sd_paired: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The mean paired difference that ``n`` pairs detect with probability ``power`` (two-sided
    paired t-test at ``alpha``; the inverse of :func:`power_at` in the effect). ``inf`` for n < 2,
    NaN for an unknown spread."""
    if not np.isfinite(sd_paired):
        return float("nan")
    if n < 2:
        return float("inf")
    if sd_paired == 0:
        return 0.0
    high = sd_paired
    while power_at(n, high, sd_paired, alpha) < power:
        high *= 2
    return float(brentq(lambda effect: power_at(n, effect, sd_paired, alpha) - power, 0.0, high, xtol=1e-9 * high))

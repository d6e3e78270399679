"""Fits, tables and figures of a scaling experiment (:mod:`labnet.runs.studies.scaling`).

From ``scaling_raw.csv``:

- ``scaling_fits.csv``: one row per fitted quantity (law, m_target, parameter, estimate, 95 % CI);
- ``scaling_fits.md``: the same as readable tables, with the transfer gap and the MRS;
- ``scaling_vs_n.png``: error vs source size n on log axes, one panel per target size m: the
  repeats' mean with its bootstrap CI, the fitted ``D n^-alpha + C``, the 2-D law's slice, the
  transfer gap C and the direct-learning error on the same m target samples;
- ``scaling_vs_m.png``: error vs target size m, one curve per n, with the 2-D law and direct learning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labnet.models.scaling import (
    PowerLaw2DFit,
    PowerLawFit,
    ScalingFitError,
    fit_power_law,
    fit_power_law_2d,
    marginal_rate_ci,
    power_law,
    power_law_2d,
)
from labnet._files import atomic_write
from labnet.runs.studies.scaling import ScalingDesign

FITS_CSV = "scaling_fits.csv"
FITS_MD = "scaling_fits.md"
VS_N_PNG = "scaling_vs_n.png"
VS_M_PNG = "scaling_vs_m.png"
ERROR_NOTE = (
    "R = test MSE of the ensemble-mean prediction on the held-out target test set divided by the variance of "
    "the target property over the whole dataset (unitless; R = 1 is the error of predicting the mean)."
)


@dataclass
class ScalingFits:
    """All fits of one experiment.

    Attributes:
        per_m: m -> fit of ``R(n) = D n^-alpha + C`` at that m (None when it failed; see ``notes``).
        joint: fit of ``R(n, m) = (A n^-alpha + B) m^-beta + eps`` over the grid (or None).
        direct: m -> (mean R, ci_low, ci_high) of direct learning on m target samples.
        transfer_mean: mean R over repeats, float [len(n_grid), len(m_grid)].
        transfer_ci: bootstrap CI of that mean, float [2, len(n_grid), len(m_grid)].
        mrs: (estimate, ci_low, ci_high) of the MRS at the largest (n, m), source samples per target sample.
        notes: fits that could not be made, and why.
    """

    n_grid: tuple[int, ...]
    m_grid: tuple[int, ...]
    per_m: dict[int, PowerLawFit | None]
    joint: PowerLaw2DFit | None
    direct: dict[int, tuple[float, float, float]]
    transfer_mean: np.ndarray
    transfer_ci: np.ndarray
    mrs: tuple[float, float, float]
    notes: list[str]
    n_repeats: int


def transfer_array(raw: pd.DataFrame, n_grid, m_grid) -> np.ndarray:
    """Transfer errors as [repeats, len(n_grid), len(m_grid)] (NaN where a step is missing)."""
    transfer = raw[raw["kind"] == "transfer"]
    repeats = sorted(raw["repeat"].unique())
    out = np.full((len(repeats), len(n_grid), len(m_grid)), np.nan)
    index_r = {r: i for i, r in enumerate(repeats)}
    index_n = {int(n): i for i, n in enumerate(n_grid)}
    index_m = {int(m): i for i, m in enumerate(m_grid)}
    for rec in transfer.itertuples(index=False):
        if int(rec.n_source) in index_n and int(rec.m_target) in index_m:
            out[index_r[rec.repeat], index_n[int(rec.n_source)], index_m[int(rec.m_target)]] = rec.test_mse
    return out


def bootstrap_mean(values: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of the finite values: percentile bootstrap of the mean."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    if values.size == 1:
        return (float(values[0]), math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(values.mean()), float(low), float(high)


def fit_all(raw: pd.DataFrame, design: ScalingDesign, n_bootstrap: int = 1000, seed: int = 0) -> ScalingFits:
    """Every fit of the experiment from its raw table (missing steps are NaN and skipped)."""
    n_grid, m_grid = design.n_grid, design.m_grid
    R = transfer_array(raw, n_grid, m_grid)
    notes: list[str] = []
    per_m: dict[int, PowerLawFit | None] = {}
    for j, m in enumerate(m_grid):
        try:
            per_m[m] = fit_power_law(np.array(n_grid, float), R[:, :, j], n_bootstrap=n_bootstrap, seed=seed)
        except ScalingFitError as exc:
            per_m[m] = None
            notes.append(f"R(n) at m = {m}: not fitted ({exc})")
    joint = None
    try:
        joint = fit_power_law_2d(np.array(n_grid, float), np.array(m_grid, float), R, n_bootstrap=n_bootstrap, seed=seed)
    except ScalingFitError as exc:
        notes.append(f"R(n, m): not fitted ({exc})")
    direct = {}
    for m in m_grid:
        values = raw.loc[(raw["kind"] == "direct") & (raw["m_target"] == m), "test_mse"].to_numpy(float)
        direct[m] = bootstrap_mean(values, seed=seed)
    mean = np.full(R.shape[1:], np.nan)
    ci = np.full((2, *R.shape[1:]), np.nan)
    for i in range(len(n_grid)):
        for j in range(len(m_grid)):
            mean[i, j], ci[0, i, j], ci[1, i, j] = bootstrap_mean(R[:, i, j], seed=seed)
    mrs = (math.nan, math.nan, math.nan)
    if joint is not None:
        mrs = marginal_rate_ci(joint, float(max(n_grid)), float(max(m_grid)))
    return ScalingFits(n_grid, m_grid, per_m, joint, direct, mean, ci, mrs, notes, int(R.shape[0]))


def fits_table(fits: ScalingFits, design: ScalingDesign) -> pd.DataFrame:
    """Tidy table: law, m_target, param, estimate, ci_low, ci_high, n_points, n_repeats, rmse_log."""
    rows = []
    base = {"source": design.source, "target": design.target}
    for m, fit in fits.per_m.items():
        if fit is None:
            continue
        for name in fit.names:
            rows.append({**base, "law": "R(n)=D*n^-alpha+C", "m_target": m, "param": name, "estimate": fit.params[name],
                         "ci_low": fit.ci_low[name], "ci_high": fit.ci_high[name], "n_points": fit.n_points,
                         "n_repeats": fit.n_repeats, "rmse_log": fit.rmse_log})
    if fits.joint is not None:
        fit = fits.joint
        for name in fit.names:
            rows.append({**base, "law": "R(n,m)=(A*n^-alpha+B)*m^-beta+eps", "m_target": math.nan, "param": name,
                         "estimate": fit.params[name], "ci_low": fit.ci_low[name], "ci_high": fit.ci_high[name],
                         "n_points": fit.n_points, "n_repeats": fit.n_repeats, "rmse_log": fit.rmse_log})
        rows.append({**base, "law": "MRS=(dR/dm)/(dR/dn) at n_max, m_max [source samples per target sample]",
                     "m_target": max(fits.m_grid), "param": f"MRS(n={max(fits.n_grid)}, m={max(fits.m_grid)})",
                     "estimate": fits.mrs[0], "ci_low": fits.mrs[1], "ci_high": fits.mrs[2],
                     "n_points": fit.n_points, "n_repeats": fit.n_repeats, "rmse_log": math.nan})
    for m, (mean, low, high) in fits.direct.items():
        rows.append({**base, "law": "direct learning (mean R)", "m_target": m, "param": "R_direct", "estimate": mean,
                     "ci_low": low, "ci_high": high, "n_points": 1, "n_repeats": fits.n_repeats, "rmse_log": math.nan})
    for j, m in enumerate(fits.m_grid):
        i = _last_measured(fits.transfer_mean[:, j])
        if i is None:
            continue
        rows.append({**base, "law": "transfer at the largest n (mean R)", "m_target": m,
                     "param": f"R_transfer(n={fits.n_grid[i]})", "estimate": fits.transfer_mean[i, j],
                     "ci_low": fits.transfer_ci[0, i, j], "ci_high": fits.transfer_ci[1, i, j], "n_points": 1,
                     "n_repeats": fits.n_repeats, "rmse_log": math.nan})
    return pd.DataFrame(rows)


def _last_measured(means: np.ndarray) -> int | None:
    """Index of the largest n whose mean error is known (None if none is)."""
    known = np.flatnonzero(np.isfinite(means))
    return int(known[-1]) if known.size else None


def _num(value: float, digits: int = 3) -> str:
    """A number to ``digits`` significant digits; values below 1e-9 in magnitude (fit bounds at 0) as 0."""
    if not np.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else "-"
    return "0" if abs(value) < 1e-9 else f"{value:.{digits}g}"


def _ci(estimate: float, low: float, high: float, digits: int = 3) -> str:
    if estimate is None or np.isnan(estimate):
        return "-"
    text = _num(estimate, digits)
    if not (np.isnan(low) or np.isnan(high)):
        text += f" [{_num(low, digits)}, {_num(high, digits)}]"
    return text


def fits_markdown(fits: ScalingFits, design: ScalingDesign, details: list[str] | None = None) -> str:
    """The fits as a short Markdown report."""
    p = lambda fit, name: _ci(fit.params[name], fit.ci_low[name], fit.ci_high[name])  # noqa: E731
    lines = [f"# Scaling of transfer learning: {design.source} -> {design.target}", ""]
    lines += [f"- {d}" for d in (details or [])]
    lines += [
        f"- source sizes n: {', '.join(map(str, design.n_grid))}; target sizes m: {', '.join(map(str, design.m_grid))}",
        f"- repeats: {fits.n_repeats}; ensemble members: {design.n_members}; epochs: pretraining "
        f"{design.pretrain_learner.epochs}, fine-tuning and direct learning {design.epochs} "
        f"(best epoch restored; batch {design.batch_size}); frozen layers when fine-tuning: {design.frozen_layers}; "
        f"test fraction: {design.test_fraction}; seed: {design.seed}",
        f"- {ERROR_NOTE}",
        "- Fits: least squares on log R of the mean over repeats, all parameters >= 0; "
        "[95 % CI] = percentile bootstrap over repeats.",
        "",
        "## R(n) = D n^-alpha + C at each m (C = transfer gap)",
        "",
        "| m | D | alpha | C (transfer gap) | rmse(log R) | R direct (m only) | R transfer, largest n |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for j, m in enumerate(fits.m_grid):
        fit = fits.per_m.get(m)
        direct = _ci(*fits.direct[m])
        last = _last_measured(fits.transfer_mean[:, j])
        transfer = "-" if last is None else (
            _ci(fits.transfer_mean[last, j], fits.transfer_ci[0, last, j], fits.transfer_ci[1, last, j])
            + ("" if last == len(fits.n_grid) - 1 else f" (n = {fits.n_grid[last]})"))
        if fit is None:
            lines.append(f"| {m} | - | - | - | - | {direct} | {transfer} |")
        else:
            lines.append(f"| {m} | {p(fit, 'D')} | {p(fit, 'alpha')} | {p(fit, 'C')} | {fit.rmse_log:.3f} | "
                         f"{direct} | {transfer} |")
    lines += ["", "## R(n, m) = (A n^-alpha + B) m^-beta + eps", ""]
    if fits.joint is None:
        lines.append("not fitted")
    else:
        fit = fits.joint
        lines += ["| A | alpha | B | beta | eps | rmse(log R) |", "|--:|--:|--:|--:|--:|--:|",
                  "| " + " | ".join(p(fit, k) for k in fit.names) + f" | {fit.rmse_log:.3f} |", ""]
        n_max, m_max = max(fits.n_grid), max(fits.m_grid)
        lines += [
            f"Transfer gap of the 2-D law at m = {m_max}: B m^-beta + eps = {_num(float(fit.transfer_gap(m_max)))}.",
            "",
            f"**Marginal rate of substitution** at n = {n_max}, m = {m_max}: (dR/dm)/(dR/dn) = "
            f"**{_ci(*fits.mrs)}** source samples per target sample (one more target sample lowers R as much as "
            "that many more source samples).",
        ]
    if fits.notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in fits.notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figures


def _figure(n_panels: int, columns: int = 3, size=(4.2, 3.4)) -> tuple[Figure, list]:
    columns = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / columns)
    figure = Figure(figsize=(size[0] * columns, size[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(rows, columns, i + 1) for i in range(n_panels)]


def plot_vs_n(raw: pd.DataFrame, fits: ScalingFits, design: ScalingDesign, path: Path) -> Path:
    """Error vs source size n (log-log), one panel per m, in the style of paper 3's Fig. 2."""
    figure, axes = _figure(len(fits.m_grid))
    n = np.array(fits.n_grid, float)
    dense = np.geomspace(n.min(), n.max(), 200)
    transfer = raw[raw["kind"] == "transfer"]
    for j, (ax, m) in enumerate(zip(axes, fits.m_grid)):
        points = transfer[transfer["m_target"] == m]
        ax.scatter(points["n_source"], points["test_mse"], s=6, color="#1f77b4", alpha=0.25, linewidths=0,
                   label="transfer, single repeats")
        mean = fits.transfer_mean[:, j]
        err = np.abs(fits.transfer_ci[:, :, j] - mean)
        ax.errorbar(n, mean, yerr=np.where(np.isfinite(err), err, 0), fmt="o", color="#1f77b4", ms=4, capsize=2,
                    label="transfer, mean [95 % CI]")
        fit = fits.per_m.get(m)
        if fit is not None:
            pr = fit.params
            ax.plot(dense, power_law(dense, **pr), color="#1f77b4",
                    label=f"fit D n^-α + C: α={pr['alpha']:.2f}, C={_num(pr['C'], 2)}")
            visible = np.nanmin(points["test_mse"].to_numpy(float)) if len(points) else 0.0
            if pr["C"] >= 0.8 * visible:  # a gap far below every measured error would only squash the axis
                ax.axhline(pr["C"], color="#1f77b4", linestyle=":", linewidth=1, label="transfer gap C")
        if fits.joint is not None:
            ax.plot(dense, power_law_2d(dense, m, **fits.joint.params), color="#9467bd", linestyle="--", linewidth=1,
                    label="2-D law at this m")
        d_mean, d_low, d_high = fits.direct[m]
        if np.isfinite(d_mean):
            ax.axhline(d_mean, color="#ff7f0e", linewidth=1.6, label="direct learning (m target samples)")
            if np.isfinite(d_low):
                ax.axhspan(d_low, d_high, color="#ff7f0e", alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        shown = np.concatenate([points["test_mse"].to_numpy(float), mean, [d_mean, d_low, d_high]])
        shown = shown[np.isfinite(shown) & (shown > 0)]
        if shown.size:
            ax.set_ylim(0.8 * shown.min(), 1.25 * shown.max())
        _size_ticks(ax.xaxis, fits.n_grid)
        ax.set_title(f"m = {m} target samples")
        ax.set_xlabel(f"source samples n ({design.source})")
        ax.set_ylabel(f"test error R ({design.target}, normalized MSE)")
        ax.grid(alpha=0.25, which="both")
        if j == 0:
            ax.legend(fontsize=6.5, loc="best")
    figure.suptitle(f"Transfer {design.source} → {design.target}: error vs source data size ({fits.n_repeats} repeats)")
    figure.savefig(path, dpi=130)
    return path


def plot_vs_m(raw: pd.DataFrame, fits: ScalingFits, design: ScalingDesign, path: Path) -> Path:
    """Error vs target size m (log-log): one curve per n, the 2-D law, and direct learning."""
    figure, (ax,) = _figure(1, size=(6.4, 4.6))
    m = np.array(fits.m_grid, float)
    dense = np.geomspace(m.min(), m.max(), 200)
    colors = _viridis(len(fits.n_grid))
    for i, (n, color) in enumerate(zip(fits.n_grid, colors)):
        ax.plot(m, fits.transfer_mean[i], "o-", color=color, ms=3.5, linewidth=1.2, label=f"n = {n}")
        if fits.joint is not None:
            ax.plot(dense, power_law_2d(n, dense, **fits.joint.params), color=color, linestyle="--", linewidth=0.8)
    direct = np.array([fits.direct[k][0] for k in fits.m_grid])
    ax.plot(m, direct, "s-", color="black", ms=4, linewidth=2, label="direct learning")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _size_ticks(ax.xaxis, fits.m_grid)
    ax.set_xlabel(f"target samples m ({design.target})")
    ax.set_ylabel("test error R (normalized MSE)")
    ax.set_title(f"Transfer {design.source} → {design.target}: error vs target data size\n"
                 "(markers: mean over repeats; dashed: 2-D law)", fontsize=10)
    ax.grid(alpha=0.25, which="both")
    ax.legend(fontsize=7, ncol=2)
    figure.savefig(path, dpi=130)
    return path


def _size_ticks(axis, sizes) -> None:
    """Ticks at the grid's sample sizes, labelled as plain integers (thinned to <= 8 labels)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    sizes = list(sizes)
    step = max(1, math.ceil(len(sizes) / 8))
    axis.set_major_locator(FixedLocator(sizes[::step]))
    axis.set_major_formatter(lambda value, _: f"{value:.0f}")
    axis.set_minor_locator(NullLocator())


def _viridis(k: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.05, 0.9, max(k, 1))]


@dataclass
class ScalingReport:
    fits: ScalingFits
    files: dict[str, Path]


def write_report(out_dir: str | Path, raw: pd.DataFrame, design: ScalingDesign, details: list[str] | None = None,
                 n_bootstrap: int = 1000) -> ScalingReport:
    """Fit and write scaling_fits.csv/.md and both figures into ``out_dir``."""
    out = Path(out_dir)
    fits = fit_all(raw, design, n_bootstrap=n_bootstrap, seed=design.seed)
    table = fits_table(fits, design)
    files = {name: out / name for name in (FITS_CSV, FITS_MD, VS_N_PNG, VS_M_PNG)}
    atomic_write(files[FITS_CSV], lambda tmp: table.to_csv(tmp, index=False))
    text = fits_markdown(fits, design, details)
    atomic_write(files[FITS_MD], lambda tmp: tmp.write_text(text, encoding="utf-8"))
    plot_vs_n(raw, fits, design, files[VS_N_PNG])
    plot_vs_m(raw, fits, design, files[VS_M_PNG])
    return ScalingReport(fits, files)

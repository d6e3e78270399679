"""Re-read results.csv with the survival statistics of docs/statistics.md (issue 15, item 6).

Run: ``python docs/neighbour_selection/reread.py`` (prints the Markdown table added to summary.md).
Each row of results.csv is one (seed, lab) run; a lab that never reached its target is censored at
its last observation (n_obs_total: 30 for the robot labs, 70 for the simulation labs). Pairs are
(seed, lab): the same seed gives the same initial points under both selections. Resampling unit of
the paired bootstrap: the seed (its 4 labs share one network, so they are resampled together).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labnet.runs.reports.survival import cluster_bootstrap_mean_ci, rmst, stratified_logrank, survival_data

HERE = Path(__file__).parent


def reread(results: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    data = survival_data(results)
    rows = []
    for role, of_role in [*data.groupby("role", sort=True), ("both", data)]:
        by = {s: g.set_index(["seed", "lab"]).sort_index() for s, g in of_role.groupby("selection")}
        a, b = by["scaling"], by["all"]
        common = a.index.intersection(b.index)
        a, b = a.loc[common], b.loc[common]
        tau = np.minimum(a["n_obs_total"].to_numpy(float), b["n_obs_total"].to_numpy(float))
        y_a, y_b = np.minimum(a["time"].to_numpy(), tau), np.minimum(b["time"].to_numpy(), tau)
        d = y_a - y_b
        seeds = common.get_level_values("seed").to_numpy()
        low, high = cluster_bootstrap_mean_ci(d, seeds, seed=seed)
        strata = np.array([f"{s}/{lab}" for s, lab in common])
        p = stratified_logrank(np.r_[a["time"], b["time"]], np.r_[a["event"], b["event"]],
                               np.array(["scaling"] * len(d) + ["all"] * len(d)), np.r_[strata, strata])
        if role != "both":
            check = rmst(a["time"].to_numpy(), a["event"].to_numpy(), float(tau.min())) - \
                rmst(b["time"].to_numpy(), b["event"].to_numpy(), float(tau.min()))
            assert abs(check - d.mean()) < 1e-9  # KM-RMST difference = mean paired restricted difference
        sd = d.std(ddof=1)
        rows.append({"labs": role, "tau": "30" if role == "robot" else "70" if role == "simulation" else "30 / 70",
                     "N pairs (seeds)": f"{len(d)} ({len(set(seeds))})",
                     "reached scaling / all": f"{int(a['event'].sum())}/{len(d)} / {int(b['event'].sum())}/{len(d)}",
                     "RMST scaling": y_a.mean(), "RMST all": y_b.mean(), "difference": d.mean(), "ci_low": low,
                     "ci_high": high, "d_z": d.mean() / sd if sd > 0 else np.nan, "p_logrank": p,
                     "verdict": "undecided" if low <= 0 <= high else ("scaling faster" if high < 0 else "all faster")})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| labs | tau | N pairs (seeds) | reached scaling / all | RMST scaling | RMST all | scaling - all [95 % CI] "
             "| d_z | p (log-rank, stratified) | verdict |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|:--|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['labs']} | {r['tau']} | {r['N pairs (seeds)']} | {r['reached scaling / all']} | "
                     f"{r['RMST scaling']:.1f} | {r['RMST all']:.1f} | {r['difference']:+.2f} "
                     f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] | {r['d_z']:+.2f} | {r['p_logrank']:.2f} | "
                     f"{r['verdict']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(reread(pd.read_csv(HERE / "results.csv"))))

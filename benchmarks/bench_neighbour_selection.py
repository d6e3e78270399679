"""Neighbour selection from fitted transfer scaling vs trying every neighbour, side by side.

The scenario is a Sim2Real network. A synthetic world has 4 unrelated properties (correlation 0)
and a simulated twin ``Pk_sim`` of each (``sim_distortion`` 0.5, so corr(Pk, Pk_sim) = 0.89).
There are 8 labs on a complete graph: a robot lab measures ``Pk`` every 3 ticks and a simulation
lab measures ``Pk_sim`` every tick. Each lab has 7 neighbours, and only its twin measures a related
property. For every seed the same scenario runs twice, back to back in this process:

- ``all``: paper 1, every neighbour's model fine-tuned at every action;
- ``scaling``: ``neighbour_selection: scaling`` with ``neighbour_budget`` neighbours per action
  (agents/neighbour_selection.py).

Measured: ensembles trained per action, wall time of each run (ratio all / scaling, from the same
process on the same machine), and discovery speed. Discovery speed is the observations until each
lab's best true value reaches 90 % of the maximum, and whether it reached it. Seeds are paired:
the same world, initial points and lab clocks in both runs.

    python benchmarks/bench_neighbour_selection.py                   # 6 seeds, 60 ticks (~15 min on 2 cores)
    python benchmarks/bench_neighbour_selection.py --seeds 2 --ticks 20 --out /tmp/quick   # a smoke run

Writes ``results.csv`` (one row per seed, selection and lab), ``runs.csv`` (one row per run),
``summary.md`` (tables) and ``neighbour_selection.png`` to ``--out`` (default docs/neighbour_selection).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import wilcoxon  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labnet.runs.reports.analysis import bootstrap_mean_ci  # noqa: E402
from labnet.runs.execution.runner import run_scenario  # noqa: E402
from labnet.runs.config.scenario import load_scenario  # noqa: E402

SELECTIONS = ("all", "scaling")
PROPERTIES = ("P0", "P1", "P2", "P3")


def scenario(selection: str, seed: int, ticks: int, budget: int, retry_every: int, epochs: int) -> dict:
    """The 8-lab Sim2Real network with ``selection`` for every lab."""
    labs = {
        "count": 2 * len(PROPERTIES),
        "name_prefix": "lab",
        "property": {"rule": "round_robin", "values": [p for prop in PROPERTIES for p in (prop, f"{prop}_sim")]},
        "period_ticks": {"rule": "round_robin", "values": [3, 1]},
        "initial_points": 10,
        "neighbour_selection": selection,
    }
    if selection == "scaling":
        labs.update(neighbour_budget=budget, neighbour_retry_every=retry_every)
    return {
        "name": f"neighbour-selection-{selection}-seed{seed}",
        "dataset": {"kind": "synthetic", "n_candidates": 1000, "n_descriptors": 8, "n_properties": len(PROPERTIES),
                    "correlation": 0.0, "seed": seed, "sim_distortion": 0.5},
        "labs": labs,
        "topology": {"kind": "complete"},
        "learner": {"n_members": 5, "epochs": epochs, "patience": epochs},
        "horizon_ticks": ticks,
        "trials": 1,
        "seed": seed,
        "baselines": [],
    }


def run_pair(seed: int, args: argparse.Namespace, runs_dir: Path) -> tuple[list[dict], list[pd.DataFrame]]:
    rows, tables = [], []
    for selection in SELECTIONS:
        spec = load_scenario(scenario(selection, seed, args.ticks, args.budget, args.retry_every, args.epochs))
        start = time.perf_counter()
        result = run_scenario(spec, runs_dir, progress=False)
        wall = time.perf_counter() - start
        steps = pd.read_parquet(result.steps_path)
        acted = steps[steps.phase == "acquisition"]
        transfers = pd.read_parquet(result.transfers_path)
        rows.append({
            "seed": seed, "selection": selection, "wall_seconds": wall, "actions": len(acted),
            "ensembles_trained": int(acted.n_candidates.sum()),
            "ensembles_per_action": float(acted.n_candidates.mean()),
            "neighbours_skipped": int(acted.neighbours_skipped.sum()),
            "transfers_tried": len(transfers), "transfers_chosen": int(transfers.selected.sum()),
        })
        obs = result.observations.assign(seed=seed, selection=selection)
        period = {lab.name: lab.period_ticks for lab in spec.labs}
        obs["role"] = obs.lab.map(lambda name: "robot" if period[name] == 3 else "simulation")
        tables.append(obs)
        print(f"  seed {seed} {selection:>7}: {wall:6.1f} s, {rows[-1]['ensembles_per_action']:.2f} ensembles/action, "
              f"reached {int(obs.reached.sum())}/{len(obs)}", flush=True)
    return rows, tables


def censored(obs: pd.DataFrame) -> pd.Series:
    """Observations to threshold, a lab that never reached it counted as all its observations."""
    return obs.n_obs_to_threshold.where(obs.reached, obs.n_obs_total).astype(float)


def summary_tables(runs: pd.DataFrame, results: pd.DataFrame) -> str:
    lines = ["| selection | ensembles trained per action | transfers tried | transfers chosen | wall s per run (mean) |",
             "|---|--:|--:|--:|--:|"]
    for selection, part in runs.groupby("selection", sort=False):
        lines.append(f"| {selection} | {part.ensembles_per_action.mean():.2f} | {part.transfers_tried.sum()} | "
                     f"{part.transfers_chosen.sum()} | {part.wall_seconds.mean():.1f} |")
    paired = runs.pivot(index="seed", columns="selection", values="wall_seconds")
    trained = runs.pivot(index="seed", columns="selection", values="ensembles_trained")
    lines += ["", f"Wall-time ratio all / scaling, per seed: "
              f"{', '.join(f'{r:.2f}' for r in paired['all'] / paired['scaling'])}; "
              f"overall {paired['all'].sum() / paired['scaling'].sum():.2f}x. "
              f"Ensembles trained, all / scaling: {trained['all'].sum() / trained['scaling'].sum():.2f}x.", ""]
    lines += ["| labs | selection | reached | obs to threshold, reached labs: mean [95 % CI] | "
              "obs to threshold, unreached counted as all obs: mean |", "|---|---|--:|--:|--:|"]
    for (role, selection), part in results.groupby(["role", "selection"], sort=False):
        reached = part[part.reached]
        low, high = bootstrap_mean_ci(reached.n_obs_to_threshold.to_numpy(float)) if len(reached) >= 2 else (np.nan, np.nan)
        lines.append(f"| {role} | {selection} | {len(reached)}/{len(part)} | "
                     f"{reached.n_obs_to_threshold.mean():.1f} [{low:.1f}, {high:.1f}] | {censored(part).mean():.1f} |")
    pairs = results.assign(value=censored(results)).pivot_table(
        index=["seed", "lab", "role"], columns="selection", values="value").reset_index()
    diff = pairs["scaling"] - pairs["all"]
    low, high = bootstrap_mean_ci(diff.to_numpy(float))
    p = wilcoxon(diff[diff != 0]).pvalue if (diff != 0).sum() >= 2 else float("nan")
    lines += ["", f"Paired over {len(pairs)} (seed, lab) pairs, scaling − all in observations to threshold "
              f"(unreached counted as all observations): mean {diff.mean():+.2f} [95 % CI {low:+.2f}, {high:+.2f}], "
              f"median {diff.median():+.1f}; scaling faster in {(diff < 0).sum()}, equal in {(diff == 0).sum()}, "
              f"slower in {(diff > 0).sum()} (Wilcoxon signed-rank p = {p:.2f})."]
    return "\n".join(lines)


def plot(runs: pd.DataFrame, results: pd.DataFrame, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"all": "tab:blue", "scaling": "tab:green"}
    x = np.arange(len(SELECTIONS))
    for i, selection in enumerate(SELECTIONS):
        part = runs[runs.selection == selection]
        left.bar(i, part.ensembles_trained.mean(), color=colors[selection], alpha=0.8)
        left.scatter(np.full(len(part), i), part.ensembles_trained, color="k", s=12, zorder=3)
    left.set_xticks(x, [f"{s}\n({runs[runs.selection == s].wall_seconds.mean():.0f} s per run)" for s in SELECTIONS])
    left.set_ylabel("ensembles trained per run")
    left.set_title("cost (bar: mean; dots: seeds)")
    groups = [(role, selection) for role in ("robot", "simulation") for selection in SELECTIONS]
    data = [censored(results[(results.role == r) & (results.selection == s)]) for r, s in groups]
    box = right.boxplot(data, positions=range(len(groups)), widths=0.6, patch_artist=True)
    for patch, (_, selection) in zip(box["boxes"], groups):
        patch.set_facecolor(colors[selection])
        patch.set_alpha(0.6)
    right.set_xticks(range(len(groups)), [f"{r}\n{s}" for r, s in groups])
    right.set_ylabel("observations to 90 % of max\n(unreached: all observations)")
    right.set_title("discovery speed (lower is better)")
    fig.suptitle("Neighbour selection from fitted transfer scaling vs every neighbour (8-lab Sim2Real network)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6, help="paired seeds 0..N-1 (default 6)")
    parser.add_argument("--ticks", type=int, default=60, help="horizon (default 60)")
    parser.add_argument("--budget", type=int, default=2, help="neighbour_budget of the scaling runs (default 2)")
    parser.add_argument("--retry-every", type=int, default=10, help="neighbour_retry_every (default 10)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "neighbour_selection")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild summary.md and the figure from --out's runs.csv and results.csv (no runs)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        runs, results = pd.read_csv(args.out / "labnet.runs.csv"), pd.read_csv(args.out / "results.csv")
        args.seeds = runs.seed.nunique()
    else:
        print(f"neighbour selection: {args.seeds} seeds x {SELECTIONS}, {args.ticks} ticks, budget {args.budget}",
              flush=True)
        run_rows, tables = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.seeds):
                rows, obs = run_pair(seed, args, Path(tmp))
                run_rows += rows
                tables += obs
                pd.DataFrame(run_rows).to_csv(args.out / "labnet.runs.csv", index=False)  # what is done survives a crash
                pd.concat(tables, ignore_index=True).to_csv(args.out / "results.csv", index=False)
        runs, results = pd.DataFrame(run_rows), pd.concat(tables, ignore_index=True)
    text = summary_tables(runs, results)
    plot(runs, results, args.out / "neighbour_selection.png")
    settings = (f"{args.seeds} paired seeds, {args.ticks} ticks, neighbour_budget {args.budget}, "
                f"neighbour_retry_every {args.retry_every}, 5-member ensembles at {args.epochs} epochs")
    (args.out / "summary.md").write_text(
        "# Neighbour selection from fitted transfer scaling\n\n"
        f"Written by `python benchmarks/bench_neighbour_selection.py` ({settings}); the scenario and "
        "method are in the script's docstring and in `agents/neighbour_selection.py`.\n\n"
        f"{text}\n\n![neighbour selection](neighbour_selection.png)\n", encoding="utf-8")
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

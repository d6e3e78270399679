"""``labnet pool``: build a source-model pool from a scenario's dataset, and inspect one.

The learning lives in :mod:`labnet.models.pool_training` (building, Lightning) and :mod:`labnet.models.pool`
(the format, loading); this module connects them to scenarios, tables and a picture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labnet.models.pool import PoolError, SourcePool, load_pool
from labnet.models.pool_training import BuildReport, PoolArchitecture, PoolSettings, PoolTraining, build_pool
from labnet.runs.config.build import build_space
from labnet.runs.config.scenario import Scenario

DEFAULT_N_MODELS = 100


def build_pool_for_scenario(
    scenario: Scenario,
    property_name: str,
    out: str | Path,
    n_models: int = DEFAULT_N_MODELS,
    seed: int = 0,
    sample_size: int | None = None,
    name: str | None = None,
    architecture: PoolArchitecture | None = None,
    training: PoolTraining | None = None,
    progress: bool = True,
) -> BuildReport:
    """Build (or continue) a pool for one property of the scenario's material space.

    Raises:
        PoolError: unknown property, a bad setting, or ``out`` holding something else.
        ScenarioError, DataError: the scenario's dataset cannot be loaded.
    """
    space = build_space(scenario)
    if property_name not in space.property_names:
        raise PoolError(
            f"--property {property_name!r} is not a property of the dataset; available: {', '.join(space.property_names)}"
        )
    if sample_size is not None and (sample_size < 2 or sample_size > 10 * len(space)):
        raise PoolError(f"--sample-size {sample_size}: expected an integer between 2 and 10 x the {len(space)} rows")
    settings = PoolSettings(
        property=property_name, seed=seed, sample_size=sample_size,
        architecture=architecture or PoolArchitecture(), training=training or PoolTraining(),
    )
    dataset = {"name": space.name, "kind": scenario.dataset.kind, "path": getattr(scenario.dataset, "path", None)}
    return build_pool(out, space.descriptors, space.values(property_name), space.descriptor_names, settings,
                      n_models, name=name, dataset=dataset, progress=progress)


def pool_table(pool: SourcePool) -> pd.DataFrame:
    """One row per model: index, hidden layers, depth, first width, parameters, training rows,
    validation MSE (standardized units) and R², epochs, best epoch, wall and CPU seconds."""
    rows = []
    for model in pool.models:
        info = model.info
        rows.append({
            "index": model.index,
            "hidden_layers": "-".join(str(w) for w in model.hidden_layers),
            "depth": len(model.hidden_layers),
            "first_width": model.hidden_layers[0],
            "n_parameters": int(model.params.shape[0]),
            "n_train": int(info.get("n_train", len(model.train_rows))),
            "n_unique_train": int(info.get("n_unique_train", len(np.unique(model.train_rows)))),
            "val_mse": model.validation_mse,
            "val_r2": model.validation_r2,
            "epochs_run": info.get("epochs_run"),
            "best_epoch": info.get("best_epoch"),
            "seconds": info.get("seconds", float("nan")),
            "cpu_seconds": info.get("cpu_seconds", float("nan")),
        })
    return pd.DataFrame(rows)


def format_pool(pool: SourcePool) -> str:
    """The inspect report: a header, one line per model, and a summary."""
    table = pool_table(pool)
    manifest = pool.manifest
    build = manifest.get("build", {})
    head = [
        f"pool {pool.name!r} at {pool.path}",
        f"property {pool.property}; {len(pool)} of {build.get('n_models', len(pool))} models finished; "
        f"{pool.n_descriptors} descriptors; activation {manifest.get('activation')}; "
        f"labnet {manifest.get('labnet_version')}",
        f"dataset: {manifest.get('dataset', {}).get('name')} ({manifest.get('dataset', {}).get('n_rows')} rows)",
        "validation: out-of-bag rows not used for early stopping; MSE in the model's standardized units",
        "",
    ]
    shown = table.assign(
        val_mse=table.val_mse.map("{:.4f}".format), val_r2=table.val_r2.map("{:.3f}".format),
        seconds=table.seconds.map("{:.1f}".format), cpu_seconds=table.cpu_seconds.map("{:.1f}".format),
    )[["index", "hidden_layers", "n_parameters", "n_unique_train", "val_mse", "val_r2", "epochs_run", "seconds",
       "cpu_seconds"]]
    best = table.loc[table.val_r2.idxmax()] if table.val_r2.notna().any() else None
    tail = [
        "",
        f"validation R2: median {table.val_r2.median():.3f}, range {table.val_r2.min():.3f} .. {table.val_r2.max():.3f}"
        + (f"; best model #{int(best['index'])} ({best['hidden_layers']})" if best is not None else ""),
        f"training time per model: {table.seconds.mean():.1f} s wall, {table.cpu_seconds.mean():.1f} s CPU (mean)",
    ]
    return "\n".join(head + [shown.to_string(index=False)] + tail)


def plot_pool(pool: SourcePool, path: str | Path) -> Path:
    """PNG of validation R² against depth (left) and first hidden width (right, coloured by depth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pool_table(pool)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8), sharey=True)
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(table))
    left.scatter(table.depth + jitter, table.val_r2, s=18, alpha=0.75)
    medians = table.groupby("depth").val_r2.median()
    left.plot(medians.index, medians.to_numpy(), color="black", marker="_", markersize=18, linestyle="", label="median")
    left.set_xlabel("hidden layers")
    left.set_ylabel("validation R² (out-of-bag)")
    left.set_xticks(sorted(table.depth.unique()))
    left.legend(loc="lower right", fontsize="small")
    points = right.scatter(table.first_width, table.val_r2, c=table.depth, cmap="viridis", s=18, alpha=0.8)
    right.set_xlabel("first hidden layer width (units)")
    figure.colorbar(points, ax=right, label="hidden layers")
    for ax in (left, right):
        ax.grid(alpha=0.25)
    figure.suptitle(f"pool {pool.name}: {pool.property}, {len(pool)} models")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


__all__ = ["DEFAULT_N_MODELS", "build_pool_for_scenario", "format_pool", "load_pool", "plot_pool", "pool_table"]

"""Sweeps: run every point of a sweep file (:mod:`labnet.runs.config.sweep_spec`) and collect one tidy table.

Sweep directory ``<out>/<name>/``:

- ``sweep.yaml``: the sweep as run, its base written inline;
- ``p000/``, ``p001/``, ...: one per point: ``point.json`` (written once the point finished)
  and the point's run directory (:mod:`labnet.runs.execution.runner`'s layout). Re-running the sweep into
  the same directory skips finished points and redoes unfinished ones;
- ``sweep_points.csv``: one row per point: axis values, status, wall seconds, run directory;
- ``sweep_results.parquet`` / ``.csv``: the tidy table (:func:`tidy_results`);
- ``topology_comparison.png`` / ``.csv``: per topology and condition, reached share and RMST
  (:mod:`labnet.runs.reports.topology_comparison`);
- ``topology_ranking.png`` / ``.csv`` / ``.md``: the networked topologies ranked by RMST with
  simultaneous paired intervals and a verdict (:mod:`labnet.runs.reports.topology_ranking`), when
  the sweep has two or more topologies.

Points run on the serial, processes or Ray backend (:mod:`labnet.runs.execution.sweep_backends`); the same
sweep gives the same table on every backend.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd
import yaml

from labnet.runs.execution.runner import OBSERVATIONS_FILE
from labnet.runs.config.scenario import Scenario
from labnet.runs.execution.sweep_backends import (
    DEFAULT_OUT,
    POINT_MARKER,
    PointOutcome,
    PointTask,
    SweepError,
    clear_unfinished,
    execute,
    resolve_workers,
)
from labnet.runs.config.sweep_spec import Sweep, SweepPoint, SweepSpec, load_sweep, set_field

if TYPE_CHECKING:
    from labnet.runs.reports.topology_ranking import TopologyRanking

__all__ = ["Sweep", "SweepError", "SweepPoint", "SweepResult", "SweepSpec", "load_sweep", "run_sweep", "set_field",
           "summary_by_point", "tidy_results"]

SWEEP_FILE = "sweep.yaml"
POINTS_CSV = "sweep_points.csv"
RESULTS_PARQUET = "sweep_results.parquet"
RESULTS_CSV = "sweep_results.csv"
COMPARISON_PNG = "topology_comparison.png"
COMPARISON_CSV = "topology_comparison.csv"
RANKING_PNG = "topology_ranking.png"
RANKING_CSV = "topology_ranking.csv"
RANKING_MD = "topology_ranking.md"

OBSERVATION_COLUMNS = ["trial", "condition", "lab", "property", "goal", "threshold",
                       "n_obs_to_threshold", "reached", "n_obs_total"]
"""Columns of :func:`labnet.runs.reports.analysis.observations_to_threshold` carried into the tidy table."""


# --------------------------------------------------------------------------- running


@dataclass
class SweepResult:
    """What :func:`run_sweep` produced.

    Attributes:
        sweep_dir: the sweep directory; the ``*_path`` attributes are files inside it.
        results: the tidy table (:func:`tidy_results`) of every finished point.
        points: one row per point (``sweep_points.csv``).
        skipped: ids of points finished by an earlier run of the sweep (not run again).
        failed: point id -> error text of the points that failed in this run.
        extra_files: files written by :func:`write_topology_comparison` (topology comparison and ranking),
            if available.
        ranking: the networked topologies ranked (:func:`labnet.runs.reports.topology_ranking.rank_topologies`),
            or None when the sweep has fewer than two networked topologies.
    """

    sweep_dir: Path
    results: pd.DataFrame
    points: pd.DataFrame
    results_parquet_path: Path
    results_csv_path: Path
    points_csv_path: Path
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    extra_files: list[Path] = field(default_factory=list)
    ranking: TopologyRanking | None = None


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path = DEFAULT_OUT,
    backend: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> SweepResult:
    """Run every point of a sweep not finished yet into ``<out>/<sweep name>/`` and tabulate them all.

    Args:
        sweep: a loaded sweep or a sweep file.
        out: parent of the sweep directory.
        backend: "serial", "processes" or "ray" (default: the sweep file's ``backend``).
        workers: points at once for processes / ray (default: the sweep file's ``workers``, else every core).
        ray_address: join this Ray cluster (e.g. ``"auto"``); default: start a local Ray instance.
        progress: print one line per finished point (wall time, eta) and what was skipped.
        stream: where progress goes (default: stderr).

    Raises:
        ScenarioError: a bad sweep file.
        SweepError: bad backend options, Ray missing, or a sweep directory holding other points.
    """
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    spec = sweep.spec
    backend, workers = sweep_backend(sweep, backend, workers)
    resolve_workers(backend, workers, len(sweep.points))  # bad backend / workers: fail before any work
    if ray_address is not None and backend != "ray":
        raise SweepError(f"--ray-address is only used with the ray backend (backend is {backend!r})")
    say = progress_printer(progress, stream)

    sweep_dir = Path(out) / spec.name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    finished = _finished_points(sweep, sweep_dir)
    _write_sweep_file(sweep, sweep_dir / SWEEP_FILE)

    todo = [point for point in sweep.points if point.point_id not in finished]
    parallel = resolve_workers(backend, workers, len(todo))
    say(f"labnet sweep {spec.name}: {len(sweep.points)} points in {sweep_dir}")
    if finished:
        say(f"  skipping {len(finished)} point(s) finished by an earlier run: {_id_list(sorted(finished))}")
    if todo:
        say(f"  running {len(todo)} point(s) on backend {backend}" + (f" ({parallel} at once)" if backend != "serial" else ""))
    tasks = []
    for point in todo:
        point_dir = sweep_dir / point.point_id
        if clear_unfinished(point_dir):
            say(f"  {point.point_id}: discarding an unfinished earlier attempt")
        tasks.append(PointTask(point.point_id, point.scenario.to_dict(), str(point_dir.resolve())))

    record = PointProgress(sweep, len(tasks), parallel, say)
    execute(tasks, backend, record, workers=workers, ray_address=ray_address)
    outcomes = record.outcomes

    for point_id, outcome in outcomes.items():
        if outcome.status == "finished":
            finished[point_id] = {"run_dir": outcome.run_dir, "wall_seconds": outcome.wall_seconds, "resumed": False}
    points_table = points_table_of(sweep, finished, outcomes)
    results = tidy_results(sweep, sweep_dir, finished)
    paths = {name: sweep_dir / name for name in (POINTS_CSV, RESULTS_PARQUET, RESULTS_CSV)}
    points_table.to_csv(paths[POINTS_CSV], index=False)
    results.to_parquet(paths[RESULTS_PARQUET], index=False)
    results.to_csv(paths[RESULTS_CSV], index=False)
    try:
        extra, ranking = write_topology_comparison(results, sweep_dir)
    except ValueError as exc:  # e.g. no condition the comparison draws; the tables above are written
        extra, ranking = [], None
        say(f"  topology comparison not drawn: {exc}")
    failed = {pid: str(o.error) for pid, o in outcomes.items() if o.status == "failed"}
    return SweepResult(
        sweep_dir=sweep_dir,
        results=results,
        points=points_table,
        results_parquet_path=paths[RESULTS_PARQUET],
        results_csv_path=paths[RESULTS_CSV],
        points_csv_path=paths[POINTS_CSV],
        skipped=sorted(pid for pid, info in finished.items() if info.get("resumed")),
        failed=failed,
        extra_files=extra,
        ranking=ranking,
    )


def _finished_points(sweep: Sweep, sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """Points already finished in ``sweep_dir``: id -> marker fields (``resumed`` True).

    Raises:
        SweepError: a finished point in the directory ran another scenario than this sweep's point.
    """
    finished: dict[str, dict[str, Any]] = {}
    for point in sweep.points:
        marker_path = sweep_dir / point.point_id / POINT_MARKER
        if not marker_path.is_file():
            continue
        try:
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a damaged marker: the point is run again
        if marker.get("status") != "finished" or not (marker_path.parent / str(marker.get("run_dir"))).is_dir():
            continue
        expected = json.loads(json.dumps(point.scenario.to_dict()))
        recorded = _with_current_defaults(marker.get("scenario") or {})
        if recorded != expected:
            differing = _differences(recorded, expected)
            raise SweepError(
                f"{sweep_dir} holds another sweep: its point {point.point_id} ran a different scenario "
                f"(differs in {', '.join(differing[:5]) or 'its fields'}); use another --out or remove that directory"
            )
        finished[point.point_id] = {"run_dir": marker["run_dir"], "wall_seconds": marker.get("wall_seconds"),
                                    "resumed": True}
    return finished


def _with_current_defaults(recorded: dict[str, Any]) -> dict[str, Any]:
    """A point's recorded scenario with fields added to labnet since it ran filled in at their defaults.

    A sweep finished by an older labnet is resumable when it differs only in fields it could not know.
    An unreadable record is compared as written (and so reported as different).
    """
    try:
        return json.loads(json.dumps(Scenario.model_validate(recorded).to_dict()))
    except (ValueError, TypeError):
        return recorded


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*old, *new]))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else k)]
    return [] if old == new else [prefix or "(scenario)"]


def _write_sweep_file(sweep: Sweep, path: Path) -> None:
    data = sweep.spec.model_dump(mode="json", exclude_none=True)
    data["base"] = sweep.base
    if not data.get("labels"):
        data.pop("labels", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120), encoding="utf-8")


def _id_list(ids: list[str], limit: int = 8) -> str:
    return ", ".join(ids[:limit]) + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def sweep_backend(sweep: Sweep, backend: str | None = None, workers: int | None = None) -> tuple[str, int | None]:
    """The backend and points-at-once a sweep runs with: the options given, else the sweep file's
    (``workers`` None there too: every core, :func:`resolve_workers`)."""
    return backend or sweep.spec.backend, workers if workers is not None else sweep.spec.workers


def progress_printer(progress: bool, stream: TextIO | None = None) -> Callable[[str], None]:
    """A ``say(text)`` that prints a progress line to ``stream`` (default: stderr) when ``progress``, else nothing."""
    def say(text: str) -> None:
        if progress:
            print(text, file=stream or sys.stderr, flush=True)

    return say


class PointProgress:
    """The ``on_outcome`` of :func:`~labnet.runs.execution.sweep_backends.execute` that reports progress:
    one line per ended point (its axes, wall time, failure, time elapsed and an estimate of the time
    left) through ``say``, and every outcome kept in :attr:`outcomes` by point id.

    Args:
        sweep: the sweep the points belong to (for their axis values).
        total: points this call runs.
        parallel: points at once (for the estimate).
        say: where a line goes.
        doing: what a line says of the point before its wall time (e.g. ``"raised to 3 trials"``).
    """

    def __init__(self, sweep: Sweep, total: int, parallel: int, say: Callable[[str], None], doing: str = "") -> None:
        self.by_id = {point.point_id: point for point in sweep.points}
        self.axes = list(sweep.axes)
        self.total, self.parallel, self.say, self.doing = total, max(1, parallel), say, doing
        self.outcomes: dict[str, PointOutcome] = {}
        self.clock = time.perf_counter()

    def __call__(self, outcome: PointOutcome) -> None:
        self.outcomes[outcome.point_id] = outcome
        done = len(self.outcomes)
        elapsed = time.perf_counter() - self.clock
        mean_wall = sum(o.wall_seconds for o in self.outcomes.values()) / done
        eta = mean_wall * (self.total - done) / self.parallel  # points still to run, spread over the workers
        point = self.by_id[outcome.point_id]
        where = ", ".join(f"{axis}={point.display[axis]}" for axis in self.axes)
        doing = f" {self.doing}" if self.doing else ""
        state = "" if outcome.status == "finished" else f" FAILED ({outcome.error})"
        self.say(f"  [{done}/{self.total}] {outcome.point_id} {where}{doing}: {outcome.wall_seconds:.1f} s{state}; "
                 f"elapsed {_duration(elapsed)}, eta {_duration(eta)}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------- tables


def _front_columns(sweep: Sweep, point: SweepPoint) -> dict[str, Any]:
    """point, the axis columns (a ``topology`` axis is the topology column), topology, n_labs."""
    front: dict[str, Any] = {"point": point.point_id}
    front.update({axis: point.display[axis] for axis in sweep.axes if axis != "topology"})
    front["topology"] = point.topology
    front["n_labs"] = point.n_labs
    return front


def points_table_of(sweep: Sweep, finished: Mapping[str, Mapping[str, Any]],
                    outcomes: Mapping[str, PointOutcome]) -> pd.DataFrame:
    """One row per point: axis columns, topology, n_labs, status, wall_seconds, resumed, run_dir, error.

    ``status`` is "finished", "failed" or "not run"; ``run_dir`` is relative to the sweep directory.
    """
    rows = []
    for point in sweep.points:
        row = _front_columns(sweep, point)
        info = finished.get(point.point_id)
        outcome = outcomes.get(point.point_id)
        if info is not None:
            row.update(status="finished", wall_seconds=info.get("wall_seconds"), resumed=bool(info.get("resumed")),
                       run_dir=f"{point.point_id}/{info['run_dir']}", error=None)
        elif outcome is not None:
            row.update(status=outcome.status, wall_seconds=outcome.wall_seconds, resumed=False, run_dir=None,
                       error=outcome.error)
        else:
            row.update(status="not run", wall_seconds=None, resumed=False, run_dir=None, error=None)
        rows.append(row)
    return pd.DataFrame(rows)


def tidy_results(sweep: Sweep, sweep_dir: str | Path, finished: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The sweep's results as one tidy table: one row per (point, trial, condition, lab).

    Columns: ``point``, one column per axis (named by its dotted path; values are labels,
    scalars, or a short text for mappings), ``topology`` (the label or short text of a
    ``topology`` axis, else the topology kind), ``n_labs``, the observations-to-threshold
    columns ``trial, condition, lab, property, goal, threshold, n_obs_to_threshold`` (NaN
    when not reached; the initial points are counted), ``reached``, ``n_obs_total``, and
    ``run_dir`` (the point's run directory, relative to the sweep directory). Points in
    sweep order; only finished points appear.
    """
    sweep_dir = Path(sweep_dir)
    frames = []
    for point in sweep.points:
        info = finished.get(point.point_id)
        if info is None:
            continue
        run_dir = f"{point.point_id}/{info['run_dir']}"
        observations = pd.read_csv(
            sweep_dir / run_dir / OBSERVATIONS_FILE,
            keep_default_na=False,
            na_values={"n_obs_to_threshold": [""]},
            dtype={"condition": str, "lab": str, "property": str, "goal": str},
        )
        frame = observations[OBSERVATION_COLUMNS].copy()
        front = _front_columns(sweep, point)
        for position, (column, value) in enumerate(front.items()):
            frame.insert(position, column, [value] * len(frame))
        frame["run_dir"] = run_dir
        frames.append(frame)
    if not frames:
        columns = ["point", *[a for a in sweep.axes if a != "topology"], "topology", "n_labs", *OBSERVATION_COLUMNS,
                   "run_dir"]
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    table["n_obs_to_threshold"] = table["n_obs_to_threshold"].astype(float)
    table["reached"] = table["reached"].astype(bool)
    return table


def write_topology_comparison(table: pd.DataFrame, sweep_dir: str | Path, alpha: float = 0.05,
                              precision: float | None = None, note: str = ""
                              ) -> tuple[list[Path], TopologyRanking | None]:
    """Draw and tabulate the topology comparison (:mod:`labnet.runs.reports.topology_comparison`) and,
    with two or more networked topologies, their ranking (:mod:`labnet.runs.reports.topology_ranking`,
    at joint level ``1 - alpha``, ``precision`` observations; ``note`` is added to its report).

    Returns the files written (``topology_comparison.png`` / ``.csv``, ``topology_ranking.png`` /
    ``.csv`` / ``.md``; none when the table is empty) and the ranking (None below two networked
    topologies).
    """
    if table.empty:
        return [], None
    from labnet.runs.reports.graph_plots import plot_topology_comparison, plot_topology_ranking
    from labnet.runs.reports.topology_comparison import topology_comparison_table
    from labnet.runs.reports.topology_ranking import rank_topologies

    sweep_dir = Path(sweep_dir)
    png, csv = sweep_dir / COMPARISON_PNG, sweep_dir / COMPARISON_CSV
    plot_topology_comparison(table, png, metric="n_obs_to_threshold")
    topology_comparison_table(table).to_csv(csv, index=False)
    written = [png, csv]
    networked = table[table["condition"].astype(str) == "networked"]
    ranking = None
    if "n_obs_total" in table.columns and networked["topology"].nunique() >= 2:
        ranking = rank_topologies(table, alpha=alpha, precision=precision)
        paths = [sweep_dir / name for name in (RANKING_PNG, RANKING_CSV, RANKING_MD)]
        plot_topology_ranking(ranking, paths[0])
        ranking.pairs.to_csv(paths[1], index=False)
        paths[2].write_text("# Topologies ranked\n\n" + ranking.text() + (f"\n{note}\n" if note else ""),
                            encoding="utf-8")
        written += paths
    return written, ranking


def summary_by_point(table: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Per axis values x condition: the share reached, the restricted mean time to threshold, and the
    paper-style mean over reached runs.

    Args:
        table: :func:`tidy_results` output.
        axes: the sweep's axis paths (``topology`` included when it is an axis).

    Returns:
        Columns: the axis columns, ``topology``, ``condition``, ``runs`` (lab x trial rows),
        ``reached`` (share in [0, 1]), ``tau_min`` / ``tau_max`` (the smallest and largest horizon
        of the rows: each lab's own, the smallest last observation of that lab in that network over
        the whole table), ``rmst`` (mean of min(observations to threshold, horizon), unreached runs
        counting their horizon: no run is censored before it;
        :func:`labnet.runs.reports.topology_comparison.restricted_times`) and
        ``mean_obs`` (over reached runs only; NaN when none reached). CIs and paired differences:
        ``topology_comparison.csv`` (:mod:`labnet.runs.reports.topology_comparison`).
    """
    from labnet.runs.reports.topology_comparison import horizons, restricted_times

    keys = [a for a in axes if a != "topology"] + ["topology", "condition"]
    if table.empty:
        return pd.DataFrame(columns=[*keys, "runs", "reached", "tau_min", "tau_max", "rmst", "mean_obs"])
    horizon = horizons(table)
    grouped = table.assign(_restricted=restricted_times(table, horizon=horizon), _horizon=horizon).groupby(
        keys, sort=False, dropna=False)
    return grouped.agg(
        runs=("reached", "size"),
        reached=("reached", "mean"),
        tau_min=("_horizon", "min"),
        tau_max=("_horizon", "max"),
        rmst=("_restricted", "mean"),
        mean_obs=("n_obs_to_threshold", "mean"),
    ).reset_index()


def format_summary_by_point(summary: pd.DataFrame) -> str:
    """:func:`summary_by_point` as aligned text."""
    if summary.empty:
        return "(no finished points)"
    shown = summary.copy()
    shown["reached"] = [f"{share:.0%}" for share in shown["reached"]]
    if "rmst" in shown.columns:
        shown["rmst"] = ["-" if pd.isna(v) else f"{v:.1f}" for v in shown["rmst"]]
        for column in ("tau_min", "tau_max"):
            shown[column] = ["-" if pd.isna(v) else f"{v:.0f}" for v in shown[column]]
    shown["mean_obs"] = ["-" if pd.isna(v) else f"{v:.1f}" for v in shown["mean_obs"]]
    return shown.to_string(index=False)


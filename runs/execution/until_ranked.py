"""A topology sweep that runs until its ranking is decided (``labnet sweep --until-decided --decide topologies``).

The question of a topology sweep is the ranking of its topologies
(:mod:`labnet.runs.reports.topology_ranking`): networks are the replicates, and every pair of
topologies is compared over the networks they share. This loop adds networks in batches until
every pair is decided, by sign or by ``--precision``, or until the planned maximum:

- The sweep's ``trials`` per point is the first look; a batch raises **every point** to the next
  look's trials (trial t keeps seed ``seed + t`` in every topology, so each batch adds networks
  whose labs and initial points match across topologies: new pairs). Networks at look k =
  seeds (and other non-topology axes) x trials.
- The looks and their alpha_k are the group-sequential design of :mod:`labnet.runs.execution.until_decided`
  (Lan-DeMets spending over trials per point, fixed before the first batch, written to
  ``until_ranked.json``). Look k ranks at joint level ``1 - alpha_k``: the Bonferroni split over the
  m pairs gives each pair ``alpha_k / m``. The union over looks and pairs keeps the total error
  at most ``sum_k alpha_k = alpha``: with probability >= 1 - alpha every interval of every look
  covers its difference at once, so the ranking at the look where the study stops holds whichever
  look that is.
- Durable: the next target is saved before any point is extended; a killed loop continues from
  ``labnet sweep`` with the same arguments (finished points are skipped, extensions are
  idempotent).
- Points extend in parallel on the serial or processes backend (not Ray: the point directories
  must be on this machine).

Writes beside the sweep's tables: ``until_ranked.json`` (plan, history, status) and, at every look,
that look's ``topology_ranking.*`` at that look's level, with the stopping rule and the looks so far
in ``topology_ranking.md`` (the final look's stay).
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from labnet.runs.execution.sweep import (
    PointProgress, Sweep, SweepResult, load_sweep, progress_printer, run_sweep, sweep_backend,
    write_topology_comparison,
)
from labnet.runs.execution.sweep_backends import PointTask, SweepError, execute, resolve_workers
from labnet.runs.execution.until_decided import Plan, StoppingRule, start_plan
from labnet.runs.reports.topology_ranking import TopologyRanking, format_level, rank_topologies

UNTIL_RANKED_FILE = "until_ranked.json"


def sweep_until_ranked(sweep: Sweep | str | Path, out: str | Path, rule: StoppingRule, progress: bool = True,
                       **sweep_options: Any) -> SweepResult:
    """Run the sweep, then add trials to every point until the topologies' ranking is decided (module docstring).

    Args:
        sweep: a loaded sweep or a sweep file with a ``topology`` axis of 2 or more topologies.
        out: parent of the sweep directory.
        rule: looks, spending, precision (observations) and ``max_trials`` per point.
        progress: one line per look on stderr.
        sweep_options: ``backend``, ``workers``, ``ray_address`` of :func:`run_sweep`.

    Raises:
        SweepError: no topology axis, failed points, or the Ray backend.
        ScenarioError: a bad rule (the message names the field).
    """
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    if "topology" not in sweep.axes or len(sweep.spec.axes["topology"]) < 2:
        raise SweepError("--decide topologies: the sweep needs a 'topology' axis with 2 or more topologies")
    if sweep_backend(sweep, sweep_options.get("backend"))[0] == "ray":
        raise SweepError("--decide topologies: points are extended where the sweep directory is; use the serial "
                         "or processes backend")
    first_trials = int(sweep.points[0].scenario.trials)
    networks = len(sweep.points) // len(sweep.spec.axes["topology"]) * first_trials
    rule.check(first_trials, replicates=networks)
    result = run_sweep(sweep, out, progress=progress, **sweep_options)
    sweep_dir = result.sweep_dir
    plan_path = sweep_dir / UNTIL_RANKED_FILE
    plan = (Plan.read(sweep_dir, UNTIL_RANKED_FILE) if plan_path.is_file()
            else start_plan(sweep_dir, first_trials, rule, UNTIL_RANKED_FILE, replicates=networks))
    while True:
        _refuse_failures(result)
        result = _extend_points(sweep, out, result, plan.target_trials, progress, sweep_options)
        n = plan.target_trials
        k = plan.looks.index(n) if n in plan.looks else len(plan.looks) - 1
        ranking = rank_topologies(result.results, alpha=plan.alphas[k], precision=plan.rule.precision)
        decided = int(ranking.pairs["verdict"].ne("undecided").sum())
        plan.history = [h for h in (plan.history or []) if h["trials"] != n] + [
            {"trials": n, "look": k + 1, "alpha_k": plan.alphas[k], "networks": len(ranking.network_rmst),
             "decided": decided, "comparisons": len(ranking.pairs), "verdict": ranking.verdict}]
        final = decided == len(ranking.pairs) or k + 1 >= len(plan.looks)
        if final:
            plan.status = "decided" if decided == len(ranking.pairs) else "max_trials"
        # this look's files at this look's level (run_sweep wrote them at 95 %), before the plan moves on
        extra, _ = write_topology_comparison(result.results, sweep_dir, alpha=plan.alphas[k],
                                             precision=plan.rule.precision, note=stopping_text(plan, ranking, k))
        if final:
            plan.save(sweep_dir, UNTIL_RANKED_FILE)
            break
        plan.target_trials = plan.looks[k + 1]
        plan.save(sweep_dir, UNTIL_RANKED_FILE)  # the next target first: a kill from here on resumes it
        if progress:
            print(f"labnet: look {k + 1}/{len(plan.looks)} at {len(ranking.network_rmst)} networks: {decided}/"
                  f"{len(ranking.pairs)} pairs decided; adding trials up to {plan.target_trials} per point",
                  file=sys.stderr)
    return replace(result, extra_files=extra, ranking=ranking)


def _refuse_failures(result: SweepResult) -> None:
    if result.failed:
        raise SweepError(f"{len(result.failed)} point(s) failed ({', '.join(sorted(result.failed)[:5])}); the "
                         f"ranking needs every point: run the same command again to retry them")


def _extend_points(sweep: Sweep, out: str | Path, result: SweepResult, trials: int, progress: bool,
                   sweep_options: dict[str, Any]) -> SweepResult:
    """Raise every point below ``trials`` trials to it (in parallel), then tabulate the sweep again."""
    have = result.results.groupby("point")["trial"].nunique()
    todo = [point for point in sweep.points if int(have.get(point.point_id, 0)) < trials]
    if not todo:
        return result
    tasks = [PointTask(p.point_id, p.scenario.to_dict(), str((result.sweep_dir / p.point_id).resolve()),
                       extend_to=trials) for p in todo]
    backend, workers = sweep_backend(sweep, sweep_options.get("backend"), sweep_options.get("workers"))
    say = progress_printer(progress)
    parallel = resolve_workers(backend, workers, len(tasks))
    say(f"  raising {len(todo)} point(s) to {trials} trials on backend {backend}"
        + (f" ({parallel} at once)" if backend != "serial" else ""))
    record = PointProgress(sweep, len(tasks), parallel, say, doing=f"raised to {trials} trials")
    execute(tasks, backend, record, workers=workers)
    failed = [f"{o.point_id}: {o.error}" for o in record.outcomes.values() if o.status != "finished"]
    if failed:
        raise SweepError(f"extending points to {trials} trials failed: {'; '.join(failed[:3])}; run the same "
                         f"command again to continue")
    return run_sweep(sweep, out, progress=False, **sweep_options)


def stopping_text(plan: Plan, ranking: TopologyRanking, look: int) -> str:
    """The stopping rule and the looks taken up to look index ``look``, for ``topology_ranking.md``."""
    rule = plan.rule
    looks = ", ".join(f"{h['trials']} ({h['networks']} networks)" for h in plan.history or [])
    precision = f"; precision +-{rule.precision:g} observations" if rule.precision is not None else ""
    return (f"## Stopping rule\n\nUntil decided: group-sequential, Lan-DeMets {rule.spending} alpha spending "
            f"(alpha = {rule.alpha:g}) over the planned looks at {', '.join(map(str, plan.looks))} trials per point"
            f"{precision}; this look's level {format_level(plan.alphas[look])} "
            f"(split over {len(ranking.pairs)} pairs). Looks taken (trials per point): {looks}. "
            f"Status: {plan.status}.")

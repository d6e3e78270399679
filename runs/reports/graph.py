"""Who transfers to whom: the transfer graph of a run and its metrics (behind ``labnet graph``).

The transfer graph aggregates a run's transfer events (``transfers.parquet``, one row per
transferred candidate model a lab built): a directed edge ``source -> target`` exists when the
target built at least one candidate from the source's published model. Edge attributes:

- ``attempts``: transferred candidate models built (summed over the chosen trials);
- ``selected``: how many of them were chosen as the target's best-performing model (BPM);
  ``weight`` holds the same number (the convention of :meth:`labnet.environment.TransferLog.transfer_graph`);
- ``selection_rate``: ``selected / attempts``.

Node attributes: ``property``, ``period_ticks`` (clock period, ticks), ``strategy`` and
``community`` ("" when unknown). Lab attributes come from the run directory's ``labs.csv`` when it
exists, else from the labs of its ``scenario.yaml`` (then no lab has a community).

Typical use::

    run = read_graph_run("labnet-runs/default-20250101-120000")
    analysis = analyze_transfers(run, condition="networked", trial=None)   # None: all trials pooled
    analysis.labs                 # per-lab metrics (see lab_metrics)
    write_graph_outputs(analysis, "out/")
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from labnet.environment.transfer_log import transfer_graph_from_frame
from labnet.runs.reports.graph_plots import plot_property_flows, plot_transfer_network
from labnet.runs.reports.run_directory import read_run_directory
from labnet.runs.config.scenario import Scenario

__all__ = [
    "GraphInputError", "GraphRun", "Reciprocity", "TransferAnalysis", "analyze_transfers",
    "community_flows", "default_out_dir", "lab_metrics", "lab_metrics_by_trial", "lab_table_from_scenario", "plot_property_flows",
    "plot_transfer_network", "property_flows", "read_graph_run", "read_lab_table",
    "reciprocity", "select_rows", "summary_markdown", "summary_text",
    "transfer_bpm_share", "transfer_graph", "write_graph_outputs",
]

LABS_FILE = "labs.csv"
GRAPHML_FILE = "graph.graphml"
LABS_CSV = "graph_labs.csv"
PROPERTY_FLOWS_CSV = "graph_property_flows.csv"
COMMUNITY_FLOWS_CSV = "graph_community_flows.csv"
SUMMARY_MD = "graph_summary.md"
NETWORK_PNG = "transfer_network.png"
PROPERTY_FLOWS_PNG = "property_flows.png"

LAB_COLUMNS = ("name", "property", "goal", "period_ticks", "initial_points", "noise_std", "bias", "strategy",
               "community")
"""Columns of the lab table (``labs.csv``); ``community`` is "" when unknown."""

LAB_METRIC_COLUMNS = (
    "lab", "property", "period_ticks", "community",
    "in_strength_selected", "out_strength_selected", "in_strength_attempts", "out_strength_attempts",
    "in_degree", "out_degree", "in_degree_selected", "out_degree_selected",
    "pagerank", "pagerank_as_source",
    "n_acquisitions", "n_transfer_bpm", "transfer_bpm_share",
)
"""Columns of :func:`lab_metrics`."""

FLOW_COLUMNS = ("attempts", "selected", "selection_rate")
UNASSIGNED_COMMUNITY = "(none)"
"""Community label of a lab without one, in community flows (when other labs have one)."""


class GraphInputError(ValueError):
    """A run directory or an option that the transfer-graph analysis cannot use (bad input)."""


# --------------------------------------------------------------------------- reading a run


@dataclass
class GraphRun:
    """What the transfer-graph analysis reads from a run directory.

    Attributes:
        path: the run directory.
        scenario: its resolved scenario.
        steps: ``steps.parquet`` (one row per observation).
        transfers: ``transfers.parquet`` (one row per transferred candidate model).
        labs: the lab table, columns :data:`LAB_COLUMNS`, one row per lab in scenario order.
    """

    path: Path
    scenario: Scenario
    steps: pd.DataFrame
    transfers: pd.DataFrame
    labs: pd.DataFrame


def read_graph_run(run_dir: str | Path) -> GraphRun:
    """Read a run directory for the transfer-graph analysis.

    Raises:
        FileNotFoundError: not a directory, or not a run directory (no ``scenario.yaml``).
        StudyError: no ``steps.parquet`` yet.
        GraphInputError: a ``labs.csv`` with missing columns or bad values.
    """
    run = read_run_directory(run_dir)
    labs_path = run.path / LABS_FILE
    labs = read_lab_table(labs_path) if labs_path.is_file() else lab_table_from_scenario(run.scenario)
    return GraphRun(run.path, run.scenario, run.steps, run.transfers, labs)


def lab_table_from_scenario(scenario: Scenario) -> pd.DataFrame:
    """The lab table (:data:`LAB_COLUMNS`) from a scenario's labs; communities unknown ("")."""
    rows = [{**{c: getattr(lab, c) for c in LAB_COLUMNS if c != "community"}, "community": ""}
            for lab in scenario.labs]
    return _typed_lab_table(pd.DataFrame(rows, columns=list(LAB_COLUMNS)))


def read_lab_table(path: str | Path) -> pd.DataFrame:
    """Read ``labs.csv``: columns ``name``, ``property`` and ``period_ticks`` are required; the
    others of :data:`LAB_COLUMNS` are optional (``community`` empty = unknown).

    Raises:
        GraphInputError: a required column is missing, a name repeats, or ``period_ticks`` is not
            an integer >= 1 (the message names the file, the column and the row).
    """
    path = Path(path)
    table = pd.read_csv(path, dtype={"name": str, "property": str, "community": str, "strategy": str, "goal": str},
                        keep_default_na=False, na_values={"period_ticks": [""]})
    missing = [c for c in ("name", "property", "period_ticks") if c not in table.columns]
    if missing:
        raise GraphInputError(f"{path}: missing column(s) {', '.join(missing)}; expected columns "
                              f"{', '.join(LAB_COLUMNS)} (name, property, period_ticks required)")
    duplicated = table["name"][table["name"].duplicated()].tolist()
    if duplicated:
        raise GraphInputError(f"{path}: column name: lab {duplicated[0]!r} appears more than once")
    periods = pd.to_numeric(table["period_ticks"], errors="coerce")
    bad = ~(periods.notna() & (periods >= 1) & (periods == periods.round()))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise GraphInputError(f"{path}: column period_ticks, row {row + 2} (lab {table['name'].iloc[row]!r}): "
                              f"{table['period_ticks'].iloc[row]!r} is not an integer >= 1")
    defaults = {"goal": "maximize", "initial_points": np.nan, "noise_std": 0.0, "bias": 0.0, "strategy": "bo",
                "community": ""}
    for column, default in defaults.items():
        if column not in table.columns:
            table[column] = default
    table["period_ticks"] = periods
    return _typed_lab_table(table[list(LAB_COLUMNS)])


def _typed_lab_table(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in ("name", "property", "goal", "strategy", "community"):
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["period_ticks"] = table["period_ticks"].astype("int64")
    return table.reset_index(drop=True)


def communities_known(labs: pd.DataFrame) -> bool:
    """True when at least one lab of the lab table has a community."""
    return bool((labs["community"].astype(str) != "").any())


# --------------------------------------------------------------------------- selecting rows


def select_rows(run: GraphRun, condition: str = "networked", trial: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (steps, transfers) rows of one condition, one trial or all (``trial=None``).

    Raises:
        GraphInputError: the condition or trial is not in the run (the message lists those that are).
    """
    conditions = list(dict.fromkeys(run.steps["condition"].astype(str)))
    if condition not in conditions:
        raise GraphInputError(f"--condition {condition!r}: not in this run; conditions in {run.path}: "
                              f"{', '.join(conditions) or '(none)'}")
    steps = run.steps[run.steps["condition"] == condition]
    transfers = run.transfers
    if "condition" in transfers.columns:
        transfers = transfers[transfers["condition"] == condition]
    if trial is not None:
        trials = sorted(int(t) for t in steps["trial"].unique())
        if trial not in trials:
            raise GraphInputError(f"--trial {trial}: condition {condition!r} of {run.path} has trial(s) "
                                  f"{', '.join(map(str, trials))}")
        steps = steps[steps["trial"] == trial]
        if "trial" in transfers.columns:
            transfers = transfers[transfers["trial"] == trial]
    return steps, transfers


# --------------------------------------------------------------------------- the graph


def transfer_graph(transfers: pd.DataFrame, labs: pd.DataFrame) -> nx.DiGraph:
    """The weighted directed transfer graph of some transfer events (pooled over their trials).

    Args:
        transfers: rows of ``transfers.parquet`` (``source, target, selected``).
        labs: the lab table (:data:`LAB_COLUMNS`); every lab becomes a node, in table order.

    Returns:
        DiGraph; nodes carry ``property``, ``period_ticks``, ``strategy``, ``community`` ("" if
        unknown); edges carry ``attempts``, ``selected`` (= ``weight``) and ``selection_rate``.
        A source or target not in ``labs`` (should not happen) is added with empty attributes.
    """
    graph = transfer_graph_from_frame(transfers, nodes=labs["name"].tolist())
    attributes = labs.set_index("name")
    for node, data in graph.nodes(data=True):
        known = node in attributes.index
        data["property"] = str(attributes.at[node, "property"]) if known else ""
        data["period_ticks"] = int(attributes.at[node, "period_ticks"]) if known else 0
        data["strategy"] = str(attributes.at[node, "strategy"]) if known else ""
        data["community"] = str(attributes.at[node, "community"]) if known else ""
    for _, _, data in graph.edges(data=True):
        data["selected"] = int(data["weight"])
        data["selection_rate"] = data["selected"] / data["attempts"]
    return graph


def transfer_bpm_share(steps: pd.DataFrame, labs: Sequence[str]) -> pd.DataFrame:
    """Per lab: acquisition steps with a chosen model, how many chose a transferred one, and the share.

    "The share of steps where a transferred model beat the local one": a step counts when its
    ``bpm_kind`` is set (a model-based action: "scratch" or "transfer"); it is a transfer step when
    ``bpm_kind == "transfer"``. Initial points and random-search steps have no BPM and do not count.

    Returns:
        Index ``lab`` (every lab of ``labs``, in order); columns ``n_acquisitions``,
        ``n_transfer_bpm`` (int) and ``transfer_bpm_share`` (NaN when ``n_acquisitions`` is 0).
    """
    kind = steps["bpm_kind"].fillna("").astype(str) if "bpm_kind" in steps.columns else pd.Series("", index=steps.index)
    acted = steps[kind != ""]
    counts = pd.DataFrame({
        "n_acquisitions": acted.groupby("lab").size(),
        "n_transfer_bpm": acted[kind[acted.index] == "transfer"].groupby("lab").size(),
    }).reindex(list(labs)).fillna(0).astype("int64")
    counts.index.name = "lab"
    counts["transfer_bpm_share"] = counts["n_transfer_bpm"] / counts["n_acquisitions"].where(counts["n_acquisitions"] > 0)
    return counts


def lab_metrics(graph: nx.DiGraph, steps: pd.DataFrame) -> pd.DataFrame:
    """Per-lab metrics of a transfer graph (one row per node, in node order; :data:`LAB_METRIC_COLUMNS`).

    - ``in/out_strength_selected``: transfers into / out of the lab that were chosen as BPM
      (sum of ``selected`` over incoming / outgoing edges);
    - ``in/out_strength_attempts``: the same for transferred candidate models built;
    - ``in/out_degree``: neighbours with at least one attempt; ``*_degree_selected``: with at least
      one selection;
    - ``pagerank``: PageRank of the graph with weight ``selected`` (damping 0.85): rank flows
      along source -> target, so it is high for labs that adopt models from well-ranked labs;
      ``pagerank_as_source``: PageRank of the reversed graph (target -> source), high for labs
      whose models are chosen by well-ranked labs. Without any selection (or any edge) every
      node gets ``1 / n``. Each column sums to 1.
    - ``n_acquisitions``, ``n_transfer_bpm``, ``transfer_bpm_share``: see :func:`transfer_bpm_share`
      (computed from ``steps``, the step rows of the same condition and trials).
    """
    nodes = list(graph.nodes)
    rank = _pagerank(graph)
    rank_as_source = _pagerank(graph.reverse(copy=True))
    shares = transfer_bpm_share(steps, nodes)
    rows = []
    for node in nodes:
        incoming = [d for _, _, d in graph.in_edges(node, data=True)]
        outgoing = [d for _, _, d in graph.out_edges(node, data=True)]
        data = graph.nodes[node]
        rows.append({
            "lab": node,
            "property": data.get("property", ""),
            "period_ticks": data.get("period_ticks", 0),
            "community": data.get("community", ""),
            "in_strength_selected": sum(d["selected"] for d in incoming),
            "out_strength_selected": sum(d["selected"] for d in outgoing),
            "in_strength_attempts": sum(d["attempts"] for d in incoming),
            "out_strength_attempts": sum(d["attempts"] for d in outgoing),
            "in_degree": len(incoming),
            "out_degree": len(outgoing),
            "in_degree_selected": sum(d["selected"] > 0 for d in incoming),
            "out_degree_selected": sum(d["selected"] > 0 for d in outgoing),
            "pagerank": rank[node],
            "pagerank_as_source": rank_as_source[node],
            "n_acquisitions": int(shares.at[node, "n_acquisitions"]),
            "n_transfer_bpm": int(shares.at[node, "n_transfer_bpm"]),
            "transfer_bpm_share": float(shares.at[node, "transfer_bpm_share"]),
        })
    return pd.DataFrame(rows, columns=list(LAB_METRIC_COLUMNS))


def _pagerank(graph: nx.DiGraph) -> dict[str, float]:
    if graph.number_of_nodes() == 0:
        return {}
    if not any(d["selected"] > 0 for _, _, d in graph.edges(data=True)):
        return {node: 1.0 / graph.number_of_nodes() for node in graph.nodes}
    return nx.pagerank(graph, alpha=0.85, weight="selected")


@dataclass(frozen=True)
class Reciprocity:
    """How mutual the transfers are (NaN when there is nothing to measure).

    Attributes:
        unweighted: share of the edges with >= 1 selection whose reverse edge also has >= 1
            selection (:func:`networkx.reciprocity` on those edges).
        weighted: ``sum over ordered pairs of min(w_ij, w_ji) / sum of w_ij`` with ``w = selected``
            (Squartini et al. 2013): 1 when every selection is matched by as many in the reverse direction.
        unweighted_attempts: the unweighted reciprocity of the edges with >= 1 attempt (mirrors the
            topology: 1 for a bidirectional one).
    """

    unweighted: float
    weighted: float
    unweighted_attempts: float


def reciprocity(graph: nx.DiGraph) -> Reciprocity:
    """The global reciprocity of a transfer graph (see :class:`Reciprocity`)."""
    selected = [(s, t) for s, t, d in graph.edges(data=True) if d["selected"] > 0]
    chosen = set(selected)
    attempted = set(graph.edges)

    def mutual_share(edges: set[tuple[str, str]]) -> float:
        if not edges:
            return float("nan")
        return sum((t, s) in edges for s, t in edges) / len(edges)

    total = sum(graph.edges[e]["selected"] for e in selected)
    matched = sum(min(graph.edges[s, t]["selected"], graph.edges[t, s]["selected"] if graph.has_edge(t, s) else 0)
                  for s, t in selected)
    return Reciprocity(
        unweighted=mutual_share(chosen),
        weighted=matched / total if total else float("nan"),
        unweighted_attempts=mutual_share(attempted),
    )


# --------------------------------------------------------------------------- flows


def _with_rate(table: pd.DataFrame) -> pd.DataFrame:
    table["attempts"] = table["attempts"].astype("int64")
    table["selected"] = table["selected"].astype("int64")
    table["selection_rate"] = table["selected"] / table["attempts"].where(table["attempts"] > 0)
    return table


def _flows(transfers: pd.DataFrame, source: pd.Series, target: pd.Series, names: tuple[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame({names[0]: source.to_numpy(), names[1]: target.to_numpy(),
                          "selected": transfers["selected"].astype(bool).astype("int64").to_numpy()})
    grouped = frame.groupby(list(names), sort=True)["selected"].agg(attempts="size", selected="sum").reset_index()
    grouped.insert(2, "same", grouped[names[0]] == grouped[names[1]])
    return _with_rate(grouped)


def property_flows(transfers: pd.DataFrame, labs: pd.DataFrame) -> pd.DataFrame:
    """Transfers aggregated by (source property -> target property).

    The properties are the transfers' ``source_property`` / ``target_property`` where given, else
    the labs' properties from the lab table.

    Returns:
        Columns ``source_property, target_property, same_property, attempts, selected,
        selection_rate`` (selected / attempts), one row per pair with >= 1 attempt, sorted.
    """
    columns = ["source_property", "target_property", "same_property", *FLOW_COLUMNS]
    if transfers.empty:
        return pd.DataFrame(columns=columns)
    by_lab = labs.set_index("name")["property"]
    source = _column_or_lab(transfers, "source_property", transfers["source"].map(by_lab))
    target = _column_or_lab(transfers, "target_property", transfers["target"].map(by_lab))
    out = _flows(transfers, source, target, ("source_property", "target_property"))
    return out.rename(columns={"same": "same_property"})[columns]


def community_flows(transfers: pd.DataFrame, labs: pd.DataFrame) -> pd.DataFrame | None:
    """Transfers aggregated by (source community -> target community); None when no lab has a community.

    Labs without a community (when others have one) are counted under :data:`UNASSIGNED_COMMUNITY`.

    Returns:
        Columns ``source_community, target_community, same_community, attempts, selected,
        selection_rate``, one row per pair with >= 1 attempt, sorted.
    """
    if not communities_known(labs):
        return None
    columns = ["source_community", "target_community", "same_community", *FLOW_COLUMNS]
    if transfers.empty:
        return pd.DataFrame(columns=columns)
    by_lab = labs.set_index("name")["community"].replace("", UNASSIGNED_COMMUNITY)
    source = transfers["source"].astype(str).map(by_lab).fillna(UNASSIGNED_COMMUNITY)
    target = transfers["target"].astype(str).map(by_lab).fillna(UNASSIGNED_COMMUNITY)
    out = _flows(transfers, source, target, ("source_community", "target_community"))
    return out.rename(columns={"same": "same_community"})[columns]


def _column_or_lab(transfers: pd.DataFrame, column: str, fallback: pd.Series) -> pd.Series:
    if column not in transfers.columns:
        return fallback.fillna("").astype(str)
    values = transfers[column].where(transfers[column].notna() & (transfers[column].astype(str) != ""), fallback)
    return values.fillna("").astype(str)


# --------------------------------------------------------------------------- the whole analysis


@dataclass
class TransferAnalysis:
    """Everything ``labnet graph`` computes for one condition and one trial (or all trials pooled).

    Attributes:
        run_path: the run directory.
        condition: the condition analysed.
        trials: the trials pooled (one when a single trial was asked for).
        graph: :func:`transfer_graph`.
        labs: :func:`lab_metrics`.
        property_flows: :func:`property_flows`.
        community_flows: :func:`community_flows` (None when communities are unknown).
        reciprocity: :func:`reciprocity`.
        n_acquisitions, n_transfer_bpm: over all labs; ``transfer_bpm_share`` is their ratio.
    """

    run_path: Path
    scenario_name: str
    condition: str
    trials: list[int]
    graph: nx.DiGraph
    labs: pd.DataFrame
    property_flows: pd.DataFrame
    community_flows: pd.DataFrame | None
    reciprocity: Reciprocity
    n_acquisitions: int
    n_transfer_bpm: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def transfer_bpm_share(self) -> float:
        """Share of all acquisition steps (with a BPM) whose BPM was a transferred model; NaN if none."""
        return self.n_transfer_bpm / self.n_acquisitions if self.n_acquisitions else float("nan")

    @property
    def attempts(self) -> int:
        return int(sum(d["attempts"] for _, _, d in self.graph.edges(data=True)))

    @property
    def selected(self) -> int:
        return int(sum(d["selected"] for _, _, d in self.graph.edges(data=True)))


def analyze_transfers(run: GraphRun, condition: str = "networked", trial: int | None = None) -> TransferAnalysis:
    """The transfer graph, per-lab metrics, flows and reciprocity of one condition of a run.

    Args:
        run: :func:`read_graph_run`.
        condition: e.g. "networked" (baselines have no transfers: an edgeless graph).
        trial: one trial, or None for all trials pooled (counts summed).

    Raises:
        GraphInputError: unknown condition or trial.
    """
    steps, transfers = select_rows(run, condition, trial)
    graph = transfer_graph(transfers, run.labs)
    metrics = lab_metrics(graph, steps)
    return TransferAnalysis(
        run_path=run.path,
        scenario_name=run.scenario.name,
        condition=condition,
        trials=sorted(int(t) for t in steps["trial"].unique()),
        graph=graph,
        labs=metrics,
        property_flows=property_flows(transfers, run.labs),
        community_flows=community_flows(transfers, run.labs),
        reciprocity=reciprocity(graph),
        n_acquisitions=int(metrics["n_acquisitions"].sum()),
        n_transfer_bpm=int(metrics["n_transfer_bpm"].sum()),
    )


def lab_metrics_by_trial(run: GraphRun, condition: str = "networked") -> pd.DataFrame:
    """:func:`lab_metrics` of each trial's own transfer graph, stacked, with a leading ``trial`` column
    (for spreads over trials; the pooled graph is :func:`analyze_transfers` with ``trial=None``).

    Raises:
        GraphInputError: unknown condition.
    """
    steps, _ = select_rows(run, condition)
    frames = []
    for trial in sorted(int(t) for t in steps["trial"].unique()):
        trial_steps, trial_transfers = select_rows(run, condition, trial)
        metrics = lab_metrics(transfer_graph(trial_transfers, run.labs), trial_steps)
        metrics.insert(0, "trial", trial)
        frames.append(metrics)
    if not frames:
        return pd.DataFrame(columns=["trial", *LAB_METRIC_COLUMNS])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- export


def graph_for_export(analysis: TransferAnalysis) -> nx.DiGraph:
    """A copy of the transfer graph with each lab's metrics as node attributes (NaN shares -> -1.0,
    as GraphML has no NaN-free missing value; every value is a str, int or float)."""
    graph = analysis.graph.copy()
    metric_columns = [c for c in LAB_METRIC_COLUMNS if c not in ("lab", "property", "period_ticks", "community")]
    for record in analysis.labs.to_dict("records"):
        data = graph.nodes[record["lab"]]
        for column in metric_columns:
            value = record[column]
            if isinstance(value, (float, np.floating)):
                data[column] = -1.0 if math.isnan(value) else float(value)
            else:
                data[column] = int(value)
    graph.graph.update({"scenario": analysis.scenario_name, "condition": analysis.condition,
                        "trials": ",".join(map(str, analysis.trials))})
    return graph


def write_graph_outputs(analysis: TransferAnalysis, out_dir: str | Path, plots: bool = True) -> dict[str, Path]:
    """Write GraphML, the CSVs, ``graph_summary.md`` and (``plots``) the two PNGs into ``out_dir``.

    Returns:
        File name -> path of everything written (also stored in ``analysis.files``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    files[GRAPHML_FILE] = out / GRAPHML_FILE
    nx.write_graphml(graph_for_export(analysis), files[GRAPHML_FILE])
    files[LABS_CSV] = out / LABS_CSV
    analysis.labs.to_csv(files[LABS_CSV], index=False)
    files[PROPERTY_FLOWS_CSV] = out / PROPERTY_FLOWS_CSV
    analysis.property_flows.to_csv(files[PROPERTY_FLOWS_CSV], index=False)
    if analysis.community_flows is not None:
        files[COMMUNITY_FLOWS_CSV] = out / COMMUNITY_FLOWS_CSV
        analysis.community_flows.to_csv(files[COMMUNITY_FLOWS_CSV], index=False)
    if plots:
        trials = _trials_text(analysis.trials)
        files[NETWORK_PNG] = plot_transfer_network(
            analysis.graph, out / NETWORK_PNG,
            title=f"{analysis.scenario_name}: transfer graph, {analysis.condition}, {trials}",
            highlight=_top_labs(analysis.labs, "out_strength_selected", 5),
        )
        files[PROPERTY_FLOWS_PNG] = plot_property_flows(
            analysis.property_flows, out / PROPERTY_FLOWS_PNG,
            properties=list(dict.fromkeys(analysis.labs["property"])),
            title=f"{analysis.scenario_name}: transfers between properties, {analysis.condition}, {trials}",
        )
    files[SUMMARY_MD] = out / SUMMARY_MD
    files[SUMMARY_MD].write_text(summary_markdown(analysis, files), encoding="utf-8")
    analysis.files = files
    return files


def _trials_text(trials: Sequence[int]) -> str:
    if len(trials) == 1:
        return f"trial {trials[0]}"
    return f"{len(trials)} trials pooled"


def _top_labs(labs: pd.DataFrame, column: str, k: int) -> list[str]:
    ranked = labs[labs[column] > 0].sort_values([column, "lab"], ascending=[False, True], kind="stable")
    return ranked["lab"].head(k).tolist()


def _num(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def _share(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f} %"


def _markdown_table(table: pd.DataFrame, columns: Iterable[str], formats: dict[str, object] | None = None) -> str:
    columns = list(columns)
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for record in table.to_dict("records"):
        cells = []
        for column in columns:
            value = record[column]
            fmt = formats.get(column)
            cells.append(fmt(value) if callable(fmt) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_text(analysis: TransferAnalysis) -> str:
    """A few lines for the terminal: counts, selection rate, transfer-BPM share, reciprocity."""
    graph = analysis.graph
    attempted = graph.number_of_edges()
    chosen = sum(d["selected"] > 0 for _, _, d in graph.edges(data=True))
    rate = analysis.selected / analysis.attempts if analysis.attempts else float("nan")
    r = analysis.reciprocity
    return "\n".join([
        f"transfer graph of {analysis.scenario_name}, condition {analysis.condition}, {_trials_text(analysis.trials)}",
        f"labs: {graph.number_of_nodes()}; edges with a transferred candidate: {attempted}; "
        f"edges with a transfer chosen as BPM: {chosen}",
        f"transferred candidates built: {analysis.attempts}; chosen as BPM: {analysis.selected} "
        f"(selection rate {_share(rate)})",
        f"acquisition steps whose BPM was a transferred model: {analysis.n_transfer_bpm}/{analysis.n_acquisitions} "
        f"({_share(analysis.transfer_bpm_share)})",
        f"reciprocity of chosen transfers: unweighted {_num(r.unweighted)}, weighted {_num(r.weighted)} "
        f"(of attempted: {_num(r.unweighted_attempts)})",
    ])


def summary_markdown(analysis: TransferAnalysis, files: dict[str, Path] | None = None) -> str:
    """``graph_summary.md``: the summary lines, the leading labs, the property and community flows."""
    labs = analysis.labs
    parts = [f"# Who transfers to whom: {analysis.scenario_name}", ""]
    parts += [f"- {line}" for line in summary_text(analysis).splitlines()[1:]]
    parts += [
        f"- run: `{analysis.run_path}`; condition: {analysis.condition}; trials: "
        f"{', '.join(map(str, analysis.trials))} (counts summed over them)",
        "",
        "An edge source → target means the target built a candidate model from the source's published "
        "model (an attempt); it is *selected* when that candidate was the target's best-performing model "
        "(BPM) on validation data, i.e. the transferred model beat the target's own.",
        "",
    ]
    shown = labs.sort_values(["out_strength_selected", "pagerank_as_source", "lab"], ascending=[False, False, True],
                             kind="stable").head(10)
    if not labs.empty:
        parts += [f"## Labs whose models were chosen most (top {len(shown)} of {len(labs)}; all in `{LABS_CSV}`)", ""]
        parts.append(_markdown_table(
            shown,
            ["lab", "property", "period_ticks", "out_strength_selected", "out_strength_attempts",
             "in_strength_selected", "pagerank_as_source", "transfer_bpm_share"],
            {"pagerank_as_source": _num, "transfer_bpm_share": _share},
        ))
        parts.append("")
    flows = analysis.property_flows
    parts += ["## Transfers between properties", ""]
    if flows.empty:
        parts.append("No transfers.")
    else:
        parts.append(_markdown_table(flows, ["source_property", "target_property", *FLOW_COLUMNS],
                                     {"selection_rate": _share}))
    parts.append("")
    if analysis.community_flows is not None:
        parts += ["## Transfers between communities", ""]
        if analysis.community_flows.empty:
            parts.append("No transfers.")
        else:
            parts.append(_markdown_table(analysis.community_flows, ["source_community", "target_community",
                                                                    *FLOW_COLUMNS], {"selection_rate": _share}))
        parts.append("")
    else:
        parts += ["Communities: unknown (no `labs.csv` with a community column in the run directory).", ""]
    if files:
        parts += ["## Files", ""] + [f"- `{name}`" for name in files] + [""]
    return "\n".join(parts)


def default_out_dir(run_dir: str | Path, condition: str, trial: int | None) -> Path:
    """``RUN_DIR/graph`` for all networked trials; ``RUN_DIR/graph-<condition>[-trial<N>]`` otherwise."""
    if condition == "networked" and trial is None:
        return Path(run_dir) / "graph"
    return Path(run_dir) / (f"graph-{condition}" + ("" if trial is None else f"-trial{trial}"))

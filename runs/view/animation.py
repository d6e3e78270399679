"""The transfer graph over time as a GIF (``labnet graph RUN_DIR --animate``), and the static graph
of a tick window (``--window A:B``); matplotlib draws, Pillow writes the GIF.

One frame per tick of the run: the nodes at the replay app's stable positions, the edges lit at
that tick (chosen: black, bold; attempted only: grey, faint).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from labnet.runs.view.data import (
    CHOSEN, VIEW_HEIGHT, VIEW_WIDTH, ViewRun, edges_at_tick, edges_in_window, layout_positions, node_table,
    select_view_rows, tick_range,
)

__all__ = ["draw_edges", "write_window_png", "write_gif"]


def draw_edges(ax, nodes: pd.DataFrame, edges: pd.DataFrame, title: str) -> None:  # noqa: ANN001 - Axes
    """Draw ``nodes`` (a :func:`node_table`) and ``edges`` (an :func:`edges_in_window` table) on ``ax``."""
    where = nodes.set_index("name")
    ax.clear()
    for state, color, width, alpha in (("attempted", "#8a8a8a", 0.8, 0.5), (CHOSEN, "#111111", 2.0, 0.9)):
        for row in edges[edges["state"] == state].itertuples():
            if row.source in where.index and row.target in where.index:
                a, b = where.loc[row.source], where.loc[row.target]
                ax.annotate("", xy=(b.x, b.y), xytext=(a.x, a.y),
                            arrowprops={"arrowstyle": "-|>" if state == CHOSEN else "-", "color": color,
                                        "lw": width, "alpha": alpha, "connectionstyle": "arc3,rad=0.12"})
    ax.scatter(nodes["x"], nodes["y"], s=(nodes["radius"] * 2.2) ** 2, c=nodes["color"], edgecolors="white",
               zorder=3)
    if len(nodes) <= 60:
        for row in nodes.itertuples():
            ax.text(row.x + row.radius + 3, row.y - row.radius, row.name, fontsize=8)
    ax.set_xlim(0, VIEW_WIDTH)
    ax.set_ylim(VIEW_HEIGHT, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def _scene(run: ViewRun, condition: str, trial: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    _, transfers = select_view_rows(run, condition, trial)
    return node_table(run.labs, layout_positions(run.lab_names, run.links)), transfers


def write_window_png(run: ViewRun, condition: str, trial: int, window: tuple[int, int], path: Path) -> Path:
    """The static transfer graph of ticks ``window[0]..window[1]`` (both included) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes, transfers = _scene(run, condition, trial)
    fig, ax = plt.subplots(figsize=(8, 5.6))
    draw_edges(ax, nodes, edges_in_window(transfers, *window),
               f"{run.scenario.name} · {condition} · trial {trial} · ticks {window[0]}..{window[1]}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def write_gif(run: ViewRun, condition: str, trial: int, path: Path, frame_ms: int = 700) -> Path:
    """One GIF frame per tick of the run (``frame_ms`` milliseconds each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    nodes, transfers = _scene(run, condition, trial)
    first, last = tick_range(run)
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=90)
    frames = []
    for tick in range(first, last + 1):
        draw_edges(ax, nodes, edges_at_tick(transfers, tick), f"{run.scenario.name} · {condition} · tick {tick}")
        fig.canvas.draw()
        frames.append(Image.fromarray(__import__("numpy").asarray(fig.canvas.buffer_rgba())[..., :3]).convert(
            "P", palette=Image.ADAPTIVE))
    plt.close(fig)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return Path(path)

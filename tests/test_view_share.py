"""``labnet graph RUN_DIR --html / --window A:B / --animate`` on a real 5-lab ring run."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    from view_ring import make_ring_run

    return make_ring_run(tmp_path_factory.mktemp("ring"))


def _graph(*argv) -> int:
    from labnet.runs.cli.commands import main

    return main(["graph", *map(str, argv)])


def test_html_is_self_contained_with_nodes_and_tick_edges(ring_run, tmp_path):
    from labnet.runs.view.data import edges_at_tick, read_view_run, select_view_rows, tick_range

    assert _graph(ring_run, "--html", "--out", tmp_path) == 0
    text = (tmp_path / "network.html").read_text()
    offline = text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name, not a fetch
    assert "http://" not in offline and "https://" not in offline and " src=" not in offline
    data = json.loads(re.search(r'<script id="labnet-data" type="application/json">(.*?)</script>', text, re.S).group(1))
    run = read_view_run(ring_run)
    assert sorted(n["name"] for n in data["nodes"]) == sorted(run.lab_names)
    _, transfers = select_view_rows(run, "networked", 0)
    first, last = tick_range(run)
    for t in range(first, last + 1):
        want = {(r.source, r.target, r.state) for r in edges_at_tick(transfers, t).itertuples()}
        assert {(e["source"], e["target"], e["state"]) for e in data["ticks"][str(t)]["edges"]} == want
    assert 'type="range"' in text


def test_window_png_and_gif_one_frame_per_tick(ring_run, tmp_path):
    from PIL import Image

    from labnet.runs.view.data import read_view_run, tick_range

    assert _graph(ring_run, "--window", "0:3", "--animate", "--out", tmp_path) == 0
    assert (tmp_path / "graph_ticks_0-3.png").stat().st_size > 1000
    first, last = tick_range(read_view_run(ring_run))
    with Image.open(tmp_path / "network.gif") as gif:
        assert gif.n_frames == last - first + 1


def test_bad_window_names_the_flag(ring_run, tmp_path, capsys):
    assert _graph(ring_run, "--window", "5:2", "--out", tmp_path) == 2
    assert "--window" in capsys.readouterr().err

"""The browser views in a real browser: headless Chromium (Debian's package) driven by Playwright,
against real Solara servers on 127.0.0.1 showing a real 5-lab ring run (``labnet view``) and a
running network of the same scenario (``labnet live``).

Under CI (env var ``CI`` set) a missing browser, Playwright or Solara asset FAILS these tests;
elsewhere they are skipped. Screenshots go to the test's temporary directory, and to
``$LABNET_VIEW_SCREENSHOTS`` when that names a directory (docs/images/view_*.png were made so).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from view_ring import RING, make_ring_run

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.timeout(300)


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    _unavailable("Chromium not found (apt-get install -y chromium chromium-driver)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev,view]')")
    try:
        from labnet.runs.view.assets import AssetError, install_assets
        install_assets()
    except ImportError as exc:
        _unavailable(f"the view's packages are not installed ({exc}); pip install -e '.[view]'")
    except AssetError as exc:
        _unavailable(str(exc))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_ring_run(tmp_path_factory.mktemp("view_browser_runs"))


def _serve(app: str, env: dict):
    from labnet.runs.view.serve import start_server, wait_until_serving

    process, url = start_server(app, env, quiet=True)
    try:
        wait_until_serving(url, process, timeout_s=60)
    except RuntimeError:
        process.terminate()
        raise
    return process, url


@pytest.fixture(scope="module")
def replay_url(run_dir):
    process, url = _serve("labnet.runs.view.app:Page", {"LABNET_VIEW_RUN_DIR": str(run_dir)})
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    scenario = tmp_path_factory.mktemp("view_live") / "ring.yaml"
    scenario.write_text(yaml.safe_dump(RING), encoding="utf-8")
    process, url = _serve("labnet.runs.view.live:Page", {"LABNET_LIVE_SCENARIO": str(scenario)})
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    context.close()


def _screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    target = os.environ.get("LABNET_VIEW_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name), full_page=True)


def _lit_edges(page) -> set[tuple[str, str, str]]:
    return {(e.get_attribute("data-source"), e.get_attribute("data-target"), e.get_attribute("data-state"))
            for e in page.locator("svg.labnet-network-svg path.edge").all()}


def _expected_edges(run_dir: Path, tick: int, condition: str = "networked") -> set[tuple[str, str, str]]:
    rows = pd.read_parquet(run_dir / "transfers.parquet")
    rows = rows[(rows["condition"] == condition) & (rows["trial"] == 0) & (rows["tick"] == tick)]
    chosen = rows.groupby(["source", "target"])["selected"].any()
    return {(s, t, "chosen" if k else "attempted") for (s, t), k in chosen.items()}


def _move_slider_to(page, tick: int) -> None:
    slider = page.get_by_role("slider").first  # the tick slider is the sidebar's first
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(tick):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'svg.labnet-network-svg[data-tick="{tick}"]')


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("svg.labnet-network-svg .lab-node")


def test_replay_loads_with_one_node_per_lab(page, replay_url, tmp_path):
    _open(page, replay_url)
    names = sorted(n.get_attribute("data-lab") for n in page.locator("svg.labnet-network-svg .lab-node").all())
    assert names == sorted(lab["name"] for lab in RING["labs"])
    assert page.locator("svg.labnet-curves-svg polyline.curve").count() == len(RING["labs"])
    assert page.locator("table.transfer-matrix td").count() == len(RING["labs"]) ** 2


def test_slider_lights_exactly_the_edges_of_that_tick(page, replay_url, run_dir, tmp_path):
    _open(page, replay_url)
    seen = 0
    for tick in (2, 1, 4, 0):
        _move_slider_to(page, tick)
        expected = _expected_edges(run_dir, tick)
        assert _lit_edges(page) == expected, f"tick {tick}"
        seen += len(expected)
    assert seen > 0
    _move_slider_to(page, 2)
    page.locator('svg.labnet-network-svg .lab-node[data-lab="B"]').click(force=True)
    page.wait_for_selector('.lab-detail-body[data-lab="B"]')
    _screenshot(page, tmp_path, "view_replay.png")


def test_clicking_a_lab_shows_its_detail(page, replay_url, run_dir):
    _open(page, replay_url)
    page.locator('svg.labnet-network-svg .lab-node[data-lab="C"]').click(force=True)
    detail = page.locator('.lab-detail-body[data-lab="C"]')
    detail.wait_for()
    steps = pd.read_parquet(run_dir / "steps.parquet")
    mine = steps[(steps["condition"] == "networked") & (steps["trial"] == 0) & (steps["lab"] == "C")]
    acted = mine[mine["bpm_source"] != ""]
    choices = detail.locator("table.lab-choices tbody tr")
    assert choices.count() == len(acted) > 0
    shown = [choices.nth(i).locator("td").nth(1).inner_text().strip() for i in range(choices.count())]
    assert shown == acted["bpm_source"].tolist()  # whose model it chose at each step
    assert detail.locator("table.lab-measurements tbody tr").count() == len(mine)
    assert detail.locator("table.lab-candidate-losses tbody tr").count() == len(acted)


def test_condition_selector_switches_to_the_isolated_baseline(page, replay_url, run_dir):
    _open(page, replay_url)
    _move_slider_to(page, 2)
    assert _lit_edges(page) == _expected_edges(run_dir, 2)
    page.locator(".condition-select").click()
    page.get_by_role("option", name="isolated").click()
    page.wait_for_selector("svg.labnet-network-svg text.tick-label:has-text('isolated')")
    assert _lit_edges(page) == set() == _expected_edges(run_dir, 2, "isolated")


def test_live_view_advances_when_stepped(page, live_url, run_dir, tmp_path):
    page.goto(live_url)
    page.wait_for_selector("svg.labnet-network-svg .lab-node")
    assert page.locator("svg.labnet-network-svg .lab-node").count() == len(RING["labs"])
    step = page.get_by_role("button", name="Step")
    for tick in range(3):
        step.click()
        page.wait_for_selector(f'svg.labnet-network-svg[data-tick="{tick}"]')
        # same scenario and seed as the recorded run: the live network lights the same edges
        assert _lit_edges(page) == _expected_edges(run_dir, tick), f"tick {tick}"
    assert "Step: 3" in page.inner_text("body")
    _screenshot(page, tmp_path, "view_live.png")


def test_offline_html_slider_lights_the_edges_of_the_tick(page, run_dir, tmp_path):
    """`labnet graph RUN_DIR --html` opened from file:// with every network request refused."""
    from labnet.runs.cli.commands import main
    from labnet.runs.view.data import read_view_run, tick_range

    assert main(["graph", str(run_dir), "--html", "--out", str(tmp_path)]) == 0
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto((tmp_path / "network.html").as_uri())
    first, last = tick_range(read_view_run(run_dir))
    target = next(t for t in range(last, first - 1, -1) if _expected_edges(run_dir, t))
    page.eval_on_selector("#tick", f"(el) => {{ el.value = {target}; el.dispatchEvent(new Event('input')); }}")
    page.wait_for_selector(f'svg#net[data-tick="{target}"]')
    assert len(page.query_selector_all("circle.lab-node")) == len(read_view_run(run_dir).lab_names)
    found = {(e.get_attribute("data-source"), e.get_attribute("data-target"), e.get_attribute("data-state"))
             for e in page.query_selector_all("svg#net path.edge")}
    assert found == _expected_edges(run_dir, target)

"""The browser views in a real browser: headless Chromium (Debian's) driven by Playwright.

A real 5-lab ring run (tests/view_ring.py) is served by ``solara run`` on 127.0.0.1; the tests
check the page against :mod:`labnet.runs.view.data`. Under CI (env CI set) a missing browser or
Playwright is a failure, never a skip. Screenshots go to tests/screenshots/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

CHROMIUM = os.environ.get("LABNET_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests under CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "python playwright is not installed (pip install -e '.[view]')")
    _need(Path(CHROMIUM).is_file() or shutil.which("chromium") is not None,
          f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
                              headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    from view_ring import make_ring_run

    return make_ring_run(tmp_path_factory.mktemp("ring"))


def _serve(app: str, env: dict):
    from labnet.runs.view.assets import install_assets
    from labnet.runs.view.serve import start_server, wait_until_serving

    install_assets()
    process, url = start_server(app, env, quiet=True)
    try:
        wait_until_serving(url, process, timeout_s=60)
    except RuntimeError:
        process.terminate()
        raise
    return process, url


@pytest.fixture(scope="module")
def replay_url(ring_run):
    process, url = _serve("labnet.runs.view.app:Page", {"LABNET_VIEW_RUN_DIR": str(ring_run)})
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    import yaml
    from view_ring import RING

    path = tmp_path_factory.mktemp("live") / "ring.yaml"
    path.write_text(yaml.safe_dump({**RING, "baselines": []}))
    process, url = _serve("labnet.runs.view.live:Page", {"LABNET_LIVE_SCENARIO": str(path)})
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def _open(page, url):
    page.goto(url)
    page.wait_for_selector("svg.labnet-network-svg circle.lab-node", timeout=40_000)


def _lit(page) -> set[tuple[str, str, str]]:
    return {(e.get_attribute("data-source"), e.get_attribute("data-target"), e.get_attribute("data-state"))
            for e in page.query_selector_all("svg.labnet-network-svg path.edge")}


def _expected(ring_run, tick) -> set[tuple[str, str, str]]:
    from labnet.runs.view.data import conditions_of, edges_at_tick, read_view_run, select_view_rows

    run = read_view_run(ring_run)
    _, transfers = select_view_rows(run, conditions_of(run)[0], 0)
    edges = edges_at_tick(transfers, tick)
    return {(str(r.source), str(r.target), str(r.state)) for r in edges.itertuples()}


def test_page_loads_with_one_node_per_lab(page, replay_url, ring_run):
    from labnet.runs.view.data import read_view_run

    _open(page, replay_url)
    names = sorted(c.get_attribute("data-lab") for c in page.query_selector_all("circle.lab-node"))
    assert names == sorted(read_view_run(ring_run).lab_names)


def test_slider_lights_the_edges_of_the_tick(page, replay_url, ring_run):
    from labnet.runs.view.data import read_view_run, tick_range

    _open(page, replay_url)
    first, last = tick_range(read_view_run(ring_run))
    target = next(t for t in range(last, first - 1, -1) if _expected(ring_run, t))  # a tick with edges
    page.locator('[role="slider"]').first.focus()
    page.keyboard.press("Home")
    for _ in range(target - first):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'svg.labnet-network-svg[data-tick="{target}"]')
    page.wait_for_timeout(300)
    assert _lit(page) == _expected(ring_run, target)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "view_replay.png"), full_page=True)


def test_click_on_a_lab_shows_its_detail(page, replay_url):
    _open(page, replay_url)
    page.click('circle.lab-node[data-lab="C"]')
    page.wait_for_selector('.lab-detail-body[data-lab="C"]')
    assert "Lab C" in page.inner_text(".lab-detail-body")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "view_replay_lab.png"), full_page=True)


def test_live_view_advances_when_stepped(page, live_url):
    _open(page, live_url)
    assert page.get_attribute("svg.labnet-network-svg", "data-tick") == "-1"
    page.get_by_role("button", name="Step").click()
    page.wait_for_selector('svg.labnet-network-svg[data-tick="0"]', timeout=40_000)
    page.get_by_role("button", name="Step").click()
    page.wait_for_selector('svg.labnet-network-svg[data-tick="1"]', timeout=40_000)
    assert len(page.query_selector_all("circle.lab-node")) == 5
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "view_live.png"), full_page=True)


def test_offline_html_slider_lights_the_edges_of_the_tick(page, ring_run, tmp_path):
    from labnet.runs.cli.commands import main
    from labnet.runs.view.data import read_view_run, tick_range

    assert main(["graph", str(ring_run), "--html", "--out", str(tmp_path)]) == 0
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto((tmp_path / "network.html").as_uri())
    first, last = tick_range(read_view_run(ring_run))
    target = next(t for t in range(last, first - 1, -1) if _expected(ring_run, t))
    page.eval_on_selector("#tick", f"(el) => {{ el.value = {target}; el.dispatchEvent(new Event('input')); }}")
    page.wait_for_selector(f'svg#net[data-tick="{target}"]')
    assert len(page.query_selector_all("circle.lab-node")) == 5
    found = {(e.get_attribute("data-source"), e.get_attribute("data-target"), e.get_attribute("data-state"))
             for e in page.query_selector_all("svg#net path.edge")}
    assert found == _expected(ring_run, target)

"""Time `labnet view` in headless Chromium: first paint (page open -> every lab node drawn) and the
per-tick update (slider key press -> the network shows the new tick), on any run directory.

    python benchmarks/bench_view.py RUN_DIR [--ticks N]

Needs Debian's chromium, playwright and the view extra. Prints seconds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    import pandas as pd
    from playwright.sync_api import sync_playwright

    from labnet.runs.view.assets import install_assets
    from labnet.runs.view.serve import start_server, wait_until_serving

    install_assets()
    n_labs = len(pd.read_csv(Path(args.run_dir) / "labs.csv"))
    process, url = start_server("labnet.runs.view.app:Page", {"LABNET_VIEW_RUN_DIR": args.run_dir}, quiet=True)
    try:
        wait_until_serving(url, process)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=ARGS)
            for attempt in ("cold (server reads and lays out the run)", "warm (cached in the server)"):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(120_000)
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_function(f"document.querySelectorAll('svg.labnet-network-svg .lab-node').length == {n_labs}")
                print(f"first paint, {attempt}: {time.perf_counter() - start:.2f} s for {n_labs} labs")
                slider = page.get_by_role("slider").first
                slider.focus()
                last = int(page.get_attribute("svg.labnet-network-svg", "data-tick"))
                for _ in range(2):
                    start = time.perf_counter()
                    page.keyboard.press("ArrowRight")
                    page.wait_for_selector(f'svg.labnet-network-svg[data-tick="{last + 1}"]')
                    last += 1
                    drawn = page.get_attribute("svg.labnet-network-svg", "data-n-attempted")
                    print(f"  tick update to {last}: {time.perf_counter() - start:.2f} s "
                          f"({drawn} attempted-only edges)")
                page.close()
            browser.close()
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()

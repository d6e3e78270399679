"""The identical-tables scenarios run with the baseline kernel and with the new one, column by column.

tests/test_identical_tables.py compares digests (floats at 6 significant digits) with digests
recorded by the code before issue 11. When a kernel change alters float rounding, that test says
only which columns changed; this script says by how much::

    python benchmarks/compare_kernel_tables.py default paper_b2_20ticks_2trials [--out DIR]

Each scenario runs twice in this process: with ``benchmarks/baseline_engine.py``'s kernel patched
into ``labnet.models.engine`` (which must reproduce the golden digests) and with the engine's own
kernel. Needs the B2 CSV for ``paper_b2_20ticks_2trials``; ~1-2 min per scenario on 2 cores.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT)); sys.path.insert(0, str(REPO_ROOT / "benchmarks")); sys.path.insert(0, str(REPO_ROOT / "tests"))
import baseline_engine
from labnet import load_builtin, resolve, run_scenario
from labnet.models import engine
from labnet.models.mlp import kernel_mask
from test_identical_tables import GOLDEN as GOLDEN_PATH, TABLES, differences, table_digests

GOLDEN = json.loads(GOLDEN_PATH.read_text())
new_train_all = engine._train_all
def baseline_train_all(theta, X, rows_t, nt, y_t, rows_v, nv, y_v, seeds, sizes, offsets, firsts, *rest):
    return baseline_engine._train_all(theta, X, rows_t, nt, y_t, rows_v, nv, y_v, seeds, sizes, offsets,
                                      kernel_mask(tuple(int(v) for v in sizes)), firsts, *rest)
B2 = str(REPO_ROOT.parent / "shared/data/b2/B2_20220520_full.csv")
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("scenarios", nargs="+", choices=("default", "paper_b2_20ticks_2trials"))
parser.add_argument("--out", type=Path, default=Path("/tmp/compare_kernel_tables"), help="run directories (default: %(default)s)")
args = parser.parse_args()
scen = {"default": lambda: resolve(load_builtin("default")),
        "paper_b2_20ticks_2trials": lambda: resolve(load_builtin("paper_b2"), data=B2, ticks=20, trials=2)}
for name in args.scenarios:
    dirs = {}
    for kernel, fn in (("baseline", baseline_train_all), ("new", new_train_all)):
        engine._train_all = fn
        out = args.out / f"{name}_{kernel}"
        out.mkdir(parents=True, exist_ok=True)
        dirs[kernel] = run_scenario(scen[name](), out, progress=False).run_dir
        print(name, kernel, "vs golden:", differences(GOLDEN[name], table_digests(dirs[kernel])) or "identical", flush=True)
    for t in TABLES:
        a = pd.read_parquet(Path(dirs["baseline"]) / t) if t.endswith(".parquet") else pd.read_csv(Path(dirs["baseline"]) / t)
        b = pd.read_parquet(Path(dirs["new"]) / t) if t.endswith(".parquet") else pd.read_csv(Path(dirs["new"]) / t)
        if len(a) != len(b):
            print(f"  {t}: rows {len(a)} vs {len(b)}"); continue
        for c in a.columns:
            x, y = a[c], b[c]
            if pd.api.types.is_float_dtype(x):
                xv, yv = x.to_numpy(float), y.to_numpy(float)
                diff = ~((xv == yv) | (np.isnan(xv) & np.isnan(yv)))
                if diff.any():
                    rel = np.abs(xv - yv)[diff] / np.maximum(np.abs(xv[diff]), 1e-300)
                    print(f"  {t}:{c}: {diff.sum()}/{len(xv)} values differ, max |diff| {np.nanmax(np.abs(xv - yv)[diff]):.3g}, max rel {np.nanmax(rel):.3g}, first differing row {np.argmax(diff)}")
            else:
                d = (x.astype(str) != y.astype(str)).to_numpy()
                if d.any():
                    print(f"  {t}:{c}: {d.sum()}/{len(x)} values differ (first row {np.argmax(d)}: {x.iloc[np.argmax(d)]!r} vs {y.iloc[np.argmax(d)]!r})")

"""Write docs/datasets/my_alloys.csv: made-up alloys from synthetic numbers (no real data).

150 two-element alloys A_x B_(1-x) of five elements, two numeric features (hardness, density)
and two properties (gap, moment) that depend on both, then the mess a real file has: the
pandas index saved as an unnamed first column, 4 rows without a hardness, and one formula
measured twice with different values. Run: ``python docs/datasets/make_example_csv.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ELEMENTS = ("Fe", "Co", "Ni", "Cu", "Al")


def make(n: int = 150, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    while len(rows) < n:
        a, b = rng.choice(len(ELEMENTS), size=2, replace=False)
        x = round(float(rng.uniform(0.05, 0.95)), 2)
        formula = f"{ELEMENTS[a]}{x:g}{ELEMENTS[b]}{round(1 - x, 2):g}"
        if formula in seen:
            continue
        seen.add(formula)
        hardness, density = rng.normal(5.0, 1.0), rng.uniform(2.0, 9.0)
        rows.append({
            "formula": formula,
            "hardness": round(float(hardness), 3),
            "density": round(float(density), 3),
            "gap": round(float(np.sin(3 * x + a) + 0.2 * density + 0.1 * rng.normal()), 4),
            "moment": round(float(np.cos(2 * x * (b + 1)) * hardness + 0.1 * rng.normal()), 4),
        })
    frame = pd.DataFrame(rows)
    frame.loc[[11, 42, 97, 120], "hardness"] = np.nan  # not measured
    again = frame.iloc[[30]].assign(gap=lambda f: (f.gap + 0.3).round(4))  # the same alloy measured twice
    return pd.concat([frame, again], ignore_index=True)


if __name__ == "__main__":
    out = Path(__file__).with_name("my_alloys.csv")
    make().to_csv(out)  # index=True: the unnamed index column a saved DataFrame has
    print(f"wrote {out}")

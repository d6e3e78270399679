"""A paper's networked-vs-isolated effect judged per lab (runs.reports.paper_verdict): reproduced,
contradicted, or undecided at N with the power N has, on hand-made observation tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _observations(shift: float, trials: int, seed: int = 0) -> pd.DataFrame:
    """networked and isolated runs of one lab followed to 60 observations; networked ``shift`` later."""
    rng = np.random.default_rng(seed)
    rows = []
    for trial in range(trials):
        base = rng.normal(30, 6)
        for condition, extra in (("networked", shift), ("isolated", 0.0)):
            time = base + extra + rng.normal(0, 2)
            rows.append({"trial": trial, "condition": condition, "lab": "Tc", "n_obs_to_threshold": round(time),
                         "reached": True, "n_obs_total": 60})
    return pd.DataFrame(rows)


def test_paper_verdicts_say_reproduced_contradicted_or_undecided_with_power():
    from labnet.runs.reports.paper_verdict import paper_verdicts, verdicts_markdown

    paper = {("Tc", "networked - isolated"): -4.4}
    faster = paper_verdicts(_observations(-4.0, 20), paper)
    assert faster["verdict"].iloc[0] == "reproduced" and faster["interval_from"].iloc[0] == "fixed N"
    slower = paper_verdicts(_observations(+4.0, 20), paper)
    assert slower["verdict"].iloc[0] == "contradicted (the other condition is faster)"
    none = paper_verdicts(_observations(0.0, 40), paper)
    assert none["verdict"].iloc[0] == "contradicted (the paper's difference lies outside the interval)"
    few = paper_verdicts(_observations(-1.0, 3), paper)
    row = few.iloc[0]
    assert row["verdict"].startswith("undecided at 3 trials (power ") and 0 < row["power_vs_paper"] < 1
    assert row["trials_needed_80"] >= 2 and "| Tc | 3 |" in verdicts_markdown(few)
    # an until-decided look covering these trials sets the level; one that does not is ignored
    look = pd.DataFrame([{"lab": "Tc", "comparison": "networked - isolated", "n": 20, "alpha_k": 0.01}])
    at_look = paper_verdicts(_observations(-4.0, 20), paper, sequential=look).iloc[0]
    assert at_look["interval_from"] == "until-decided look" and at_look["level"] == pytest.approx(0.99)
    assert paper_verdicts(_observations(-4.0, 21), paper, sequential=look).iloc[0]["interval_from"] == "fixed N"
    assert paper_verdicts(_observations(-4.0, 5), {}).empty

"""`labnet reproduce paper1` and `labnet figures`: a smoke run on the real B2 file, and the
figure functions on tiny hand-made tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labnet.runs.cli import commands as cli
from labnet.runs.reports import figures
from labnet.runs.reports import paper1
from labnet.runs.studies.reproduce import RESULTS_CSV, RESULTS_MD, RUN_INFO, TRANSFER_COUNTS_CSV

FIGURE_FILES = (
    figures.FIG3_BEST_SO_FAR,
    figures.FIG4_VALIDATION_LOSS,
    figures.FIG5_GENERALIZATION,
    figures.FIG6_PROPERTY_CORRELATIONS,
    figures.TRANSFER_GRAPH,
)
TABLE_FILES = (RESULTS_CSV, RESULTS_MD, TRANSFER_COUNTS_CSV)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMOKE_TICKS = 6


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- smoke run on B2


@pytest.fixture(scope="module")
def smoke_run(b2_path, tmp_path_factory) -> Path:
    """2 trials x 6 ticks of the paper's study, 3 training epochs (the hidden --epochs option)."""
    out = tmp_path_factory.mktemp("reproduce")
    status = cli.main([
        "reproduce", "paper1", "--data", str(b2_path), "--trials", "2", "--ticks", str(SMOKE_TICKS),
        "--epochs", "3", "--out", str(out), "--no-progress",
    ])
    assert status == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_every_figure_and_table_is_written(smoke_run):
    for name in FIGURE_FILES:
        assert _is_png(smoke_run / name), name
    for name in TABLE_FILES + (RUN_INFO,):
        assert (smoke_run / name).stat().st_size > 0, name


def test_results_table_has_every_lab_and_condition_beside_the_paper(smoke_run):
    results = pd.read_csv(smoke_run / RESULTS_CSV)
    assert len(results) == 9
    assert set(zip(results["lab"], results["condition"])) == {
        (lab, condition) for lab in ("M", "Tc", "Sp") for condition in ("networked", "isolated", "random")
    }
    for col in ("reached", "mean_obs", "ci_low", "ci_high", "paper_mean_obs", "diff_vs_paper", "p_networked_vs_isolated"):
        assert col in results.columns
    for rec in results.to_dict("records"):
        expected = paper1.paper_value(rec["lab"], rec["condition"])
        if expected is None:
            assert np.isnan(rec["paper_mean_obs"])  # random search: not reported
        else:
            assert rec["paper_mean_obs"] == expected
        assert rec["reached"].endswith("/2")
        assert rec["horizon_ticks"] == SMOKE_TICKS


def test_results_markdown_says_how_the_run_was_made(smoke_run):
    text = (smoke_run / RESULTS_MD).read_text(encoding="utf-8")
    assert "labnet reproduce paper1" in text and "--epochs 3" in text  # the exact command
    assert "wall time" in text and "date" in text
    assert f"horizon: {SMOKE_TICKS} ticks" in text and "trials: 2 of 2" in text
    assert "include the 10" in text and "initial random points" in text
    assert "epochs = 3" in text  # a learner that differs from the paper's is flagged
    assert "| paper |" in text and "19.5" in text and "24.9" in text
    # the verdict per lab against the paper's networked - isolated difference (2 trials: undecided
    # or a verdict from a fixed-N interval; the table names it)
    assert "## Verdict against the paper" in text
    verdicts = pd.read_csv(smoke_run / "paper_verdicts.csv")
    assert list(verdicts["lab"]) == ["M", "Tc", "Sp"] and (verdicts["n_pairs"] == 2).all()
    assert verdicts["paper_difference"].tolist() == pytest.approx([19.5 - 20.2, 27.4 - 31.8, 17.4 - 24.9])


def test_transfer_counts_split_the_networked_selections_by_phase(smoke_run):
    counts = pd.read_csv(smoke_run / TRANSFER_COUNTS_CSV)
    assert list(counts.columns[:5]) == ["source", "target", "phase", "ticks", "attempts"]
    assert set(counts["phase"]) == {"early", "late"}
    transfers = pd.read_parquet(smoke_run / "transfers.parquet")
    networked = transfers[transfers["condition"] == "networked"]
    assert counts["attempts"].sum() == len(networked)
    assert counts["selected"].sum() == int(networked["selected"].sum())
    early = networked[networked["tick"] < SMOKE_TICKS / 2]
    assert counts.loc[counts["phase"] == "early", "attempts"].sum() == len(early)


def test_figures_command_redraws_an_existing_run(smoke_run, capsys):
    before = pd.read_csv(smoke_run / RESULTS_CSV)
    for name in FIGURE_FILES + TABLE_FILES:
        (smoke_run / name).unlink()
    assert cli.main(["figures", str(smoke_run)]) == 0
    assert "networked" in capsys.readouterr().out
    for name in FIGURE_FILES:
        assert _is_png(smoke_run / name), name
    for name in TABLE_FILES:
        assert (smoke_run / name).stat().st_size > 0, name
    pd.testing.assert_frame_equal(pd.read_csv(smoke_run / RESULTS_CSV), before)


# --------------------------------------------------------------------------- command-line errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "paper1"], "--data PATH"),
        (["reproduce", "paper9", "--data", "x.csv"], "unknown study 'paper9'; available: paper1"),
        (["reproduce"], "available: paper1"),
        (["reproduce", "paper1", "--data", "/nonexistent/B2.csv"], "not found"),
        (["figures", "/nonexistent/run"], "run directory not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("labnet: error: ") and message in err


def test_figures_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["figures", str(tmp_path)]) == 2
    assert "not a labnet run directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- figure functions, tiny tables


def test_property_correlations_on_a_tiny_table(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 2.5, 60)
    values = pd.DataFrame({"M": m, "Tc": 300 * m + rng.normal(0, 20, 60), "Sp": rng.uniform(0, 1, 60)})
    values.loc[:9, ["M", "Tc"]] = 0.0  # exact zeros, as for non-magnetic alloys
    path = figures.plot_property_correlations(values, tmp_path / "fig6.png", units=paper1.PROPERTY_UNITS)
    assert _is_png(path)
    r, rho = figures.correlation_coefficients(values["M"], values["Tc"])
    assert r > 0.9 and rho > 0.9
    assert np.isnan(figures.correlation_coefficients([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])[0])
    with pytest.raises(ValueError, match="two property columns"):
        figures.plot_property_correlations(values[["M"]], tmp_path / "one.png")


TINY_TRANSFERS = pd.DataFrame(
    {
        "trial": [0, 0, 0, 0, 1, 1, 1],
        "condition": ["networked"] * 6 + ["isolated"],
        "tick": [1, 2, 7, 8, 1, 9, 3],
        "source": ["Tc", "Tc", "Tc", "M", "Sp", "Tc", "Tc"],
        "target": ["M", "M", "M", "Tc", "M", "M", "M"],
        "selected": [True, False, True, False, True, True, True],
    }
)


def test_transfer_counts_on_a_tiny_table():
    counts = figures.transfer_counts(TINY_TRANSFERS, horizon_ticks=10)
    table = counts.set_index(["source", "target", "phase"])
    assert table.loc[("Tc", "M", "early"), ["attempts", "selected"]].tolist() == [2, 1]  # ticks 1, 2
    assert table.loc[("Tc", "M", "late"), ["attempts", "selected"]].tolist() == [2, 2]  # ticks 7, 9 (trial 1)
    assert table.loc[("M", "Tc", "late"), ["attempts", "selected"]].tolist() == [1, 0]
    assert table.loc[("M", "Tc", "early"), ["attempts", "selected"]].tolist() == [0, 0]  # both phases listed
    assert table.loc[("Sp", "M", "early"), "ticks"] == "0-4"
    assert counts["attempts"].sum() == 6  # the isolated row is not counted


def test_transfer_graph_on_a_tiny_table(tmp_path):
    counts = figures.transfer_counts(TINY_TRANSFERS, horizon_ticks=10)
    path = figures.plot_transfer_graph(counts, tmp_path / "graph.png", labs=["M", "Tc", "Sp"],
                                       properties={"M": "M", "Tc": "Tc", "Sp": "Sp"}, n_trials=2)
    assert _is_png(path)
    empty = figures.transfer_counts(TINY_TRANSFERS.iloc[:0], horizon_ticks=10)
    assert _is_png(figures.plot_transfer_graph(empty, tmp_path / "empty.png", labs=["M", "Tc"]))


def test_generalization_in_property_units_uses_the_std_before_each_action():
    steps = pd.DataFrame(
        {
            "trial": 0, "condition": "networked", "lab": "A",
            "n_obs": [1, 2, 3, 4],
            "y_observed": [0.0, 2.0, 4.0, 10.0],
            "generalization_mse": [np.nan, np.nan, 4.0, 9.0],
        }
    )
    rmse = figures.generalization_in_property_units(steps)
    assert np.isnan(rmse.iloc[0]) and np.isnan(rmse.iloc[1])
    assert rmse.iloc[2] == pytest.approx(2.0 * 1.0)  # std of [0, 2] = 1
    assert rmse.iloc[3] == pytest.approx(3.0 * np.std([0.0, 2.0, 4.0]))

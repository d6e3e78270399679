"""Source-model pools: building with Lightning, the on-disk format, resuming, inspecting, errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from labnet.environment import synthetic_world
from labnet.models.mlp import MLP
from labnet.models.pool import MANIFEST, PoolError, load_pool, read_manifest
from labnet.models.pool_training import PoolArchitecture, PoolSettings, PoolTraining, build_pool, train_pool_model
from labnet.runs.cli import commands as cli

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY_ARCHITECTURE = PoolArchitecture(min_depth=3, max_depth=4, min_width=16, max_width=32, smallest_width=4)
TINY_TRAINING = PoolTraining(epochs=6, batch_size=32, patience=6)
SETTINGS = PoolSettings("P0", seed=3, architecture=TINY_ARCHITECTURE, training=TINY_TRAINING)


@pytest.fixture(scope="module")
def space():
    return synthetic_world(n_candidates=200, n_descriptors=6, n_properties=2, correlation=0.7, seed=2)


@pytest.fixture(scope="module")
def pool_dir(space, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pools") / "p0"
    build_pool(folder, space.descriptors, space.values("P0"), space.descriptor_names, SETTINGS, n_models=3,
               progress=False)
    return folder


def test_manifest_describes_every_model(pool_dir, space):
    manifest = read_manifest(pool_dir)
    assert manifest["property"] == "P0" and manifest["name"] == "p0"
    assert manifest["descriptors"] == {"count": 6, "names": list(space.descriptor_names)}
    assert manifest["activation"] == "selu" and manifest["labnet_version"]
    assert [m["index"] for m in manifest["models"]] == [0, 1, 2]
    for entry in manifest["models"]:
        hidden = entry["hidden_layers"]
        assert 3 <= len(hidden) <= 4 and 16 <= hidden[0] <= 32
        assert all(a > b for a, b in zip(hidden, hidden[1:])), "widths must decrease"
        assert entry["layer_sizes"] == [6, *hidden, 1]
        assert entry["n_train"] == 200 and entry["n_unique_train"] < 200  # a bootstrap draw
        assert entry["target_std"] > 0 and np.isfinite(entry["validation"]["mse"])
        assert entry["validation"]["n"] > 0 and entry["seconds"] > 0
        with np.load(pool_dir / entry["file"], allow_pickle=False) as data:
            assert data["kernel_0"].dtype == np.float32 and data["kernel_0"].shape == (6, hidden[0])
            assert data["train_rows"].shape == (200,)
    architectures = {tuple(m["hidden_layers"]) for m in manifest["models"]}
    assert len(architectures) == 3  # every model draws its own architecture


def test_round_trip_predictions_are_identical_and_loading_needs_no_lightning(pool_dir, space, tmp_path):
    # the same model trained again (deterministic seeds) gives the saved weights bit for bit ...
    flat, sizes, entry, draw = train_pool_model(space.descriptors, space.values("P0"), 1, SETTINGS)
    pool = load_pool(pool_dir)
    assert np.array_equal(pool.models[1].params, flat)
    assert np.array_equal(pool.models[1].train_rows, draw)
    # ... and a fresh interpreter that loads the pool without Lightning predicts what the trained network predicts
    with torch.inference_mode():
        expected = MLP.from_flat(flat, sizes).forward(torch.tensor(space.descriptors)).numpy()
    expected = expected.astype(np.float64) * entry["target_std"] + entry["target_mean"]
    np.save(tmp_path / "X.npy", space.descriptors)
    script = (
        "import json, sys, numpy as np\n"
        "from models.pool import load_pool\n"
        f"pool = load_pool({str(pool_dir)!r})\n"
        f"np.save({str(tmp_path / 'pred.npy')!r}, pool.predict(np.load({str(tmp_path / 'X.npy')!r}), 1))\n"
        "print(json.dumps(sorted(m for m in sys.modules if 'lightning' in m or m == 'labnet.models.pool_training')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected, rtol=1e-5, atol=1e-5)


def test_an_interrupted_build_keeps_finished_models_and_rerunning_continues(space, tmp_path):
    folder = tmp_path / "pool"
    y = space.values("P1")
    settings = PoolSettings("P1", seed=0, architecture=TINY_ARCHITECTURE, training=PoolTraining(epochs=2))

    def stop_after_first(entry):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_pool(folder, space.descriptors, y, space.descriptor_names, settings, n_models=3, progress=False,
                   on_model=stop_after_first)
    assert [m.index for m in load_pool(folder).models] == [0]
    first = load_pool(folder).models[0].params.copy()
    report = build_pool(folder, space.descriptors, y, space.descriptor_names, settings, n_models=3, progress=False)
    assert report.kept == [0] and report.built == [1, 2]
    pool = load_pool(folder)
    assert [m.index for m in pool.models] == [0, 1, 2]
    assert np.array_equal(pool.models[0].params, first)
    with pytest.raises(PoolError, match="other settings.*seed"):
        build_pool(folder, space.descriptors, y, space.descriptor_names,
                   PoolSettings("P1", seed=1, architecture=TINY_ARCHITECTURE, training=PoolTraining(epochs=2)),
                   n_models=3, progress=False)
    with pytest.raises(PoolError, match="dataset"):
        build_pool(folder, space.descriptors, y + 1.0, space.descriptor_names, settings, n_models=3, progress=False)


def test_inspect_prints_a_table_and_draws_scores(pool_dir, tmp_path, capsys):
    png = tmp_path / "scores.png"
    assert cli.main(["pool", "inspect", str(pool_dir), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "pool 'p0'" in out and "property P0; 3 of 3 models finished" in out
    assert "val_mse" in out and "val_r2" in out and "hidden_layers" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("0 ", "1 ", "2 "))]) == 3
    assert png.stat().st_size > 5000


def test_cli_build_writes_a_pool(tmp_path, capsys):
    out_dir = tmp_path / "cli_pool"
    status = cli.main(["pool", "build", "--property", "P2", "--out", str(out_dir), "--n-models", "1", "--epochs", "1",
                       "--widths", "16", "24", "--depths", "3", "3", "--name", "tiny", "--no-progress"])
    assert status == 0
    assert "trained 1 models" in capsys.readouterr().out
    pool = load_pool(out_dir)
    assert pool.name == "tiny" and pool.property == "P2" and pool.n_descriptors == 16  # the default scenario's world
    assert pool.label(pool.models[0]) == "pool:tiny#0"


def test_bad_pools_give_clear_errors(pool_dir, tmp_path, capsys):
    with pytest.raises(PoolError, match="pool directory not found"):
        load_pool(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoolError, match=r"not a labnet pool: .*pool\.json is missing"):
        load_pool(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((pool_dir / MANIFEST).read_text())
    (broken / MANIFEST).write_text(json.dumps(manifest))
    for entry in manifest["models"]:
        (broken / entry["file"]).write_bytes((pool_dir / entry["file"]).read_bytes())
    with np.load(pool_dir / "model_0000.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["kernel_1"] = arrays["kernel_1"][:, :-1]
    np.savez(broken / "model_0000.npz", **arrays)
    with pytest.raises(PoolError, match=r"model_0000\.npz: kernel_1 has shape"):
        load_pool(broken)
    (broken / MANIFEST).write_text("{not json")
    with pytest.raises(PoolError, match="not valid JSON"):
        load_pool(broken)
    pool = load_pool(pool_dir)
    with pytest.raises(PoolError, match="take 6 descriptors.*has 8"):
        pool.check_descriptors(8)
    with pytest.raises(PoolError, match="descriptor 0 is 'E0' in the pool but 'Fe'"):
        pool.check_descriptors(6, ["Fe", "E1", "E2", "E3", "E4", "E5"])
    # the command line: an unknown property, a directory that is not a pool, a bad architecture range
    assert cli.main(["pool", "build", "--property", "Nope", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "'Nope' is not a property of the dataset; available: P0, P1, P2" in capsys.readouterr().err
    assert cli.main(["pool", "inspect", str(tmp_path / "empty")]) == 2
    assert "not a labnet pool" in capsys.readouterr().err
    assert cli.main(["pool", "build", "--property", "P0", "--out", str(tmp_path / "y"), "--widths", "8", "9"]) == 2
    assert "widths" in capsys.readouterr().err
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    assert cli.main(["pool", "build", "--property", "P0", "--out", str(tmp_path / "occupied"), "--no-progress"]) == 2
    assert "not an empty directory or a pool" in capsys.readouterr().err

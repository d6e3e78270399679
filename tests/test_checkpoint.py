"""Checkpoints of a running network and the tick streams: round trips are exact, writes are atomic."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from labnet.agents import LabSpec
from labnet.environment import Topology, synthetic_world
from labnet.simulation import ExplorationNetwork
from labnet._files import atomic_write
from labnet.simulation.checkpoint import CheckpointError, load_network, save_network, space_fingerprint
from labnet.models import LearnerConfig
from labnet.runs.execution.tick_stream import (
    StreamError,
    TickStream,
    read_records,
    read_step_table,
    read_transfer_table,
)

FAST = LearnerConfig(n_members=3, epochs=4, patience=4)
NAMES = ["A", "B", "C"]


@pytest.fixture(scope="module")
def space():
    return synthetic_world(n_candidates=300, n_descriptors=8, n_properties=3, correlation=0.6, seed=3)


def network(space, seed=0) -> ExplorationNetwork:
    periods = (1, 2, 1)
    labs = [LabSpec(name, f"P{i}", period_ticks=p, initial_points=6) for i, (name, p) in enumerate(zip(NAMES, periods))]
    return ExplorationNetwork(space, labs, Topology.complete(NAMES), FAST, seed=seed)


def assert_same_run(a: ExplorationNetwork, b: ExplorationNetwork) -> None:
    pd.testing.assert_frame_equal(a.step_table(), b.step_table())
    pd.testing.assert_frame_equal(a.transfer_table(), b.transfer_table())
    pd.testing.assert_frame_equal(a.tick_table(), b.tick_table())


@pytest.fixture(scope="module")
def streamed(space, tmp_path_factory):
    """A network run for 5 ticks without interruption, its rows streamed tick by tick: (network, steps, transfers)."""
    net = network(space)
    folder = tmp_path_factory.mktemp("stream")
    steps_path, transfers_path = folder / "steps.jsonl", folder / "transfers.jsonl"
    with TickStream(steps_path, transfers_path, net) as stream:
        net.run(5, progress=lambda tick: stream.append_new(net))
    return net, steps_path, transfers_path


@pytest.fixture(scope="module")
def continuous(streamed):
    return streamed[0]


def test_a_network_checkpointed_mid_run_continues_exactly_like_an_uninterrupted_one(space, continuous, tmp_path):
    net = network(space)
    net.run(2)
    path = tmp_path / "net.pkl"
    save_network(net, path, extra={"trial": 0})
    restored = load_network(path, space)
    assert restored.extra == {"trial": 0} and restored.network.tick == 2
    assert restored.network.space is space  # re-attached, not a copy
    for lab in restored.network.agents:
        assert lab.oracle.space is space and lab._truth is space.values(lab.spec.property)
    restored.network.run(5)
    assert_same_run(continuous, restored.network)
    assert restored.network.steps == continuous.steps  # Mesa's step counter too


def test_the_checkpoint_stores_a_reference_to_the_space_not_its_arrays(space, tmp_path):
    big = synthetic_world(n_candidates=5_000, n_descriptors=32, n_properties=3, seed=1)
    net = network(big)
    size = save_network(net, tmp_path / "net.pkl")
    assert size == (tmp_path / "net.pkl").stat().st_size
    assert size < big.descriptors.nbytes / 4  # descriptors alone are 640 kB


def test_loading_with_another_space_is_refused(space, tmp_path):
    net = network(space)
    save_network(net, tmp_path / "net.pkl")
    other = synthetic_world(n_candidates=300, n_descriptors=8, n_properties=3, correlation=0.6, seed=4)
    assert space_fingerprint(other) != space_fingerprint(space)
    with pytest.raises(CheckpointError, match="material space differs"):
        load_network(tmp_path / "net.pkl", other)


def test_a_file_that_is_not_a_checkpoint_gives_a_clear_error(space, tmp_path):
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="not a readable labnet checkpoint"):
        load_network(tmp_path / "junk.pkl", space)
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a labnet checkpoint"):
        load_network(tmp_path / "dict.pkl", space)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("new but inc")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    atomic_write(path, lambda tmp: tmp.write_text("new"), fsync=True)
    assert path.read_text() == "new"


def test_a_failed_checkpoint_leaves_the_previous_one_loadable(space, tmp_path):
    net = network(space)
    net.run(1)
    path = tmp_path / "net.pkl"
    save_network(net, path)
    net.run(2)
    net.unpicklable = lambda: None  # pickling fails part-way through the network
    with pytest.raises((pickle.PicklingError, AttributeError)):
        save_network(net, path)
    assert load_network(path, space).network.tick == 1
    assert [p.name for p in tmp_path.iterdir()] == ["net.pkl"]


def test_streams_rebuild_the_network_tables_exactly(streamed):
    net, steps_path, transfers_path = streamed
    lab_order = [lab.name for lab in net.agents]
    steps = read_step_table(steps_path, lab_order)
    assert steps["bpm_validation_loss"].isna().any()  # NaN survives the round trip
    pd.testing.assert_frame_equal(steps, net.step_table())
    pd.testing.assert_frame_equal(read_transfer_table(transfers_path), net.transfer_table())
    assert len(read_transfer_table(transfers_path)) > 0


def test_a_stream_of_other_records_is_named_not_misread(streamed, tmp_path):
    _, _, transfers_path = streamed
    with pytest.raises(StreamError, match="not a step stream"):
        read_step_table(transfers_path, NAMES)


def test_reopening_a_stream_rewrites_it_to_the_checkpointed_state(space, tmp_path):
    net = network(space)
    steps_path, transfers_path = tmp_path / "s.jsonl", tmp_path / "t.jsonl"
    with TickStream(steps_path, transfers_path, net) as stream:
        net.run(2, progress=lambda tick: stream.append_new(net))
        save_network(net, tmp_path / "net.pkl")
        net.run(3, progress=lambda tick: stream.append_new(net))  # streamed past the checkpoint, then "killed"
    with open(steps_path, "ab") as handle:
        handle.write(b'{"tick": 3, "la')  # a torn line
    with pytest.raises(StreamError, match="incomplete"):
        read_records(steps_path)
    assert len(read_records(steps_path, complete=False)) == len(net.step_table())

    restored = load_network(tmp_path / "net.pkl", space).network
    with TickStream(steps_path, transfers_path, restored) as stream:
        assert max(r["tick"] for r in read_records(steps_path)) == 1
        restored.run(3, progress=lambda tick: stream.append_new(restored))
    pd.testing.assert_frame_equal(read_step_table(steps_path, NAMES), net.step_table())
    pd.testing.assert_frame_equal(read_transfer_table(transfers_path), net.transfer_table())


def test_published_snapshots_stay_read_only_after_a_round_trip(space, tmp_path):
    net = network(space)
    net.run(1)
    save_network(net, tmp_path / "net.pkl")
    before, after = net.broker.latest("A"), load_network(tmp_path / "net.pkl", space).network.broker.latest("A")
    np.testing.assert_array_equal(before.params, after.params)
    assert not after.params.flags.writeable  # the snapshot's immutability survives (pickle protocol 5)

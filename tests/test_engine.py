"""The fused training engine against the faithful PyTorch reference, and its own guarantees.

Equivalence tolerance (float32 engine vs float32 autograd reference, same initial weights, same
data split, same shuffle seeds): parameters ``atol = 1e-5``, validation MSE ``rtol = 1e-4``;
best/stopping epochs must match exactly. Observed differences are ~1e-6 (different summation
order and FMA contraction only).

The data is a small synthetic composition-like world built here (300 rows x 39 slots, three
non-zero fractions per row summing to 1), so the engine's first layer runs as a gather-sum over
the non-zeros; one test uses dense descriptors to cover its dense (sgemm) first layer. The B2 file
is not read.
"""
from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
import torch

from labnet.models.config import LearnerConfig
from labnet.models.engine import TrainJob, TrainResult, _exp_nonpositive, epoch_order, train_jobs
from labnet.models.mlp import (
    MLP,
    PREDICT_CHUNK_ROWS,
    kernel_mask,
    layer_offsets,
    layer_sizes_for,
    lecun_normal_params,
    predict_ensemble,
)
from labnet.models.reference import train_jobs_reference
from scenarios import composition_world

N_ROWS, N_SLOTS = 300, 39
PARAM_ATOL = 1e-5
VAL_MSE_RTOL = 1e-4
SIZES = layer_sizes_for(N_SLOTS, (100, 100, 10))


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def world() -> tuple[np.ndarray, np.ndarray]:
    """X float32 [300, 39] (3 non-zero fractions per row, rows sum to 1) and a noisy smooth y [300]."""
    return composition_world(2024, N_ROWS, N_SLOTS)


def make_job(
    world, n_train: int, n_val: int, seed: int, params: np.ndarray | None = None, n_members: int = 4,
    frozen_layers: int = 0,
) -> TrainJob:
    """A candidate ensemble on ``n_train + n_val`` random rows, targets standardized on those rows."""
    X, y = world
    rng = np.random.default_rng(seed)
    rows = rng.permutation(N_ROWS)[: n_train + n_val]
    ys = ((y[rows] - y[rows].mean()) / y[rows].std()).astype(np.float32)
    if params is None:
        params = lecun_normal_params(SIZES, n_members, rng)
    return TrainJob(
        params=params.copy(),
        train_rows=rows[:n_train],
        y_train=ys[:n_train],
        val_rows=rows[n_train:],
        y_val=ys[n_train:],
        seeds=rng.integers(0, 2**63, size=params.shape[0]).astype(np.uint64),
        frozen_layers=frozen_layers,
    )


def assert_matches_reference(engine: TrainResult, reference: TrainResult) -> None:
    np.testing.assert_array_equal(engine.best_epoch, reference.best_epoch)
    np.testing.assert_array_equal(engine.epochs_run, reference.epochs_run)
    np.testing.assert_allclose(engine.params, reference.params, rtol=0, atol=PARAM_ATOL)
    np.testing.assert_allclose(engine.val_mse, reference.val_mse, rtol=VAL_MSE_RTOL, atol=0)


def assert_bitwise_equal(a: list[TrainResult], b: list[TrainResult]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for name in ("params", "val_mse", "best_epoch", "epochs_run"):
            x, z = getattr(ra, name), getattr(rb, name)
            assert x.dtype == z.dtype and x.shape == z.shape
            assert x.tobytes() == z.tobytes(), f"{name} differs"


@pytest.fixture(scope="module")
def source_params(world) -> np.ndarray:
    """A neighbour's published from-scratch ensemble (engine-trained), the start of transferred jobs."""
    job = make_job(world, n_train=40, n_val=10, seed=11, n_members=3)
    return train_jobs([job], world[0], SIZES, LearnerConfig(epochs=6))[0].params


# --------------------------------------------------------------------------- engine == reference


def test_from_scratch_job_matches_reference(world):
    # 30 training rows: the last minibatch of each epoch has 6 rows, not 8
    config = LearnerConfig(epochs=8)
    job = make_job(world, n_train=30, n_val=8, seed=1, n_members=3)
    engine = train_jobs([job], world[0], SIZES, config)[0]
    reference = train_jobs_reference([job], world[0], SIZES, config)[0]
    assert_matches_reference(engine, reference)
    assert not np.array_equal(engine.params, job.params)  # it trained


def test_transferred_job_with_two_frozen_layers_matches_reference(world, source_params):
    config = LearnerConfig(epochs=8)
    job = make_job(world, n_train=24, n_val=6, seed=2, params=source_params, frozen_layers=2)
    engine = train_jobs([job], world[0], SIZES, config)[0]
    reference = train_jobs_reference([job], world[0], SIZES, config)[0]
    assert_matches_reference(engine, reference)


def test_members_stopping_early_at_different_epochs_match_reference(world, source_params):
    config = LearnerConfig(epochs=25, patience=2)
    jobs = [
        make_job(world, n_train=32, n_val=8, seed=3, n_members=6),
        make_job(world, n_train=27, n_val=7, seed=4, params=source_params, frozen_layers=2),
    ]
    engine = train_jobs(jobs, world[0], SIZES, config)
    reference = train_jobs_reference(jobs, world[0], SIZES, config)
    stopped = np.concatenate([r.epochs_run for r in engine])
    assert len(set(stopped.tolist())) >= 3, f"members should stop at different epochs, got {stopped}"
    assert (stopped < config.epochs).sum() >= 3, f"most members should stop early, got {stopped}"
    for e, r in zip(engine, reference):
        assert_matches_reference(e, r)
        # Keras EarlyStopping: a member that stopped did so `patience` epochs after its best one
        early = e.epochs_run < config.epochs
        np.testing.assert_array_equal(e.epochs_run[early], e.best_epoch[early] + 1 + config.patience)


def test_dense_descriptors_take_the_dense_first_layer_and_match_reference(world):
    # every descriptor non-zero: above the engine's sparsity threshold, so layer 0 is one sgemm
    X = np.random.default_rng(15).uniform(0.1, 1.0, size=(N_ROWS, N_SLOTS)).astype(np.float32)
    config = LearnerConfig(epochs=6)
    job = make_job((X, world[1]), n_train=30, n_val=8, seed=16, n_members=2)
    assert_matches_reference(train_jobs([job], X, SIZES, config)[0], train_jobs_reference([job], X, SIZES, config)[0])


def test_narrowing_layers_held_transposed_match_reference(world):
    # 39 -> 20 -> 7 -> 1 on dense descriptors: every layer but the output narrows, so the engine
    # holds layers 0 and 1 transposed while it trains (models.engine.transposed_layers), the first
    # one included because it is dense; and again with layer 0 frozen
    from labnet.models.engine import transposed_layers

    sizes = layer_sizes_for(N_SLOTS, (20, 7))
    assert list(transposed_layers(np.asarray(sizes), 0, False)) == [True, True, False]
    X = np.random.default_rng(17).uniform(0.1, 1.0, size=(N_ROWS, N_SLOTS)).astype(np.float32)
    config = LearnerConfig(epochs=6)
    rng = np.random.default_rng(18)
    for frozen in (0, 1):
        job = dataclasses.replace(make_job((X, world[1]), n_train=30, n_val=8, seed=19 + frozen, n_members=2),
                                  params=lecun_normal_params(sizes, 2, rng), frozen_layers=frozen)
        engine = train_jobs([job], X, sizes, config)[0]
        assert_matches_reference(engine, train_jobs_reference([job], X, sizes, config)[0])
        assert not np.array_equal(engine.params, job.params)


def test_linear_output_layer_matches_reference(world, source_params):
    config = LearnerConfig(epochs=6, output_activation=False)
    jobs = [make_job(world, n_train=30, n_val=8, seed=17, n_members=2),
            make_job(world, n_train=22, n_val=6, seed=18, params=source_params, frozen_layers=2)]
    for e, r in zip(train_jobs(jobs, world[0], SIZES, config), train_jobs_reference(jobs, world[0], SIZES, config)):
        assert_matches_reference(e, r)


def test_selu_exp_is_within_two_ulp_of_numpy():
    x = np.concatenate([-np.logspace(-8, np.log10(87.0), 20000), [0.0, -1e-30]]).astype(np.float32)
    mine = np.array([_exp_nonpositive(v) for v in x], dtype=np.float32)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(mine - exact) <= 2 * ulp).all(), float((np.abs(mine - exact) / ulp).max())
    assert 0 < _exp_nonpositive(np.float32(-200.0)) <= np.exp(np.float32(-87.0)) * 1.0001  # clamped, never 0 or NaN


# --------------------------------------------------------------------------- fine-tuning and restore


def test_fine_tuning_freezes_exactly_the_first_two_layers(world, source_params):
    config = LearnerConfig(epochs=5)
    job = make_job(world, n_train=40, n_val=10, seed=5, params=source_params, frozen_layers=2)
    result = train_jobs([job], world[0], SIZES, config)[0]
    offsets = layer_offsets(SIZES)
    frozen = slice(0, int(offsets[2]))
    assert result.params[:, frozen].tobytes() == source_params[:, frozen].tobytes()
    for layer in (2, 3):  # the last hidden layer (100 -> 10) and the output layer (10 -> 1)
        start, n_in, n_out = int(offsets[layer]), SIZES[layer], SIZES[layer + 1]
        kernel = slice(start, start + n_in * n_out)
        bias = slice(start + n_in * n_out, int(offsets[layer + 1]))
        assert (result.params[:, kernel] != source_params[:, kernel]).mean() > 0.9, f"layer {layer} kernel"
        assert (result.params[:, bias] != source_params[:, bias]).all(), f"layer {layer} bias"


def test_restored_weights_are_those_of_the_best_validation_epoch(world):
    # a large step size makes the validation loss go up and down; patience >= epochs never stops
    epochs = 10
    config = LearnerConfig(epochs=epochs, patience=epochs, learning_rate=5e-3)
    job = make_job(world, n_train=32, n_val=8, seed=6, n_members=4)
    X = world[0]
    full = train_jobs([job], X, SIZES, config)[0]
    assert (full.epochs_run == epochs).all()
    assert (full.best_epoch < epochs - 1).any(), "need a member whose best epoch is not the last one"

    # the monitored value (val MSE + L2) of the restored weights, after runs truncated at 1..epochs
    kernels = kernel_mask(SIZES)

    def monitored(result: TrainResult) -> np.ndarray:
        l2 = config.l2 * (result.params[:, kernels].astype(np.float64) ** 2).sum(axis=1)
        return result.val_mse + l2

    truncated = [train_jobs([job], X, SIZES, dataclasses.replace(config, epochs=e + 1))[0] for e in range(epochs)]
    best_so_far = np.stack([monitored(r) for r in truncated])  # [epochs, members]
    assert (np.diff(best_so_far, axis=0) <= 0).all(), "restored loss must be the running minimum"
    np.testing.assert_array_equal(full.best_epoch, np.argmin(best_so_far, axis=0))
    for k in range(job.n_members):
        at_best = truncated[full.best_epoch[k]]
        assert at_best.params[k].tobytes() == full.params[k].tobytes()
        assert at_best.best_epoch[k] == full.best_epoch[k]

    # the reported val_mse is the MSE of the restored weights on the validation rows
    predictions = predict_ensemble(full.params, SIZES, X[job.val_rows])
    np.testing.assert_allclose(full.val_mse, ((predictions - job.y_val) ** 2).mean(axis=1), rtol=1e-5)


# --------------------------------------------------------------------------- determinism


@pytest.fixture(scope="module")
def tick_jobs(world, source_params) -> list[TrainJob]:
    """Three labs' candidates: different data sizes, scratch and transferred, early stopping."""
    return [
        make_job(world, n_train=40, n_val=10, seed=7, n_members=5),
        make_job(world, n_train=17, n_val=5, seed=8, params=source_params, frozen_layers=2),
        make_job(world, n_train=64, n_val=16, seed=9, n_members=3),
    ]


TICK_CONFIG = LearnerConfig(epochs=12, patience=3)


def test_results_do_not_depend_on_the_number_of_threads(world, tick_jobs):
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = train_jobs(tick_jobs, world[0], SIZES, TICK_CONFIG)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = train_jobs(tick_jobs, world[0], SIZES, TICK_CONFIG)
    finally:
        numba.set_num_threads(previous)
    assert_bitwise_equal(one, two)


def test_repeated_calls_are_bitwise_identical_and_leave_inputs_alone(world, tick_jobs):
    before = [job.params.copy() for job in tick_jobs]
    first = train_jobs(tick_jobs, world[0], SIZES, TICK_CONFIG)
    second = train_jobs(tick_jobs, world[0], SIZES, TICK_CONFIG)
    assert_bitwise_equal(first, second)
    for job, params in zip(tick_jobs, before):
        assert job.params.tobytes() == params.tobytes()


def test_a_job_trained_alone_equals_the_same_job_trained_with_others(world, tick_jobs):
    together = train_jobs(tick_jobs, world[0], SIZES, TICK_CONFIG)
    for i, job in enumerate(tick_jobs):
        alone = train_jobs([job], world[0], SIZES, TICK_CONFIG)
        assert_bitwise_equal(alone, [together[i]])


def test_epoch_order_is_a_seeded_permutation():
    order = epoch_order(123, 0, 50)
    assert sorted(order.tolist()) == list(range(50))
    np.testing.assert_array_equal(order, epoch_order(123, 0, 50))
    assert not np.array_equal(order, epoch_order(123, 1, 50))
    assert not np.array_equal(order, epoch_order(124, 0, 50))


# --------------------------------------------------------------------------- prediction


def test_predict_ensemble_equals_per_member_torch_forward(world):
    rows = 2 * PREDICT_CHUNK_ROWS + 37  # several blocks, the last one partial
    X = np.tile(world[0], (rows // N_ROWS + 1, 1))[:rows]
    params = lecun_normal_params(SIZES, 5, np.random.default_rng(10))
    for output_activation in (True, False):
        stacked = predict_ensemble(params, SIZES, X, output_activation=output_activation)
        assert stacked.shape == (5, rows) and stacked.dtype == np.float32
        with torch.no_grad():
            expected = np.stack(
                [MLP.from_flat(p, SIZES, output_activation)(torch.from_numpy(X)).numpy() for p in params]
            )
        np.testing.assert_allclose(stacked, expected, rtol=0, atol=1e-5)
        assert np.abs(expected).max() > 0.1  # not trivially zero


def test_predict_ensemble_on_dense_descriptors_equals_per_member_torch_forward():
    """The dense first layer (X mostly non-zero: a matmul, not the gather-sum) gives the same numbers."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(PREDICT_CHUNK_ROWS + 5, 7)).astype(np.float32)
    sizes = layer_sizes_for(7, (40, 3))
    params = lecun_normal_params(sizes, 4, rng)
    stacked = predict_ensemble(params, sizes, X)
    with torch.no_grad():
        expected = np.stack([MLP.from_flat(p, sizes)(torch.from_numpy(X)).numpy() for p in params])
    np.testing.assert_allclose(stacked, expected, rtol=0, atol=1e-5)


def test_selu_kernel_is_within_two_ulp_of_a_float64_selu():
    from labnet.models.prediction_kernels import SELU_ALPHA, SELU_SCALE, selu_inplace

    rng = np.random.default_rng(13)
    x = np.concatenate([
        rng.normal(scale=3.0, size=100_000), rng.normal(scale=1e-5, size=1000),
        [0.0, -0.0, 1e-30, -1e-30, -19.9, -20.0, -20.1, -88.0, -1e4, 5.0, 1e4],
    ]).astype(np.float32)
    got = x.copy()
    selu_inplace(got)
    x64 = x.astype(np.float64)
    want = np.where(x64 > 0, SELU_SCALE * x64, float(SELU_SCALE) * float(SELU_ALPHA) * np.expm1(np.minimum(x64, 0)))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(got - want) <= 2 * ulp + 1e-45)
    assert (np.abs(got - want) > 0).any()  # not trivially the float64 values


def test_predictions_in_many_threads_equal_one_and_keep_blas_on_one_thread(world):
    """Lockstep and the Ray workers predict from several threads at once (labnet/_blas.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    X = np.tile(world[0], (6, 1))
    params = lecun_normal_params(SIZES, 4, np.random.default_rng(14))
    expected = predict_ensemble(params, SIZES, X)  # first: every BLAS library it uses is loaded
    before = blas_threads()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: predict_ensemble(params, SIZES, X), range(16)))
    assert blas_threads() == before == [1] * len(before)
    for result in results:
        np.testing.assert_array_equal(result, expected)


# --------------------------------------------------------------------------- bad input


def test_wrong_parameter_width_is_rejected(world):
    job = make_job(world, n_train=20, n_val=5, seed=12, n_members=2)
    job = dataclasses.replace(job, params=job.params[:, :-1])
    with pytest.raises(ValueError, match="columns"):
        train_jobs([job], world[0], SIZES, LearnerConfig(epochs=1))


def test_empty_validation_set_is_rejected(world):
    job = make_job(world, n_train=20, n_val=5, seed=13, n_members=2)
    job = dataclasses.replace(job, val_rows=job.val_rows[:0], y_val=job.y_val[:0])
    with pytest.raises(ValueError, match="validation"):
        train_jobs([job], world[0], SIZES, LearnerConfig(epochs=1))


def test_descriptor_width_mismatch_is_rejected(world):
    job = make_job(world, n_train=20, n_val=5, seed=14, n_members=2)
    with pytest.raises(ValueError, match="descriptor width"):
        train_jobs([job], world[0][:, :-1], SIZES, LearnerConfig(epochs=1))


def test_no_jobs_gives_no_results(world):
    assert train_jobs([], world[0], SIZES, LearnerConfig()) == []


def test_predict_ensemble_does_not_depend_on_the_torch_thread_count(world):
    X = np.tile(world[0], (4, 1))  # several blocks
    params = lecun_normal_params(SIZES, 5, np.random.default_rng(11))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = predict_ensemble(params, SIZES, X)
        torch.set_num_threads(3)
        multi = predict_ensemble(params, SIZES, X)
        assert torch.get_num_threads() == 3  # restored
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(single, multi)

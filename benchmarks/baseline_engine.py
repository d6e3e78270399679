"""BASELINE for benchmarks/bench_engine.py: the training kernel as it was before issue 14 item 3.

A frozen copy of ``labnet.models.engine`` at commit 1092daf (numba kernel with BLAS ``np.dot`` per
layer, dense first layer, scalar libm ``exp`` in SELU, an L2 term over every parameter each epoch).
Kept only so the benchmark can time today's kernel and the new one side by side in one run; it
reuses the engine's data classes (:class:`TrainJob`, :class:`TrainResult`) and counter RNG, so both
see the same jobs and the same minibatch orders. Not used by the library.

Original docstring follows.

The batched training engine: every member of every candidate of every acting lab in one call.

One call of :func:`train_jobs` trains all members of all jobs (a job = one candidate ensemble of one
lab) with the paper's recipe (docs/algorithm.md → the ensemble member and its training) and Keras semantics:

* loss = MSE on the standardized target + ``l2`` · Σ‖W‖² over kernels;
* Adam (Keras form: ε added to √v, bias correction folded into the step size), lr 5e-4;
* minibatches of 8 in a per-member, per-epoch shuffled order (the last minibatch may be smaller);
* early stopping on the validation loss (MSE + L2 term, as Keras reports ``val_loss``) with
  patience, and the best epoch's weights restored at the end;
* the first ``frozen_layers`` layers of a transferred member are frozen (no update, no Adam state).

The members are independent, so the whole tick is one fused compiled program (numba, parallel over
members) over stacked flat parameters ``[n_members_total, n_params]``: each member's data rows,
validation rows, shuffle seed, frozen prefix and early-stopping state are arrays indexed by member.
A member is always computed by one thread from start to end, so results do not depend on the
number of threads. :mod:`labnet.models.reference` is the faithful per-member PyTorch loop this must match.
"""
from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba import njit, prange

from labnet.models.config import LearnerConfig
from labnet.models.engine import TrainJob, TrainResult, fill_epoch_order
from labnet.models.mlp import SELU_ALPHA, SELU_SCALE, kernel_mask, layer_offsets

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-7  # Keras default


# --------------------------------------------------------------------------- the fused kernel


@njit(cache=True, error_model="numpy")
def _forward(p, F, rows, n, first, last, sizes, offsets, out_act, A, Z, aoff):
    """Forward pass of one member through layers first..last-1 on ``n`` rows of F.

    F holds the inputs of layer ``first`` (the descriptors when first = 0, cached frozen-prefix
    features otherwise); fills the flat activation buffers A and Z.
    """
    L = sizes.shape[0] - 1
    d = sizes[first]
    A0 = A[aoff[first] : aoff[first] + n * d].reshape((n, d))
    for i in range(n):
        A0[i, :] = F[rows[i], :]
    for l in range(first, last):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        w = p[offsets[l] : offsets[l] + n_in * n_out].reshape((n_in, n_out))
        b = p[offsets[l] + n_in * n_out : offsets[l] + n_in * n_out + n_out]
        a_in = A[aoff[l] : aoff[l] + n * n_in].reshape((n, n_in))
        z = Z[aoff[l + 1] : aoff[l + 1] + n * n_out].reshape((n, n_out))
        a_out = A[aoff[l + 1] : aoff[l + 1] + n * n_out].reshape((n, n_out))
        np.dot(a_in, w, z)
        act = l < L - 1 or out_act
        for i in range(n):
            for j in range(n_out):
                v = z[i, j] + b[j]
                z[i, j] = v
                if act:
                    if v > 0:
                        a_out[i, j] = SELU_SCALE * v
                    else:
                        a_out[i, j] = SELU_SCALE * SELU_ALPHA * (np.exp(v) - 1.0)
                else:
                    a_out[i, j] = v


@njit(cache=True, fastmath=False)
def _l2_term(p, is_kernel, l2):
    s = 0.0
    for j in range(p.shape[0]):
        if is_kernel[j]:
            s += np.float64(p[j]) * np.float64(p[j])
    return l2 * s


@njit(cache=True, error_model="numpy")
def _val_mse(p, F, rows, y, n, first, sizes, offsets, out_act, A, Z, aoff):
    L = sizes.shape[0] - 1
    _forward(p, F, rows, n, first, L, sizes, offsets, out_act, A, Z, aoff)
    pred = A[aoff[L] : aoff[L] + n]
    s = 0.0
    for i in range(n):
        e = np.float64(pred[i]) - np.float64(y[i])
        s += e * e
    return s / n


# FMA contraction changes rounding at the 1-ulp level only, within the reference-equivalence tolerance.
@njit(cache=True, error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _adam_update(p, grad, l2_coef, m1, m2, start, lr_t):
    """One Keras-form Adam step on p[start:], with the L2 gradient 2·l2·W added on kernels."""
    # slicing first (a loop from 0 over fresh views) is what lets LLVM prove the accesses
    # independent and vectorize: 5 us instead of 35 us per step for 15k parameters
    P = p[start:]
    G = grad[start:]
    C = l2_coef[start:]
    M1 = m1[start:]
    M2 = m2[start:]
    b1 = np.float32(ADAM_BETA1)
    b2 = np.float32(ADAM_BETA2)
    eps = np.float32(ADAM_EPSILON)
    for j in range(P.shape[0]):
        gj = G[j] + C[j] * P[j]
        a = b1 * M1[j] + (np.float32(1.0) - b1) * gj
        b = b2 * M2[j] + (np.float32(1.0) - b2) * gj * gj
        M1[j] = a
        M2[j] = b
        P[j] -= lr_t * a / (np.sqrt(b) + eps)


@njit(cache=True, error_model="numpy")
def _train_member(
    p, X, rows_t, y_t, rows_v, y_v, seed, sizes, offsets, is_kernel, first,
    lr, l2, epochs, patience, batch_size, out_act,
):
    """Train one member in place (p: float32 [P]); return (val_mse, best_epoch, epochs_run).

    ``first`` = number of frozen leading layers. Their output on the member's rows never changes,
    so it is computed once here and the trainable suffix trains on those cached features.
    """
    P = p.shape[0]
    L = sizes.shape[0] - 1
    nt = rows_t.shape[0]
    nv = rows_v.shape[0]
    start = offsets[first]
    # flat activation buffers: layer l occupies [aoff[l], aoff[l] + rows * sizes[l])
    nmax = max(batch_size, nv, nt)
    aoff = np.zeros(L + 2, np.int64)
    for l in range(L + 1):
        aoff[l + 1] = aoff[l] + nmax * sizes[l]
    A = np.zeros(aoff[L + 1], np.float32)
    Z = np.zeros(aoff[L + 1], np.float32)
    # inputs of the first trainable layer for the training rows (Ft) and validation rows (Fv)
    if first == 0:
        Ft = X
        Fv = X
        loc_t = rows_t
        loc_v = rows_v
    else:
        Ft = np.empty((nt, sizes[first]), np.float32)
        Fv = np.empty((nv, sizes[first]), np.float32)
        _forward(p, X, rows_t, nt, 0, first, sizes, offsets, out_act, A, Z, aoff)
        Ft[:, :] = A[aoff[first] : aoff[first] + nt * sizes[first]].reshape((nt, sizes[first]))
        _forward(p, X, rows_v, nv, 0, first, sizes, offsets, out_act, A, Z, aoff)
        Fv[:, :] = A[aoff[first] : aoff[first] + nv * sizes[first]].reshape((nv, sizes[first]))
        loc_t = np.arange(nt)
        loc_v = np.arange(nv)
    D = np.zeros(aoff[L + 1], np.float32)  # dLoss/dZ per layer
    G = np.zeros(aoff[L + 1], np.float32)  # dLoss/dA per layer
    grad = np.zeros(P, np.float32)
    m1 = np.zeros(P, np.float32)
    m2 = np.zeros(P, np.float32)
    l2_coef = np.zeros(P, np.float32)  # 2·l2 on kernel weights, 0 on biases: branch-free Adam loop
    for j in range(P):
        if is_kernel[j]:
            l2_coef[j] = np.float32(2.0 * l2)
    best = p.copy()
    order = np.empty(nt, np.int64)
    batch_rows = np.empty(batch_size, np.int64)
    batch_y = np.empty(batch_size, np.float32)
    best_val = np.inf
    best_epoch = 0
    wait = 0
    step = 0
    epochs_run = 0
    lr32 = np.float32(lr)
    for epoch in range(epochs):
        fill_epoch_order(seed, epoch, order)
        for lo in range(0, nt, batch_size):
            n = min(batch_size, nt - lo)
            for i in range(n):
                batch_rows[i] = loc_t[order[lo + i]]
                batch_y[i] = y_t[order[lo + i]]
            _forward(p, Ft, batch_rows, n, first, L, sizes, offsets, out_act, A, Z, aoff)
            # d(mean squared error)/d(output)
            gout = G[aoff[L] : aoff[L] + n]
            pred = A[aoff[L] : aoff[L] + n]
            for i in range(n):
                gout[i] = np.float32(2.0) * (pred[i] - batch_y[i]) / np.float32(n)
            for l in range(L - 1, first - 1, -1):
                n_in = sizes[l]
                n_out = sizes[l + 1]
                act = l < L - 1 or out_act
                g = G[aoff[l + 1] : aoff[l + 1] + n * n_out].reshape((n, n_out))
                z = Z[aoff[l + 1] : aoff[l + 1] + n * n_out].reshape((n, n_out))
                dz = D[aoff[l + 1] : aoff[l + 1] + n * n_out].reshape((n, n_out))
                for i in range(n):
                    for j in range(n_out):
                        if act and z[i, j] <= 0:
                            dz[i, j] = g[i, j] * (np.float32(SELU_SCALE * SELU_ALPHA) * np.exp(z[i, j]))
                        elif act:
                            dz[i, j] = g[i, j] * np.float32(SELU_SCALE)
                        else:
                            dz[i, j] = g[i, j]
                a_in = A[aoff[l] : aoff[l] + n * n_in].reshape((n, n_in))
                gw = grad[offsets[l] : offsets[l] + n_in * n_out].reshape((n_in, n_out))
                np.dot(a_in.T, dz, gw)
                gb = grad[offsets[l] + n_in * n_out : offsets[l] + n_in * n_out + n_out]
                for j in range(n_out):
                    s = np.float32(0.0)
                    for i in range(n):
                        s += dz[i, j]
                    gb[j] = s
                if l > first:
                    w = p[offsets[l] : offsets[l] + n_in * n_out].reshape((n_in, n_out))
                    g_in = G[aoff[l] : aoff[l] + n * n_in].reshape((n, n_in))
                    np.dot(dz, w.T, g_in)
            # Adam, Keras form, on the trainable suffix only
            step += 1
            lr_t = lr32 * np.float32(np.sqrt(1.0 - ADAM_BETA2**step) / (1.0 - ADAM_BETA1**step))
            _adam_update(p, grad, l2_coef, m1, m2, start, lr_t)
        epochs_run = epoch + 1
        # Keras EarlyStopping on val_loss (MSE + regularization), min_delta 0
        val = _val_mse(p, Fv, loc_v, y_v, nv, first, sizes, offsets, out_act, A, Z, aoff) + _l2_term(p, is_kernel, l2)
        wait += 1
        if val < best_val:
            best_val = val
            best_epoch = epoch
            best[:] = p
            wait = 0
        if wait >= patience and epoch > 0:
            break
    p[:] = best
    return _val_mse(p, Fv, loc_v, y_v, nv, first, sizes, offsets, out_act, A, Z, aoff), best_epoch, epochs_run


@njit(parallel=True, cache=True, error_model="numpy")
def _train_all(
    theta, X, rows_t, nt, y_t, rows_v, nv, y_v, seeds, sizes, offsets, is_kernel, firsts, bins, bin_starts,
    lr, l2, epochs, patience, batch_size, out_act, val_mse, best_epoch, epochs_run,
):
    # one parallel iteration per bin; a bin's members run one after another on one thread
    for b in prange(bin_starts.shape[0] - 1):
        for s in range(bin_starts[b], bin_starts[b + 1]):
            m = bins[s]
            p = theta[m].copy()
            v, be, er = _train_member(
                p, X, rows_t[m, : nt[m]], y_t[m, : nt[m]], rows_v[m, : nv[m]], y_v[m, : nv[m]], seeds[m],
                sizes, offsets, is_kernel, firsts[m], lr, l2, epochs, patience, batch_size, out_act,
            )
            theta[m, :] = p
            val_mse[m] = v
            best_epoch[m] = be
            epochs_run[m] = er


def balanced_bins(costs: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Split members into ``n_bins`` groups of near-equal total cost (greedy, heaviest first).

    numba's prange hands each thread one contiguous block of iterations whatever the chunk
    size, so the engine balances the work itself: returns (members ordered bin by bin, bin
    start offsets [n_bins + 1]). Which thread trains a member never changes its result.
    """
    n_bins = max(1, min(int(n_bins), len(costs)))
    loads = np.zeros(n_bins)
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for m in np.argsort(-np.asarray(costs, dtype=np.float64), kind="stable"):
        b = int(np.argmin(loads))
        members[b].append(int(m))
        loads[b] += costs[m]
    starts = np.cumsum([0] + [len(group) for group in members]).astype(np.int64)
    return np.asarray([m for group in members for m in group], dtype=np.int64), starts


# --------------------------------------------------------------------------- public API


def _member_cost(sizes: np.ndarray, first: int) -> int:
    """Multiply-adds per row for the trainable layers: a scheduling weight, not a timing."""
    return int(sum(int(sizes[l]) * int(sizes[l + 1]) for l in range(first, len(sizes) - 1)))


def _pad(arrays: list[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    out = np.zeros((len(arrays), max(1, int(lengths.max()))), dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


def train_jobs_baseline(
    jobs: Sequence[TrainJob], X: np.ndarray, layer_sizes: Sequence[int], config: LearnerConfig
) -> list[TrainResult]:
    """Train all members of all ``jobs`` in one fused pass; results in job order.

    X: float32 [N, d] descriptor matrix that every job's row indices point into.
    """
    if not jobs:
        return []
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    offsets = layer_offsets(layer_sizes)
    if X.shape[1] != sizes[0]:
        raise ValueError(f"descriptor width {X.shape[1]} does not match the network input {sizes[0]}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    theta_parts, rows_t, y_t, rows_v, y_v, seeds, firsts = [], [], [], [], [], [], []
    for job in jobs:
        k = job.n_members
        if job.params.shape[1] != offsets[-1]:
            raise ValueError(f"job params have {job.params.shape[1]} columns, expected {offsets[-1]}")
        if len(job.train_rows) < 1 or len(job.val_rows) < 1:
            raise ValueError("every job needs at least one training and one validation point")
        theta_parts.append(np.asarray(job.params, dtype=np.float32))
        rows_t += [np.asarray(job.train_rows, np.int64)] * k
        y_t += [np.asarray(job.y_train, np.float32)] * k
        rows_v += [np.asarray(job.val_rows, np.int64)] * k
        y_v += [np.asarray(job.y_val, np.float32)] * k
        seeds.append(np.asarray(job.seeds, dtype=np.uint64).reshape(k))
        firsts += [int(job.frozen_layers)] * k
    theta = np.ascontiguousarray(np.concatenate(theta_parts, axis=0))
    rows_t_arr, nt = _pad(rows_t, np.int64)
    y_t_arr, _ = _pad(y_t, np.float32)
    rows_v_arr, nv = _pad(rows_v, np.int64)
    y_v_arr, _ = _pad(y_v, np.float32)
    n_total = theta.shape[0]
    val_mse = np.zeros(n_total, np.float64)
    best_epoch = np.zeros(n_total, np.int64)
    epochs_run = np.zeros(n_total, np.int64)
    firsts_arr = np.asarray(firsts, np.int64)
    # estimated cost = (rows x multiply-adds of the trainable layers); balanced over the threads
    costs = (nt + nv) * np.array([_member_cost(sizes, f) for f in firsts_arr])
    bins, bin_starts = balanced_bins(costs, numba.get_num_threads())
    _train_all(
        theta, X, rows_t_arr, nt, y_t_arr, rows_v_arr, nv, y_v_arr, np.concatenate(seeds),
        sizes, offsets, kernel_mask(layer_sizes), firsts_arr, bins, bin_starts,
        float(config.learning_rate), float(config.l2), int(config.epochs), int(config.patience),
        int(config.batch_size), bool(config.output_activation), val_mse, best_epoch, epochs_run,
    )
    results, lo = [], 0
    for job in jobs:
        hi = lo + job.n_members
        results.append(TrainResult(theta[lo:hi].copy(), val_mse[lo:hi].copy(), best_epoch[lo:hi].copy(), epochs_run[lo:hi].copy()))
        lo = hi
    return results

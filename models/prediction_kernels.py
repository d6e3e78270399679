"""Numba kernels of the ensemble prediction (:func:`labnet.models.mlp.predict_ensemble`).

A lab predicts every material with its selected ensemble at every action (docs/algorithm.md,
"One action of a BO lab": the UCB acquisition and the generalization error). With torch alone
that took 0.18 s per action on the B2 space (16,908 rows, 10 members of 39→100→100→10→1) on
2 cores, 40 % of it in SELU (torch's float32 ``exp`` runs at ~1.7 ns per element here), 15 % in the 100→10 layer
(torch's batched matmul with 10 output columns ran at ~6 GFLOP/s), and torch's MKL ``bmm``
reached ~35 GFLOP/s per core on these AMD cores where NumPy's OpenBLAS reaches ~60. So the
later layers are NumPy ``matmul`` (OpenBLAS, one thread per block) and these kernels do the rest:

- :func:`first_layer_selu` — the first layer as a gather-sum over the non-zero descriptors of
  each row (a composition vector has 2-3 non-zero fractions of 39), SELU fused;
- :func:`selu_inplace` — SELU with a vectorizable ``expm1`` (Cephes' float32 polynomial, within
  2 ulp of a float64 SELU);
- :func:`bias_selu_inplace` — a later layer's bias and SELU after its matmul.

Every kernel works on one block of rows, holds no GIL (blocks run on Python threads side by
side) and does not depend on the thread count. Results equal torch's to float32 rounding
(tests/test_mlp.py): the order of the sums differs from a BLAS's, and the SELU differs from
torch's by at most a few ulp.
"""
from __future__ import annotations

import numba
import numpy as np

from . import selu

SELU_ALPHA = np.float32(selu.SELU_ALPHA)
SELU_SCALE = np.float32(selu.SELU_SCALE)
_SCALE_ALPHA = np.float32(SELU_SCALE * SELU_ALPHA)
_EXP_FLOOR = np.float32(-20.0)  # exp(-20) - 1 == -1 in float32: SELU saturates below
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)
_HALF, _ONE = np.float32(0.5), np.float32(1.0)

_JIT = dict(nogil=True, fastmath=True, cache=True)


@numba.njit(inline="always", **_JIT)
def _selu(x: np.float32) -> np.float32:
    """SELU of one float32, without branches (so that loops over it vectorize).

    SELU(x) = scale * max(x, 0) + scale * alpha * expm1(min(x, 0)). ``expm1(z)`` for
    -20 <= z <= 0 (below, SELU is saturated in float32) by Cephes' range reduction
    z = n ln2 + r, |r| <= ln2 / 2: expm1(z) = 2**n * q + (2**n - 1) with q = expm1(r) from the
    degree-6 polynomial, which keeps full relative accuracy near 0; 2**n (n in 0..-29) as a
    product of selected powers of two (exact). Within 2 ulp of a float64 SELU.
    """
    z = min(max(x, _EXP_FLOOR), np.float32(0.0))
    n = np.floor(z * _LOG2E + _HALF)
    r = z - n * _LN2_HI - n * _LN2_LO
    q = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r * r + r
    m = -n
    c = np.float32(m >= np.float32(16.0))
    s = _ONE + c * np.float32(2.0**-16 - 1.0)
    m = m - c * np.float32(16.0)
    c = np.float32(m >= np.float32(8.0))
    s = s * (_ONE + c * np.float32(2.0**-8 - 1.0))
    m = m - c * np.float32(8.0)
    c = np.float32(m >= np.float32(4.0))
    s = s * (_ONE + c * np.float32(2.0**-4 - 1.0))
    m = m - c * np.float32(4.0)
    c = np.float32(m >= np.float32(2.0))
    s = s * (_ONE + c * np.float32(0.25 - 1.0))
    m = m - c * np.float32(2.0)
    c = np.float32(m >= _ONE)
    s = s * (_ONE + c * np.float32(-0.5))
    return SELU_SCALE * max(x, np.float32(0.0)) + _SCALE_ALPHA * (s * q + (s - _ONE))


@numba.njit(**_JIT)
def selu_inplace(a: np.ndarray) -> None:
    """SELU of every element of a contiguous float32 array, in place."""
    flat = a.reshape(-1)
    for i in range(flat.size):
        flat[i] = _selu(flat[i])


@numba.njit(**_JIT)
def first_layer_selu(X: np.ndarray, start: int, stop: int, W: np.ndarray, b: np.ndarray, out: np.ndarray,
                     activate: bool) -> None:
    """The first layer of K members for rows ``start:stop`` of X, as a sum over each row's non-zero entries.

    X: float32 [N, d]; W: float32 [d, K*H] (member k's kernel in columns k*H:(k+1)*H);
    b: float32 [K*H]; out: float32 [K, stop - start, H], written (SELU applied when ``activate``).
    """
    n_members, _, width = out.shape
    acc = np.empty(n_members * width, dtype=np.float32)
    for r in range(start, stop):
        acc[:] = b
        for j in range(X.shape[1]):
            v = X[r, j]
            if v != 0:
                w = W[j]
                for u in range(acc.size):
                    acc[u] += v * w[u]
        row = r - start
        for k in range(n_members):
            o = out[k, row]
            base = k * width
            if activate:
                for u in range(width):
                    o[u] = _selu(acc[base + u])
            else:
                for u in range(width):
                    o[u] = acc[base + u]


@numba.njit(**_JIT)
def bias_selu_inplace(h: np.ndarray, b: np.ndarray, activate: bool) -> None:
    """h[k, r] += b[k], then SELU when ``activate``; h: float32 [K, R, n] (contiguous), b: float32 [K, n]; in place."""
    n_members, n_rows, width = h.shape
    for k in range(n_members):
        bias = b[k]
        for r in range(n_rows):
            row = h[k, r]
            for u in range(width):
                row[u] += bias[u]
    if activate:
        selu_inplace(h)

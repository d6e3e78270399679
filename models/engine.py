"""The batched training engine: every member of every candidate of every acting lab in one call.

One call of :func:`train_jobs` trains all members of all jobs (a job = one candidate ensemble of one
lab) with the paper's recipe (docs/algorithm.md → the ensemble member and its training) and Keras semantics:

* loss = MSE on the standardized target (the mean over rows and output neurons; every output
  neuron is trained on the same target) + ``l2`` · Σ‖W‖² over kernels;
* Adam (Keras form: ε added to √v, bias correction folded into the step size), lr 5e-4;
* minibatches of 8 in a per-member, per-epoch shuffled order (the last minibatch may be smaller);
* early stopping on the validation loss (MSE + L2 term, as Keras reports ``val_loss``) with
  patience; the best epoch's weights restored at the end (``paper_text``), or, under
  ``authors_code``, only when early stopping fired (Keras ``restore_best_weights``), else the last
  epoch's weights kept (``LearnerConfig.rules.restore_best_always``);
* the first ``frozen_layers`` layers of a transferred member are frozen (no update, no Adam state).

The members are independent, so the whole tick is one fused compiled program (numba, parallel over
members) over every member's flat parameters (float32 [n_params], read from its job's array and
written into a new one per job): each member's data rows, validation rows, shuffle seed, frozen
prefix and early-stopping state are arrays indexed by member.
A member is always computed by one thread from start to end, so results do not depend on the
number of threads. :mod:`labnet.models.reference` is the faithful per-member PyTorch loop this must match.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, prange, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

from .config import LearnerConfig
from .mlp import SELU_ALPHA, SELU_SCALE, layer_offsets

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-7  # Keras default


@dataclass
class TrainJob:
    """One candidate ensemble to train.

    Attributes:
        params: initial member parameters, float32 [K, P] (fresh LeCun init, or a neighbour's snapshot).
        train_rows: material indices of the training points, int [n_train].
        y_train: standardized targets of the training points, float32 [n_train].
        val_rows: material indices of the validation points, int [n_val].
        y_val: standardized targets of the validation points, float32 [n_val].
        seeds: per-member shuffle seeds, uint64 [K].
        frozen_layers: number of leading layers kept fixed (0 = train everything).
    """

    params: np.ndarray
    train_rows: np.ndarray
    y_train: np.ndarray
    val_rows: np.ndarray
    y_val: np.ndarray
    seeds: np.ndarray
    frozen_layers: int = 0

    @property
    def n_members(self) -> int:
        return int(self.params.shape[0])


@dataclass
class TrainResult:
    """A trained ensemble: its kept weights and per-member diagnostics.

    Attributes:
        params: trained parameters, float32 [K, P]: the best validation epoch's (restored), or under
            ``authors_code`` the last epoch's unless early stopping fired.
        val_mse: validation MSE of each member at the kept weights (standardized units), [K].
        best_epoch: 0-based epoch of the lowest validation loss (MSE + L2), [K].
        epochs_run: epochs actually run (fewer than the maximum when early stopping fired), [K].
        last_loss: validation MSE + L2 term at the last epoch run, as Keras' log prints ``val_loss``
            (standardized units), [K]; None from trainers that do not report it.
    """

    params: np.ndarray
    val_mse: np.ndarray
    best_epoch: np.ndarray
    epochs_run: np.ndarray
    last_loss: np.ndarray | None = None

    @property
    def validation_loss(self) -> float:
        """Mean validation MSE over members at the kept weights: the ``paper_text`` selection criterion."""
        return float(np.mean(self.val_mse))

    @property
    def last_epoch_loss(self) -> float:
        """Mean over members of the last epoch's validation MSE + L2: the ``authors_code`` selection criterion."""
        if self.last_loss is None:
            raise ValueError("this trainer did not report the last epoch's validation loss (TrainResult.last_loss)")
        return float(np.mean(self.last_loss))

    def selection_loss(self, config: LearnerConfig) -> float:
        """The loss a candidate is selected (and published) by under ``config.protocol``."""
        return self.last_epoch_loss if config.rules.select_on_last_epoch else self.validation_loss


# --------------------------------------------------------------------------- shuffling


@njit(cache=True)
def _splitmix64(state: np.uint64) -> tuple:
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True)
def fill_epoch_order(seed: np.uint64, epoch: int, out: np.ndarray) -> None:
    """Fisher–Yates shuffle of 0..n-1 into ``out`` (int64 [n]) from a (seed, epoch) counter RNG.

    Shared by the engine and the reference trainer so both see identical minibatch orders.
    """
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    state = np.uint64(seed) ^ (np.uint64(epoch + 1) * np.uint64(0xD1B54A32D192ED03))
    for i in range(n - 1, 0, -1):
        state, z = _splitmix64(state)
        j = np.int64(z % np.uint64(i + 1))
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training-position order of one member in one epoch, int64 [n]."""
    out = np.empty(n, dtype=np.int64)
    fill_epoch_order(np.uint64(seed), epoch, out)
    return out


# --------------------------------------------------------------------------- the fused kernel
#
# What a step costs and what this kernel does about it (issue 14 item 3; measured side by side with
# the previous kernel, kept as benchmarks/baseline_engine.py, by benchmarks/bench_engine.py --part b):
#
# * dense layers are single BLAS sgemm calls (``_sgemm``: the ``numba_xxgemm`` entry np.dot uses,
#   called on flat buffers at offsets): 8 x 100 x 100 runs at ~100 GFLOP/s there, which a numba
#   loop does not reach (numba runs no SLP vectorizer); the 1-wide output layer is plain loops;
# * no array views in the step loop: each view costs two atomic reference-count updates, which
#   were ~15 % of a from-scratch step and ~25 % of a transferred one (perf);
# * the first layer is a gather-sum over the few non-zero descriptors of each row (composition
#   fractions: 2-3 of the 16 / 39 slots), forward and weight gradient, when at most
#   SPARSE_FIRST_LAYER_DENSITY of the member's descriptor entries are non-zero;
# * SELU uses an inlined Cody-Waite + polynomial exp (``_exp_nonpositive``) that LLVM vectorizes
#   instead of one libm ``expf`` call per element (~25 % of the previous kernel's time), and keeps
#   its derivative from the forward pass, so the backward pass needs no second exp;
# * the per-epoch L2 term of early stopping sums only the trainable kernels (the frozen prefix's
#   share is a constant computed once) in a vectorized float64 reduction: the previous kernel
#   summed all ~15k parameters serially each epoch, most of a transferred member's time;
# * Adam runs per layer segment with the L2 coefficient as a scalar, its division as a refined
#   reciprocal estimate (``_adam_update``);
# * a layer's bias and SELU run over its whole n x n_out block in one loop (``_bias_activation``),
#   so that the 10- and 1-wide layers vectorize as well as the 100-wide ones;
# * a trainable layer with fewer outputs than inputs (the 100 -> 10 layer) is held transposed while
#   it trains (``transposed_layers``), which gives its gradient products the shapes OpenBLAS's
#   small-matrix kernels run fast.
#
# Results equal the reference trainer's within the tolerance of tests/test_engine.py; they are not
# bitwise those of the previous kernel (summation order of the first layer and of the L2 sum, the
# exp, Adam's division). Every member is still computed by one thread from start to end, by code
# that does not depend on the other members, so results do not depend on threads or grouping.

_CONTRACT = {"nnan", "ninf", "nsz", "contract"}  # FMA contraction: rounding changes at the 1-ulp level only

_F32_ZERO = np.float32(0.0)
_F32_ONE = np.float32(1.0)
_F32_TWO = np.float32(2.0)
_SELU_SCALE_F32 = np.float32(SELU_SCALE)
_SELU_SA_F32 = np.float32(SELU_SCALE * SELU_ALPHA)
_EXP_LOWEST = np.float32(-87.0)  # exp(-87) ~ 1.6e-38: the smallest argument with a normal 2^n
_LOG2E = np.float32(1.44269504088896341)
_ROUND_MAGIC = np.float32(12582912.0)  # 1.5 * 2^23: x + magic - magic rounds x to an integer
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_P0 = np.float32(1.9875691500e-4)
_EXP_P1 = np.float32(1.3981999507e-3)
_EXP_P2 = np.float32(8.3334519073e-3)
_EXP_P3 = np.float32(4.1665795894e-2)
_EXP_P4 = np.float32(1.6666665459e-1)
_EXP_P5 = np.float32(5.0000001201e-1)
SPARSE_FIRST_LAYER_DENSITY = 0.25
"""The first layer is a gather-sum over non-zeros when at most this share of a member's descriptor
entries (training and validation rows) is non-zero, else one dense sgemm."""


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bit pattern is the low 32 bits of the integer ``bits`` (a bitcast)."""
    sig = types.float32(bits)

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], llvm_ir.IntType(32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, llvm_ir.FloatType())

    return sig, codegen


@intrinsic
def _sgemm(typingctx, trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """BLAS sgemm (column-major) on float32 1-D arrays at element offsets: C = op(A) @ op(B), m x n.

    The same ``numba_xxgemm`` entry that ``np.dot`` calls, without the views np.dot needs (each
    view costs two atomic reference-count updates: ~25 % of a transferred member's step).
    """
    sig = types.int32(trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)
    def codegen(context, builder, signature, args):
        ll_char = llvm_ir.IntType(8); intp = context.get_value_type(types.intp); vp = llvm_ir.IntType(8).as_pointer()
        fnty = llvm_ir.FunctionType(llvm_ir.IntType(32), [ll_char, ll_char, ll_char, intp, intp, intp, vp, vp, intp, vp, intp, vp, vp, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        ta, tb, M, N, K, A, ao, la, B, bo, lb, C, co, lc = args
        def ptr(aty, val, off):
            arr = context.make_array(aty)(context, builder, value=val)
            return builder.bitcast(builder.gep(arr.data, [off]), vp)
        def trans(flag):
            return builder.select(builder.icmp_signed("!=", flag, llvm_ir.Constant(flag.type, 0)), llvm_ir.Constant(ll_char, ord("t")), llvm_ir.Constant(ll_char, ord("n")))
        one = cgutils.alloca_once_value(builder, context.get_constant(types.float32, 1.0))
        zero = cgutils.alloca_once_value(builder, context.get_constant(types.float32, 0.0))
        return builder.call(fn, (llvm_ir.Constant(ll_char, ord("s")), trans(ta), trans(tb), M, N, K,
                                 builder.bitcast(one, vp), ptr(signature.args[5], A, ao), la,
                                 ptr(signature.args[8], B, bo), lb, builder.bitcast(zero, vp),
                                 ptr(signature.args[11], C, co), lc))
    return sig, codegen

@intrinsic
def _float32_pointer(typingctx, address):
    """The integer ``address`` as a float32 pointer, for ``numba.carray`` (a memory address: the
    caller keeps the array it points into alive and C-contiguous float32)."""
    sig = types.CPointer(types.float32)(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@njit(cache=True)
def _store(p, address):
    """Write the float32 array ``p`` to memory at ``address``. A function of its own: a store
    through ``numba.carray`` written inline in a ``prange`` body is removed as dead code
    (parfors see an array that nothing reads afterwards)."""
    numba.carray(_float32_pointer(address), p.shape)[:] = p


@njit(cache=True, error_model="numpy", fastmath=_CONTRACT)
def _exp_nonpositive(x):
    """exp(x) for float32 x <= 0 (arguments below -87 are taken as -87), within ~1 ulp.

    Cephes ``expf``: x = n·ln2 + r with |r| <= ln2/2 (ln2 in two parts), a degree-5 polynomial
    for exp(r), and 2^n built from its bits. Straight-line code, so loops calling it vectorize.
    """
    x = x if x > _EXP_LOWEST else _EXP_LOWEST
    n = (x * _LOG2E + _ROUND_MAGIC) - _ROUND_MAGIC
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    y = _EXP_P0 * r + _EXP_P1
    y = y * r + _EXP_P2
    y = y * r + _EXP_P3
    y = y * r + _EXP_P4
    y = y * r + _EXP_P5
    y = y * (r * r) + r + _F32_ONE
    return y * _bits_as_float32((np.int64(n) + 127) << 23)


@njit(cache=True, error_model="numpy", fastmath=_CONTRACT)
def _bias_activation(Z, A, Dd, o, n, n_out, p, bo, act):
    """One layer on n rows: Z += b per row; then A = SELU(Z) (or Z) and Dd = dSELU/dZ (or 1) over the
    whole block [o, o + n * n_out) at once.

    The bias b is p[bo : bo + n_out]. One loop over the block, not one per row, so that the
    activation of a narrow layer vectorizes too (a 10-wide row is all loop remainder): measured
    1.26-1.34x on a transferred member's whole training (its trainable layers are 100 -> 10 -> 1),
    1.05x on a from-scratch one, with bit-identical results. Offsets instead of slices: a slice in
    a hot loop costs two atomic reference-count updates (measured at ~15 % of a step), and unsigned
    indices keep the addresses affine for the vectorizer.
    """
    for i in range(n):
        for j in range(n_out):
            q = uint64(o + i * n_out + j)
            Z[q] = Z[q] + p[uint64(bo + j)]
    m = n * n_out
    if act:
        for j in range(m):
            q = uint64(o + j)
            v = Z[q]
            e = _exp_nonpositive(v if v < _F32_ZERO else _F32_ZERO)
            positive = v > _F32_ZERO
            A[q] = _SELU_SCALE_F32 * v if positive else _SELU_SA_F32 * (e - _F32_ONE)
            Dd[q] = _SELU_SCALE_F32 if positive else _SELU_SA_F32 * e
    else:
        for j in range(m):
            q = uint64(o + j)
            A[q] = Z[q]
            Dd[q] = _F32_ONE


@njit(cache=True, error_model="numpy", fastmath=_CONTRACT)
def _axpy(alpha, x, xo, y, yo, n):
    """y[yo : yo + n] += alpha * x[xo : xo + n]."""
    for j in range(n):
        y[uint64(yo + j)] += alpha * x[uint64(xo + j)]


@njit(cache=True, error_model="numpy", fastmath=_CONTRACT)
def _scale(alpha, x, xo, y, yo, n):
    """y[yo : yo + n] = alpha * x[xo : xo + n]."""
    for j in range(n):
        y[uint64(yo + j)] = alpha * x[uint64(xo + j)]


@njit(cache=True, error_model="numpy", fastmath=_CONTRACT)
def _mul(x, y, out, o, n):
    """out[o : o + n] = x[o : o + n] * y[o : o + n]."""
    for j in range(n):
        q = uint64(o + j)
        out[q] = x[q] * y[q]


@njit(cache=True)
def _nonzeros(X, rows):
    """CSR of X[rows]: (starts int64 [n + 1], column indices int64 [nnz], values float32 [nnz]), columns ascending."""
    n = rows.shape[0]
    d = X.shape[1]
    starts = np.zeros(n + 1, np.int64)
    for i in range(n):
        c = 0
        for k in range(d):
            if X[rows[i], k] != 0:
                c += 1
        starts[i + 1] = starts[i] + c
    cols = np.empty(starts[n], np.int64)
    vals = np.empty(starts[n], np.float32)
    e = 0
    for i in range(n):
        for k in range(d):
            v = X[rows[i], k]
            if v != 0:
                cols[e] = k
                vals[e] = v
                e += 1
    return starts, cols, vals


@njit(cache=True, error_model="numpy")
def _forward(p, F, rows, pos, n, first, last, sizes, offsets, out_act, A, Z, Dd, aoff, sparse, starts, cols, vals, trans):
    """Forward pass of one member through layers first..last-1 on ``n`` rows.

    The inputs of layer ``first`` are F[rows[i]] (descriptors when first = 0, cached frozen-prefix
    features otherwise), or, when ``sparse`` (first = 0 only), the non-zeros of row ``pos[i]`` of the
    CSR (starts, cols, vals). Fills the flat buffers A (activations), Z (pre-activations) and Dd
    (activation derivatives); layer l's output occupies [aoff[l + 1], aoff[l + 1] + n * sizes[l + 1]).
    ``trans[l]``: layer l's kernel is held transposed ([n_out, n_in], :func:`transposed_layers`).
    """
    L = sizes.shape[0] - 1
    for l in range(first, last):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        kw = offsets[l]
        o = aoff[l + 1]
        if l == 0 and sparse:
            for i in range(n):
                zo = o + i * n_out
                for j in range(n_out):
                    Z[uint64(zo + j)] = _F32_ZERO
                r = pos[i]
                for e in range(starts[r], starts[r + 1]):
                    _axpy(vals[e], p, kw + cols[e] * n_out, Z, zo, n_out)
        else:
            ai = aoff[l]
            if l == first:
                for i in range(n):
                    r = rows[i]
                    for k in range(n_in):
                        A[ai + i * n_in + k] = F[r, k]
            if n_out == 1:  # the output layer: n dot products, cheaper than a BLAS call
                for i in range(n):
                    acc = _F32_ZERO
                    for k in range(n_in):
                        acc += A[ai + i * n_in + k] * p[kw + k]
                    Z[o + i] = acc
            elif trans[l]:  # the same with W held as W^T[n_out, n_in]
                _sgemm(1, 0, n_out, n, n_in, p, kw, n_in, A, ai, n_in, Z, o, n_out)
            else:  # row-major Z[n, n_out] = A_in[n, n_in] @ W[n_in, n_out], as column-major Z^T = W^T A_in^T
                _sgemm(0, 0, n_out, n, n_in, p, kw, n_out, A, ai, n_in, Z, o, n_out)
        act = l < L - 1 or out_act
        _bias_activation(Z, A, Dd, o, n, n_out, p, kw + n_in * n_out, act)


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _sum_squares(x, o, n):
    """Σ x[o : o + n]² in float64 (a vectorized reduction: its order is fixed by the compiled code)."""
    s = 0.0
    for j in range(n):
        v = np.float64(x[uint64(o + j)])
        s += v * v
    return s


@njit(cache=True)
def _kernel_sum_squares(p, sizes, offsets, lo, hi):
    """Σ of squared kernel weights (biases excluded) of layers lo..hi-1, float64."""
    s = 0.0
    for l in range(lo, hi):
        s += _sum_squares(p, offsets[l], sizes[l] * sizes[l + 1])
    return s


@njit(cache=True, error_model="numpy")
def _val_mse(p, F, rows, pos, y, n, first, sizes, offsets, out_act, A, Z, Dd, aoff, sparse, starts, cols, vals, trans):
    """Validation MSE: the mean over the n rows and the output neurons, each against the row's target."""
    L = sizes.shape[0] - 1
    W = sizes[L]
    _forward(p, F, rows, pos, n, first, L, sizes, offsets, out_act, A, Z, Dd, aoff, sparse, starts, cols, vals, trans)
    s = 0.0
    for i in range(n):
        for k in range(W):
            e = np.float64(A[aoff[L] + i * W + k]) - np.float64(y[i])
            s += e * e
    return s / (n * W)


# "arcp": the division becomes a reciprocal estimate refined by one Newton step (vrcpps + 2 FMA
# instead of vdivps, whose throughput bounded the step: 5.2 -> 3.8 us per 15k parameters); the
# quotient changes by ~1 ulp, within the reference-equivalence tolerance.
@njit(cache=True, error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract", "arcp"})
def _adam_update(P, G, M1, M2, o, n, l2_coef, lr_t):
    """One Keras-form Adam step on [o, o + n), the L2 gradient l2_coef·W added (0 on biases)."""
    b1 = np.float32(ADAM_BETA1)
    b2 = np.float32(ADAM_BETA2)
    eps = np.float32(ADAM_EPSILON)
    for j in range(n):
        q = uint64(o + j)
        gj = G[q] + l2_coef * P[q]
        a = b1 * M1[q] + (np.float32(1.0) - b1) * gj
        b = b2 * M2[q] + (np.float32(1.0) - b2) * gj * gj
        M1[q] = a
        M2[q] = b
        P[q] -= lr_t * a / (np.sqrt(b) + eps)


@njit(cache=True)
def transposed_layers(sizes, first, sparse):
    """Which layers' kernels the engine holds transposed while it trains them, bool [L].

    A trainable layer with fewer outputs than inputs (and more than one: the output layer's
    kernel is a vector either way), not a sparse first layer. Its three products then take the
    shapes a BLAS runs fast: measured on the 100 -> 10 layer, batch 8 (Zen 4, one thread),
    forward 0.33 -> 0.31 us, weight gradient 0.80 -> 0.30 us, input gradient 0.72 -> 0.27 us.
    For n_out >= n_in the layout as stored is as fast or faster (100 -> 100: the same; 16 -> 100:
    forward 0.30 -> 0.92 us).
    """
    L = sizes.shape[0] - 1
    trans = np.zeros(L, np.bool_)
    for l in range(first, L):
        trans[l] = 1 < sizes[l + 1] < sizes[l] and not (l == 0 and sparse)
    return trans


@njit(cache=True)
def _transpose_kernels(p, sizes, offsets, trans, back):
    """Transpose in place the kernel of every layer l with ``trans[l]``: W[n_in, n_out] -> W^T[n_out, n_in],
    or, when ``back``, W^T -> W. Adam's moments and the gradient follow the kernel's layout, so
    only the parameters change layout; an exact permutation."""
    for l in range(sizes.shape[0] - 1):
        if not trans[l]:
            continue
        rows, cols = (sizes[l + 1], sizes[l]) if back else (sizes[l], sizes[l + 1])
        kw = offsets[l]
        block = p[kw : kw + rows * cols].copy()
        for r in range(rows):
            for c in range(cols):
                p[kw + c * rows + r] = block[r * cols + c]


@njit(cache=True, error_model="numpy")
def _train_member(
    p, X, rows_t, y_t, rows_v, y_v, seed, sizes, offsets, first,
    lr, l2, epochs, patience, batch_size, out_act, restore_best,
):
    """Train one member in place (p: float32 [P]); return (val_mse, best_epoch, epochs_run, last_loss).

    ``first`` = number of frozen leading layers. Their output on the member's rows never changes,
    so it is computed once here and the trainable suffix trains on those cached features.
    ``restore_best``: keep the best epoch's weights always; False: only when early stopping fires.
    ``last_loss``: validation MSE + L2 of the last epoch run.
    """
    L = sizes.shape[0] - 1
    W = sizes[L]
    nt = rows_t.shape[0]
    nv = rows_v.shape[0]
    d = sizes[0]
    nmax = max(batch_size, nv, nt)
    aoff = np.zeros(L + 2, np.int64)
    for l in range(L + 1):
        aoff[l + 1] = aoff[l] + nmax * sizes[l]
    A = np.zeros(aoff[L + 1], np.float32)
    Z = np.zeros(aoff[L + 1], np.float32)
    Dd = np.zeros(aoff[L + 1], np.float32)  # dA/dZ per layer, stored by the forward pass
    # the first layer as a gather-sum over non-zero descriptors, when they are few
    sparse = False
    starts_t, cols_t, vals_t = _nonzeros(X, rows_t[:0])
    starts_v, cols_v, vals_v = starts_t, cols_t, vals_t
    if first == 0:
        starts_t, cols_t, vals_t = _nonzeros(X, rows_t)
        starts_v, cols_v, vals_v = _nonzeros(X, rows_v)
        sparse = cols_t.shape[0] + cols_v.shape[0] <= SPARSE_FIRST_LAYER_DENSITY * (nt + nv) * d
    as_stored = np.zeros(L, np.bool_)
    # inputs of the first trainable layer for the training rows (Ft) and validation rows (Fv)
    pos_t = np.arange(nt)
    pos_v = np.arange(nv)
    if first == 0:
        Ft = X
        Fv = X
        loc_t = rows_t
        loc_v = rows_v
    else:
        Ft = np.empty((nt, sizes[first]), np.float32)
        Fv = np.empty((nv, sizes[first]), np.float32)
        _forward(p, X, rows_t, pos_t, nt, 0, first, sizes, offsets, out_act, A, Z, Dd, aoff, False, starts_t, cols_t, vals_t,
                 as_stored)
        Ft[:, :] = A[aoff[first] : aoff[first] + nt * sizes[first]].reshape((nt, sizes[first]))
        _forward(p, X, rows_v, pos_v, nv, 0, first, sizes, offsets, out_act, A, Z, Dd, aoff, False, starts_t, cols_t, vals_t,
                 as_stored)
        Fv[:, :] = A[aoff[first] : aoff[first] + nv * sizes[first]].reshape((nv, sizes[first]))
        loc_t = pos_t
        loc_v = pos_v
    trans = transposed_layers(sizes, first, sparse)
    _transpose_kernels(p, sizes, offsets, trans, False)
    P = p.shape[0]
    start = offsets[first]
    DZ = np.zeros(aoff[L + 1], np.float32)  # dLoss/dZ per layer
    G = np.zeros(aoff[L + 1], np.float32)  # dLoss/dA per layer
    grad = np.zeros(P, np.float32)
    m1 = np.zeros(P, np.float32)
    m2 = np.zeros(P, np.float32)
    l2_kernel = np.float32(2.0 * l2)
    frozen_l2 = _kernel_sum_squares(p, sizes, offsets, 0, first)  # constant: the frozen kernels never change
    best = p.copy()
    order = np.empty(nt, np.int64)
    batch_rows = np.empty(batch_size, np.int64)
    batch_pos = np.empty(batch_size, np.int64)
    batch_y = np.empty(batch_size, np.float32)
    best_val = np.inf
    last_val = np.inf
    stopped = False
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
                batch_pos[i] = order[lo + i]
                batch_rows[i] = loc_t[order[lo + i]]
                batch_y[i] = y_t[order[lo + i]]
            _forward(p, Ft, batch_rows, batch_pos, n, first, L, sizes, offsets, out_act, A, Z, Dd, aoff,
                     sparse, starts_t, cols_t, vals_t, trans)
            # d(mean squared error over rows and outputs)/d(output)
            for i in range(n):
                for k in range(W):
                    q = aoff[L] + i * W + k
                    G[q] = _F32_TWO * (A[q] - batch_y[i]) / np.float32(n * W)
            for l in range(L - 1, first - 1, -1):
                n_in = sizes[l]
                n_out = sizes[l + 1]
                o = aoff[l + 1]
                m = n * n_out
                _mul(G, Dd, DZ, o, m)
                kw = offsets[l]
                kb = kw + n_in * n_out
                if l == 0 and sparse:
                    for j in range(n_in * n_out):
                        grad[uint64(kw + j)] = _F32_ZERO
                    for i in range(n):
                        r = batch_pos[i]
                        for e in range(starts_t[r], starts_t[r + 1]):
                            _axpy(vals_t[e], DZ, o + i * n_out, grad, kw + cols_t[e] * n_out, n_out)
                elif n_out == 1:
                    for k in range(n_in):
                        acc = _F32_ZERO
                        for i in range(n):
                            acc += A[aoff[l] + i * n_in + k] * DZ[o + i]
                        grad[kw + k] = acc
                elif trans[l]:  # GW^T[n_out, n_in] = DZ^T @ A_in
                    _sgemm(0, 1, n_in, n_out, n, A, aoff[l], n_in, DZ, o, n_out, grad, kw, n_in)
                else:  # GW[n_in, n_out] = A_in^T @ DZ
                    _sgemm(0, 1, n_out, n_in, n, DZ, o, n_out, A, aoff[l], n_in, grad, kw, n_out)
                for j in range(n_out):
                    grad[uint64(kb + j)] = DZ[uint64(o + j)]
                for i in range(1, n):
                    _axpy(_F32_ONE, DZ, o + i * n_out, grad, kb, n_out)
                if l > first and n_out == 1:
                    for i in range(n):
                        _scale(DZ[o + i], p, kw, G, aoff[l] + i * n_in, n_in)
                elif l > first and trans[l]:  # G_in[n, n_in] = DZ @ W^T with W^T held
                    _sgemm(0, 0, n_in, n, n_out, p, kw, n_in, DZ, o, n_out, G, aoff[l], n_in)
                elif l > first:  # G_in[n, n_in] = DZ @ W^T
                    _sgemm(1, 0, n_in, n, n_out, p, kw, n_out, DZ, o, n_out, G, aoff[l], n_in)
            # Adam, Keras form, on the trainable suffix only: kernels get the L2 gradient, biases not
            step += 1
            lr_t = lr32 * np.float32(np.sqrt(1.0 - ADAM_BETA2**step) / (1.0 - ADAM_BETA1**step))
            for l in range(first, L):
                kw = offsets[l]
                kb = kw + sizes[l] * sizes[l + 1]
                ke = offsets[l + 1]
                _adam_update(p, grad, m1, m2, kw, kb - kw, l2_kernel, lr_t)
                _adam_update(p, grad, m1, m2, kb, ke - kb, _F32_ZERO, lr_t)
        epochs_run = epoch + 1
        # Keras EarlyStopping on val_loss (MSE + regularization), min_delta 0
        val = _val_mse(p, Fv, loc_v, pos_v, y_v, nv, first, sizes, offsets, out_act, A, Z, Dd, aoff,
                       sparse, starts_v, cols_v, vals_v, trans)
        val += l2 * (frozen_l2 + _kernel_sum_squares(p, sizes, offsets, first, L))
        last_val = val
        wait += 1
        if val < best_val:
            best_val = val
            best_epoch = epoch
            best[start:] = p[start:]
            wait = 0
        if wait >= patience and epoch > 0:
            stopped = True
            break
    if restore_best or stopped:
        p[:] = best
    kept_val = _val_mse(p, Fv, loc_v, pos_v, y_v, nv, first, sizes, offsets, out_act, A, Z, Dd, aoff,
                        sparse, starts_v, cols_v, vals_v, trans)
    _transpose_kernels(p, sizes, offsets, trans, True)
    return (
        kept_val,
        best_epoch,
        epochs_run,
        last_val,
    )


@njit(parallel=True, cache=True, error_model="numpy")
def _train_all(
    sources, targets, n_params, X, rows_t, nt, y_t, rows_v, nv, y_v, seeds, sizes, offsets, firsts, bins,
    bin_starts, lr, l2, epochs, patience, batch_size, out_act, restore_best, val_mse, best_epoch, epochs_run,
    last_loss,
):
    # one parallel iteration per bin; a bin's members run one after another on one thread. Member
    # m's initial parameters are read at address sources[m] and its trained ones written at
    # targets[m] (n_params float32 each): the jobs' own arrays, not one stacked copy of them all
    for b in prange(bin_starts.shape[0] - 1):
        for s in range(bin_starts[b], bin_starts[b + 1]):
            m = bins[s]
            p = numba.carray(_float32_pointer(sources[m]), (n_params,)).copy()
            v, be, er, last = _train_member(
                p, X, rows_t[m, : nt[m]], y_t[m, : nt[m]], rows_v[m, : nv[m]], y_v[m, : nv[m]], seeds[m],
                sizes, offsets, firsts[m], lr, l2, epochs, patience, batch_size, out_act, restore_best,
            )
            _store(p, targets[m])
            val_mse[m] = v
            best_epoch[m] = be
            epochs_run[m] = er
            last_loss[m] = last


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


def _member_addresses(arrays: list[np.ndarray]) -> np.ndarray:
    """The memory address of every member row of C-contiguous float32 [K, P] arrays, in order, int64."""
    return np.concatenate([a.ctypes.data + a.strides[0] * np.arange(len(a), dtype=np.int64) for a in arrays])


def _pad(arrays: list[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    out = np.zeros((len(arrays), max(1, int(lengths.max()))), dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


def train_jobs(
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
    initial, rows_t, y_t, rows_v, y_v, seeds, firsts = [], [], [], [], [], [], []
    for job in jobs:
        k = job.n_members
        if job.params.shape[1] != offsets[-1]:
            raise ValueError(f"job params have {job.params.shape[1]} columns, expected {offsets[-1]}")
        if len(job.train_rows) < 1 or len(job.val_rows) < 1:
            raise ValueError("every job needs at least one training and one validation point")
        initial.append(np.ascontiguousarray(job.params, dtype=np.float32))
        rows_t += [np.asarray(job.train_rows, np.int64)] * k
        y_t += [np.asarray(job.y_train, np.float32)] * k
        rows_v += [np.asarray(job.val_rows, np.int64)] * k
        y_v += [np.asarray(job.y_val, np.float32)] * k
        seeds.append(np.asarray(job.seeds, dtype=np.uint64).reshape(k))
        firsts += [int(job.frozen_layers)] * k
    # the kernel reads every member where its job holds it and writes into one new array per job:
    # stacking all members into one array first cost 1.1-1.5 s per tick of a 1,000-lab network
    # (~1 GB of fresh pages copied in, and again out into per-job copies)
    trained = [np.empty_like(params) for params in initial]
    sources, targets = _member_addresses(initial), _member_addresses(trained)
    rows_t_arr, nt = _pad(rows_t, np.int64)
    y_t_arr, _ = _pad(y_t, np.float32)
    rows_v_arr, nv = _pad(rows_v, np.int64)
    y_v_arr, _ = _pad(y_v, np.float32)
    n_total = len(sources)
    val_mse = np.zeros(n_total, np.float64)
    best_epoch = np.zeros(n_total, np.int64)
    epochs_run = np.zeros(n_total, np.int64)
    last_loss = np.zeros(n_total, np.float64)
    firsts_arr = np.asarray(firsts, np.int64)
    # estimated cost = (rows x multiply-adds of the trainable layers); balanced over the threads
    costs = (nt + nv) * np.array([_member_cost(sizes, f) for f in firsts_arr])
    bins, bin_starts = balanced_bins(costs, numba.get_num_threads())
    _train_all(
        sources, targets, int(offsets[-1]), X, rows_t_arr, nt, y_t_arr, rows_v_arr, nv, y_v_arr,
        np.concatenate(seeds), sizes, offsets, firsts_arr, bins, bin_starts,
        float(config.learning_rate), float(config.l2), int(config.epochs), int(config.patience),
        int(config.batch_size), bool(config.output_activation), bool(config.rules.restore_best_always),
        val_mse, best_epoch, epochs_run, last_loss,
    )
    results, lo = [], 0
    for job, params in zip(jobs, trained):
        hi = lo + job.n_members
        results.append(TrainResult(params, val_mse[lo:hi].copy(), best_epoch[lo:hi].copy(),
                                   epochs_run[lo:hi].copy(), last_loss[lo:hi].copy()))
        lo = hi
    return results

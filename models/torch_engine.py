"""The torch training engine: every member of every job of a call as stacked parameters, on CPU or CUDA.

Same contract as :func:`labnet.models.engine.train_jobs` (``TrainJob`` in, ``TrainResult`` out, in
job order) and the same recipe: MSE + L2, Keras-form Adam, minibatches of ``batch_size`` in the
per-member, per-epoch order of :func:`labnet.models.engine.fill_epoch_order` (the same counter
RNG, called here for all members at once), early stopping on val MSE + L2 with patience, the
best epoch's weights restored (under ``authors_code`` only when early stopping fired), a frozen
prefix of ``frozen_layers`` layers, any output width (the MSE is the mean over rows and outputs).

Layout. The members of a call are grouped by their frozen prefix ``f`` (0 for from-scratch
ensembles, ``frozen_layers`` for transferred ones). In a group of G members each trainable layer
l is one stacked kernel ``W_l`` float32 [G, n_l, n_{l+1}] and bias ``b_l`` [G, n_{l+1}], so one
``baddbmm`` / ``bmm`` per layer runs the forward or backward pass of all G members. The frozen
layers' output on a member's rows never changes: it is computed once per call and the group
trains on those features, as the numba engine does.

Masking, not padding into wrong results. Step s of an epoch takes positions ``s*b .. s*b+b-1``
of each member's order; rows past a member's ``n_train`` are masked (zero gradient, the mean
over the member's real rows only), and a member with no row left in step s, or that has stopped
early, is inactive: its weights, Adam moments and Adam step count stay as they are. Validation
sums run over each member's own rows only (float64, like the numba engine).

The gradients are written out by hand (no autograd): SELU's derivative is taken from the
activation (``SCALE`` where a > 0, ``a + SCALE * ALPHA`` = ``SCALE * ALPHA * exp(z)`` elsewhere).
Results equal the numba engine's and :mod:`labnet.models.reference`'s to float32 rounding
(tests/test_torch_engine.py: parameters to 1e-5, best and stopping epochs exactly).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit, prange

from .config import LearnerConfig
from .engine import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, TrainJob, TrainResult, fill_epoch_order
from .mlp import SELU_ALPHA, SELU_SCALE, kernel_mask, layer_offsets

# the numba engine's float32 constants, exactly (1 - beta computed in float32 as it does)
_B1 = float(np.float32(ADAM_BETA1))
_B2 = float(np.float32(ADAM_BETA2))
_ONE_MINUS_B1 = float(np.float32(1.0) - np.float32(ADAM_BETA1))
_ONE_MINUS_B2 = float(np.float32(1.0) - np.float32(ADAM_BETA2))
_EPS = float(np.float32(ADAM_EPSILON))
_SCALE = float(np.float32(SELU_SCALE))
_SCALE_ALPHA = float(np.float32(SELU_SCALE * SELU_ALPHA))

TORCH_MODES = ("eager", "compile", "graph")
"""How a step runs: plain torch ops; ``torch.compile`` (fuses the elementwise work; compiles once
per process and layer count); one captured CUDA graph per call, replayed every step (CUDA only)."""

PREDICT_CHUNK_ROWS = 4096
"""Rows per block in :func:`predict_members` (all members of a block at once)."""


@njit(parallel=True, cache=True)
def _epoch_orders(seeds: np.ndarray, n_train: np.ndarray, epoch: int, out: np.ndarray) -> None:
    """Fill out[m, :n_train[m]] with member m's order in ``epoch`` (:func:`fill_epoch_order`)."""
    for m in prange(seeds.shape[0]):
        fill_epoch_order(seeds[m], epoch, out[m, : n_train[m]])


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) as a torch device; None or ``"auto"``: CUDA when present.

    Raises:
        ValueError: CUDA asked for where torch sees no CUDA GPU.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"learner.device = {str(device)!r}: torch sees no CUDA GPU on this machine "
                         f"(torch {torch.__version__}); use device 'cpu' or 'auto'")
    return device


@dataclass
class _Members:
    """Every member of a call, flattened (NumPy, host side); members of a job are consecutive."""

    theta: np.ndarray  # float32 [M, P]
    rows_t: list[np.ndarray]  # per member: material indices of its training rows
    y_t: list[np.ndarray]
    rows_v: list[np.ndarray]
    y_v: list[np.ndarray]
    seeds: np.ndarray  # uint64 [M]
    firsts: np.ndarray  # int64 [M]: frozen leading layers


def _flatten(jobs: Sequence[TrainJob], n_params: int) -> _Members:
    theta, rows_t, y_t, rows_v, y_v, seeds, firsts = [], [], [], [], [], [], []
    for job in jobs:
        k = job.n_members
        if job.params.shape[1] != n_params:
            raise ValueError(f"job params have {job.params.shape[1]} columns, expected {n_params}")
        if len(job.train_rows) < 1 or len(job.val_rows) < 1:
            raise ValueError("every job needs at least one training and one validation point")
        theta.append(np.asarray(job.params, dtype=np.float32))
        rows_t += [np.asarray(job.train_rows, np.int64)] * k
        y_t += [np.asarray(job.y_train, np.float32)] * k
        rows_v += [np.asarray(job.val_rows, np.int64)] * k
        y_v += [np.asarray(job.y_val, np.float32)] * k
        seeds.append(np.asarray(job.seeds, dtype=np.uint64).reshape(k))
        firsts += [int(job.frozen_layers)] * k
    return _Members(np.concatenate(theta, axis=0), rows_t, y_t, rows_v, y_v, np.concatenate(seeds),
                    np.asarray(firsts, np.int64))


def _pad(arrays: Sequence[np.ndarray], dtype, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged 1-d arrays into [len, width] (zeros after each one's end) and their lengths."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    out = np.zeros((len(arrays), width or max(1, int(lengths.max()))), dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


def _selu_(z: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.selu(z, inplace=True)


def _selu_grad(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """dLoss/dz from dLoss/da and the activation a = selu(z)."""
    return g * torch.where(a > 0, _SCALE, a + _SCALE_ALPHA)


def _adam_(p, grad, m1, m2, c1, d1, c2, d2, lr) -> None:
    """Keras-form Adam in place: m1 = c1*m1 + d1*g, m2 = c2*m2 + (d2*g)*g, p -= lr*m1 / (sqrt(m2) + eps)."""
    m1.mul_(c1).add_(d1 * grad)
    m2.mul_(c2).addcmul_(d2 * grad, grad)
    p.addcdiv_(lr * m1, torch.sqrt(m2).add_(_EPS), value=-1.0)


def _layer_views(flat: torch.Tensor, sizes: Sequence[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Kernel views [G, n_in, n_out] and bias views [G, n_out] of flat member vectors [G, P]."""
    kernels, biases = [], []
    for start, n_in, n_out in zip(layer_offsets(sizes)[:-1], sizes[:-1], sizes[1:]):
        start = int(start)
        kernels.append(flat[:, start : start + n_in * n_out].view(-1, n_in, n_out))
        biases.append(flat[:, start + n_in * n_out : start + n_in * n_out + n_out])
    return kernels, biases


class _Group:
    """The members of one call that share a frozen prefix: their stacked layers, data and state."""

    def __init__(self, members: _Members, index: np.ndarray, first: int, X: torch.Tensor,
                 sizes: Sequence[int], config: LearnerConfig, device: torch.device) -> None:
        self.index = index
        self.first = first
        self.sizes = tuple(int(s) for s in sizes)
        self.config = config
        self.device = device
        L = len(self.sizes) - 1
        self.n_layers = L
        offsets = layer_offsets(self.sizes)
        self.start = int(offsets[first])  # the trainable suffix theta[:, start:]
        # flat parameters [G, P] as in the numba engine; W_l, b_l (and their gradients) are views
        self.theta = torch.from_numpy(members.theta[index]).to(device)
        self.grad = torch.zeros_like(self.theta)
        self.W, self.b = _layer_views(self.theta, self.sizes)
        self.gW, self.gb = _layer_views(self.grad, self.sizes)
        self.kernel = torch.from_numpy(kernel_mask(self.sizes)).to(device).double()
        self.G = len(index)
        self.seeds = members.seeds[index]
        rows_t, self.nt = _pad([members.rows_t[i] for i in index], np.int64)
        y_t, _ = _pad([members.y_t[i] for i in index], np.float32)
        rows_v, nv = _pad([members.rows_v[i] for i in index], np.int64)
        y_v, _ = _pad([members.y_v[i] for i in index], np.float32)
        self.nt_max = rows_t.shape[1]
        bs = int(config.batch_size)
        self.n_steps = -(-self.nt_max // bs)
        self.rows_t = rows_t
        self.y_t = y_t
        # inputs of the first trainable layer: the descriptors, or the frozen prefix's features
        with torch.no_grad():
            rows_t_dev = torch.from_numpy(rows_t).to(device)
            rows_v_dev = torch.from_numpy(rows_v).to(device)
            if first == 0:
                self.features = X  # [N, d]; steps gather X[material index]
                self.x_val = X[rows_v_dev]  # [G, nv_max, d]
            else:
                self.features = self._prefix(X[rows_t_dev]).reshape(self.G * self.nt_max, -1)
                self.x_val = self._prefix(X[rows_v_dev])
            self.y_val = torch.from_numpy(y_v).to(device).double()
            self.val_mask = (torch.arange(rows_v.shape[1], device=device)[None, :]
                             < torch.from_numpy(nv).to(device)[:, None]).double()
            self.nv = torch.from_numpy(nv).to(device).double()
        self.train_flat = (rows_t if first == 0 else
                           np.arange(self.G, dtype=np.int64)[:, None] * self.nt_max
                           + np.arange(self.nt_max, dtype=np.int64)[None, :])

    def _prefix(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen layers' output: x [G, rows, d] -> [G, rows, n_first]."""
        for l in range(self.first):
            x = _selu_(torch.baddbmm(self.b[l][:, None, :], x, self.W[l]))
        return x

    def forward(self, x: torch.Tensor, keep: bool) -> list[torch.Tensor] | torch.Tensor:
        """Trainable layers on x [G, rows, n_first]: every layer's input and the output (keep),
        or the output [G, rows, n_outputs] only."""
        acts = [x]
        last = self.n_layers - 1
        for l in range(self.first, self.n_layers):
            z = torch.baddbmm(self.b[l][:, None, :], x, self.W[l])
            x = _selu_(z) if (l < last or self.config.output_activation) else z
            acts.append(x)
        return acts if keep else x

    def val_mse(self) -> torch.Tensor:
        """Validation MSE of every member at its current weights (mean over rows and outputs), float64 [G]."""
        pred = self.forward(self.x_val, keep=False).double()  # [G, nv_max, W]
        width = pred.shape[2]
        return (((pred - self.y_val[:, :, None]) ** 2) * self.val_mask[:, :, None]).sum(dim=(1, 2)) / (self.nv * width)

    def l2_term(self) -> torch.Tensor:
        """l2 * sum of squared kernel weights (every layer), float64 [G]."""
        return float(self.config.l2) * ((self.theta.double() ** 2) * self.kernel).sum(dim=1)

    def _step(self) -> None:
        """One optimizer step of every member from the step buffers (idx, y/scale, coefficients).

        Reads only the static buffers and mutates parameters and moments in place, so the same
        function runs eagerly, compiled, or replayed as a captured CUDA graph.
        """
        G, bs = self.G, int(self.config.batch_size)
        x = self.features.index_select(0, self.idx_buf).view(G, bs, -1)
        acts = self.forward(x, keep=True)
        y, scale = self.rows_buf[0], self.rows_buf[1]
        g = (acts[-1] - y[:, :, None]) * scale[:, :, None]  # dLoss/da of the output: 2 (pred - y) / (n * W)
        c1, d1, c2, d2, lr = (self.coef_buf[i][:, None, None] for i in range(5))
        last = self.n_layers - 1
        for l in reversed(range(self.first, self.n_layers)):
            a_out, a_in = acts[l - self.first + 1], acts[l - self.first]
            dz = _selu_grad(g, a_out) if (l < last or self.config.output_activation) else g
            if l > self.first:
                g = torch.bmm(dz, self.W[l].transpose(1, 2))
            torch.baddbmm(self.W[l], a_in.transpose(1, 2), dz, beta=self.c_l2, out=self.gW[l])  # + 2*l2*W
            torch.sum(dz, dim=1, out=self.gb[l])
        # Keras-form Adam on the whole trainable suffix at once
        _adam_(self.theta[:, self.start :], self.grad[:, self.start :], self.m1, self.m2, c1[:, :, 0], d1[:, :, 0],
               c2[:, :, 0], d2[:, :, 0], lr[:, :, 0])

    def _stepper(self, mode: str):
        """A callable doing one step from the buffers: eager, ``torch.compile``d, or a CUDA graph."""
        if mode == "eager":
            return self._step
        if mode == "compile":
            return torch.compile(self._step, dynamic=True)
        if mode == "graph":
            if self.device.type != "cuda":
                raise ValueError("torch engine mode 'graph' (CUDA graphs) needs device 'cuda'")
            identity = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0], device=self.device)[:, None].expand(5, self.G)
            self.coef_buf.copy_(identity)  # warm-up steps with an identity update change nothing
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._step()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._step()
            return graph.replay
        raise ValueError(f"torch engine mode {mode!r}: expected one of {', '.join(TORCH_MODES)}")

    def train(self, mode: str = "eager") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Train every member; returns (params [G, P], val_mse [G], best_epoch [G], epochs_run [G],
        last_loss [G]: val MSE + L2 of each member's last epoch)."""
        cfg, dev, G = self.config, self.device, self.G
        bs, S = int(cfg.batch_size), self.n_steps
        self.m1 = torch.zeros((G, self.theta.shape[1] - self.start), dtype=torch.float32, device=dev)
        self.m2 = torch.zeros_like(self.m1)
        self.c_l2 = float(np.float32(2.0 * cfg.l2))
        best = self.theta.clone()
        lr32 = float(np.float32(cfg.learning_rate))
        best_val = torch.full((G,), float("inf"), dtype=torch.float64, device=dev)
        best_epoch = torch.zeros(G, dtype=torch.int64, device=dev)
        wait = torch.zeros(G, dtype=torch.int64, device=dev)
        epochs_run = torch.zeros(G, dtype=torch.int64, device=dev)
        last_loss = torch.full((G,), float("inf"), dtype=torch.float64, device=dev)
        running = torch.ones(G, dtype=torch.bool, device=dev)
        step = torch.zeros(G, dtype=torch.float64, device=dev)  # Adam steps taken per member
        n_cols = S * bs
        order = np.zeros((G, n_cols), np.int64)
        pos_ok = np.arange(n_cols)[None, :] < self.nt[:, None]  # [G, n_cols]: a real row of the member
        n_in_step = np.minimum(np.maximum(self.nt[:, None] - bs * np.arange(S)[None, :], 0), bs).T  # [S, G]
        has_rows = torch.from_numpy(n_in_step > 0).to(dev)
        width = self.sizes[-1]
        scale = np.where(pos_ok.reshape(G, S, bs).transpose(1, 0, 2),
                         np.float32(2.0) / (np.maximum(n_in_step, 1) * width)[:, :, None].astype(np.float32),
                         np.float32(0.0))
        scale_dev = torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32)).to(dev)  # [S, G, bs]
        # the step buffers _step reads: feature-row indices, (y, scale), (c1, d1, c2, d2, lr)
        self.idx_buf = torch.zeros(G * bs, dtype=torch.int64, device=dev)
        self.rows_buf = torch.zeros((2, G, bs), dtype=torch.float32, device=dev)
        self.coef_buf = torch.zeros((5, G), dtype=torch.float32, device=dev)
        run_step = self._stepper(mode)
        members = np.arange(G)[:, None]
        for epoch in range(int(cfg.epochs)):
            _epoch_orders(self.seeds, self.nt, epoch, order)
            order[~pos_ok] = 0
            flat = self.train_flat[members, order].reshape(G, S, bs).transpose(1, 0, 2)
            idx_dev = torch.from_numpy(np.ascontiguousarray(flat).reshape(S, G * bs)).to(dev)
            y = self.y_t[members, order].reshape(G, S, bs).transpose(1, 0, 2)
            y_dev = torch.from_numpy(np.ascontiguousarray(y)).to(dev)
            # per-step coefficients; an inactive member's update is the identity (m*1 + g*0, W - 0)
            on = running[None, :] & has_rows  # [S, G]
            steps = step[None, :] + torch.cumsum(on.double(), dim=0)
            step = steps[-1]
            corr = (torch.sqrt(1.0 - ADAM_BETA2**steps) / (1.0 - ADAM_BETA1 ** steps.clamp(min=1.0))).float()
            coef = torch.stack([torch.where(on, _B1, 1.0), torch.where(on, _ONE_MINUS_B1, 0.0),
                                torch.where(on, _B2, 1.0), torch.where(on, _ONE_MINUS_B2, 0.0),
                                torch.where(on, lr32 * corr, 0.0)], dim=1).float()  # [S, 5, G]
            for s in range(S):
                self.idx_buf.copy_(idx_dev[s])
                self.rows_buf[0].copy_(y_dev[s])
                self.rows_buf[1].copy_(scale_dev[s])
                self.coef_buf.copy_(coef[s])
                run_step()
            # Keras EarlyStopping on val_loss (MSE + regularization), min_delta 0
            monitor = self.val_mse() + self.l2_term()
            last_loss = torch.where(running, monitor, last_loss)
            epochs_run = torch.where(running, epoch + 1, epochs_run)
            wait = torch.where(running, wait + 1, wait)
            improved = running & (monitor < best_val)
            best_val = torch.where(improved, monitor, best_val)
            best_epoch = torch.where(improved, epoch, best_epoch)
            wait = torch.where(improved, 0, wait)
            best.copy_(torch.where(improved[:, None], self.theta, best))
            if epoch > 0:
                running = running & ~(wait >= int(cfg.patience))
            if not bool(running.any()):
                break
        # the best weights: always (paper_text), or where early stopping fired (authors_code, Keras)
        restore = torch.ones_like(running) if cfg.rules.restore_best_always else ~running
        self.theta.copy_(torch.where(restore[:, None], best, self.theta))
        return (self.theta.cpu().numpy(), self.val_mse().cpu().numpy(), best_epoch.cpu().numpy(),
                epochs_run.cpu().numpy(), last_loss.cpu().numpy())


def train_jobs_torch(
    jobs: Sequence[TrainJob], X: np.ndarray, layer_sizes: Sequence[int], config: LearnerConfig,
    device: str | torch.device | None = None, mode: str | None = None,
) -> list[TrainResult]:
    """Train all members of all ``jobs`` as stacked parameters on ``device``; results in job order.

    X: float32 [N, d] descriptor matrix that every job's row indices point into.
    device: "cpu", "cuda" ("cuda:N"); None or "auto": CUDA when torch sees a GPU.
    mode: how each optimizer step runs (:data:`TORCH_MODES`); None: ``$LABNET_TORCH_MODE``, else "eager".
    """
    mode = mode or os.environ.get("LABNET_TORCH_MODE", "eager")
    if mode not in TORCH_MODES:
        raise ValueError(f"torch engine mode {mode!r}: expected one of {', '.join(TORCH_MODES)}")
    if not jobs:
        return []
    sizes = tuple(int(s) for s in layer_sizes)
    if X.shape[1] != sizes[0]:
        raise ValueError(f"descriptor width {X.shape[1]} does not match the network input {sizes[0]}")
    dev = resolve_device(device)
    if dev.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        raise ValueError("torch.backends.cuda.matmul.allow_tf32 is on: TF32 matmuls round to 10 bits and the "
                         "torch engine would no longer match the numba engine; set it to False "
                         "(torch.set_float32_matmul_precision('highest'))")
    members = _flatten(jobs, int(layer_offsets(sizes)[-1]))
    X_dev = torch.tensor(np.asarray(X, dtype=np.float32)).to(dev)  # a copy: X may be read-only
    n_total = members.theta.shape[0]
    params = np.empty_like(members.theta)
    val_mse = np.zeros(n_total, np.float64)
    best_epoch = np.zeros(n_total, np.int64)
    epochs_run = np.zeros(n_total, np.int64)
    last_loss = np.zeros(n_total, np.float64)
    with torch.no_grad():
        for first in np.unique(members.firsts):
            index = np.flatnonzero(members.firsts == first)
            group = _Group(members, index, int(first), X_dev, sizes, config, dev)
            params[index], val_mse[index], best_epoch[index], epochs_run[index], last_loss[index] = group.train(mode)
    results, lo = [], 0
    for job in jobs:
        hi = lo + job.n_members
        results.append(TrainResult(params[lo:hi].copy(), val_mse[lo:hi].copy(), best_epoch[lo:hi].copy(),
                                   epochs_run[lo:hi].copy(), last_loss[lo:hi].copy()))
        lo = hi
    return results


def predict_members(
    params: np.ndarray, layer_sizes: Sequence[int], X: np.ndarray, output_activation: bool = True,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Predictions of many members (of one or many ensembles) on every row, batched like training.

    params float32 [M, P] (stack the ensembles of all candidates), X [N, d] -> float32 [M, N]: each
    member's first output neuron (the one predictions read, docs/algorithm.md → The two protocols).
    Every layer of every member is one ``baddbmm`` per block of :data:`PREDICT_CHUNK_ROWS` rows.
    Equal to :func:`labnet.models.mlp.predict_ensemble` to float32 rounding (tested).
    """
    sizes = tuple(int(s) for s in layer_sizes)
    dev = resolve_device(device)
    params = np.ascontiguousarray(params, dtype=np.float32)
    if params.ndim != 2 or params.shape[1] != int(layer_offsets(sizes)[-1]):
        raise ValueError(f"params must be [members, {int(layer_offsets(sizes)[-1])}], got shape {params.shape}")
    offsets = layer_offsets(sizes)
    theta = torch.from_numpy(params).to(dev)
    M = theta.shape[0]
    W, b = [], []
    for l in range(len(sizes) - 1):
        n_in, n_out, start = sizes[l], sizes[l + 1], int(offsets[l])
        W.append(theta[:, start : start + n_in * n_out].reshape(M, n_in, n_out))
        b.append(theta[:, start + n_in * n_out : start + n_in * n_out + n_out][:, None, :])
    x_all = torch.tensor(np.asarray(X, dtype=np.float32)).to(dev)
    out = torch.empty((M, X.shape[0]), dtype=torch.float32, device=dev)
    last = len(sizes) - 2
    with torch.inference_mode():
        for start in range(0, X.shape[0], PREDICT_CHUNK_ROWS):
            x = x_all[start : start + PREDICT_CHUNK_ROWS]
            h = x[None].expand(M, -1, -1)
            for l in range(len(sizes) - 1):
                h = torch.baddbmm(b[l], h, W[l])
                if l < last or output_activation:
                    _selu_(h)
            out[:, start : start + x.shape[0]] = h[:, :, 0]
    return out.cpu().numpy()

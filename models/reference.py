"""The faithful reference trainer: one member at a time, a plain PyTorch loop with Keras semantics.

This is what the batched engine (:mod:`labnet.models.engine`) must reproduce. It is slow on purpose:
a ``torch.nn.Module`` per member, autograd for the gradients, one minibatch at a time. Tests
compare the two to float32 tolerance and the benchmark measures the engine's speed against it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .config import LearnerConfig
from .engine import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, TrainJob, TrainResult, epoch_order
from .mlp import MLP


def _l2_term(model: MLP, l2: float) -> torch.Tensor:
    return l2 * sum((kernel**2).sum() for kernel in model.kernels)


def train_member_reference(
    flat_params: np.ndarray,
    X: np.ndarray,
    job: TrainJob,
    seed: int,
    layer_sizes: Sequence[int],
    config: LearnerConfig,
) -> tuple[np.ndarray, float, int, int]:
    """Train one member; returns (params [P], val_mse at the kept weights, best_epoch, epochs_run, last_loss).

    The loss is the MSE over rows and output neurons (each against the row's target) plus L2;
    ``last_loss`` is the last epoch's validation MSE + L2. The best epoch's weights are kept always
    (``paper_text``) or only when early stopping fires (``authors_code``, Keras).
    """
    model = MLP.from_flat(flat_params, layer_sizes, config.output_activation)
    trainable = [t for i, pair in enumerate(zip(model.kernels, model.biases)) if i >= job.frozen_layers for t in pair]
    for i, (kernel, bias) in enumerate(zip(model.kernels, model.biases)):
        kernel.requires_grad_(i >= job.frozen_layers)
        bias.requires_grad_(i >= job.frozen_layers)
    m1 = [torch.zeros_like(t) for t in trainable]
    m2 = [torch.zeros_like(t) for t in trainable]
    x_train = torch.from_numpy(np.asarray(X[job.train_rows], np.float32))
    y_train = torch.from_numpy(np.asarray(job.y_train, np.float32))
    x_val = torch.from_numpy(np.asarray(X[job.val_rows], np.float32))
    y_val = torch.from_numpy(np.asarray(job.y_val, np.float32))

    def val_mse() -> float:
        with torch.no_grad():
            err = model.outputs(x_val).double() - y_val.double()[:, None]
            return float((err**2).mean())

    best_val, best_epoch, wait, step, epochs_run, last_loss, stopped = math.inf, 0, 0, 0, 0, math.inf, False
    best_state = model.to_flat()
    n_train = len(job.train_rows)
    for epoch in range(config.epochs):
        order = torch.from_numpy(epoch_order(seed, epoch, n_train))
        for lo in range(0, n_train, config.batch_size):
            idx = order[lo : lo + config.batch_size]
            loss = ((model.outputs(x_train[idx]) - y_train[idx][:, None]) ** 2).mean() + _l2_term(model, config.l2)
            grads = torch.autograd.grad(loss, trainable)
            step += 1
            lr_t = np.float32(config.learning_rate) * np.float32(
                math.sqrt(1.0 - ADAM_BETA2**step) / (1.0 - ADAM_BETA1**step)
            )
            with torch.no_grad():
                for t, g, a, b in zip(trainable, grads, m1, m2):
                    a.mul_(ADAM_BETA1).add_((1 - ADAM_BETA1) * g)
                    b.mul_(ADAM_BETA2).add_((1 - ADAM_BETA2) * g * g)
                    t.sub_(float(lr_t) * a / (b.sqrt() + ADAM_EPSILON))
        epochs_run = epoch + 1
        with torch.no_grad():
            monitor = val_mse() + float(_l2_term(model, config.l2).double())
        last_loss = monitor
        wait += 1
        if monitor < best_val:
            best_val, best_epoch, wait = monitor, epoch, 0
            best_state = model.to_flat()
        if wait >= config.patience and epoch > 0:
            stopped = True
            break
    if config.rules.restore_best_always or stopped:
        model.load_flat(best_state)
    return model.to_flat(), val_mse(), best_epoch, epochs_run, last_loss


def train_jobs_reference(
    jobs: Sequence[TrainJob], X: np.ndarray, layer_sizes: Sequence[int], config: LearnerConfig
) -> list[TrainResult]:
    """Same contract as :func:`labnet.models.engine.train_jobs`, one member after another."""
    results = []
    for job in jobs:
        outs = [
            train_member_reference(job.params[k], X, job, int(job.seeds[k]), layer_sizes, config)
            for k in range(job.n_members)
        ]
        results.append(
            TrainResult(
                params=np.stack([o[0] for o in outs]),
                val_mse=np.array([o[1] for o in outs]),
                best_epoch=np.array([o[2] for o in outs]),
                epochs_run=np.array([o[3] for o in outs]),
                last_loss=np.array([o[4] for o in outs]),
            )
        )
    return results

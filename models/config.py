"""Learner settings: the paper's hyperparameters as one validated dataclass."""
from __future__ import annotations

from dataclasses import dataclass

from .choices import DEFAULT_LEARNER_PROTOCOL, LEARNER_PROTOCOLS

ENGINES = ("auto", "numba", "torch")
"""Training engines a learner may name: ``auto`` = torch on CUDA when a GPU is present, else numba."""
DEVICES = ("auto", "cpu", "cuda")
"""Devices a learner may name: ``auto`` = CUDA for the torch engine when a GPU is present, else the CPU."""


@dataclass(frozen=True)
class ProtocolRules:
    """What a learner protocol decides (docs/algorithm.md → The two protocols).

    Attributes:
        test_fraction: share of a lab's observations held out first and never used
            (``int(test_fraction * n)`` points, rounded down); 0 holds out nothing.
        keras_validation_split: the validation part is the last ``n_rest - floor(n_rest * (1 -
            validation_fraction))`` of the rest, as Keras' ``validation_split`` cuts it; False: ceil(fraction · n) >= 1.
        select_on_last_epoch: a candidate's loss (selection, transfer log, snapshots) is the mean over
            members of the last epoch's validation MSE plus the L2 term; False: the mean validation MSE at
            the kept weights, without L2.
        restore_best_always: the best epoch's weights are kept whatever happens; False: only when
            early stopping fires (Keras ``restore_best_weights``), else the last epoch's.
        output_width: output neurons per member, all trained on the lab's one target (the loss is the
            mean over rows and outputs); predictions (mu, sigma) read the first.
        isolated_single: the isolated control trains one from-scratch ensemble; False: ``1 + in-degree``.
        event_order: within a tick the acting labs act one after another in the authors' event
            order (faster labs first), each seeing the models published before it in that tick; a
            lab's first action then trains its own model only. False: synchronous ticks.
    """

    test_fraction: float
    keras_validation_split: bool
    select_on_last_epoch: bool
    restore_best_always: bool
    output_width: int
    isolated_single: bool
    event_order: bool


PROTOCOL_RULES: dict[str, ProtocolRules] = {
    "paper_text": ProtocolRules(
        test_fraction=0.0, keras_validation_split=False, select_on_last_epoch=False, restore_best_always=True,
        output_width=1, isolated_single=False, event_order=False,
    ),
    "authors_code": ProtocolRules(
        test_fraction=0.2, keras_validation_split=True, select_on_last_epoch=True, restore_best_always=False,
        output_width=2, isolated_single=True, event_order=True,
    ),
}
"""Protocol name (:data:`labnet.models.choices.LEARNER_PROTOCOLS`) -> its rules."""


@dataclass(frozen=True)
class LearnerConfig:
    """How every lab trains its ensembles (defaults = paper 1, docs/algorithm.md → the ensemble member and its training).

    Attributes:
        n_members: K, members per ensemble.
        hidden_layers: widths of the hidden layers; the output layer has ``rules.output_width``
            neurons (1 under ``paper_text``).
        epochs: maximum number of epochs.
        batch_size: minibatch size (the last minibatch of an epoch may be smaller).
        learning_rate: Adam step size.
        l2: Keras-style L2 factor: loss += l2 * sum of squared kernel weights (biases excluded).
        patience: early-stopping patience in epochs on validation loss (MSE + L2); the best weights
            are restored always (``paper_text``) or when it fires (``authors_code``).
        validation_fraction: share of a lab's data held out for validation (ceil, at least 1 point).
        frozen_layers: hidden layers copied and frozen when a neighbour's model is transferred.
        ucb_alpha: exploration weight of the UCB acquisition (mu + alpha * sigma).
        output_activation: the authors' code applies SELU on the output too.
        full_finetune_lr: Adam step size of the ``finetune_full`` transfer mode (every layer
            trainable); None means ``learning_rate / 10``.
        rf_trees: trees of the random-forest head of the ``featurizer_rf`` transfer mode.
        engine: what trains the ensembles (:data:`ENGINES`): ``numba`` (the fused CPU kernel of
            :mod:`labnet.models.engine`), ``torch`` (stacked members on CPU or CUDA,
            :mod:`labnet.models.torch_engine`) or ``auto``.
        device: where the torch engine runs (:data:`DEVICES`); numba runs on the CPU only.
        protocol: ``paper_text`` (the paper's text, default) or ``authors_code`` (the authors'
            released code where the text is silent or differs); :attr:`rules` is what it decides.

    ``auto`` is resolved when the config is made (:func:`labnet.models.devices.resolve_engine`):
    ``engine`` and ``device`` always name what trains, so a resolved scenario records what ran.
    Both engines compute the same results to float32 rounding (tests/test_torch_engine.py).
    """

    n_members: int = 10
    hidden_layers: tuple[int, ...] = (100, 100, 10)
    epochs: int = 100
    batch_size: int = 8
    learning_rate: float = 5e-4
    l2: float = 1e-3
    patience: int = 100
    validation_fraction: float = 0.2
    frozen_layers: int = 2
    ucb_alpha: float = 3.0
    output_activation: bool = True
    full_finetune_lr: float | None = None
    rf_trees: int = 100
    engine: str = "auto"
    device: str = "auto"
    protocol: str = DEFAULT_LEARNER_PROTOCOL

    @property
    def rules(self) -> ProtocolRules:
        """What :attr:`protocol` decides (:data:`PROTOCOL_RULES`)."""
        return PROTOCOL_RULES[self.protocol]

    @property
    def full_finetune_learning_rate(self) -> float:
        """The step size ``finetune_full`` uses: ``full_finetune_lr``, or ``learning_rate / 10`` when unset."""
        return self.learning_rate / 10.0 if self.full_finetune_lr is None else float(self.full_finetune_lr)

    def __post_init__(self) -> None:
        checks = {
            "n_members": self.n_members >= 2,
            "hidden_layers": len(self.hidden_layers) >= 1 and all(int(w) >= 1 for w in self.hidden_layers),
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "l2": self.l2 >= 0,
            "patience": self.patience >= 1,
            "validation_fraction": 0 < self.validation_fraction < 1,
            "frozen_layers": 0 <= self.frozen_layers <= len(self.hidden_layers),
            "ucb_alpha": self.ucb_alpha >= 0,
            "full_finetune_lr": self.full_finetune_lr is None or self.full_finetune_lr > 0,
            "rf_trees": self.rf_trees >= 2,
            "engine": self.engine in ENGINES,
            "device": self.device in DEVICES and not (self.engine == "numba" and self.device == "cuda"),
            "protocol": self.protocol in LEARNER_PROTOCOLS,
        }
        expected = {
            "n_members": "an integer >= 2 (sigma needs two members)",
            "hidden_layers": "a non-empty list of positive widths",
            "epochs": "an integer >= 1",
            "batch_size": "an integer >= 1",
            "learning_rate": "a positive number",
            "l2": "a number >= 0",
            "patience": "an integer >= 1",
            "validation_fraction": "a number strictly between 0 and 1",
            "frozen_layers": f"an integer between 0 and the number of hidden layers ({len(self.hidden_layers)})",
            "ucb_alpha": "a number >= 0",
            "full_finetune_lr": "a positive number, or null for learning_rate / 10",
            "rf_trees": "an integer >= 2 (sigma is the spread over the trees)",
            "engine": f"one of {', '.join(ENGINES)}",
            "device": (f"one of {', '.join(DEVICES)}" if self.device not in DEVICES else
                       "'cpu' or 'auto' with engine 'numba' (it runs on the CPU only); "
                       "use engine 'torch' or 'auto' for 'cuda'"),
            "protocol": f"one of {', '.join(LEARNER_PROTOCOLS)} (docs/algorithm.md → The two protocols)",
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"learner.{name} = {getattr(self, name)!r}: expected {expected[name]}")
        object.__setattr__(self, "hidden_layers", tuple(int(w) for w in self.hidden_layers))
        if "auto" in (self.engine, self.device):
            from .devices import resolve_engine  # imports torch only where an NVIDIA device exists

            engine, device = resolve_engine(self.engine, self.device)
            object.__setattr__(self, "engine", engine)
            object.__setattr__(self, "device", device)

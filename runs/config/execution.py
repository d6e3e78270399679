"""Where a network's ticks run: the scenario's ``execution`` section.

::

    execution:
      backend: ray          # local (default) | ray
      ray_address: auto     # join this cluster (e.g. after `ray start --head`); omit: start a local Ray
      ray_workers: 8        # CPUs of a local Ray instance (omit: every core); not with ray_address

``backend: local`` trains and predicts in the run's own process(es). ``backend: ray`` shards the
train and predict phases of every tick of every network over a Ray cluster
(:mod:`labnet.runs.execution.ray_tick`). The tables are the same on both: the backend is where
the work runs, not what is computed. The command line's ``--backend`` / ``--ray-address`` /
``--ray-workers`` (``labnet run``, ``reproduce``, ``resume``; ``--tick-backend`` on ``labnet sweep``,
whose ``--backend`` says where the sweep's points run) override it, and a run directory's
``scenario.yaml`` records what ran.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from labnet.runs.config.errors import StrictModel
from labnet.runs.config.tick_backends import TickBackend


class Execution(StrictModel):
    """Where the train and predict phases of a tick run (module docstring).

    Attributes:
        backend: ``local`` or ``ray``.
        ray_address: the Ray cluster to join (``auto``, ``ray://host:10001``, ``host:6379``); None
            starts a local Ray instance for the run (and shuts it down after).
        ray_workers: CPUs of that local instance (None: every core).
    """

    backend: TickBackend = "local"
    ray_address: str | None = Field(None, min_length=1)
    ray_workers: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ray_fields_need_ray(self) -> "Execution":
        if self.backend != "ray":
            for name in ("ray_address", "ray_workers"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is only used with backend 'ray' (backend is {self.backend!r})")
        if self.ray_address is not None and self.ray_workers is not None:
            raise ValueError("ray_workers sizes a local Ray instance; a joined cluster (ray_address) has its own CPUs")
        return self

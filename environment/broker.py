"""The model broker: delivers published model snapshots along the topology's edges.

Timing is synchronous: a snapshot published at tick t is usable by an out-neighbour p
of its owner q from tick ``t + 1 + latency_ticks(q → p)`` on. At each query the broker
hands out, per in-neighbour, the latest snapshot that has arrived.

With an ``event_order`` (the ``authors_code`` protocol: labs act one after another within a
tick), a lab q that comes before p in that order reaches p one tick earlier: from tick
``t + latency_ticks(q → p)`` on, i.e. at tick t itself without latency, since q acted first.
"""
from __future__ import annotations

import bisect
import numbers
from collections.abc import Sequence
from typing import Protocol

from .topology import Topology


class PublishedSnapshot(Protocol):
    """What the broker needs of a snapshot (e.g. :class:`labnet.models.snapshot.ModelSnapshot`; the world does not import models)."""

    @property
    def owner(self) -> str: ...

    @property
    def tick(self) -> int: ...


class ModelBroker:
    """Stores each lab's published snapshots and answers "what has arrived for lab p at tick t".

    Memory: per source lab q only the snapshots that a future query can still return are
    kept: every snapshot newer than ``T_q - 1 - L_q`` plus the newest one at or before it,
    where ``T_q`` is q's latest publication tick and ``L_q`` its largest outgoing latency.
    With one publication per tick that is at most ``L_q + 2`` snapshots. This assumes the
    simulation clock never runs backwards: queries are for ticks >= the latest publication
    tick. A query for an earlier tick whose answer may have been pruned raises
    ``ValueError`` rather than returning a wrong snapshot.

    Args:
        topology: the network; edge q → p lets p receive q's snapshots.
        event_order: the labs in the order they act within a tick (every topology lab once), or
            None for synchronous ticks.
    """

    def __init__(self, topology: Topology, event_order: Sequence[str] | None = None) -> None:
        self.topology = topology
        self._rank: dict[str, int] | None = None
        if event_order is not None:
            if sorted(event_order) != sorted(topology.names):
                raise ValueError(f"event_order {list(event_order)} must list every lab of the topology once "
                                 f"({list(topology.names)})")
            self._rank = {lab: i for i, lab in enumerate(event_order)}
        self._history: dict[str, list[PublishedSnapshot]] = {lab: [] for lab in topology.names}
        self._ticks: dict[str, list[int]] = {lab: [] for lab in topology.names}
        self._pruned_through: dict[str, int | None] = {lab: None for lab in topology.names}
        """Per source, the tick of the newest snapshot ever pruned (None: nothing pruned)."""
        self._max_out_latency = {
            lab: max((latency for _, latency in topology.out_neighbors(lab)), default=0)
            for lab in topology.names
        }

    def publish(self, lab: str, snapshot: PublishedSnapshot) -> None:
        """Make ``snapshot`` available to ``lab``'s out-neighbours (after the edge latency).

        A second publication at the same tick replaces the first.

        Raises:
            ValueError: ``lab`` not in the topology; ``snapshot.owner != lab``; ``snapshot.tick``
                not an integer or older than ``lab``'s last publication.
        """
        if lab not in self._history:
            raise ValueError(f"publish: unknown lab {lab!r}; the topology's labs are {list(self.topology.names)}")
        owner = getattr(snapshot, "owner", None)
        if owner != lab:
            raise ValueError(f"publish: lab {lab!r} cannot publish a snapshot owned by {owner!r}")
        tick = getattr(snapshot, "tick", None)
        if isinstance(tick, bool) or not isinstance(tick, numbers.Integral):
            raise ValueError(f"publish: lab {lab!r}: snapshot.tick = {tick!r}: expected an integer")
        tick = int(tick)
        history, ticks = self._history[lab], self._ticks[lab]
        if ticks and tick < ticks[-1]:
            raise ValueError(
                f"publish: lab {lab!r}: snapshot.tick = {tick} is older than its last publication at tick {ticks[-1]}"
            )
        if ticks and tick == ticks[-1]:
            history[-1] = snapshot
        else:
            history.append(snapshot)
            ticks.append(tick)
        self._prune(lab)

    def _prune(self, lab: str) -> None:
        """Drop snapshots that no query at a tick >= the latest publication can return."""
        ticks = self._ticks[lab]
        oldest_useful_tick = ticks[-1] - 1 - self._max_out_latency[lab]
        # Index of the newest snapshot with tick <= oldest_useful_tick (it may still be returned).
        anchor = bisect.bisect_right(ticks, oldest_useful_tick) - 1
        if anchor > 0:
            self._pruned_through[lab] = ticks[anchor - 1]
            del self._history[lab][:anchor]
            del ticks[:anchor]

    def available_for(self, lab: str, tick: int) -> dict[str, PublishedSnapshot]:
        """The latest arrived snapshot of each in-neighbour of ``lab`` at ``tick``.

        Returns:
            {source lab: snapshot}, in topology order; in-neighbours whose first snapshot
            has not arrived yet are omitted. A snapshot s of q has arrived at ``tick`` when
            ``s.tick + 1 + latency(q → lab) <= tick``, or, when q comes before ``lab`` in the
            event order, ``s.tick + latency(q → lab) <= tick``.

        Raises:
            ValueError: unknown lab, or a tick so far in the past that its answer was pruned.
        """
        if lab not in self._history:
            raise ValueError(f"available_for: unknown lab {lab!r}; the topology's labs are {list(self.topology.names)}")
        arrived: dict[str, PublishedSnapshot] = {}
        for source, latency in self.topology.in_neighbors(lab):
            newest_tick = tick - 1 - latency
            if self._rank is not None and self._rank[source] < self._rank[lab]:
                newest_tick += 1  # source acts before lab within a tick
            ticks = self._ticks[source]
            position = bisect.bisect_right(ticks, newest_tick) - 1
            pruned_through = self._pruned_through[source]
            if position < 0 and pruned_through is not None:
                raise ValueError(
                    f"available_for({lab!r}, {tick}): the answer for source {source!r} was pruned "
                    f"(snapshots up to tick {pruned_through} are gone); query ticks must not run backwards"
                )
            if position >= 0:
                arrived[source] = self._history[source][position]
        return arrived

    def latest(self, lab: str) -> PublishedSnapshot | None:
        """``lab``'s most recent publication (arrived anywhere or not), or None."""
        history = self._history.get(lab)
        if history is None:
            raise ValueError(f"latest: unknown lab {lab!r}")
        return history[-1] if history else None

    def stored(self, lab: str) -> tuple[PublishedSnapshot, ...]:
        """The snapshots of ``lab`` currently kept in memory, oldest first."""
        history = self._history.get(lab)
        if history is None:
            raise ValueError(f"stored: unknown lab {lab!r}")
        return tuple(history)

"""The transfer-event log: one row per candidate transfer-learned model a lab built."""
from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import NamedTuple

import networkx as nx
import pandas as pd

COLUMNS: tuple[str, ...] = (
    "tick",
    "source",
    "target",
    "source_property",
    "target_property",
    "validation_loss",
    "local_validation_loss",
    "selected",
)
"""Columns of :meth:`TransferLog.to_frame`, in order."""


class TransferEvent(NamedTuple):
    """One candidate TLM built by ``target`` from ``source``'s published ensemble.

    Attributes:
        tick: tick at which the target lab built it.
        source: lab whose model was transferred.
        target: lab that fine-tuned it on its own data.
        source_property, target_property: the properties the two labs study (None if unknown).
        validation_loss: mean validation MSE of the TLM (target's standardized units).
        local_validation_loss: same for the target's from-scratch ensemble at that tick.
        selected: True when the TLM was the best-performing model (BPM).
    """

    tick: int
    source: str
    target: str
    source_property: str | None
    target_property: str | None
    validation_loss: float
    local_validation_loss: float
    selected: bool


class TransferLog:
    """Append-only record of transfer events, with a frame view and the transfer graph."""

    def __init__(self) -> None:
        self._events: list[TransferEvent] = []

    def record(
        self,
        tick: int,
        source: str,
        target: str,
        validation_loss: float,
        local_validation_loss: float,
        selected: bool,
        source_property: str | None = None,
        target_property: str | None = None,
    ) -> None:
        """Append one event (see :class:`TransferEvent` for the fields and units).

        Raises:
            ValueError: non-integer tick or non-numeric losses.
        """
        if isinstance(tick, bool) or not isinstance(tick, numbers.Integral):
            raise ValueError(f"tick = {tick!r}: expected an integer")
        for field, value in (("validation_loss", validation_loss), ("local_validation_loss", local_validation_loss)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{field} = {value!r}: expected a number")
        self._events.append(
            TransferEvent(
                tick=int(tick),
                source=str(source),
                target=str(target),
                source_property=source_property,
                target_property=target_property,
                validation_loss=float(validation_loss),
                local_validation_loss=float(local_validation_loss),
                selected=bool(selected),
            )
        )

    def __len__(self) -> int:
        return len(self._events)

    def events(self) -> tuple[TransferEvent, ...]:
        """All recorded events, in recording order."""
        return tuple(self._events)

    def to_frame(self) -> pd.DataFrame:
        """One row per event: :func:`transfer_frame` of :meth:`events`."""
        return transfer_frame(self._events)

    def transfer_graph(self, nodes: Iterable[str] = ()) -> nx.DiGraph:
        """Aggregation of the log: edge source → target with ``weight`` = times the source's model
        was selected as the target's BPM and ``attempts`` = TLMs built (edges with 0 selections
        but >= 1 attempt are included). See :func:`transfer_graph_from_frame`.

        Args:
            nodes: extra nodes to include (e.g. every lab of the topology, so isolated labs show).
        """
        return transfer_graph_from_frame(self.to_frame(), nodes)


def transfer_graph_from_frame(events: pd.DataFrame, nodes: Iterable[str] = ()) -> nx.DiGraph:
    """The transfer graph of a table of transfer events (e.g. :meth:`TransferLog.to_frame`, or rows
    of a run's ``transfers.parquet``, possibly pooled over trials).

    Edge source → target with ``weight`` = times the source's model was selected as the target's
    BPM (int) and ``attempts`` = transferred candidate models built (int, >= 1: edges with no
    selection are included). Edges appear in order of their first event.

    Args:
        events: at least the columns ``source``, ``target``, ``selected`` (bool or 0/1).
        nodes: nodes added first, in this order (e.g. every lab, so labs without transfers show).

    Raises:
        ValueError: a required column is missing.
    """
    missing = [c for c in ("source", "target", "selected") if c not in events.columns]
    if missing:
        raise ValueError(f"transfer events: missing column(s) {', '.join(missing)}")
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    if events.empty:
        return graph
    frame = pd.DataFrame(
        {
            "source": events["source"].astype(str).to_numpy(),
            "target": events["target"].astype(str).to_numpy(),
            "selected": events["selected"].astype(bool).astype("int64").to_numpy(),
        }
    )
    totals = frame.groupby(["source", "target"], sort=False)["selected"].agg(["size", "sum"])
    for (source, target), attempts, selected in zip(totals.index, totals["size"], totals["sum"]):
        graph.add_edge(source, target, attempts=int(attempts), weight=int(selected))
    return graph


def transfer_frame(events: Iterable[TransferEvent]) -> pd.DataFrame:
    """One row per event, in the given order; columns :data:`COLUMNS` (tick int64, losses
    float64, selected bool, names and properties as objects). Empty frame with these columns
    when there are no events."""
    frame = pd.DataFrame.from_records(list(events), columns=list(COLUMNS))
    return frame.astype(
        {
            "tick": "int64",
            "source": object,
            "target": object,
            "source_property": object,
            "target_property": object,
            "validation_loss": "float64",
            "local_validation_loss": "float64",
            "selected": "bool",
        }
    )

"""What a store and a mutation's document source are to the rest of godo, for type
checkers: kept apart from base.py, since `typing` would be a tenth of a replay's
start-up (see base.py for the contract)."""

from __future__ import annotations

from typing import Protocol

from .base import Mutation


class Source(Protocol):
    """What a mutation's document can be instead of a dict: its maker."""

    def document(self) -> dict:
        """The document as it stands now."""


class Store(Protocol):
    """A store as the tracker and a run use it. The tracker is the one producer:
    it alone calls `write`; a run starts, flushes, settles and closes it."""

    host: str
    # Pids of a local database server godo started: a live run must not audit them.
    server_pids: tuple[int, ...]

    def write(self, mutations: list[Mutation], *, dense: bool = False) -> None:
        """Queue a batch. `dense`: the live stream is under pressure now, so the
        store holds its own work back for a while (mutations may be empty)."""

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False on time-out."""

    def settle(self, idle: float = 5.0, timeout: float | None = None) -> bool:
        """Like flush, but give up once the database has answered nothing for `idle`
        s, or after `timeout` s."""

    def interrupt(self) -> None:
        """godo is stopping: a write must not wait for room any more."""

    def stats(self) -> dict:
        """What the store did: the figures a run document keeps."""

    def close(self) -> None:
        """Flush and stop."""

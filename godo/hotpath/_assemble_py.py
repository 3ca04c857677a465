"""Assembler, pure Python: parsed records -> complete events, a batch at a time.

The twin of `_ext/godo/hotpath/assemble.pxi`. Records of one serial are gathered into
an `Event` until it is complete: on its PROCTITLE (the last record the kernel
writes for a syscall event; logs carry no EOE), on EOE, when it falls a `window`
of serials behind the newest (logs again), on a time-out (live, `expire`), or when
the events in flight pass `max_in_flight` or their text passes `max_bytes` (the
oldest goes first). Each record of a kept type costs its event its text plus
RECORD_COST; an event that alone would pass the budget refuses the record.
"""

from __future__ import annotations

from .contract import RECORD_COST
from ._parse_py import (CWD_RECORD, EOE_RECORD, EXECVE_RECORD, LONE_RECORD, OPENAT2_RECORD,
                        PATH_RECORD, PROCTITLE_RECORD, SYSCALL_RECORD, records)


class Event:
    """The records of one serial, as the parser gave their values, until the
    event is complete; the cook reads what the event's activity needs."""

    __slots__ = ("serial", "ts", "born", "size", "syscall", "task", "names", "cwd", "paths",
                 "execve", "proctitle", "openat2_flags")

    def __init__(self, serial: int, ts: float, born: float):
        self.serial = serial
        self.ts = ts
        self.born = born
        self.size = 0
        self.syscall = None
        self.task = None
        self.names = None  # an ENRICHED SYSCALL record's names, raw
        self.cwd = None
        self.paths = ()  # tuples: most events have one PATH or none, many no EXECVE
        self.execve = ()
        self.proctitle = None
        self.openat2_flags = None


class Assembler:
    """Events in flight. `complete(event)` is handed each event as it completes
    (the cook reads it there, so an event's records die with it, young, before
    the cyclic GC walks them), and `bad(location, why)` each record that is
    malformed or refused, in the order they come: errors are told in the same
    order however a batch was cut."""

    def __init__(self, window: int, max_in_flight: int, timeout: float, max_bytes: int,
                 bad, complete):
        self.window = window
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.bad = bad
        self.complete = complete
        self.records = 0
        self.events = 0
        self.evicted = 0
        self._events: dict[int, Event] = {}
        self._first_serial = -1
        self._last_serial = -1
        self._bytes = 0

    def add(self, batch: list, now: float) -> None:
        events, max_bytes, record_cost = self._events, self.max_bytes, RECORD_COST
        malformed = 0
        for kind, ts, serial, size, value, location in records(batch):
            if kind >= EOE_RECORD:
                if kind == EOE_RECORD:
                    if serial in events:
                        self._finish(serial)
                elif kind != LONE_RECORD:  # malformed
                    malformed += 1
                    self.bad(location, value)
                continue
            event = events.get(serial)
            if event is None:  # the event starts
                if events:
                    self._make_room(serial)
                if serial > self._last_serial:
                    self._last_serial = serial
                    if self._first_serial < 0:
                        self._first_serial = serial
                event = events[serial] = Event(serial, ts, now)
            if kind == PROCTITLE_RECORD:
                event.proctitle = value
                self._finish(serial)
            elif kind <= EXECVE_RECORD:
                cost = size + record_cost
                if self._bytes + cost > max_bytes and not self._budget(event, cost, location):
                    continue
                event.size += cost
                self._bytes += cost
                if kind == SYSCALL_RECORD:
                    event.syscall, event.task, event.names = value
                elif kind == PATH_RECORD:
                    event.paths += (value,)
                elif kind == CWD_RECORD:
                    event.cwd = value
                else:
                    event.execve += (value,)
            elif kind == OPENAT2_RECORD:
                event.openat2_flags = value
        self.records += len(batch) // 6 - malformed

    def _budget(self, event: Event, cost: int, location: int) -> bool:
        """Room for `cost` more bytes of `event`'s records within max_bytes: the oldest
        other events are completed early; an event that alone would pass it refuses
        the record (False)."""
        if event.size + cost > self.max_bytes:
            self.bad(location, "event too large")
            return False
        while self._bytes + cost > self.max_bytes:
            self.evicted += 1
            self._finish(min(s for s in self._events if s != event.serial))
        return True

    def _make_room(self, serial: int) -> None:
        """Before an event starts: logs carry no EOE, so an event far behind the
        newest serial is done; and the oldest goes when too many are in flight."""
        events = self._events
        if self.window and serial - self.window > min(events):
            for old in [s for s in events if s < serial - self.window]:
                self._finish(old)
        if len(events) >= self.max_in_flight:
            self.evicted += 1
            self._finish(min(events))

    def _finish(self, serial: int) -> None:
        event = self._events.pop(serial)
        self._bytes -= event.size
        self.events += 1
        self.complete(event)

    def expire(self, now: float) -> None:
        """Complete live events whose EOE has not come within the time-out."""
        limit = now - self.timeout
        for serial in [s for s, ev in self._events.items() if ev.born <= limit]:
            self._finish(serial)

    def flush(self) -> None:
        """End of input: every event in flight is complete, oldest serial first."""
        for serial in sorted(self._events):
            self._finish(serial)

    @property
    def in_flight(self) -> int:
        return len(self._events)

    @property
    def serial_gaps(self) -> int:
        if self._first_serial < 0:
            return 0
        distinct = self.events + len(self._events)  # every serial started is done or in flight
        return max(0, self._last_serial - self._first_serial + 1 - distinct)

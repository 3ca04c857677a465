"""The hot path in pure Python: parse, assemble, cook, a batch at a time.

The twin of `_ext/godo/hotpath/_hotpath_c.pyx` with the same names, signatures and
results; `godo.hotpath` picks the compiled one unless GODO_NO_EXTENSIONS is set.
Both are fed bytes in batches (audit.log text, or netlink frames packed by a
Receiver) and hand back a list of `Activity` per batch: each batch is parsed
into records (`_parse_py`), the records assembled into complete events
(`_assemble_py`), and the events cooked into activities (`_cook_py`).

Each event is cooked as it completes. Errors are told in `errors` as (where,
why), the first MAX_ERRORS_KEPT of them, and counted in `malformed`, in the
order they happened: a record that is malformed or refused, an event that
cannot be cooked.
"""

from __future__ import annotations

import io

from .contract import MAX_BYTES, MAX_ERRORS_KEPT, MAX_LINE
from ._assemble_py import Assembler
from ._cook_py import Activity, cook
from ._parse_py import parse_record, read_frames, read_line, read_lines, too_long

__all__ = ["Activity", "Pipeline", "parse_record"]

_SLICE = 100000  # log lines parsed, assembled and cooked together


class Pipeline:
    """One stream of records (a log, or the live kernel's) through the stages."""

    def __init__(self, *, window: int = 64, max_in_flight: int = 4096, timeout: float = 2.0,
                 max_bytes: int = MAX_BYTES):
        if window < 0 or max_in_flight < 1 or max_bytes < 1:
            raise ValueError("window must be >= 0, max_in_flight and max_bytes >= 1")
        self._assembler = Assembler(window, max_in_flight, timeout, max_bytes, self._bad_record,
                                    self._complete)
        self._out: list = []  # the activities of the batch being read
        self.activities = 0
        self.malformed = 0
        self.errors: list[tuple[str, str]] = []
        self._pending = b""  # a log line cut at the end of the last chunk
        self._overlong = False  # ... that is already too long: dropped as it comes
        self._lineno = 0
        self._source = ""
        self._frames = 0
        self._reading_frames = False

    # -- feeding ------------------------------------------------------------

    def feed_log(self, data: bytes, source: str = "") -> list:
        """audit.log text (RAW or ENRICHED), in chunks of any size: a line cut at the
        end of one chunk is finished by the next."""
        if source != self._source:
            self._source, self._lineno = source, 0
        if self._pending:
            data = self._pending + data
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        # The whole lines, each with its newline (BytesIO finds them with memchr,
        # some three times faster than bytes.split).
        lines = io.BytesIO(data[:end]).readlines()
        records: list = []
        if lines and self._overlong:
            self._overlong = False
            lines.pop(0)
            self._lineno += 1
            records.extend(too_long(self._lineno))
        if self._overlong or len(tail) > MAX_LINE:
            self._overlong, self._pending = True, b""
        else:
            self._pending = tail
        if lines:
            read_lines(lines, b"\x1d" in data, self._lineno + 1, records)
            self._lineno += len(lines)
        return self._assemble(records, 0.0, frames=False)

    def feed_frames(self, data: bytes, now: float = 0.0) -> list:
        """Netlink datagrams packed by a Receiver: per datagram a native u32 size,
        then the datagram as received (nlmsghdr, then the record text)."""
        records: list = []
        self._frames += read_frames(data, self._frames + 1, records)
        return self._assemble(records, now, frames=True)

    def expire(self, now: float) -> list:
        """Complete live events whose EOE has not come within the time-out."""
        self._assembler.expire(now)
        return self._batch()

    def flush(self) -> list:
        """End of input: every event in flight is complete; a cut last line is read."""
        records: list = []
        if self._pending or self._overlong:
            line, self._pending = self._pending, b""
            self._lineno += 1
            if self._overlong:
                self._overlong = False
                records.extend(too_long(self._lineno))
            else:
                record = read_line(line, self._lineno)
                if record is not None:
                    records.extend(record)
        self._reading_frames = False
        self._assembler.add(records, 0.0)
        self._assembler.flush()
        return self._batch()

    def _assemble(self, records: list, now: float, frames: bool) -> list:
        self._reading_frames = frames
        self._assembler.add(records, now)
        return self._batch()

    def _complete(self, event) -> None:
        """An event the assembler completed, cooked into the batch's activities."""
        if event.syscall is None:
            return
        try:
            activity = cook(event)
        except ValueError as exc:
            self._bad(f"event {event.serial}", f"cannot cook: {exc}")
            return
        if activity is not None:
            self._out.append(activity)

    def _batch(self) -> list:
        """The activities cooked since the last batch was handed out."""
        out, self._out = self._out, []
        self.activities += len(out)
        return out

    # -- errors -------------------------------------------------------------

    def _bad(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((where, why))

    def _bad_record(self, location: int, why: str) -> None:
        if self._reading_frames:
            self._bad(f"netlink datagram {location}", why)
        else:
            self._bad(f"{self._source or 'log'}:{location}", why)

    # -- settings and figures -------------------------------------------------

    # Settings stay valid: the assembler's arithmetic relies on them.
    @property
    def window(self) -> int:
        return self._assembler.window

    @window.setter
    def window(self, value: int) -> None:
        if value < 0:
            raise ValueError("window must be >= 0")
        self._assembler.window = value

    @property
    def max_in_flight(self) -> int:
        return self._assembler.max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._assembler.max_in_flight = value

    @property
    def max_bytes(self) -> int:
        return self._assembler.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_bytes must be >= 1")
        self._assembler.max_bytes = value

    @property
    def timeout(self) -> float:
        return self._assembler.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._assembler.timeout = value

    @property
    def records(self) -> int:
        return self._assembler.records

    @property
    def events(self) -> int:
        return self._assembler.events

    @property
    def evicted(self) -> int:
        return self._assembler.evicted

    @property
    def in_flight(self) -> int:
        return self._assembler.in_flight

    @property
    def serial_gaps(self) -> int:
        return self._assembler.serial_gaps

    def stats(self) -> dict:
        return {"records": self.records, "events": self.events, "activities": self.activities,
                "malformed": self.malformed, "serial_gaps": self.serial_gaps,
                "evicted": self.evicted, "in_flight": self.in_flight}

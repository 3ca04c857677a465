"""The hot path in pure Python: parse records, assemble events, cook activities.

The twin of `_ext/_hotpath_c.pyx` with the same names, signatures and results;
`godo.hotpath` picks the compiled one unless GODO_NO_EXTENSIONS is set. Both are
fed bytes in batches (audit.log text, or netlink frames packed by a Receiver) and
hand back a list of `Activity` per batch.

Log text is read by a fast path (`Pipeline._read_lines`) that costs a handful of
Python calls per record: each line split once, the stamp checked once per event,
a SYSCALL record's fields taken by one regex in the kernel's order, the task's
fields converted once per process. Whatever it does not recognise takes the
general way (`_log_line`, `_record`), which is the contract: the fast path only
ever reads what the general way would read the same.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct

from . import _records as R
from . import syscalls as S
from .errors import MalformedRecord

_FRAME = struct.Struct("=I")
_KV = re.compile(rb"([^\s=]+)=(\S*)")
# Numbers are read strictly and must fit 64 bits, so both twins hold them in C
# integers and agree on every input (int() would take "+1", "1_0", or 5000 digits).
_STAMP = re.compile(rb"([0-9]{1,15})\.([0-9]{1,15}):([0-9]{1,15})")
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_OCT = re.compile(rb"[0-7]{1,21}")
_ARG_KEY = re.compile(rb"a([0-9]{1,9})(?:\[([0-9]{1,9})\])?")
_INT64 = 1 << 63
_KEPT = frozenset({R.SYSCALL, R.PATH, R.CWD, R.EXECVE})  # records whose text an event holds

class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract."""

    __slots__ = (
        "kind", "ts", "serial", "syscall", "success", "exit", "pid", "ppid", "uid", "auid",
        "comm", "exe", "argv", "argc", "cwd", "path", "dirfd", "fd", "flags", "mode", "created",
        "bytes", "new_fd", "max_fd", "cloexec", "child", "thread", "code", "new_root", "put_old",
        "new_path", "new_dirfd", "target", "signal", "proctitle",
    )

    def __init__(self, kind, ts, serial, syscall, success, exit, pid, ppid, uid, auid, comm, exe):
        self.kind = kind
        self.ts = ts
        self.serial = serial
        self.syscall = syscall
        self.success = success
        self.exit = exit
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.auid = auid
        self.comm = comm
        self.exe = exe
        # What a kind adds, unset (one tuple unpacked: a quarter fewer steps than a = b = None).
        (self.argv, self.argc, self.cwd, self.path, self.dirfd, self.fd, self.flags, self.mode,
         self.created, self.bytes, self.new_fd, self.max_fd, self.cloexec, self.child, self.thread,
         self.code, self.new_root, self.put_old, self.new_path, self.new_dirfd, self.target,
         self.signal, self.proctitle) = _UNSET

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        out = {}
        for name in Activity.__slots__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __repr__(self) -> str:
        return f"Activity({self.to_dict()!r})"


_UNSET = (None,) * (len(Activity.__slots__) - 12)  # Activity's fields after exe


# -- values -------------------------------------------------------------------

def _text(raw: bytes | None) -> bytes | None:
    """A string field as the kernel wrote it: "quoted", bare hex, or (null)."""
    if raw is None or raw == b"(null)":
        return None
    if raw[:1] == b'"':
        return raw[1:-1] if raw[-1:] == b'"' and len(raw) > 1 else raw[1:]
    try:
        return bytes.fromhex(raw.decode("ascii"))
    except ValueError:
        return raw


def _str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "backslashreplace")


def _dec(raw: bytes | None, name: str) -> int:
    """-?[0-9]{1,19} within int64 (bytes.isdigit is ASCII only)."""
    if raw is None:
        raise ValueError(f"no {name}")
    digits = raw[1:] if raw[:1] == b"-" else raw
    if 0 < len(digits) <= 19 and digits.isdigit():
        value = int(raw)
        if -_INT64 <= value < _INT64:
            return value
    raise ValueError(f"{name} is not a number")


def _hex(raw: bytes | None, name: str) -> int:
    """[0-9a-fA-F]{1,16}."""
    if raw is None:
        raise ValueError(f"no {name}")
    if not 0 < len(raw) <= 16 or raw.translate(None, _HEX_DIGITS):
        raise ValueError(f"{name} is not hex")
    return int(raw, 16)


def _normalise(path: str) -> str:
    if "/." in path or "//" in path or (path.endswith("/") and len(path) > 1):
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return path


def _join(cwd: str | None, name: str) -> str:
    if name.startswith("/") or cwd is None:
        return _normalise(name)
    return _normalise(cwd + "/" + name)


def _split_header(data: bytes):
    """`audit(SEC.MS:SERIAL): body` -> (ts, serial, body); raises MalformedRecord."""
    if not data.startswith(b"audit("):
        raise MalformedRecord("no audit( stamp")
    close = data.find(b"):", 6)
    if close < 0:
        raise MalformedRecord("unterminated audit( stamp")
    stamp = _STAMP.fullmatch(data, 6, close)
    if stamp is None:
        raise MalformedRecord("bad audit( stamp")
    sec, ms, serial = int(stamp[1]), int(stamp[2]), int(stamp[3])
    return sec + ms / 1000, serial, _body(data[close + 2:])


def _body(rest: bytes) -> bytes:
    """The fields of a record from the text after its `):`: an ENRICHED log's
    interpreted part (after 0x1d) and padding dropped."""
    enriched = rest.find(b"\x1d")
    if enriched >= 0:
        rest = rest[:enriched]
    return rest.strip(b" \n\0")


def _split_log_line(line: bytes):
    """`type=NAME msg=audit(...): body` -> (type number, rest from audit()."""
    if not line.startswith(b"type="):
        raise MalformedRecord("line does not start with type=")
    space = line.find(b" ", 5)
    if space < 0:
        raise MalformedRecord("no msg= after type=")
    rtype = R.type_number(line[5:space])
    if rtype < 0:
        raise MalformedRecord("unknown record type")
    rest = line[space + 1:]
    if not rest.startswith(b"msg="):
        raise MalformedRecord("no msg= after type=")
    return rtype, rest[4:]


def parse_record(data: bytes, rtype: int | None = None) -> dict:
    """One record as godo reads it, for tests and fixtures: with `rtype`, `data` is a
    netlink body; without, an audit.log line. Raises MalformedRecord."""
    if rtype is None:
        rtype, data = _split_log_line(data.rstrip(b"\n"))
    ts, serial, body = _split_header(data)
    fields = {}
    for key, value in _KV.findall(body):
        name = key.decode("ascii", "backslashreplace")
        if name in R.TEXT_FIELDS or (rtype == R.EXECVE and name[:1] == "a" and name != "argc"
                                      and not name.endswith("_len")):
            fields[name] = _str(_text(value))
        elif name in R.DECIMAL_FIELDS or name in R.HEX_FIELDS:
            try:
                fields[name] = (_dec if name in R.DECIMAL_FIELDS else _hex)(value, name)
            except ValueError as exc:
                raise MalformedRecord(str(exc)) from None
        else:
            fields[name] = value.decode("utf-8", "backslashreplace")
    return {"type": rtype, "ts": ts, "serial": serial, "fields": fields}


# -- the fast path's reading of the kernel's layout ----------------------------

# A log line's first word, `type=NAME`, for the record types the fast path reads:
# SYSCALL, then CWD and PATH (one per file), then PROCTITLE, make up an event.
_FAST_TYPE_WORDS = {b"type=" + R.TYPE_NAMES[n].encode(): n
                    for n in (R.SYSCALL, R.CWD, R.PATH, R.PROCTITLE)}
# Its second word, `msg=audit(SEC.MS:SERIAL):`, exactly what _split_header takes.
_MSG_STAMP = re.compile(rb"msg=audit\(([0-9]{1,15}\.[0-9]{1,15}):([0-9]{1,15})\):")

_HEX = rb"([0-9a-fA-F]{1,16})"  # what _hex takes
_DEC = rb"(-?[0-9]{1,18})"  # what _dec takes, less 19 digits (which may not fit 64 bits)
_COOKED_KEYS = rb"(?:arch|syscall|success|exit|a[0-3]|ppid|pid|auid|uid|comm|exe)="
# A SYSCALL record in the order the kernel writes it (audit_log_exit), each value
# the cook reads already what _hex and _dec accept, single spaces between fields.
# The rest, from ppid= on (audit_log_task_info), is the same text for every call
# of a process: it is read once per process (_task). A record that does not
# match is read the general way, so the fast path never has to be complete.
# (success= and exit= are absent when the call does not return: `(?:...|)` is the
# same as `(?:...)?` here, and sre's REPEAT behind the latter costs a third more.)
_SYSCALL_FAST = re.compile(
    rb"arch=" + _HEX + rb" syscall=" + _DEC + rb"(?: success=(\S*) exit=" + _DEC + rb"|)"
    rb" a0=" + _HEX + rb" a1=" + _HEX + rb" a2=" + _HEX + rb" a3=" + _HEX + rb" items=\S* (.*)",
    re.DOTALL)
# The task's part. Every key is spelt out, and none of the keys the cook reads
# comes again after exe=, so the general way (every key=value, the last one of a
# key wins) reads these values too.
_TASK_FAST = re.compile(
    rb"ppid=" + _DEC + rb" pid=" + _DEC + rb" auid=" + _DEC + rb" uid=" + _DEC +
    rb" gid=\S* euid=\S* suid=\S* fsuid=\S* egid=\S* sgid=\S* fsgid=\S* tty=\S* ses=\S*"
    rb" comm=(\S*) exe=(\S*)(?: (?!" + _COOKED_KEYS + rb")[^\s=]+=\S*)*")
# A PATH record, `item=N name=NAME ... nametype=TYPE ...`: the same name= and
# nametype= that _field finds (the first of each that starts a field).
_PATH_FAST = re.compile(rb"item=[^ ]* name=([^ ]*)(?: [^ ]*)*? nametype=([^ ]*)")
# The keys of the values _SYSCALL_FAST reads, for a record read the general way
# (the last, the task text, is no key).
_SYSCALL_KEYS = (b"arch", b"syscall", b"success", b"exit", b"a0", b"a1", b"a2", b"a3", None)

# Caches of values many events repeat, keyed by their text as the kernel wrote it
# and emptied when full, so any input keeps them small.
_CACHE_SIZE = 1024
_TASKS: dict[bytes, tuple] = {}  # task text -> (pid, ppid, uid, auid, comm, exe)
_CWDS: dict[bytes, str | None] = {}  # CWD record -> cwd
_PATHS: dict[tuple, str] = {}  # (cwd, PATH name) -> path


def _read_syscall(body: bytes) -> tuple:
    """A SYSCALL record -> (values, task) for event.syscall and event.task.

    Read by _SYSCALL_FAST: the raw arch, syscall, success, exit, a0..a3 (None
    when absent) and the task text, all known good, and the task's values
    (pid, ppid, uid, auid, comm, exe). Read the general way: the record's
    key=value dict and None, and the cook checks each value as it reads it."""
    fast = _SYSCALL_FAST.match(body)
    if fast is not None:
        values = fast.groups()
        task = _TASKS.get(values[8])
        if task is None:
            task = _task(values[8])
        if task is not None:
            return values, task
    return dict(_KV.findall(body)), None


def _task(text: bytes) -> tuple | None:
    found = _TASK_FAST.fullmatch(text)
    if found is None:
        return None
    ppid, pid, auid, uid, comm, exe = found.groups()
    task = (int(pid), int(ppid), int(uid), int(auid), _str(_text(comm)), _str(_text(exe)))
    if len(_TASKS) >= _CACHE_SIZE:
        _TASKS.clear()
    _TASKS[text] = task
    return task


def _checked_task(fields: dict) -> tuple:
    """The task of a SYSCALL record read the general way, checked in contract order."""
    return (_dec(fields.get(b"pid"), "pid"), _dec(fields.get(b"ppid"), "ppid"),
            _dec(fields.get(b"uid"), "uid"), _dec(fields.get(b"auid"), "auid"),
            _str(_text(fields.get(b"comm"))), _str(_text(fields.get(b"exe"))))


def _cwd(body: bytes | None) -> str | None:
    """The cwd of a CWD record (`cwd=...`)."""
    cwd = _CWDS.get(body)
    if cwd is None and body is not None:
        cwd = _str(_text(body[4:])) if body.startswith(b"cwd=") else None
        if len(_CWDS) >= _CACHE_SIZE:
            _CWDS.clear()
        _CWDS[body] = cwd
    return cwd


# -- events -------------------------------------------------------------------

class _Event:
    """The records of one serial, gathered until the event is complete.

    Records are kept much as they came and read by the cook, which reads only
    what the event's activity needs: syscall and task as `_read_syscall` gives
    them, cwd the CWD record, proctitle the PROCTITLE record's text after `):`."""

    __slots__ = ("serial", "ts", "born", "size", "syscall", "task", "cwd", "paths", "execve",
                 "proctitle", "openat2_flags")

    def __init__(self, serial: int, ts: float, born: float):
        self.serial = serial
        self.ts = ts
        self.born = born
        self.size = 0
        self.syscall = None
        self.task = None
        self.cwd = None
        self.paths = []
        self.execve = []
        self.proctitle = None
        self.openat2_flags = None


class Pipeline:
    """Parser, assembler and cook in one pass over batches of records."""

    def __init__(self, *, window: int = 64, max_in_flight: int = 4096, timeout: float = 2.0,
                 max_bytes: int = R.MAX_BYTES):
        if window < 0 or max_in_flight < 1 or max_bytes < 1:
            raise ValueError("window must be >= 0, max_in_flight and max_bytes >= 1")
        self.window = window
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.records = 0
        self.events = 0
        self.activities = 0
        self.malformed = 0
        self.evicted = 0
        self.errors: list[tuple[str, str]] = []
        self._events: dict[int, _Event] = {}
        self._first_serial = -1
        self._last_serial = -1
        self._bytes = 0
        self._pending = b""
        self._overlong = False
        self._lineno = 0
        self._source = ""
        self._frames = 0

    # -- feeding ------------------------------------------------------------

    def feed_log(self, data: bytes, source: str = "") -> list:
        """audit.log text (RAW or ENRICHED), in chunks of any size: a line cut at the
        end of one chunk is finished by the next."""
        out: list = []
        if source != self._source:
            self._source, self._lineno = source, 0
        if self._pending:
            data = self._pending + data
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        # The whole lines, each with its newline (BytesIO finds them with memchr,
        # some three times faster than bytes.split).
        lines = io.BytesIO(data[:end]).readlines()
        if lines and self._overlong:
            self._lineno += 1
            self._log_line(lines.pop(0)[:-1], self._lineno, out)
        if lines:
            self._read_lines(lines, b"\x1d" in data, out)
        # A line that cannot fit is dropped as it comes, so no input grows the buffer.
        if self._overlong or len(tail) > R.MAX_LINE:
            self._overlong, self._pending = True, b""
        else:
            self._pending = tail
        return out

    def _read_lines(self, lines: list, enriched: bool, out: list) -> None:
        """Parse and assemble whole log lines, each ending in its newline: the fast
        path of `_log_line`.

        Read here: a SYSCALL, CWD, PATH or PROCTITLE record with the stamp as the
        kernel writes it (all but some 0.3% of a log). Any other line goes to
        `_log_line`."""
        events = self._events
        types = _FAST_TYPE_WORDS
        stamp_of = _MSG_STAMP.fullmatch
        max_bytes, record_cost = self.max_bytes, R.RECORD_COST
        syscall, proctitle, path = R.SYSCALL, R.PROCTITLE, R.PATH
        # Refusing a line too long is left to the general way; most chunks hold none.
        long_lines = max(map(len, lines)) > R.MAX_LINE + 1
        last_stamp = last_time = ts = serial = None
        first = lineno = self._lineno
        slow = 0  # lines read by _log_line, which counts their records itself
        try:
            for lineno, line in enumerate(lines, first + 1):
                # parse: `type=NAME msg=audit(SEC.MS:SERIAL): fields`, split once
                try:
                    name, stamp, rest = line.split(b" ", 2)
                    rtype = types[name]
                except (ValueError, KeyError):  # not three words, or not one of the four types
                    rtype = None
                if rtype is None or long_lines and len(line) > R.MAX_LINE + 1:
                    slow += 1
                    self._log_line(line[:-1], lineno, out)
                    continue
                if stamp != last_stamp:  # the records of an event share theirs
                    found = stamp_of(stamp)
                    if found is None:
                        slow += 1
                        self._log_line(line[:-1], lineno, out)
                        continue
                    last_stamp = stamp
                    time, serial = found.groups()
                    serial = int(serial)
                    if time != last_time:  # and many events a millisecond
                        last_time = time
                        sec, _, ms = time.partition(b".")
                        ts = int(sec) + int(ms) / 1000
                # assemble, as _assemble does for these four types
                if rtype == proctitle:
                    # The event's last record in a log (which has no EOE): it completes
                    # the event. Its text is read only by the cook of a failed exec.
                    event = events.pop(serial, None)
                    if event is None:  # a PROCTITLE alone: an event of its own
                        event = self._start(serial, ts, 0.0, out)
                        del events[serial]
                    event.proctitle = rest
                    self._bytes -= event.size
                    self._complete(event, out)
                    continue
                event = events.get(serial)
                if event is None:
                    if events or not 0 <= self._last_serial < serial:
                        event = self._start(serial, ts, 0.0, out)
                    else:  # nothing in flight to complete, and the newest serial: _start's all
                        self._last_serial = serial
                        event = events[serial] = _Event(serial, ts, 0.0)
                body = _body(rest) if enriched else rest.strip(b" \n\0")
                cost = len(body) + record_cost
                if self._bytes + cost > max_bytes:  # (the event's own size is part of _bytes)
                    try:
                        self._keep(event, body, out)  # refuses the record, or evicts others
                    except MalformedRecord as exc:
                        self._bad(f"{self._source or 'log'}:{lineno}", exc)
                        continue
                else:
                    event.size += cost
                    self._bytes += cost
                if rtype == syscall:
                    event.syscall, event.task = _read_syscall(body)
                elif rtype == path:
                    event.paths.append(_path_item(body))
                else:
                    event.cwd = body
        finally:
            self._lineno = lineno
            self.records += lineno - first - slow

    def _log_line(self, line: bytes, lineno: int, out: list) -> None:
        try:
            if self._overlong:
                self._overlong = False
                raise MalformedRecord("line too long")
            if not line:
                return
            if len(line) > R.MAX_LINE:
                raise MalformedRecord("line too long")
            rtype, rest = _split_log_line(line)
            self._record(rtype, rest, 0.0, out)
        except MalformedRecord as exc:
            self._bad(f"{self._source or 'log'}:{lineno}", exc)

    def feed_frames(self, data: bytes, now: float = 0.0) -> list:
        """Netlink datagrams packed by a Receiver: per datagram a native u32 size,
        then the datagram as received (nlmsghdr, then the record text)."""
        out: list = []
        off, end = 0, len(data)
        while off + 4 <= end:
            (size,) = _FRAME.unpack_from(data, off)
            off += 4
            frame = data[off:off + size]
            off += size
            self._frames += 1
            if len(frame) < R.NLMSGHDR_SIZE:
                self._bad(f"netlink datagram {self._frames}", MalformedRecord("short datagram"))
                continue
            rtype = frame[4] | frame[5] << 8
            try:
                self._record(rtype, frame[R.NLMSGHDR_SIZE:], now, out)
            except MalformedRecord as exc:
                self._bad(f"netlink datagram {self._frames}", exc)
        return out

    def expire(self, now: float) -> list:
        """Complete live events whose EOE has not come within the time-out."""
        out: list = []
        limit = now - self.timeout
        for serial in [s for s, ev in self._events.items() if ev.born <= limit]:
            self._finish(serial, out)
        return out

    def flush(self) -> list:
        """End of input: every event in flight is complete; a cut last line is read."""
        out: list = []
        if self._pending or self._overlong:
            line, self._pending = self._pending, b""
            self._lineno += 1
            self._log_line(line, self._lineno, out)
        for serial in sorted(self._events):
            self._finish(serial, out)
        return out

    @property
    def in_flight(self) -> int:
        return len(self._events)

    @property
    def serial_gaps(self) -> int:
        if self._first_serial < 0:
            return 0
        distinct = self.events + len(self._events)  # every serial started is done or in flight
        return max(0, self._last_serial - self._first_serial + 1 - distinct)

    def stats(self) -> dict:
        return {"records": self.records, "events": self.events, "activities": self.activities,
                "malformed": self.malformed, "serial_gaps": self.serial_gaps,
                "evicted": self.evicted, "in_flight": self.in_flight}

    # -- assembling ---------------------------------------------------------

    def _bad(self, where: str, exc: Exception) -> None:
        self.malformed += 1
        if len(self.errors) < R.MAX_ERRORS_KEPT:
            self.errors.append((where, str(exc)))

    def _record(self, rtype: int, data: bytes, now: float, out: list) -> None:
        ts, serial, body = _split_header(data)
        self.records += 1
        self._assemble(rtype, ts, serial, body, now, out)

    def _assemble(self, rtype: int, ts: float, serial: int, body: bytes, now: float,
                  out: list) -> None:
        if not R.is_multi_record(rtype):
            if rtype == R.EOE and serial in self._events:
                self._finish(serial, out)
            return
        event = self._events.get(serial)
        if event is None:
            event = self._start(serial, ts, now, out)
        if rtype in _KEPT:
            self._keep(event, body, out)
        if rtype == R.SYSCALL:
            event.syscall, event.task = _read_syscall(body)
        elif rtype == R.PATH:
            event.paths.append(_path_item(body))
        elif rtype == R.CWD:
            event.cwd = body
        elif rtype == R.EXECVE:
            event.execve.append(body)
        elif rtype == R.OPENAT2:
            # The kernel writes oflag=0%llo; int(x, 0) refused the leading zero.
            flags = _field(body, b"oflag=")
            if flags and not _OCT.fullmatch(flags):
                raise MalformedRecord("oflag is not octal")
            event.openat2_flags = int(flags, 8) if flags else None
        elif rtype == R.PROCTITLE:
            # PROCTITLE is the last record the kernel writes for a syscall event
            # (only EOE follows), and logs carry no EOE: it completes the event.
            event.proctitle = body
            self._finish(serial, out)

    def _keep(self, event: _Event, body: bytes, out: list) -> None:
        """Account for a record the event keeps; past the byte budget the oldest
        other events are completed early, and an event alone over it is refused."""
        cost = len(body) + R.RECORD_COST
        if event.size + cost > self.max_bytes:
            raise MalformedRecord("event too large")
        event.size += cost
        self._bytes += cost
        while self._bytes > self.max_bytes:
            self.evicted += 1
            self._finish(min(s for s in self._events if s != event.serial), out)

    def _finish(self, serial: int, out: list) -> None:
        event = self._events.pop(serial)
        self._bytes -= event.size
        self._complete(event, out)

    def _start(self, serial: int, ts: float, now: float, out: list) -> _Event:
        events = self._events
        if events:
            # Logs carry no EOE: an event far behind the newest serial is done.
            if self.window and serial - self.window > min(events):
                for old in [s for s in events if s < serial - self.window]:
                    self._finish(old, out)
            if len(events) >= self.max_in_flight:
                self.evicted += 1
                self._finish(min(events), out)
        if serial > self._last_serial:
            self._last_serial = serial
            if self._first_serial < 0:
                self._first_serial = serial
        event = events[serial] = _Event(serial, ts, now)
        return event

    def _complete(self, event: _Event, out: list) -> None:
        self.events += 1
        if event.syscall is None:
            return
        try:
            activity = _cook(event)
        except ValueError as exc:
            self._bad(f"event {event.serial}", MalformedRecord(f"cannot cook: {exc}"))
            return
        if activity is not None:
            self.activities += 1
            out.append(activity)


def _field(body: bytes, key: bytes) -> bytes | None:
    """The raw value of `key=` in a record body, found without splitting it all."""
    start = 0
    while True:
        pos = body.find(key, start)
        if pos < 0:
            return None
        if pos == 0 or body[pos - 1] == 0x20:
            end = body.find(b" ", pos)
            return body[pos + len(key):end if end >= 0 else len(body)]
        start = pos + 1


def _path_item(body: bytes):
    """A PATH record -> (name, nametype), raw."""
    fast = _PATH_FAST.match(body)
    if fast is not None:
        name, nametype = fast.groups()
        return _text(name), nametype
    return _text(_field(body, b"name=")), _field(body, b"nametype=")


# -- cooking ------------------------------------------------------------------

# The kind of activity each call makes; fcntl and close_range may make another.
_KINDS = {S.SPAWN_CLONE: "spawn", S.SPAWN_CLONE3: "spawn", S.SPAWN_FORK: "spawn",
          S.EXEC: "exec", S.EXEC_AT: "exec", S.EXIT: "exit", S.EXIT_GROUP: "exit",
          S.OPEN: "open", S.OPEN_AT: "open", S.OPEN_AT2: "open", S.CREAT: "open",
          S.WRITE: "write", S.WRITE_A2: "write", S.CLOSE: "close", S.CLOSE_RANGE: "close",
          S.DUP: "dup", S.DUP2: "dup", S.DUP3: "dup", S.FCNTL: "dup", S.PIVOT_ROOT: "pivot_root",
          S.CHDIR: "chdir", S.FCHDIR: "chdir", S.RENAME: "rename", S.RENAME_AT: "rename",
          S.UNLINK: "unlink", S.UNLINK_AT: "unlink", S.KILL: "kill", S.TKILL: "kill",
          S.TGKILL: "kill"}
# A failed call is only worth an activity when it tried to open or run a file.
_COOKED_WHEN_FAILED = frozenset({S.OPEN, S.OPEN_AT, S.OPEN_AT2, S.CREAT, S.EXEC, S.EXEC_AT})
# arch -> syscall number -> (name, cook code, kind of activity).
_CALLS = {arch: {number: (name, code, _KINDS[code]) for number, (name, code) in S.table(arch).items()}
          for arch in S.ARCH_NAMES}
# The same by arch= and syscall= as the kernel spells them; others go by number.
_CALLS_BY_TEXT = {b"%x" % arch: {b"%d" % number: entry for number, entry in table.items()}
                  for arch, table in _CALLS.items()}
# Calls whose activity (or none) depends on their result or arguments.
_DECIDED_BY_ARGUMENTS = frozenset({S.SPAWN_CLONE, S.SPAWN_CLONE3, S.SPAWN_FORK, S.FCNTL,
                                   S.CLOSE_RANGE})


class _Int32(dict):
    """A syscall argument of type int from its register as the kernel prints it
    (hex): the low 32 bits, signed. Small values (fds, fcntl commands, AT_FDCWD)
    are looked up; others are worked out and not kept."""

    def __missing__(self, raw: bytes) -> int:
        value = int(raw, 16) & 0xFFFFFFFF
        return value - 0x100000000 if value & 0x80000000 else value


_INT32 = _Int32({b"%x" % n: n for n in range(4096)})
_INT32[b"%x" % (R.AT_FDCWD & 0xFFFFFFFF)] = R.AT_FDCWD


def _checked_call(values: tuple) -> tuple[str, int, str] | None:
    """(name, cook code, kind) of a SYSCALL record read the general way, every value the
    cook reads checked first, in the order the contract reports them."""
    arch, number, _success, exit, a0, a1, a2, a3, _task_text = values
    table = _CALLS.get(_hex(arch, "arch"))
    if not table:
        return None
    entry = table.get(_dec(number, "syscall"))
    if entry is None:
        return None
    if exit is not None:
        _dec(exit, "exit")
    _hex(a0, "a0"), _hex(a1, "a1"), _hex(a2, "a2"), _hex(a3, "a3")
    return entry


def _cook(event: _Event) -> Activity | None:
    values, task = event.syscall, event.task
    if task is None:  # read the general way
        values = tuple(map(values.get, _SYSCALL_KEYS))
    arch, number, success_raw, exit_raw, a0, a1, a2, a3, _task_text = values
    if task is None:
        entry = _checked_call(values)
    else:
        calls = _CALLS_BY_TEXT.get(arch)
        entry = calls.get(number) if calls is not None else None
        if entry is None:  # spelt otherwise (C000003E, 059), or not a call godo cooks
            table = _CALLS.get(int(arch, 16))
            entry = table.get(int(number)) if table else None
    if entry is None:
        return None
    name, code, kind = entry
    success = None if success_raw is None else success_raw == b"yes"
    exit = None if exit_raw is None else int(exit_raw)

    # Which activity, if any, is decided before it is built: building it reads
    # (and, for a record read the general way, checks) the task's fields.
    if kind == "exit":
        success = exit = None  # an exit does not return
    elif not success and code not in _COOKED_WHEN_FAILED:
        return None
    elif code in _DECIDED_BY_ARGUMENTS:
        if kind == "spawn":
            if exit is None or exit <= 0:
                return None
        elif code == S.FCNTL:
            cmd = _INT32[a1]
            if cmd == S.F_SETFD:
                kind = "cloexec"
            elif cmd != S.F_DUPFD and cmd != S.F_DUPFD_CLOEXEC:
                return None
        elif int(a2, 16) & R.CLOSE_RANGE_CLOEXEC:
            kind = "cloexec"
    if task is None:
        task = _checked_task(event.syscall)
    act = Activity(kind, event.ts, event.serial, name, success, exit, *task)

    # What each call adds to its activity, the commonest first.
    if kind == "write":
        act.fd, act.bytes = _INT32[a0 if code == S.WRITE else a2], exit
    elif kind == "open":
        if code == S.OPEN:
            flags, mode = int(a1, 16), int(a2, 16)
        elif code == S.OPEN_AT:
            flags, mode = int(a2, 16), int(a3, 16)
        elif code == S.OPEN_AT2:
            flags, mode = event.openat2_flags, None
        else:
            flags, mode = R.O_CREAT | R.O_WRONLY | R.O_TRUNC, int(a1, 16)
        if flags is None or not (flags & R.O_CREAT or flags & R.O_TMPFILE == R.O_TMPFILE):
            mode = None  # the kernel reads mode only with O_CREAT or O_TMPFILE
        act.flags, act.mode = flags, mode
        if success:
            act.fd = exit
        dirfd = _INT32[a0] if code == S.OPEN_AT or code == S.OPEN_AT2 else R.AT_FDCWD
        item, nametype = _file_entry(event.paths)
        if item is not None:
            act.path, act.dirfd = _located(dirfd, item, _cwd(event.cwd))
        if success and nametype == b"CREATE":
            act.created = True
    elif code == S.CLOSE:
        act.fd = _INT32[a0]
    elif code == S.CLOSE_RANGE:
        act.fd, act.max_fd = int(a0, 16) & 0xFFFFFFFF, int(a1, 16) & 0xFFFFFFFF
        if kind == "cloexec":
            act.cloexec = True
    elif code == S.FCNTL:
        act.fd = _INT32[a0]
        if kind == "dup":
            act.new_fd, act.cloexec = exit, _INT32[a1] == S.F_DUPFD_CLOEXEC
        else:
            act.cloexec = bool(int(a2, 16) & 1)
    elif kind == "dup":
        act.fd, act.new_fd = _INT32[a0], exit
        act.cloexec = bool(code == S.DUP3 and int(a2, 16) & R.O_CLOEXEC)
    elif kind == "spawn":
        act.child = exit
        if code == S.SPAWN_CLONE:
            act.thread = bool(int(a0, 16) & R.CLONE_THREAD)
        elif code == S.SPAWN_FORK:
            act.thread = False
    elif kind == "exec":
        act.argv, act.argc = _argv(event.execve)
        if not act.argv and event.proctitle is not None:
            title = _body(event.proctitle)
            if title.startswith(b"proctitle=") and len(title) > 10:
                act.proctitle = _proctitle(title[10:])
        act.cwd = cwd = _cwd(event.cwd)
        item = _file_item(event.paths)
        if item is not None and code == S.EXEC:
            act.path = _located(R.AT_FDCWD, item, cwd)[0]
    elif kind == "exit":
        act.code = int(a0, 16) & 0xFF
    elif kind == "pivot_root":
        names = [_str(n) for n, _t in event.paths if n is not None]
        if len(names) >= 2:
            # Relative names stay relative: they are relative to the cwd before the
            # call, and this event's CWD record is written after it, relative to the
            # new root. The tracker knows the cwd before.
            act.new_root, act.put_old = _normalise(names[0]), _normalise(names[1])
    elif code == S.CHDIR:
        cwd = _cwd(event.cwd)
        item = _file_item(event.paths)
        act.path = _located(R.AT_FDCWD, item, cwd)[0] if item is not None else cwd
    elif code == S.FCHDIR:
        act.fd = _INT32[a0]
    elif kind == "rename":
        cwd = _cwd(event.cwd)
        old = _item_of(event.paths, b"DELETE")
        new = _item_of(event.paths, b"CREATE")
        if old is not None:
            act.path, act.dirfd = _located(_INT32[a0] if code == S.RENAME_AT else R.AT_FDCWD, old, cwd)
        if new is not None:
            act.new_path, act.new_dirfd = _located(_INT32[a2] if code == S.RENAME_AT else R.AT_FDCWD,
                                                   new, cwd)
    elif kind == "unlink":
        item = _item_of(event.paths, b"DELETE")
        if item is not None:
            act.path, act.dirfd = _located(_INT32[a0] if code == S.UNLINK_AT else R.AT_FDCWD, item,
                                           _cwd(event.cwd))
    elif kind == "kill":
        act.target = _INT32[a0]
        act.signal = _INT32[a2 if code == S.TGKILL else a1]
    return act


def _located(dirfd: int, item: bytes, cwd: str | None) -> tuple[str, int | None]:
    """A PATH record's name as an activity gives it: (path, None), joined with the
    cwd and normalised, or (name, dirfd) for a name relative to a directory fd,
    which only the tracker's fd table can place."""
    if dirfd != R.AT_FDCWD and item[:1] != b"/":
        return _normalise(_str(item)), dirfd
    path = _PATHS.get((cwd, item))
    if path is None:
        path = _join(cwd, _str(item))
        if len(_PATHS) >= _CACHE_SIZE:
            _PATHS.clear()
        _PATHS[cwd, item] = path
    return path, None


def _file_entry(paths) -> tuple[bytes | None, bytes | None]:
    """The name and nametype of the file an event is about: never a PARENT item."""
    for name, nametype in paths:
        if nametype != b"PARENT" and name is not None:
            return name, nametype
    return None, None


def _file_item(paths) -> bytes | None:
    return _file_entry(paths)[0]


def _item_of(paths, nametype: bytes) -> bytes | None:
    for name, kind in paths:
        if kind == nametype and name is not None:
            return name
    return None


def _argv(bodies: list[bytes]) -> tuple[list[str] | None, int | None]:
    """EXECVE records -> argv: split `aN[i]` pieces joined, several records merged.
    Returns (argv, argc) with argc only when the kernel's count disagrees."""
    if not bodies:
        return None, None
    argc = None
    whole: dict[int, bytes] = {}
    pieces: dict[int, dict[int, bytes]] = {}
    for body in bodies:
        for key, value in _KV.findall(body):
            if key == b"argc":
                argc = _dec(value, "argc")
            elif key[:1] == b"a" and not key.endswith(b"_len"):
                match = _ARG_KEY.fullmatch(key)
                if match is None:
                    raise ValueError("bad EXECVE argument key")
                if match[2] is None:
                    whole[int(match[1])] = _text(value)
                else:
                    pieces.setdefault(int(match[1]), {})[int(match[2])] = _text(value)
    for index, parts in pieces.items():
        whole[index] = b"".join(parts[i] or b"" for i in sorted(parts))
    argv = [_str(whole[i]) for i in sorted(whole) if whole[i] is not None]
    if argc is not None and argc == len(argv):
        argc = None
    return argv, argc


def _proctitle(raw: bytes) -> list[str]:
    data = _text(raw) or b""
    return [_str(part) for part in data.rstrip(b"\0").split(b"\0")]

"""Parser, pure Python: record text -> parsed records, a batch at a time.

The twin of `_ext/godo/hotpath/parse.pxi`. A parsed record is six values,

    (kind, ts, serial, size, value, location)

where `kind` says what the record is to the assembler (by its type), `size`
is the length of its text (what keeping it costs an event in
flight, for the types an event keeps), `value` what the assembler files in the event (per type, below) and
`location` the line or datagram number its errors are told by. A record that
cannot be parsed is `(MALFORMED, None, None, 0, why, location)`, in its place
in the batch, so that errors are told in the order the records came. A batch is
one flat list of them, six items a record (`records(batch)` reads it back): a
list of tuples would keep one more object alive per record until the assembler
is done, which the cyclic GC walks again and again (measured: 13% of the pure
twin's time on a 1 MiB chunk).

Values: SYSCALL -> `read_syscall(body, enriched)`; PATH -> (name, nametype), raw;
CWD, EXECVE, PROCTITLE -> the body; OPENAT2 -> its oflag or None; others None.

Log lines in the kernel's own layout (SYSCALL, CWD, PATH, PROCTITLE with the stamp
as the kernel writes it: all but some 0.3% of a log) are read by `read_lines` with
one split a line, the stamp read once per event; any other line takes
`read_line`, which checks everything. Both give the same tuple for a line.
"""

from __future__ import annotations

import posixpath
import re
import struct

from ..errors import MalformedRecord
from ..vocab import records as R
from .contract import MAX_LINE

# What a parsed record is to the assembler: one of the records an event keeps
# (the first four), its PROCTITLE, an OPENAT2, another part of an event, its EOE,
# a record that is no part of any syscall event, or one that could not be parsed.
(SYSCALL_RECORD, PATH_RECORD, CWD_RECORD, EXECVE_RECORD, PROCTITLE_RECORD, OPENAT2_RECORD,
 OTHER_RECORD, EOE_RECORD, LONE_RECORD, MALFORMED) = range(10)
_KINDS = {R.SYSCALL: SYSCALL_RECORD, R.PATH: PATH_RECORD, R.CWD: CWD_RECORD,
          R.EXECVE: EXECVE_RECORD, R.PROCTITLE: PROCTITLE_RECORD, R.OPENAT2: OPENAT2_RECORD,
          R.EOE: EOE_RECORD}
assert {t for t, kind in _KINDS.items() if kind <= EXECVE_RECORD} == R.KEPT_TYPES


def kind_of(rtype: int) -> int:
    kind = _KINDS.get(rtype)
    if kind is None:
        return OTHER_RECORD if R.is_multi_record(rtype) else LONE_RECORD
    return kind

_KV = re.compile(rb"([^\s=]+)=(\S*)")
# Numbers are read strictly and must fit 64 bits, so both twins hold them in C
# integers and agree on every input (int() would take "+1", "1_0", or 5000 digits).
_STAMP = re.compile(rb"([0-9]{1,15})\.([0-9]{1,15}):([0-9]{1,15})")
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_OCT = re.compile(rb"[0-7]{1,21}")
_INT64 = 1 << 63


# -- values -------------------------------------------------------------------

def text(raw: bytes | None) -> bytes | None:
    """A string field as the kernel wrote it: "quoted", bare hex, or (null)."""
    if raw is None or raw == b"(null)":
        return None
    if raw[:1] == b'"':
        return raw[1:-1] if raw[-1:] == b'"' and len(raw) > 1 else raw[1:]
    try:
        return bytes.fromhex(raw.decode("ascii"))
    except ValueError:
        return raw


def is_text(raw: bytes | None) -> bool:
    """A string field as the kernel writes one: absent, "quoted", (null), or pairs
    of hex digits. Anything else is refused, never kept as the text it is."""
    if not raw or raw[:1] == b'"' or raw == b"(null)":
        return True
    return not len(raw) & 1 and not raw.translate(None, _HEX_DIGITS)


def _checked(raw: bytes | None, name: str) -> bytes | None:
    if not is_text(raw):
        raise MalformedRecord(f"{name} is neither quoted nor hex")
    return raw


def execve_args(body: bytes) -> bytes:
    """An EXECVE record's body, each argument checked to be quoted or hex."""
    for key, value in _KV.findall(body):
        if key[1:2].isdigit() and key[:1] == b"a" and not key.endswith(b"_len") \
                and not is_text(value):
            raise MalformedRecord("an argument is neither quoted nor hex")
    return body


def cwd_body(body: bytes) -> bytes:
    """A CWD record's body, its value checked to be quoted or hex."""
    if body.startswith(b"cwd="):
        _checked(body[4:], "cwd")
    return body


def to_str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "backslashreplace")


def dec(raw: bytes | None, name: str) -> int:
    """-?[0-9]{1,19} within int64 (bytes.isdigit is ASCII only)."""
    if raw is None:
        raise ValueError(f"no {name}")
    digits = raw[1:] if raw[:1] == b"-" else raw
    if 0 < len(digits) <= 19 and digits.isdigit():
        value = int(raw)
        if -_INT64 <= value < _INT64:
            return value
    raise ValueError(f"{name} is not a number")


def hex_(raw: bytes | None, name: str) -> int:
    """[0-9a-fA-F]{1,16}."""
    if raw is None:
        raise ValueError(f"no {name}")
    if not 0 < len(raw) <= 16 or raw.translate(None, _HEX_DIGITS):
        raise ValueError(f"{name} is not hex")
    return int(raw, 16)


def normalise(path: str) -> str:
    if "/." in path or "//" in path or (path.endswith("/") and len(path) > 1):
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return path


def join(cwd: str | None, name: str) -> str:
    if name.startswith("/") or cwd is None:
        return normalise(name)
    return normalise(cwd + "/" + name)


def field(body: bytes, key: bytes) -> bytes | None:
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


def fields(body: bytes):
    """Every `key=value` of a body, raw, in order (a key may come twice)."""
    return _KV.findall(body)


# -- one record ---------------------------------------------------------------

def _split_header(data: bytes):
    """`audit(SEC.MS:SERIAL): body` -> (ts, serial, body, enriched); raises MalformedRecord."""
    if not data.startswith(b"audit("):
        raise MalformedRecord("no audit( stamp")
    close = data.find(b"):", 6)
    if close < 0:
        raise MalformedRecord("unterminated audit( stamp")
    stamp = _STAMP.fullmatch(data, 6, close)
    if stamp is None:
        raise MalformedRecord("bad audit( stamp")
    sec, ms, serial = int(stamp[1]), int(stamp[2]), int(stamp[3])
    return (sec + ms / 1000, serial) + _body(data[close + 2:])


def _body(rest: bytes) -> tuple[bytes, bytes | None]:
    """The fields of a record from the text after its `):`, padding dropped, and
    apart from them an ENRICHED log's interpreted part (after 0x1d), or None."""
    cut = rest.find(b"\x1d")
    if cut < 0:
        return rest.strip(b" \n\0"), None
    return rest[:cut].strip(b" \n\0"), rest[cut + 1:].strip(b" \n\0")


def _split_log_line(line: bytes):
    """`type=NAME msg=audit(...): body` -> (type number, rest from audit(); a line
    auditd prefixed with `node=NAME ` (the machine it came from) reads the same."""
    if line.startswith(b"node="):
        line = line[line.find(b" ") + 1:] if b" " in line else b""
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


def _value(rtype: int, body: bytes, enriched: bytes | None):
    """What the assembler files for a record of this type."""
    if rtype == R.SYSCALL:
        return read_syscall(body, enriched)
    if rtype == R.PATH:
        return path_item(body)
    if rtype == R.OPENAT2:
        # The kernel writes oflag=0%llo; int(x, 0) refused the leading zero.
        flags = field(body, b"oflag=")
        if flags and not _OCT.fullmatch(flags):
            raise MalformedRecord("oflag is not octal")
        return int(flags, 8) if flags else None
    if rtype == R.CWD:
        return cwd_body(body)
    if rtype == R.EXECVE:
        return execve_args(body)
    if rtype == R.PROCTITLE:
        return body
    return None


def records(batch: list):
    """The records of a batch, one tuple each (the same tuple object, refilled:
    unpack it, do not keep it)."""
    items = iter(batch)
    return zip(items, items, items, items, items, items)


def read_record(rtype: int, data: bytes, location: int) -> tuple:
    """One record from the text after its type (`audit(...): body`)."""
    try:
        ts, serial, body, enriched = _split_header(data)
        value = _value(rtype, body, enriched)
    except MalformedRecord as exc:
        return MALFORMED, None, None, 0, str(exc), location
    return kind_of(rtype), ts, serial, len(body), value, location


def read_line(line: bytes, location: int) -> tuple | None:
    """One audit.log line, without its newline; None for an empty one."""
    if not line:
        return None
    if len(line) > MAX_LINE:
        return MALFORMED, None, None, 0, "line too long", location
    try:
        rtype, rest = _split_log_line(line)
    except MalformedRecord as exc:
        return MALFORMED, None, None, 0, str(exc), location
    return read_record(rtype, rest, location)


def too_long(location: int) -> tuple:
    """What a line longer than the pipeline reads is, where it is (a line cut
    across chunks is known to be too long only once it ends)."""
    return MALFORMED, None, None, 0, "line too long", location



# A log line's first word, `type=NAME`, for the record types `read_lines` reads
# on its own: SYSCALL, then CWD and PATH (one per file), then PROCTITLE.
_FAST_TYPE_WORDS = {b"type=" + R.TYPE_NAMES[n].encode(): kind_of(n)
                    for n in (R.SYSCALL, R.CWD, R.PATH, R.PROCTITLE)}
# Its second word, `msg=audit(SEC.MS:SERIAL):`, exactly what _split_header takes.
_MSG_STAMP = re.compile(rb"msg=audit\(([0-9]{1,15}\.[0-9]{1,15}):([0-9]{1,15})\):")


def read_lines(lines: list, enriched: bool, first: int, out: list) -> None:
    """Parse whole log lines, each ending in its newline, numbered from `first`,
    into `out`. `enriched`: some line may hold 0x1d (ENRICHED fields follow it)."""
    types = _FAST_TYPE_WORDS
    stamp_of = _MSG_STAMP.fullmatch
    extend = out.extend
    # Lines too long take the general way, which refuses them; most chunks hold none.
    long_lines = max(map(len, lines)) > MAX_LINE + 1
    last_stamp = last_time = ts = serial = None
    for lineno, line in enumerate(lines, first):
        try:
            name, stamp, rest = line.split(b" ", 2)
            if name[:5] == b"node=":  # auditd's prefix naming the machine: the rest reads the same
                name, (stamp, rest) = stamp, rest.split(b" ", 1)
            kind = types[name]
        except (ValueError, KeyError):  # not three words, or not one of the four types
            kind = None
        if kind is not None and stamp != last_stamp:  # an event's records share theirs
            found = stamp_of(stamp)
            if found is None:
                kind = None
            else:
                last_stamp = stamp
                time, serial = found.groups()
                serial = int(serial)
                if time != last_time:  # and many events a millisecond
                    last_time = time
                    sec, _, ms = time.partition(b".")
                    ts = int(sec) + int(ms) / 1000
        if kind is None or long_lines and len(line) > MAX_LINE + 1:
            record = read_line(line[:-1], lineno)
            if record is not None:
                extend(record)
            continue
        if enriched:
            body, names = _body(rest)
        else:
            body, names = rest.strip(b" \n\0"), None
        try:
            if kind == SYSCALL_RECORD:
                value = read_syscall(body, names)
            elif kind == PATH_RECORD:
                value = path_item(body)
            elif kind == CWD_RECORD:
                value = cwd_body(body)
            else:
                value = body
        except MalformedRecord as exc:
            extend((MALFORMED, None, None, 0, str(exc), lineno))
            continue
        extend((kind, ts, serial, len(body), value, lineno))


_FRAME = struct.Struct("=I")


def read_frames(data: bytes, first: int, out: list) -> int:
    """Netlink datagrams packed by a Receiver (per datagram a native u32 size, then
    the datagram as received: nlmsghdr, then the record text), numbered from
    `first`, into `out`. Returns how many there were."""
    off, end, number = 0, len(data), first
    while off + 4 <= end:
        (size,) = _FRAME.unpack_from(data, off)
        off += 4
        frame = data[off:off + size]
        off += size
        if len(frame) < R.NLMSGHDR_SIZE:
            out.extend((MALFORMED, None, None, 0, "short datagram", number))
        else:
            out.extend(read_record(frame[4] | frame[5] << 8, frame[R.NLMSGHDR_SIZE:], number))
        number += 1
    return number - first


# -- SYSCALL and PATH fields ---------------------------------------------------

_HEX = rb"([0-9a-fA-F]{1,16})"  # what hex_ takes
_DEC = rb"(-?[0-9]{1,18})"  # what dec takes, less 19 digits (which may not fit 64 bits)
_COOKED_KEYS = rb"(?:" + "|".join(R.SYSCALL_FIELDS).encode() + rb")="
# A SYSCALL record in the order the kernel writes it (audit_log_exit), each value
# the cook reads already what hex_ and dec accept, single spaces between fields.
# The rest, from ppid= on (audit_log_task_info), is the same text for every call
# of a process: it is read once per process (_task). A record that does not
# match is read the general way, so this never has to be complete.
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
    rb" gid=" + _DEC + rb" euid=" + _DEC + rb" suid=" + _DEC + rb" fsuid=\S* egid=" + _DEC +
    rb" sgid=\S* fsgid=\S* tty=(\S*) ses=" + _DEC +
    rb" comm=(\S*) exe=(\S*)(?: (?!" + _COOKED_KEYS + rb")[^\s=]+=\S*)*")
# A PATH record, `item=N name=NAME ... nametype=TYPE ...`: the same name= and
# nametype= that field() finds (the first of each that starts a field).
_PATH_FAST = re.compile(rb"item=[^ ]* name=([^ ]*)(?: [^ ]*)*? nametype=([^ ]*)")

# Caches of values many events repeat, keyed by their text as the kernel wrote it
# and emptied when full, so any input keeps them small.
CACHE_SIZE = 1024
# task text -> its values in SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS order
_TASKS: dict[bytes, tuple] = {}


def read_syscall(body: bytes, enriched: bytes | None = None) -> tuple:
    """A SYSCALL record -> (values, task, enriched).

    Read in the kernel's layout: values are the raw arch, syscall, success, exit,
    a0..a3 (None when absent) and the task text, all known good, and task is
    (pid, ppid, uid, auid, comm, exe, euid, suid, gid, egid, ses, tty). Read the
    general way: values is the record's key=value dict and task None, and the cook
    checks each value it reads. `enriched` is the ENRICHED part, raw, or None."""
    fast = _SYSCALL_FAST.match(body)
    if fast is not None:
        values = fast.groups()
        task = _TASKS.get(values[8])
        if task is None:
            task = _task(values[8])
        if task is not None:
            return values, task, enriched
    raw = dict(_KV.findall(body))
    _checked(raw.get(b"comm"), "comm")
    _checked(raw.get(b"exe"), "exe")
    return raw, None, enriched


def tty(raw: bytes | None) -> str | None:
    """tty= as the kernel writes it (bare, or `(none)`)."""
    value = to_str(raw)
    return None if value == R.NO_TTY else value


def _task(raw: bytes) -> tuple | None:
    found = _TASK_FAST.fullmatch(raw)
    if found is None:
        return None
    ppid, pid, auid, uid, gid, euid, suid, egid, tty_raw, ses, comm, exe = found.groups()
    if not (is_text(comm) and is_text(exe)):
        return None  # the general way says which is malformed
    task = (int(pid), int(ppid), int(uid), int(auid), to_str(text(comm)), to_str(text(exe)),
            int(euid), int(suid), int(gid), int(egid), int(ses), tty(tty_raw))
    if len(_TASKS) >= CACHE_SIZE:
        _TASKS.clear()
    _TASKS[raw] = task
    return task


def path_item(body: bytes) -> tuple:
    """A PATH record -> (name, nametype), raw."""
    fast = _PATH_FAST.match(body)
    if fast is not None:
        name, nametype = fast.groups()
    else:
        name, nametype = field(body, b"name="), field(body, b"nametype=")
    return text(_checked(name, "name")), nametype


# -- for tests and fixtures ------------------------------------------------------

def parse_record(data: bytes, rtype: int | None = None) -> dict:
    """One record as godo reads it, for tests and fixtures: with `rtype`, `data` is a
    netlink body; without, an audit.log line. Raises MalformedRecord."""
    if rtype is None:
        rtype, data = _split_log_line(data.rstrip(b"\n"))
    ts, serial, body, _enriched = _split_header(data)
    out = {}
    for key, value in _KV.findall(body):
        name = key.decode("ascii", "backslashreplace")
        if name in R.TEXT_FIELDS or (rtype == R.EXECVE and name[:1] == "a" and name != "argc"
                                     and not name.endswith("_len")):
            out[name] = to_str(text(value))
        elif name in R.DECIMAL_FIELDS or name in R.HEX_FIELDS:
            try:
                out[name] = (dec if name in R.DECIMAL_FIELDS else hex_)(value, name)
            except ValueError as exc:
                raise MalformedRecord(str(exc)) from None
        else:
            out[name] = value.decode("utf-8", "backslashreplace")
    return {"type": rtype, "ts": ts, "serial": serial, "fields": out}

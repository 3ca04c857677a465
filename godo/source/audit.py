"""The kernel's audit control plane over NETLINK_AUDIT: status, rules, ownership.

This is not the hot path (that is `Receiver`); it sends a handful of requests at
start and at stop, so it is plain Python on a `socket.AF_NETLINK` socket.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass, field

from ..errors import AuditError, AuditBusyError

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4

AUDIT_GET, AUDIT_SET, AUDIT_USER = 1000, 1001, 1005
AUDIT_ADD_RULE, AUDIT_DEL_RULE, AUDIT_LIST_RULES = 1011, 1012, 1013

STATUS_ENABLED = 0x01
STATUS_FAILURE = 0x02
STATUS_PID = 0x04
STATUS_RATE_LIMIT = 0x08
STATUS_BACKLOG_LIMIT = 0x10
STATUS_BACKLOG_WAIT_TIME = 0x20

# struct audit_rule_data
FILTER_EXIT = 0x04
ACTION_ALWAYS = 2
BITMASK_SIZE = 64
MAX_FIELDS = 64
OP_EQUAL = 0x40000000
OP_NOT_EQUAL = 0x30000000
FIELD_PID = 0
FIELD_LOGINUID = 9  # auid
FIELD_ARCH = 11
FIELD_PPID = 18
FIELD_SESSIONID = 25
FIELD_SUCCESS = 104
FIELD_ARG0 = 200
FIELD_EXE = 112
FIELD_FILTERKEY = 210
# Fields whose value is a string in `buf` (the value slot holds its length).
STRING_FIELDS = frozenset({
    13, 14, 15, 16, 17,          # subj_user/role/type/sen/clr
    19, 20, 21, 22, 23,          # obj_user/role/type/lev_low/lev_high
    105, 107, FIELD_EXE,         # watch, dir, exe
    FIELD_FILTERKEY,
})

_NLMSGHDR = struct.Struct("=IHHII")
_STATUS = struct.Struct("=11I")
_RULE_HEAD = struct.Struct("=3I")
_RULE_SIZE = _RULE_HEAD.size + 4 * (BITMASK_SIZE + 3 * MAX_FIELDS) + 4

GODO_KEY = "godo"


@dataclass(frozen=True)
class AuditStatus:
    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int
    feature_bitmap: int
    backlog_wait_time: int
    backlog_wait_time_actual: int

    @property
    def locked(self) -> bool:
        return self.enabled == 2


@dataclass
class AuditRule:
    """One syscall rule: `syscalls` numbers, (field, op, value) triples, a key."""

    syscalls: frozenset[int] = frozenset()
    fields: list[tuple[int, int, int | str]] = field(default_factory=list)
    flags: int = FILTER_EXIT
    action: int = ACTION_ALWAYS
    all_syscalls: bool = False

    @property
    def keys(self) -> list[str]:
        # The kernel joins several keys of one rule with \x01.
        found = []
        for fid, _op, value in self.fields:
            if fid == FIELD_FILTERKEY:
                found.extend(str(value).split("\x01"))
        return found

    def pack(self) -> bytes:
        if len(self.fields) > MAX_FIELDS:
            raise AuditError(f"audit rule has {len(self.fields)} fields, the kernel takes {MAX_FIELDS}")
        mask = [0xFFFFFFFF if self.all_syscalls else 0] * BITMASK_SIZE
        for nr in self.syscalls:
            mask[nr // 32] |= 1 << (nr % 32)
        fids, values, ops, buf = [], [], [], bytearray()
        for fid, op, value in self.fields:
            fids.append(fid)
            ops.append(op)
            if fid in STRING_FIELDS:
                data = str(value).encode()
                values.append(len(data))
                buf += data
            else:
                values.append(int(value) & 0xFFFFFFFF)
        pad = [0] * (MAX_FIELDS - len(fids))
        return (
            _RULE_HEAD.pack(self.flags, self.action, len(fids))
            + struct.pack(f"={BITMASK_SIZE}I", *mask)
            + struct.pack(f"={MAX_FIELDS}I", *(fids + pad))
            + struct.pack(f"={MAX_FIELDS}I", *(values + pad))
            + struct.pack(f"={MAX_FIELDS}I", *(ops + pad))
            + struct.pack("=I", len(buf))
            + bytes(buf)
        )

    @classmethod
    def unpack(cls, data: bytes) -> "AuditRule":
        if len(data) < _RULE_SIZE:
            raise AuditError(f"short audit rule from the kernel ({len(data)} bytes)")
        flags, action, count = _RULE_HEAD.unpack_from(data)
        off = _RULE_HEAD.size
        mask = struct.unpack_from(f"={BITMASK_SIZE}I", data, off)
        off += 4 * BITMASK_SIZE
        fids = struct.unpack_from(f"={MAX_FIELDS}I", data, off)
        values = struct.unpack_from(f"={MAX_FIELDS}I", data, off + 4 * MAX_FIELDS)
        ops = struct.unpack_from(f"={MAX_FIELDS}I", data, off + 8 * MAX_FIELDS)
        (buflen,) = struct.unpack_from("=I", data, off + 12 * MAX_FIELDS)
        buf = data[_RULE_SIZE:_RULE_SIZE + buflen]
        fields, pos = [], 0
        for i in range(min(count, MAX_FIELDS)):
            if fids[i] in STRING_FIELDS:
                value = buf[pos:pos + values[i]].decode(errors="backslashreplace")
                pos += values[i]
                fields.append((fids[i], ops[i], value))
            else:
                fields.append((fids[i], ops[i], values[i]))
        all_syscalls = all(word == 0xFFFFFFFF for word in mask)
        syscalls = frozenset() if all_syscalls else frozenset(
            w * 32 + b for w, word in enumerate(mask) if word for b in range(32) if word >> b & 1)
        return cls(syscalls, fields, flags, action, all_syscalls)


class AuditControl:
    """Requests to the kernel's audit subsystem on a private netlink socket."""

    def __init__(self) -> None:
        try:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
            self._sock.bind((0, 0))
        except PermissionError:
            raise AuditError("cannot open the kernel's audit socket: run godo as root") from None
        except OSError as exc:
            if exc.errno in (errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
                raise AuditError("this kernel has no audit support (CONFIG_AUDIT is off)") from None
            raise AuditError(f"cannot open the kernel's audit socket: {exc.strerror}") from None
        self._sock.settimeout(5.0)
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "AuditControl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests -----------------------------------------------------------

    def status(self) -> AuditStatus:
        replies = self._request(AUDIT_GET, b"", want=AUDIT_GET)
        data = replies[0][1]
        padded = data[:_STATUS.size].ljust(_STATUS.size, b"\0")
        return AuditStatus(*_STATUS.unpack(padded)[1:])

    def set_status(self, *, enabled: int | None = None, pid: int | None = None,
                   backlog_limit: int | None = None, backlog_wait_time: int | None = None,
                   failure: int | None = None, rate_limit: int | None = None,
                   sock: socket.socket | None = None) -> None:
        """AUDIT_SET the given settings. `sock` sends on another netlink socket:
        registering `pid` binds the audit stream to the socket that asked."""
        mask, values = 0, [0] * 10
        for bit, index, value in (
            (STATUS_ENABLED, 0, enabled), (STATUS_FAILURE, 1, failure), (STATUS_PID, 2, pid),
            (STATUS_RATE_LIMIT, 3, rate_limit), (STATUS_BACKLOG_LIMIT, 4, backlog_limit),
            (STATUS_BACKLOG_WAIT_TIME, 8, backlog_wait_time),
        ):
            if value is not None:
                mask |= bit
                values[index] = value
        payload = _STATUS.pack(mask, *values)
        try:
            self._request(AUDIT_SET, payload, sock=sock)
        except AuditError as exc:
            if pid and exc.errno == errno.EEXIST:
                raise busy_error(self.status().pid) from None
            raise

    def list_rules(self) -> list[tuple[AuditRule, bytes]]:
        """Every rule in the kernel, parsed and as the raw bytes that delete it."""
        return [(AuditRule.unpack(data), data)
                for _t, data in self._request(AUDIT_LIST_RULES, b"", want=AUDIT_LIST_RULES, multi=True)]

    def add_rule(self, rule: AuditRule) -> bytes:
        packed = rule.pack()
        self._request(AUDIT_ADD_RULE, packed)
        return packed

    def delete_rule(self, packed: bytes) -> None:
        self._request(AUDIT_DEL_RULE, packed)

    def send_user_message(self, text: bytes) -> None:
        """Queue an AUDIT_USER record carrying `text` into the audit stream."""
        # The kernel overwrites the last byte with a NUL terminator: give it one.
        self._request(AUDIT_USER, text + b"\0")

    def delete_rules_with_key(self, key: str = GODO_KEY) -> int:
        """Remove every rule carrying `key`; returns how many were removed."""
        removed = 0
        for rule, raw in self.list_rules():
            if key in rule.keys:
                try:
                    self.delete_rule(raw)
                    removed += 1
                except AuditError as exc:
                    if exc.errno != errno.ENOENT:
                        raise
        return removed

    # -- netlink plumbing ---------------------------------------------------

    def _request(self, msg_type: int, payload: bytes, *, want: int | None = None,
                 multi: bool = False, sock: socket.socket | None = None) -> list[tuple[int, bytes]]:
        sock = sock or self._sock
        self._seq += 1
        seq = self._seq
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        try:
            sock.send(header + payload)
        except OSError as exc:
            raise _audit_error(msg_type, exc.errno) from None
        replies: list[tuple[int, bytes]] = []
        acked = False
        while True:
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                raise AuditError(f"the kernel did not answer audit request {msg_type}") from None
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, rseq, _pid = _NLMSGHDR.unpack_from(data, off)
                # The kernel's nlmsg_len is not trustworthy for audit records; replies to
                # our requests are well-formed, and anything else on the socket is skipped.
                length = max(length, _NLMSGHDR.size)
                body = data[off + _NLMSGHDR.size:off + length]
                off += (length + 3) & ~3
                if rseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", body)
                    if code:
                        raise _audit_error(msg_type, -code)
                    acked = True
                elif mtype == NLMSG_DONE:
                    return replies
                elif want is not None and mtype == want:
                    replies.append((mtype, body))
            if acked and (want is None or (replies and not multi)):
                return replies


def _audit_error(msg_type: int, code: int) -> AuditError:
    what = {AUDIT_GET: "read the audit status", AUDIT_SET: "change the audit settings",
            AUDIT_ADD_RULE: "add an audit rule", AUDIT_DEL_RULE: "delete an audit rule",
            AUDIT_LIST_RULES: "list the audit rules"}.get(msg_type, f"send audit request {msg_type}")
    if code in (errno.EPERM, errno.EACCES):
        text = f"not allowed to {what}: run godo as root (CAP_AUDIT_CONTROL)"
    else:
        text = f"the kernel refused to {what}: {os.strerror(code)}"
    exc = AuditError(text)
    exc.errno = code
    return exc


def busy_error(owner: int) -> AuditBusyError:
    """The one line for an audit stream that another daemon owns."""
    return AuditBusyError(f"the audit stream is owned by another daemon ({describe_pid(owner)}); "
                          "use --multicast to record beside it")


def describe_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f"{f.read().strip()}, pid {pid}"
    except OSError:
        return f"pid {pid}"

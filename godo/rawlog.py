"""Write received netlink frames as audit.log RAW lines (`godo record --raw-log`,
the benchmark corpus and the golden fixtures all keep records this way)."""

from __future__ import annotations

import struct

from ._records import TYPE_NAMES, EOE

_SIZE = struct.Struct("=I")
_NLMSGHDR_SIZE = 16
_NAMES = {number: name.encode() for number, name in TYPE_NAMES.items()}


def frames_to_lines(batch: bytes, *, keep_eoe: bool = False) -> bytes:
    """Packed frames -> `type=NAME msg=audit(...): ...` lines. auditd does not
    write EOE to its log; neither does this unless asked."""
    out = []
    off, end = 0, len(batch)
    while off + 4 <= end:
        (size,) = _SIZE.unpack_from(batch, off)
        frame = batch[off + 4:off + 4 + size]
        off += 4 + size
        if len(frame) < _NLMSGHDR_SIZE:
            continue
        rtype = frame[4] | frame[5] << 8
        if rtype == EOE and not keep_eoe:
            continue
        name = _NAMES.get(rtype) or b"UNKNOWN[%d]" % rtype
        body = frame[_NLMSGHDR_SIZE:].rstrip(b"\0\n")
        out.append(b"type=%s msg=%s\n" % (name, body))
    return b"".join(out)


def lines_to_frames(lines: bytes) -> bytes:
    """The other way, for tests: RAW lines -> packed frames as a Receiver gives
    them, so one record can be fed through both doors."""
    from ._records import type_number
    out = []
    for line in lines.splitlines():
        if not line.startswith(b"type="):
            continue
        space = line.find(b" ")
        rtype = type_number(line[5:space])
        body = line[space + 1 + len(b"msg="):]
        frame = struct.pack("=IHHII", len(body), rtype, 0, 0, 0) + body
        out.append(_SIZE.pack(len(frame)) + frame)
    return b"".join(out)

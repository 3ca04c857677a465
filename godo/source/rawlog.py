"""Write received netlink frames as audit.log RAW lines (`godo record --raw-log`,
the benchmark corpus and the golden fixtures all keep records this way)."""

from __future__ import annotations

import struct

from ..hotpath.contract import EOE, NLMSGHDR_SIZE, TYPE_NAMES

_SIZE = struct.Struct("=I")
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
        if len(frame) < NLMSGHDR_SIZE:
            continue
        rtype = frame[4] | frame[5] << 8
        if rtype == EOE and not keep_eoe:
            continue
        name = _NAMES.get(rtype) or b"UNKNOWN[%d]" % rtype
        body = frame[NLMSGHDR_SIZE:].rstrip(b"\0\n")
        out.append(b"type=%s msg=%s\n" % (name, body))
    return b"".join(out)

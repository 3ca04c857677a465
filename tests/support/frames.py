"""Netlink frames from audit.log lines: one record fed through both doors of a
pipeline (`feed_log` and `feed_frames`)."""

from __future__ import annotations

import struct

from godo.vocab.records import type_number

_SIZE = struct.Struct("=I")


def lines_to_frames(lines: bytes) -> bytes:
    """The other way, for tests: RAW lines -> packed frames as a Receiver gives
    them, so one record can be fed through both doors."""
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

"""Receive audit datagrams from netlink in batches: the pure-Python twin of
`_ext/godo/source/_receive_c.pyx`.

A batch is one bytes object holding every datagram read in one call, each as a
native u32 size followed by the datagram as received. The size is the one `recv`
returned: the kernel's own `nlmsg_len` is not reliable for audit records.
"""

from __future__ import annotations

import errno
import select
import socket
import struct

from ..vocab.records import MAX_DATAGRAM

_SIZE = struct.Struct("=I")


class Receiver:
    def __init__(self, fd: int, slots: int = 64):
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._slots = slots
        self._buf = bytearray(MAX_DATAGRAM)
        self.calls = 0
        self.datagrams = 0
        # Counted, never raised: a wait cut short by a signal (seen only by the
        # compiled twin: Python's poll retries it), readable with nothing to read,
        # and ENOBUFS, the kernel saying it dropped datagrams our buffer had no room for.
        self.interrupted = 0
        self.empty = 0
        self.overruns = 0

    def receive(self, timeout_ms: int) -> bytes:
        """Wait up to `timeout_ms` for datagrams, then take what is there (up to
        `slots` of them). Returns b"" when nothing came."""
        if not self._poll.poll(timeout_ms):
            return b""
        out = bytearray()
        view = memoryview(self._buf)
        got = 0
        while got < self._slots:
            try:
                size = self._sock.recv_into(self._buf)
            except BlockingIOError:
                if not got:
                    self.empty += 1
                break
            except InterruptedError:
                self.interrupted += 1
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1
                continue
            got += 1
            out += _SIZE.pack(size)
            out += view[:size]
            self.datagrams += 1
        self.calls += 1
        return bytes(out)

    def detach(self) -> None:
        """Let go of the socket without closing it: its owner closes it."""
        self._sock.detach()

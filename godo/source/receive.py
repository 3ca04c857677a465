"""The receiver: audit datagrams from netlink, up to `slots` a call, as one
bytes object (per datagram a native u32 size, then the datagram as received).
The compiled twin (`_ext/godo/source/_receive_c.pyx`) calls recvmmsg with the GIL released;
`_receive_py` is its pure-Python twin. `godo.twins` picks."""

from ..twins import load

Receiver = load("receive").Receiver

__all__ = ["Receiver"]

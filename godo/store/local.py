"""Database servers on this host, found through /proc: the port the embedded
FerretDB listens on, and the processes serving a loopback database URI (godo
must not audit them: they write what godo sends them, which would feed back)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

_TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp
_DEFAULT_PORT = 27017


def _listening(tables) -> list[tuple[int, str]]:
    """(port, socket inode) of every listening TCP socket in these /proc tables."""
    out = []
    for table in tables:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _TCP_LISTEN:
                out.append((int(cols[1].rsplit(":", 1)[1], 16), cols[9]))
    return out


def _socket_inodes(pid: int | str) -> set[str]:
    """The inodes of the sockets `pid` holds open (`socket:[INODE]`)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_port(pid: int) -> int | None:
    """The TCP port `pid` listens on, or None if it does not (yet)."""
    try:
        inodes = _socket_inodes(pid)
    except OSError:
        return None
    for port, inode in _listening([f"/proc/{pid}/net/tcp"]):
        if inode in inodes:
            return port
    return None


def server_pids(uri: str | None) -> set[int]:
    """The pids listening on the loopback addresses of a database URI."""
    if not uri:
        return set()
    try:
        hosts = urlsplit(uri).netloc.rsplit("@", 1)[-1].split(",")
    except ValueError:
        return set()
    ports = set()
    for host in hosts:
        if host.startswith("["):  # [::1]:27017
            name, _, port = host[1:].partition("]")
            port = port.lstrip(":")
        else:
            name, _, port = host.partition(":")
        if name in ("localhost", "::1") or name.startswith("127."):
            ports.add(int(port) if port.isdigit() else _DEFAULT_PORT)
    if not ports:
        return set()
    wanted = {inode for port, inode in _listening(["/proc/net/tcp", "/proc/net/tcp6"]) if port in ports}
    pids = set()
    if not wanted:
        return pids
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _socket_inodes(entry) & wanted:
                    pids.add(int(entry))
            except OSError:
                continue
    return pids

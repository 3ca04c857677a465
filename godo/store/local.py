"""Database servers on this host, found through /proc: the port the embedded
FerretDB listens on, whether a running one is provably godo's own, and the
processes serving a loopback or Unix-socket database URI (godo must not audit
them: they write what godo sends them, which would feed back)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from .uri import uri_parts

from ..fds import open_fds

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


def socket_inodes(pid: int | str) -> set[str]:
    """The inodes of the sockets `pid` holds open (`socket:[INODE]`); none when it is
    gone."""
    return {target[8:-1] for target in open_fds(pid).values()
            if target is not None and target.startswith("socket:[")}


def listening_port(pid: int) -> int | None:
    """The TCP port `pid` listens on, or None if it does not (yet)."""
    inodes = socket_inodes(pid)
    for port, inode in _listening([f"/proc/{pid}/net/tcp"]):
        if inode in inodes:
            return port
    return None


def server_pids(uri: str | None) -> set[int]:
    """The pids listening on the loopback addresses of a database URI."""
    if not uri:
        return set()
    ports, sockets = set(), set()
    for host in uri_parts(uri).host_list:
        if "%2f" in host.lower():  # a Unix socket path, percent-encoded
            sockets.add(unquote(host))
            continue
        if host.startswith("["):  # [::1]:27017
            name, _, port = host[1:].partition("]")
            port = port.lstrip(":")
        else:
            name, _, port = host.partition(":")
        if name in ("localhost", "::1") or name.startswith("127."):
            ports.add(int(port) if port.isdigit() else _DEFAULT_PORT)
    wanted = {inode for port, inode in _listening(["/proc/net/tcp", "/proc/net/tcp6"])
              if port in ports} if ports else set()
    wanted |= _unix_listening(sockets)
    pids = set()
    if not wanted:
        return pids
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            if socket_inodes(entry) & wanted:
                pids.add(int(entry))
    return pids


def _unix_listening(paths: set[str]) -> set[str]:
    """The inodes of the listening Unix sockets bound to these paths."""
    if not paths:
        return set()
    try:
        lines = Path("/proc/net/unix").read_text(errors="replace").splitlines()[1:]
    except OSError:
        return set()
    found = set()
    for line in lines:
        cols = line.split(None, 7)
        # Num RefCount Protocol Flags Type St Inode Path; flag 0x10000: listening
        if len(cols) == 8 and int(cols[3], 16) & 0x10000 and cols[7] in paths:
            found.add(cols[6])
    return found


def unprovable(pid: int, lock: os.stat_result, args: tuple[str, ...]) -> str | None:
    """Why `pid` is not provably the FerretDB godo started on this directory, or
    None when it is: a process of our own uid, running a binary, whose arguments
    name this directory (`args`, each one of them) and which holds its lock open
    (`lock`: the lock file's stat, so a reused pid cannot pass)."""
    proc = f"/proc/{pid}"
    try:
        if os.stat(proc).st_uid != os.geteuid():
            return f"pid {pid} is not of uid {os.geteuid()}"
        os.readlink(f"{proc}/exe")
        cmdline = Path(f"{proc}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid} is gone"
    named = {arg.decode(errors="replace") for arg in cmdline}
    missing = [arg for arg in args if arg not in named]
    if missing:
        return f"pid {pid} was not started with {missing[0]}"
    try:
        fds = os.listdir(f"{proc}/fd")
    except OSError:
        return f"pid {pid} is gone"
    for fd in fds:
        try:
            st = os.stat(f"{proc}/fd/{fd}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (lock.st_dev, lock.st_ino):
            return None
    return f"pid {pid} does not hold the directory's lock"

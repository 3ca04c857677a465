"""Servers the store and fault tests of every tier stop, pause or restart: a private
FerretDB a test kills and brings back on the same socket, and a server that
accepts connections but never answers."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from urllib.parse import quote

from godo.store.ferret import EmbeddedFerret


def _alive(pid: int) -> bool:
    """Whether a process (or a zombie not yet reaped) has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """A private FerretDB that a test kills and brings back on the same socket."""

    def __init__(self, root: Path):
        self.root = root
        self.ferret = EmbeddedFerret(root).start()

    def uri(self, db: str, auth: str = "") -> str:
        return (f"mongodb://{auth}{quote(str(self.ferret.socket_path), safe='')}/{db}"
                "?directConnection=true" + ("&authMechanism=PLAIN" if auth else ""))

    def kill(self) -> None:
        os.kill(self.ferret.pid, signal.SIGKILL)
        self.ferret.stop()  # reaps it and lets go of the directory's lock

    def restart(self) -> None:
        self.ferret = EmbeddedFerret(self.root).start()

    def stop(self) -> None:
        self.ferret.stop()


class _MuteServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()

"""Reaching the FerretDB that serves a data directory: the one already running
there (read from its endpoint file, used only when provably godo's own), else one
started (godo/store/ferret.py runs and stops it). How a second godo command (`godo
tree` while `godo record` runs) shares the server the first one started."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pymongo.errors import PyMongoError

from ..errors import GodoError, StoreError
from ..paths import UnsafePath, open_private
from .ferret import _ENDPOINT, EmbeddedFerret, ServerRunning


def read_endpoint(data_dir: str | os.PathLike, directory: Path | None = None) -> dict | None:
    """Where the server of `data_dir` says it is: pid, socket, TCP port (or None).
    None when there is no endpoint (or a torn one); one another user could have
    written is refused (`UnsafePath`)."""
    path = (directory or Path(data_dir) / "ferretdb") / _ENDPOINT
    try:
        fd = open_private(path, os.O_RDONLY, "FerretDB's endpoint")
    except UnsafePath:
        raise
    except GodoError:
        return None  # none yet, or gone meanwhile
    try:
        with os.fdopen(fd, "rb") as f:
            endpoint = json.loads(f.read())
        port = endpoint.get("port")
        return {"pid": int(endpoint["pid"]), "socket": str(endpoint["socket"]),
                "port": None if port is None else int(port)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def connect_or_start(data_dir: str | os.PathLike, **options) -> EmbeddedFerret:
    """The FerretDB serving `data_dir`: the one already running (if provably
    godo's own), else a new one.

    Use the result as a context manager: on exit it stops the server if no other
    godo uses it. A server that holds the directory but does not answer within
    `start_timeout` (it may still be starting) is a StoreError.
    """
    ferret = EmbeddedFerret(data_dir, **options)
    ferret._join()
    try:
        return _connect_or_start(ferret)
    except BaseException:
        ferret._leave()
        raise


def _connect_or_start(ferret: EmbeddedFerret) -> EmbeddedFerret:
    deadline = time.monotonic() + ferret.start_timeout
    why = "no endpoint"
    while True:
        try:
            return ferret._start()
        except ServerRunning:
            pass
        endpoint = read_endpoint(ferret.root, ferret.dir)
        if endpoint is not None:
            pid = endpoint["pid"]
            why = ferret.why_not_ours(pid)
            if why is None:
                try:
                    ferret._attach(pid, endpoint["port"])
                    ferret.ping(timeout=1.0)
                    return ferret
                except PyMongoError as exc:
                    ferret.pid = ferret.port = None
                    why = f"pid {pid} does not answer: {' '.join(str(exc).split())[:200]}"
        if time.monotonic() > deadline:
            raise StoreError(f"the FerretDB serving {ferret.dir} cannot be used: {why}")
        time.sleep(0.1)

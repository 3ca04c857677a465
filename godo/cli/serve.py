"""`godo store serve`: the embedded FerretDB of a data directory kept up in the
foreground, its URI on stdout, for pymongo, mongosh and other godo commands.

It is one more user of the server (see `godo.store.ferret`): a server already
running for the directory (a `godo record` daemon's) is joined, not doubled, and
every godo command that runs meanwhile finds it and uses it. On SIGTERM, SIGINT or
SIGHUP it leaves, and stops the server if no other godo uses it then; a server that
dies under it ends it with one line and exit 1."""

from __future__ import annotations

import signal
import sys

from ..errors import StoreError
from .output import shown
from .settings import data_dir, store_urls

# How often the server is looked at while nothing else happens.
_WATCH_SECONDS = 1.0
_LEAVE_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def cmd_store_serve(args) -> int:
    mongo, postgresql = store_urls(args)
    if mongo:
        raise StoreError("a MongoDB URI is configured (--mongo, GODO_MONGO_URI or [store] uri): "
                         "there is no embedded server to serve")
    from ..store.ferret import connect_or_start
    from .record import sd_notify

    directory = data_dir(args, create=True)
    # The signals that end it are taken as they come, in this loop, not as the
    # exceptions the other commands unwind with: leaving is the normal end here.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _LEAVE_ON)
    try:
        # With a fleet's PostgreSQL URL: this host's front-end on the cluster.
        with connect_or_start(directory, postgresql=postgresql) as ferret:
            how = "started" if ferret.owned else "joined the running one"
            print(ferret.uri, flush=True)
            print(f"godo: FerretDB pid {ferret.pid} serves {shown(str(directory))} ({how}); "
                  "godo commands on this data directory use it. Ctrl-C or SIGTERM leaves it "
                  "(it stops when no other godo uses it)", file=sys.stderr, flush=True)
            sd_notify("READY=1")
            died = _wait(ferret)
            sd_notify("STOPPING=1")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    if died:
        print(f"godo: the FerretDB serving {shown(str(directory))} died: {died}", file=sys.stderr)
        return 1
    return 0


def _wait(ferret) -> str | None:
    """Until a leaving signal (None) or the server's death (what is known of it)."""
    while signal.sigtimedwait(_LEAVE_ON, _WATCH_SECONDS) is None:
        why = ferret.gone()
        if why is not None:
            return f"{why}; its log's last line: {shown(ferret.last_log_line())}"
    return None

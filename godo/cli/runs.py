"""`godo runs` and `godo prune`: the runs recorded, newest first, and removing them
with every document they wrote."""

from __future__ import annotations

from ..store.queries import delete_runs, known_host, run_id, runs
from ..store.retention import expired_runs, refuse_running, said
from .output import nothing, print_lines, terminal_width, write_jsonl
from .settings import database
from .status import as_seen_now


def cmd_runs(args) -> int:
    from .views import render_runs
    with database(args) as db:
        host = known_host(db, args.host) if args.host else None
        docs = [as_seen_now(run) for run in runs(db, args.limit, host)]
    if not docs:
        return nothing("no runs recorded")
    if args.json:
        write_jsonl(docs)
    else:
        print_lines(render_runs(docs, terminal_width()))
    return 0


def cmd_prune(args) -> int:
    with database(args) as db:
        if args.run is not None:
            ids = [run_id(db, args.run)]
            refuse_running(db, ids, as_seen_now)
        else:
            ids = expired_runs(db, args.before, as_seen_now)
        counts = delete_runs(db, ids)
    print(said(counts))  # on stdout, for scripts
    return 0

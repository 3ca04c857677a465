"""`godo hosts`: the hosts that recorded into the store (a fleet writes to one),
each with its runs, when it was first and last seen, and its newest run."""

from __future__ import annotations

from ..store.queries import host_summaries
from .output import nothing, print_lines, terminal_width, write_jsonl
from .settings import database
from .status import as_seen_now


def cmd_hosts(args) -> int:
    from .views import render_hosts
    with database(args) as db:
        rows = host_summaries(db, seen=as_seen_now)
    if not rows:
        return nothing("no hosts recorded: run `godo record -- CMD` first")
    if args.limit is not None:
        rows = rows[:args.limit]
    if args.json:
        write_jsonl(rows)
    else:
        print_lines(render_hosts(rows, terminal_width()))
    return 0

"""`godo tree`, `godo files` and `godo containers`: what was recorded, as tables
and trees, or as JSON lines (one document a line). A query with no match is an
answer, said on stderr, with exit status 0; no store, or a run or container
that does not exist, is an error."""

from __future__ import annotations

import fnmatch

from ..store.queries import (WORKLOAD, container_names, container_summaries, glob_regex, query,
                             selection)
from .output import nothing, print_lines, print_rich, terminal_width, write_jsonl
from .settings import database


def cmd_tree(args) -> int:
    from .views import render_tree, subtree
    with database(args) as db:
        terms, title = _selection(db, args, "start", "exit_time")
        if terms is None:
            return nothing(title)
        if not args.runtime:
            terms.append(WORKLOAD)
        docs = list(db.processes.find(query(terms)))
        if args.pid is not None:
            docs = subtree(docs, args.pid)
            title += f", pid {args.pid}"
        names = container_names(db, {d.get("container") for d in docs} - {None})
    if not docs:
        return nothing(f"no processes recorded ({title})")
    if args.json:
        write_jsonl(docs)
        return 0
    print_rich(render_tree(docs, title, names))
    return 0


def cmd_files(args) -> int:
    from .views import render_files
    with database(args) as db:
        terms, title = _selection(db, args, "opened", "closed")
        if terms is None:
            return nothing(title)
        if args.pid is not None:
            terms.append({"pid": args.pid})
        if args.written:
            terms.append({"writes": {"$gt": 0}})
        if not args.runtime:
            terms.append(WORKLOAD)
        if args.path:
            pattern = glob_regex(args.path)
            terms.append({"$or": [{"path": {"$regex": pattern}}, {"host_path": {"$regex": pattern}}]})
        files = list(db.files.find(query(terms)).sort([("opened", 1)]))
        if args.path:
            # The database's regex dialect has its corners (a newline before `$`):
            # the glob decides.
            files = [f for f in files if any(
                fnmatch.fnmatchcase(f.get(k) or "", args.path) for k in ("path", "host_path"))]
        ids = sorted({f["process"] for f in files})
        procs = {p["_id"]: p for p in db.processes.find({"_id": {"$in": ids}})} if ids else {}
    if not files:
        return nothing(f"no files recorded ({title})")
    if args.json:
        write_jsonl(files)
        return 0
    print_lines(render_files(files, procs, terminal_width()))
    return 0


def cmd_containers(args) -> int:
    from .views import render_containers
    with database(args) as db:
        docs = container_summaries(db)
    if not docs:
        return nothing("no containers recorded")
    if args.json:
        write_jsonl(docs)
        return 0
    print_lines(render_containers(docs, terminal_width()))
    return 0


def _selection(db, args, start: str, end: str):
    return selection(db, run=args.run, container=args.container, since=args.since,
                     until=args.until, start=start, end=end)

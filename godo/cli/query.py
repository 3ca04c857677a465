"""`godo tree`, `godo files` and `godo containers`: what was recorded, as tables
and trees, or as JSON lines (one document a line). A query with no match is an
answer, said on stderr, with exit status 0; no store, or a run or container
that does not exist, is an error."""

from __future__ import annotations

import fnmatch
import sys
from itertools import islice

from ..errors import ConfigError
from ..store.queries import (WORKLOAD, container_names, container_summaries, path_terms, query,
                             selection)
from .output import nothing, print_lines, print_rich, terminal_width, write_jsonl
from .settings import database


def _local(stamp) -> str:
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cmd_tree(args) -> int:
    from .views import render_tree, subtree
    _check_window(args)
    with database(args) as db:
        terms, title = _selection(db, args, "start", "exit_time")
        if terms is None:
            return nothing(title)
        if not args.runtime:
            terms.append(WORKLOAD)
        found = db.processes.find(query(terms)).sort("start", 1)
        if args.pid is None:
            docs, cut = _limited(found, args.limit)
        else:  # a subtree: every process of the selection first
            docs, cut = _cut(subtree(list(found), args.pid), args.limit)
            title += f", pid {args.pid}"
        names = container_names(db, {d.get("container") for d in docs} - {None})
    if not docs:
        return nothing(f"no processes recorded ({title})")
    if args.json:
        write_jsonl(docs)
    else:
        print_rich(render_tree(docs, title, names))
    return _said_cut(cut, len(docs), "processes")


def cmd_files(args) -> int:
    from .views import render_files
    _check_window(args)
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
            terms.append(path_terms(args.path))
        found = db.files.find(query(terms)).sort("opened", 1)
        if args.path:
            files, cut = _globbed(found, args.path, args.limit)
        else:
            files, cut = _limited(found, args.limit)
        # A file names its opener's command; documents older than that field get
        # it from their process.
        ids = sorted({f["process"] for f in files if f.get("comm") is None})
        procs = {p["_id"]: p for p in db.processes.find(
            {"_id": {"$in": ids}}, {"comm": 1})} if ids else {}
    if not files:
        return nothing(f"no files recorded ({title})")
    if args.json:
        write_jsonl(files)
    else:
        print_lines(render_files(files, procs, terminal_width()))
    return _said_cut(cut, len(files), "files")


def cmd_containers(args) -> int:
    from .views import render_containers
    with database(args) as db:
        docs = container_summaries(db)
    if not docs:
        return nothing("no containers recorded")
    docs, cut = _cut(docs, args.limit)
    if args.json:
        write_jsonl(docs)
    else:
        print_lines(render_containers(docs, terminal_width()))
    return _said_cut(cut, len(docs), "containers")


def _check_window(args) -> None:
    """An inverted window is a usage error, said before the database is opened."""
    if args.since is not None and args.until is not None and args.since > args.until:
        raise ConfigError(f"--since ({_local(args.since)}) is after --until ({_local(args.until)}): "
                          "no time is in that window")


def _selection(db, args, start: str, end: str):
    return selection(db, run=args.run, container=args.container, since=args.since,
                     until=args.until, start=start, end=end)


def _limited(cursor, limit: int | None) -> tuple[list[dict], bool]:
    """The first `limit` documents (all with none) and whether more matched: the
    database is asked for one more than shown."""
    if limit is not None and hasattr(cursor, "limit"):
        cursor = cursor.limit(limit + 1)
    return _cut(list(cursor) if limit is None else list(islice(cursor, limit + 1)), limit)


def _globbed(cursor, glob: str, limit: int | None) -> tuple[list[dict], bool]:
    """Like `_limited`, the glob deciding: the database's regex dialect has its
    corners (a newline before `$`). The database's limit holds when the glob kept
    all it returned, or it returned all there was; else every match is read."""
    def matches(doc):
        return any(fnmatch.fnmatchcase(doc.get(k) or "", glob) for k in ("path", "host_path"))

    if limit is not None:
        got = list(cursor.clone().limit(limit + 1))
        kept = [doc for doc in got if matches(doc)]
        if len(kept) == len(got) or len(got) <= limit:
            return _cut(kept, limit)
    return _cut([doc for doc in cursor if matches(doc)], limit)


def _cut(docs: list, limit: int | None) -> tuple[list, bool]:
    if limit is None or len(docs) <= limit:
        return docs, False
    return docs[:limit], True


def _said_cut(cut: bool, shown: int, what: str) -> int:
    """A listing the limit cut says so on stderr, stdout staying the documents."""
    if cut:
        print(f"godo: showing the first {shown} {what}; more match (raise --limit)",
              file=sys.stderr)
    return 0

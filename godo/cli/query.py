"""`godo tree`, `godo files` and `godo containers`: what was recorded, as tables
and trees, or as JSON lines (one document a line). A query with no match is an
answer, said on stderr, with exit status 0; no store, or a run or container
that does not exist, is an error."""

from __future__ import annotations

import fnmatch
import sys
from datetime import datetime
from itertools import islice

from ..errors import ConfigError
from ..localtime import local_time
from ..store.queries import (NOTHING_YET, WORKLOAD, container_names, container_summaries,
                             known_host, latest_run, path_terms, query, run_id, selection)
from .output import nothing, print_lines, print_rich, terminal_width, write_jsonl
from .settings import database


def cmd_tree(args) -> int:
    from .views import render_tree
    _check_window(args)
    with database(args) as db:
        terms, title = _selection(db, args, "start", "exit_time")
        if terms is None:
            return nothing(title)
        if not args.runtime:
            terms.append(WORKLOAD)
        if args.pid is None:
            docs, cut = _listed(db.processes, terms, "start", args)
        else:  # a subtree, in each run the pid was seen in
            docs, cut = _cut(_subtrees(db, terms, args.pid), args.limit)
            title += f", pid {args.pid}"
        names = container_names(db, {d.get("container") for d in docs} - {None})
    if not docs:
        return nothing(f"no processes recorded ({title})")
    if args.json:
        write_jsonl(docs)
    else:
        width = None if args.wide else terminal_width()
        by_run = not (args.run or args.latest)
        print_rich(render_tree(docs, title, names, width, by_run), wide=args.wide)
    return _said_cut(cut, len(docs), "processes", _capped(args))


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
        keep = None
        if args.path:
            # The database's regex dialect has its corners (a newline before `$`):
            # the glob decides.
            def keep(f):
                return any(fnmatch.fnmatchcase(f.get(k) or "", args.path)
                           for k in ("path", "host_path"))
        files, cut = _listed(db.files, terms, "opened", args, keep)
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
        print_lines(render_files(files, procs, None if args.wide else terminal_width()))
    return _said_cut(cut, len(files), "files", _capped(args))


def cmd_containers(args) -> int:
    from .views import render_containers
    with database(args) as db:
        host = known_host(db, args.host) if args.host else None
        run = (run_id(db, args.run, host) if args.run else
               latest_run(db, host) if args.latest else None)
        if args.latest and run is None:
            return nothing(NOTHING_YET)
        docs = container_summaries(db, run=run, host=host)
    if not docs:
        which = ", ".join(([f"host {host}"] if host else []) + ([f"run {run}"] if run else []))
        return nothing("no containers recorded" + (f" ({which})" if which else ""))
    docs, cut = _cut(docs, args.limit)
    if args.json:
        write_jsonl(docs)
    else:
        print_lines(render_containers(docs, None if args.wide else terminal_width()))
    return _said_cut(cut, len(docs), "containers")


def _check_window(args) -> None:
    """An inverted window is a usage error, said before the database is opened."""
    if args.since is not None and args.until is not None and args.since > args.until:
        raise ConfigError(f"--since ({local_time(args.since)}) is after --until ({local_time(args.until)}): "
                          "no time is in that window")


def _selection(db, args, start: str, end: str):
    return selection(db, host=args.host, run=args.run, latest=args.latest,
                     container=args.container, since=args.since, until=args.until, start=start,
                     end=end)


# A listing of every run shows, unless --limit says otherwise, its newest rows:
# a store of months answers in its time, and `godo files` after `godo record`
# still shows what was just recorded.
NEWEST = 1000


def _capped(args) -> bool:
    """Whether the listing spans every run with no limit given (NEWEST applies)."""
    return args.limit is None and not args.run and not args.latest


def _listed(collection, terms: list[dict], field: str, args, keep=None) -> tuple[list[dict], bool]:
    """The selection's documents by `field`, and whether more matched: the first
    --limit, or across every run the NEWEST (shown oldest first), or all of one run."""
    capped = _capped(args)
    found = collection.find(query(terms)).sort(field, -1 if capped else 1)
    limit = NEWEST if capped else args.limit
    docs, cut = _limited(found, limit) if keep is None else _kept(found, keep, limit)
    return (docs[::-1] if capped else docs), cut


def _kept(cursor, keep, limit: int | None) -> tuple[list[dict], bool]:
    """Like `_limited`, `keep` deciding: the database's limit holds when `keep`
    kept all it returned, or it returned all there was; else every match is read."""
    if limit is not None:
        got = list(cursor.clone().limit(limit + 1))
        kept = [doc for doc in got if keep(doc)]
        if len(kept) == len(got) or len(got) <= limit:
            return _cut(kept, limit)
    return _cut([doc for doc in cursor if keep(doc)], limit)


# Parents asked for in one query: an $or of equalities, which godo's FerretDB
# pushes down to the parent index.
_PARENTS_A_QUERY = 500


def _subtrees(db, terms: list[dict], pid: int) -> list[dict]:
    """The processes of the selection with this pid and everything below them, in
    every run: level by level by their parent (an index), never a whole run."""
    level = list(db.processes.find(query(terms + [{"pid": pid}])))
    found: dict[str, dict] = {}
    while level:
        level = [doc for doc in level if doc["_id"] not in found]
        found.update((doc["_id"], doc) for doc in level)
        ids = [doc["_id"] for doc in level]
        level = []
        for i in range(0, len(ids), _PARENTS_A_QUERY):
            parents = [{"parent": parent} for parent in ids[i:i + _PARENTS_A_QUERY]]
            level += db.processes.find(query(terms + [
                parents[0] if len(parents) == 1 else {"$or": parents}]))
    return sorted(found.values(), key=lambda d: (d.get("start") or datetime.min, d.get("pid") or 0))


# The most rows a listing can be asked for: the database takes a limit as a signed
# 64-bit number, and one more than the limit is asked for.
MAX_LIMIT = (1 << 63) - 2


def _checked_limit(limit: int | None) -> int | None:
    if limit is not None and limit > MAX_LIMIT:
        raise ConfigError(f"--limit {limit} is too large (at most {MAX_LIMIT}; leave it out for no limit)")
    return limit


def _limited(cursor, limit: int | None) -> tuple[list[dict], bool]:
    """The first `limit` documents (all with none) and whether more matched: the
    database is asked for one more than shown."""
    limit = _checked_limit(limit)
    if limit is not None and hasattr(cursor, "limit"):
        cursor = cursor.limit(limit + 1)
    return _cut(list(cursor) if limit is None else list(islice(cursor, limit + 1)), limit)


def _cut(docs: list, limit: int | None) -> tuple[list, bool]:
    limit = _checked_limit(limit)
    if limit is None or len(docs) <= limit:
        return docs, False
    return docs[:limit], True


def _said_cut(cut: bool, shown: int, what: str, newest: bool = False) -> int:
    """A listing the limit cut says so on stderr, stdout staying the documents."""
    if cut and newest:
        print(f"godo: showing the newest {shown} {what} of every run; older ones match "
              "(narrow with --run, --since, or give --limit)", file=sys.stderr)
    elif cut:
        print(f"godo: showing the first {shown} {what}; more match (raise --limit)",
              file=sys.stderr)
    return 0

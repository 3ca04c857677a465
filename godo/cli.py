"""godo's command line: a testable `main(argv) -> int` behind a thin entry point.

Errors a user can meet become one line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager

import orjson
from rich.console import Console

from . import __version__
from .errors import GodoError
from .hotpath import MODE
from .paths import data_dir
from .tracker import Scope


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="godo", description="Record which processes ran, from which parent, with which "
        "arguments, and which files they opened and wrote, from the kernel's audit stream.")
    parser.add_argument("--version", action="store_true", help="print the version and hot-path mode")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def store_args(p, null_ok=True):
        p.add_argument("--mongo", metavar="URI", help="MongoDB URI (default: $GODO_MONGO_URI, "
                       "else godo's embedded FerretDB)")
        if null_ok:
            p.add_argument("--store", choices=("mongo", "null"), default="mongo",
                           help="`null` runs the whole pipeline without a database")

    rec = sub.add_parser("record", help="record live from the kernel's audit stream",
                         description="Record a command's process tree and files (`godo record -- CMD`), "
                         "or run as a daemon until SIGTERM.")
    store_args(rec)
    rec.add_argument("--scope", choices=("containers", "host", "pid"), default="containers",
                     help="what to record when no command is given (default: containers)")
    rec.add_argument("--pid", type=int, help="with --scope pid: the root of the subtree")
    rec.add_argument("--multicast", action="store_true",
                     help="read-only mode beside another audit daemon")
    rec.add_argument("--backlog", type=int, default=65536, help="kernel audit backlog limit")
    rec.add_argument("--backlog-wait", type=int, default=0,
                     help="kernel backlog_wait_time (0: never slow the monitored workload)")
    rec.add_argument("--raw-log", metavar="FILE", help="also append every record, RAW format")
    rec.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")

    rep = sub.add_parser("replay", help="read an audit.log (RAW/ENRICHED, plain or gzip)")
    store_args(rep)
    rep.add_argument("--jsonl", action="store_true", help="print cooked events as JSON lines")
    rep.add_argument("--scope", choices=("containers", "host"), default="host")
    rep.add_argument("log", help="the audit.log to read")

    tree = sub.add_parser("tree", help="the recorded process tree")
    store_args(tree, null_ok=False)
    tree.add_argument("--run", help="a run id (default: the latest run)")
    tree.add_argument("--container", help="a container id (or prefix)")
    tree.add_argument("--pid", type=int, help="the subtree of this pid")
    tree.add_argument("--json", action="store_true", help="documents as JSON lines")

    files = sub.add_parser("files", help="files each process opened and wrote")
    store_args(files, null_ok=False)
    files.add_argument("--run", help="a run id (default: the latest run)")
    files.add_argument("--container", help="a container id (or prefix)")
    files.add_argument("--pid", type=int, help="only this pid")
    files.add_argument("--written", action="store_true", help="only files written to")
    files.add_argument("--json", action="store_true", help="documents as JSON lines")

    status = sub.add_parser("status", help="the kernel's audit state and godo's last run")
    store_args(status, null_ok=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"godo {__version__} ({MODE})")
        return 0
    if not args.command:
        _parser().print_help()
        return 2
    try:
        return {"record": cmd_record, "replay": cmd_replay, "tree": cmd_tree,
                "files": cmd_files, "status": cmd_status}[args.command](args)
    except GodoError as exc:
        print(f"godo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("godo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `godo replay --jsonl | head`: the reader left; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def _uri(args) -> str | None:
    return args.mongo or os.environ.get("GODO_MONGO_URI") or None


def _database_name(uri: str | None) -> str:
    """The database a URI names (mongodb://host/NAME), else godo's default `godo`."""
    if not uri:
        return "godo"
    from pymongo.errors import InvalidURI
    from pymongo.uri_parser import parse_uri
    from .store import redact
    try:
        name = parse_uri(uri, validate=False).get("database")
    except (InvalidURI, ValueError) as exc:
        raise GodoError(f"invalid database URI {redact(uri)}: {str(exc).splitlines()[0]}") from None
    # mongodb://user:pw@host/admin names the database to log in to, not one to fill.
    return name if name and name not in ("admin", "local", "config") else "godo"


@contextmanager
def _store(args):
    from .store import open_store
    uri = _uri(args)
    null = getattr(args, "store", "mongo") == "null"
    with open_store(uri, data_dir(), null=null, database=_database_name(None if null else uri)) as store:
        yield store


# -- record / replay --------------------------------------------------------------

def cmd_record(args) -> int:
    from .recorder import Recorder, RecordOptions
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if args.scope == "pid" and args.pid is None and not command:
        raise GodoError("--scope pid needs --pid N")
    scope = Scope(args.scope, args.pid if args.scope == "pid" else None)
    options = RecordOptions(scope=scope, multicast=args.multicast, backlog_limit=args.backlog,
                            backlog_wait_time=args.backlog_wait, raw_log=args.raw_log)
    if os.geteuid() != 0:
        raise GodoError("live recording needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ)")
    from .recorder import local_server_pids
    options.exclude_pids = local_server_pids(_uri(args))
    with _store(args) as store:
        report = Recorder(store, data_dir(), options).run(command or None)
        store.flush()
        report.store = store.stats()
    _summary(report)
    return report.exit_status if report.exit_status is not None else 0


def _summary(report) -> None:
    console = Console(stderr=True, highlight=False)
    pipe, track = report.pipeline, report.tracker
    lost = report.lost
    lost_text = "unknown" if lost is None else str(lost)
    console.print(f"[bold]godo[/] run {report.run_id} ({report.scope}, {report.mode})")
    console.print(f"  processes {track.get('processes', 0)}   files {track.get('files', 0)}   "
                  f"events {pipe.get('events', 0)}   activities {pipe.get('activities', 0)}   "
                  f"records {pipe.get('records', 0)}")
    style = "red" if lost else "green"
    console.print(f"  kernel lost [{style}]{lost_text}[/]   serial gaps {pipe.get('serial_gaps', 0)}   "
                  f"malformed {pipe.get('malformed', 0)}   store {report.store.get('written', '-')} docs")
    if report.exit_status is not None:
        console.print(f"  command exit status {report.exit_status}")


def cmd_replay(args) -> int:
    from .recorder import replay
    out = sys.stdout.buffer

    def emit(activities):
        out.write(b"".join(orjson.dumps(a.to_dict()) + b"\n" for a in activities))

    null = args.jsonl and args.mongo is None and args.store == "mongo" and "GODO_MONGO_URI" not in os.environ
    if null:
        # --jsonl alone prints; it does not also fill a database.
        args.store = "null"
    with _store(args) as store:
        report = replay(args.log, store, scope=Scope(args.scope),
                        on_activities=emit if args.jsonl else None)
        store.flush()
    out.flush()
    if report.pipeline.get("malformed"):
        for line in report.errors[:10]:
            print(f"godo: malformed record at {line}", file=sys.stderr)
        print(f"godo: {report.pipeline['malformed']} malformed record(s) skipped", file=sys.stderr)
    if not args.jsonl:
        _summary(report)
    return 0


# -- queries --------------------------------------------------------------------------

@contextmanager
def _db(args):
    from .store import database
    with database(_uri(args), data_dir(), name=_database_name(_uri(args))) as db:
        yield db


def _latest_run(db, run: str | None) -> str:
    if run:
        return run
    latest = db.runs.find_one({"mode": {"$ne": "replay"}}, sort=[("started", -1)]) \
        or db.runs.find_one({}, sort=[("started", -1)])
    if latest is None:
        raise GodoError("nothing recorded yet: run `godo record -- CMD` first")
    return latest["_id"]


def _container_filter(db, prefix: str) -> str:
    ids = db.containers.distinct("id")
    matches = [c for c in ids if c.startswith(prefix)]
    if not matches:
        raise GodoError(f"no container {prefix} recorded")
    if len(matches) > 1:
        raise GodoError(f"container prefix {prefix} is ambiguous ({len(matches)} match)")
    return matches[0]


def _process_query(db, args) -> dict:
    if args.container:
        return {"container": _container_filter(db, args.container)}
    return {"run": _latest_run(db, args.run)}


def cmd_tree(args) -> int:
    from .views import render_tree
    with _db(args) as db:
        query = _process_query(db, args)
        docs = list(db.processes.find(query))
        if args.pid is not None:
            docs = _subtree(docs, args.pid)
    if args.json:
        _jsonl(docs)
        return 0
    if not docs:
        print("no processes recorded", file=sys.stderr)
        return 1
    title = f"container {query['container']}" if "container" in query else f"run {query['run']}"
    Console(highlight=False).print(render_tree(docs, title))
    return 0


def _subtree(docs: list[dict], pid: int) -> list[dict]:
    roots = [d["_id"] for d in docs if d.get("pid") == pid]
    keep, frontier = set(roots), list(roots)
    children: dict = {}
    for d in docs:
        children.setdefault(d.get("parent"), []).append(d["_id"])
    while frontier:
        for kid in children.get(frontier.pop(), []):
            if kid not in keep:
                keep.add(kid)
                frontier.append(kid)
    return [d for d in docs if d["_id"] in keep]


def cmd_files(args) -> int:
    from .views import render_files
    with _db(args) as db:
        query = _process_query(db, args)
        if args.pid is not None:
            query["pid"] = args.pid
        if args.written:
            query["writes"] = {"$gt": 0}
        files = list(db.files.find(query).sort([("opened", 1)]))
        procs = {p["_id"]: p for p in db.processes.find(
            {"_id": {"$in": sorted({f["process"] for f in files})}})} if files else {}
    if args.json:
        _jsonl(files)
        return 0
    if not files:
        print("no files recorded", file=sys.stderr)
        return 1
    Console(highlight=False).print(render_files(files, procs))
    return 0


def cmd_status(args) -> int:
    from .audit import AuditControl, describe_pid
    from .audit import GODO_KEY
    console = Console(highlight=False)
    with AuditControl() as control:
        st = control.status()
        rules = control.list_rules()
    owner = describe_pid(st.pid) if st.pid else "none"
    console.print(f"audit: enabled {st.enabled}  owner {owner}  backlog {st.backlog}/{st.backlog_limit}  "
                  f"wait {st.backlog_wait_time}  lost {st.lost}  rate limit {st.rate_limit}")
    ours = sum(1 for rule, _raw in rules if GODO_KEY in rule.keys)
    console.print(f"rules: {ours} godo, {len(rules) - ours} other")
    return 0


def _jsonl(docs: list[dict]) -> None:
    out = sys.stdout.buffer
    for doc in docs:
        out.write(orjson.dumps(doc, default=str) + b"\n")
    out.flush()

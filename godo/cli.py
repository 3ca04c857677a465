"""godo's command line: a testable `main(argv) -> int` behind a thin entry point.

Errors a user can meet become one line on stderr and a non-zero exit, never a
traceback: 1 for a failure, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import orjson
from rich.console import Console

from . import __version__
from . import config as config_mod
from .errors import ConfigError, GodoError
from .hotpath import MODE
from .paths import data_dir, private_dir
from .tracker import Scope

COLLECTIONS = ("processes", "files", "containers", "runs")
# Below this size a replay is over before a progress bar would tell anything.
PROGRESS_MIN_BYTES = 8 << 20
_JSON = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_EXPORT_CHUNK = 1000


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and a return value, not an exit."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _time_arg(text: str):
    try:
        return config_mod.parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="godo", description="Record which processes ran, from which parent, with which "
        "arguments, and which files they opened and wrote, from the kernel's audit stream.")
    parser.add_argument("--version", action="store_true", help="print the version and hot-path mode")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help=f"config file (default: $GODO_CONFIG, else {config_mod.DEFAULT_PATH} if present)")
    common.add_argument("--mongo", metavar="URI", help="MongoDB URI (default: $GODO_MONGO_URI, "
                        "else [store] uri in the config, else godo's embedded FerretDB)")
    null_store = _Parser(add_help=False)
    null_store.add_argument("--store", choices=("mongo", "null"), default="mongo",
                            help="`null` runs the whole pipeline without a database")
    window = _Parser(add_help=False)
    window.add_argument("--since", type=_time_arg, metavar="T",
                        help="active at or after T: ISO time, or an age like 10m, 2h, 1d")
    window.add_argument("--until", type=_time_arg, metavar="T", help="active at or before T")
    as_json = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="documents as JSON lines")

    rec = sub.add_parser("record", parents=[common, null_store], help="record live from the kernel's audit stream",
                         description="Record a command's process tree and files (`godo record -- CMD`), "
                         "or, with no command, run as a daemon until SIGTERM.")
    rec.add_argument("--scope", choices=config_mod.SCOPES,
                     help="what to record when no command is given (default: containers)")
    rec.add_argument("--pid", type=int, help="with --scope pid: the root of the subtree")
    rec.add_argument("--multicast", action=argparse.BooleanOptionalAction,
                     help="read-only mode beside another audit daemon")
    rec.add_argument("--backlog", type=int, help="kernel audit backlog limit (default 65536)")
    rec.add_argument("--backlog-wait", type=int,
                     help="kernel backlog_wait_time (default 0: never slow the monitored workload)")
    rec.add_argument("--raw-log", metavar="FILE", help="also append every record, RAW format")
    rec.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")

    rep = sub.add_parser("replay", parents=[common, null_store],
                         help="read an audit.log (RAW/ENRICHED, plain or gzip)")
    rep.add_argument("--jsonl", action="store_true", help="print cooked events as JSON lines")
    rep.add_argument("--scope", choices=("containers", "host"), default="host")
    rep.add_argument("log", help="the audit.log to read")

    tree = sub.add_parser("tree", parents=[common, window, as_json], help="the recorded process tree",
                          description="Processes as a tree, grouped by container. With no "
                          "selection, the latest run.")
    tree.add_argument("--run", help="a run id, or its start or end")
    tree.add_argument("--container", help="a container id (or a prefix of it)")
    tree.add_argument("--pid", type=int, help="the subtree of this pid")

    files = sub.add_parser("files", parents=[common, window, as_json],
                           help="files each process opened and wrote",
                           description="Open file descriptions, like lsof after the fact. With no "
                           "selection, the latest run.")
    files.add_argument("--run", help="a run id, or its start or end")
    files.add_argument("--container", help="a container id (or a prefix of it)")
    files.add_argument("--pid", type=int, help="only this pid")
    files.add_argument("--written", action="store_true", help="only files written to")
    files.add_argument("--path", metavar="GLOB", help="only paths matching GLOB (`*` spans `/`); "
                       "a container's files match by their path inside or on the host")

    sub.add_parser("containers", parents=[common, as_json], help="the containers godo saw",
                   description="Like `docker ps -a`, for what godo recorded.")

    export = sub.add_parser("export", parents=[common], help="documents as JSON lines, streamed",
                            description="Every document of a collection (default: all four, "
                            "each line tagged with `_collection`), one JSON object a line.")
    export.add_argument("--format", choices=("jsonl",), default="jsonl")
    export.add_argument("--collection", choices=COLLECTIONS)
    export.add_argument("--run", help="only the documents of this run")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    sub.add_parser("status", parents=[common, as_json],
                   help="the kernel's audit state, rules, the store and the last run")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.version:
        print(f"godo {__version__} ({MODE})")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    # SIGTERM unwinds like Ctrl-C, so that what godo started (the embedded FerretDB,
    # in a session of its own) is stopped and what it holds is flushed. `record`
    # puts its own handler in while it records.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return {"record": cmd_record, "replay": cmd_replay, "tree": cmd_tree,
                "files": cmd_files, "containers": cmd_containers, "export": cmd_export,
                "status": cmd_status}[args.command](args)
    except GodoError as exc:
        print(f"godo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("godo: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("godo: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # `godo export | head`: the reader left; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM, raised where the main thread is (a BaseException, as
    KeyboardInterrupt is, so that no `except Exception` swallows it)."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated


# -- settings: flags, then environment, then the config file ------------------------------

def _config(args) -> config_mod.Config:
    cfg = getattr(args, "cfg", None)
    if cfg is None:
        cfg = args.cfg = config_mod.load(args.config)
    return cfg


def _uri(args) -> str | None:
    return (args.mongo or os.environ.get("GODO_MONGO_URI")
            or _config(args).get("store", "uri") or None)


def _data_dir(args) -> Path:
    configured = _config(args).get("store", "data_dir")
    if configured and not os.environ.get("GODO_DATA_DIR"):
        return private_dir(Path(configured))
    return data_dir()


def _pick(flag, cfg: config_mod.Config, section: str, key: str, default):
    if flag is not None:
        return flag
    return cfg.get(section, key, default)


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
        raise ConfigError(f"invalid database URI {redact(uri)}: {str(exc).splitlines()[0]}") from None
    # mongodb://user:pw@host/admin names the database to log in to, not one to fill.
    return name if name and name not in ("admin", "local", "config") else "godo"


def _store_options(cfg: config_mod.Config) -> dict:
    return {key: cfg.get("store", key) for key in ("batch_size", "flush_interval", "max_queued")
            if cfg.get("store", key) is not None}


@contextmanager
def _store(args):
    from .store import open_store
    uri = _uri(args)
    null = getattr(args, "store", "mongo") == "null"
    options = {} if null else _store_options(_config(args))
    with open_store(uri, _data_dir(args), null=null, database=_database_name(None if null else uri),
                    **options) as store:
        yield store


def _where(args) -> str:
    from .store import redact
    if getattr(args, "store", "mongo") == "null":
        return "no database (--store null)"
    uri = _uri(args)
    return redact(uri) if uri else f"the embedded FerretDB in {_data_dir(args)}"


# -- record / replay --------------------------------------------------------------

NOT_ROOT = "live recording needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ)"


def cmd_record(args) -> int:
    from .recorder import Recorder, RecordOptions, local_server_pids
    if os.geteuid() != 0:
        raise GodoError(NOT_ROOT)
    cfg = _config(args)
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    scope_kind = _pick(args.scope, cfg, "record", "scope", "containers")
    pid = args.pid if args.pid is not None else cfg.get("record", "pid")
    if scope_kind == "pid" and pid is None and not command:
        raise ConfigError("--scope pid needs --pid N")
    scope = Scope(scope_kind, pid if scope_kind == "pid" else None)
    multicast = _pick(args.multicast, cfg, "record", "multicast", False)
    _audit_preflight(multicast)
    options = RecordOptions(
        scope=scope, multicast=multicast,
        backlog_limit=_pick(args.backlog, cfg, "rules", "backlog", 65536),
        backlog_wait_time=_pick(args.backlog_wait, cfg, "rules", "backlog_wait", 0),
        raw_log=_pick(args.raw_log, cfg, "record", "raw_log", None),
        checkpoint_interval=cfg.get("record", "checkpoint_interval", 30.0))
    options.exclude_pids = local_server_pids(_uri(args)) | set(cfg.get("rules", "exclude_pids", ()))
    if not command:
        mode = "multicast, read-only" if options.multicast else "unicast"
        started = f"godo: recording {scope.describe()} ({mode}) into {_where(args)} until SIGTERM"

        def ready() -> None:
            # Said once the rules are in, not before: whoever waits for this line
            # (or systemd for READY=1) may start the workload and miss nothing.
            print(started, file=sys.stderr, flush=True)
            sd_notify("READY=1")

        options.on_ready = ready
    with _store(args) as store:
        report = Recorder(store, _data_dir(args), options).run(command or None)
        store.flush()
        report.store = store.stats()
    _summary(report)
    return report.exit_status if report.exit_status is not None else 0


def sd_notify(state: str) -> bool:
    """Tell systemd (Type=notify) about godo's state, when it runs under it: a
    datagram to $NOTIFY_SOCKET (`@` for the abstract namespace). Returns whether
    it was sent; a missing or refused socket is no error for godo."""
    import socket
    where = os.environ.get("NOTIFY_SOCKET")
    if not where or where[0] not in "/@":
        return False
    address = "\0" + where[1:] if where[0] == "@" else where
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError:
        return False
    return True


def _audit_preflight(multicast: bool) -> None:
    """Ask the kernel for its audit status before opening the store: no audit
    support, no right to it, or another daemon owning the stream is then said
    before anything is started."""
    from .audit import AuditControl, busy_error
    from .source import pid_alive
    with AuditControl() as control:
        owner = control.status().pid
    if not multicast and owner and owner != os.getpid() and pid_alive(owner):
        raise busy_error(owner)


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
    from .source import LogSource
    out = sys.stdout.buffer
    source = LogSource(args.log)  # an unreadable log is said before a store is opened

    def emit(activities):
        out.write(b"".join(orjson.dumps(a.to_dict()) + b"\n" for a in activities))

    if args.jsonl and args.mongo is None and args.store == "mongo" and "GODO_MONGO_URI" not in os.environ:
        # --jsonl alone prints; it does not also fill a database.
        args.store = "null"
    show = _on_terminal() and source.size >= PROGRESS_MIN_BYTES and not (args.jsonl and sys.stdout.isatty())
    with _store(args) as store, _replay_progress(args.log, source, show) as progress:
        report = replay(args.log, store, scope=Scope(args.scope),
                        on_activities=emit if args.jsonl else None, progress=progress)
        store.flush()
    out.flush()
    if report.pipeline.get("malformed"):
        for line in report.errors[:10]:
            print(f"godo: malformed record at {line}", file=sys.stderr)
        print(f"godo: {report.pipeline['malformed']} malformed record(s) skipped", file=sys.stderr)
    if not args.jsonl:
        _summary(report)
    return 0


def _on_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _gzip_size(path: str) -> int | None:
    """The uncompressed size a gzip file's trailer gives (mod 4 GiB, last member)."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return int.from_bytes(f.read(4), "little") or None
    except OSError:
        return None


@contextmanager
def _replay_progress(path: str, source, show: bool):
    """A progress callback for `replay` drawing a bar with records/s on stderr."""
    if not show:
        yield None
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)
    total = (_gzip_size(path) if source.gzip else None) or source.size
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               DownloadColumn(), TextColumn("{task.fields[records]:>12,} records  "
                                            "{task.fields[rate]:>10,.0f} records/s"),
               TimeRemainingColumn())
    started = time.monotonic()
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(os.path.basename(path), total=total, records=0, rate=0.0)

        def advance(nbytes: int, records: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, advance=nbytes, records=records, rate=records / elapsed)

        yield advance
        bar.update(task, completed=bar.tasks[0].total)


# -- queries --------------------------------------------------------------------------

@contextmanager
def _db(args):
    from .store import database
    uri = _uri(args)
    with database(uri, _data_dir(args), name=_database_name(uri)) as db:
        yield db


def _run_id(db, given: str) -> str:
    """A run by its id, or by a unique start or end of it (the 8-hex tail)."""
    if db.runs.find_one({"_id": given}, {"_id": 1}):
        return given
    matches = [r["_id"] for r in db.runs.find({}, {"_id": 1})
               if r["_id"].startswith(given) or r["_id"].endswith(given)]
    if not matches:
        raise GodoError(f"no run {given} recorded")
    if len(matches) > 1:
        raise GodoError(f"run {given} is ambiguous ({len(matches)} runs match)")
    return matches[0]


def _latest_run(db) -> str:
    latest = db.runs.find_one({"mode": {"$ne": "replay"}}, sort=[("started", -1)]) \
        or db.runs.find_one({}, sort=[("started", -1)])
    if latest is None:
        raise GodoError("nothing recorded yet: run `godo record -- CMD` first")
    return latest["_id"]


def _container_id(db, prefix: str) -> str:
    ids = set(db.containers.distinct("id")) | set(db.processes.distinct("container"))
    matches = sorted(c for c in ids if c and c.startswith(prefix))
    if not matches:
        raise GodoError(f"no container {prefix} recorded")
    if len(matches) > 1:
        raise GodoError(f"container prefix {prefix} is ambiguous ({len(matches)} match)")
    return matches[0]


def _selection(db, args, start: str, end: str) -> tuple[list[dict], str]:
    """Query terms for --run/--container/--since/--until (the latest run when none
    is given), and a title saying what was selected. `start`/`end` name the
    fields that bound a document's life."""
    terms, title = [], []
    if args.run:
        run = _run_id(db, args.run)
        terms.append({"run": run})
        title.append(f"run {run}")
    if args.container:
        container = _container_id(db, args.container)
        terms.append({"container": container})
        title.append(f"container {container}")
    if args.since is not None:
        terms.append({"$or": [{end: None}, {end: {"$gte": args.since}}]})
        title.append(f"since {_local(args.since)}")
    if args.until is not None:
        terms.append({start: {"$lte": args.until}})
        title.append(f"until {_local(args.until)}")
    if not terms:
        run = _latest_run(db)
        terms.append({"run": run})
        title.append(f"run {run}")
    return terms, ", ".join(title)


def _query(terms: list[dict]) -> dict:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _local(stamp) -> str:
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cmd_tree(args) -> int:
    from .views import render_tree, subtree
    with _db(args) as db:
        terms, title = _selection(db, args, "start", "exit_time")
        docs = list(db.processes.find(_query(terms)))
        if args.pid is not None:
            docs = subtree(docs, args.pid)
            title += f", pid {args.pid}"
    if args.json:
        _jsonl(docs)
        return 0
    if not docs:
        print(f"godo: no processes recorded ({title})", file=sys.stderr)
        return 1
    Console(highlight=False).print(render_tree(docs, title))
    return 0


def glob_regex(glob: str) -> str:
    """A glob as an anchored regular expression that MongoDB's PCRE and FerretDB's
    Go regexp read alike: `*` any run of characters (`/` too), `?` one, `[...]` a set."""
    out, i = ["^"], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            close = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "]") else i + 1)
            if close < 0:
                out.append(r"\[")
            else:
                body = glob[i + 1:close]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                out.append("[" + ("^" if negate else "") +
                           "".join("\\" + ch if ch in "\\^]" else ch for ch in body) + "]")
                i = close
        else:
            out.append(re.escape(c) if not c.isalnum() and c not in "/_- " else c)
        i += 1
    out.append("$")
    return "".join(out)


def cmd_files(args) -> int:
    from .views import render_files
    with _db(args) as db:
        terms, title = _selection(db, args, "opened", "closed")
        if args.pid is not None:
            terms.append({"pid": args.pid})
        if args.written:
            terms.append({"writes": {"$gt": 0}})
        if args.path:
            pattern = glob_regex(args.path)
            terms.append({"$or": [{"path": {"$regex": pattern}}, {"host_path": {"$regex": pattern}}]})
        files = list(db.files.find(_query(terms)).sort([("opened", 1)]))
        if args.path:
            # The database's regex dialect has its corners (a newline before `$`):
            # the glob decides.
            files = [f for f in files if any(
                fnmatch.fnmatchcase(f.get(k) or "", args.path) for k in ("path", "host_path"))]
        ids = sorted({f["process"] for f in files})
        procs = {p["_id"]: p for p in db.processes.find({"_id": {"$in": ids}})} if ids else {}
    if args.json:
        _jsonl(files)
        return 0
    if not files:
        print(f"godo: no files recorded ({title})", file=sys.stderr)
        return 1
    Console(highlight=False).print(render_files(files, procs))
    return 0


def cmd_containers(args) -> int:
    from .views import render_containers
    with _db(args) as db:
        docs = container_summaries(db)
    if args.json:
        _jsonl(docs)
        return 0
    if not docs:
        print("godo: no containers recorded", file=sys.stderr)
        return 1
    Console(highlight=False).print(render_containers(docs))
    return 0


def container_summaries(db) -> list[dict]:
    """One row per container: its document, with processes, files written and
    first/last activity counted over every run from the processes and files.
    A few indexed queries per container: FerretDB 1.x has no $min/$max in $group."""
    rows: dict[str, dict] = {}
    for doc in db.containers.find():
        row = rows.setdefault(doc["id"], {"id": doc["id"], "hosts": set(), "rootfs": None,
                                          "first_seen": None, "last_seen": None})
        row["hosts"].add(doc.get("host"))
        row["rootfs"] = row["rootfs"] or doc.get("rootfs")
        row["first_seen"] = _min(row["first_seen"], doc.get("first_seen"))
        row["last_seen"] = _max(row["last_seen"], doc.get("last_seen"))
    for cid in db.processes.distinct("container"):
        if cid and cid not in rows:
            rows[cid] = {"id": cid, "hosts": set(), "rootfs": None, "first_seen": None,
                         "last_seen": None}
    for cid, row in rows.items():
        procs, files = db.processes, db.files
        mine = {"container": cid}
        written = {"container": cid, "writes": {"$gt": 0}}
        row["processes"] = procs.count_documents(mine)
        row["files_written"] = files.count_documents(written)
        first = procs.find_one(mine, {"start": 1}, sort=[("start", 1)])
        row["first_seen"] = _min(row["first_seen"], first and first.get("start"))
        for coll, query, key in ((procs, mine, "start"), (procs, mine, "exit_time"),
                                 (files, written, "last_write")):
            latest = coll.find_one(query, {key: 1}, sort=[(key, -1)])
            row["last_seen"] = _max(row["last_seen"], latest and latest.get(key))
        if row["rootfs"] is None:
            rooted = procs.find_one({"container": cid, "rootfs": {"$ne": None}}, {"rootfs": 1})
            row["rootfs"] = rooted and rooted.get("rootfs")
        row["hosts"] = sorted(h for h in row["hosts"] if h) or sorted(
            h for h in procs.distinct("host", mine) if h)
    return sorted(rows.values(), key=lambda r: (r["last_seen"] is not None, r["last_seen"] or 0),
                  reverse=True)


def _min(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(*values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


# -- export ---------------------------------------------------------------------------

def _encode_other(value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def cmd_export(args) -> int:
    names = [args.collection] if args.collection else list(COLLECTIONS)
    tagged = args.collection is None
    try:
        out = open(args.output, "wb") if args.output else nullcontext(sys.stdout.buffer)
    except OSError as exc:
        raise GodoError(f"cannot write {args.output}: {exc.strerror}") from None
    with out as sink, _db(args) as db:
        run = _run_id(db, args.run) if args.run else None
        queries = {name: ({} if run is None else {"_id" if name == "runs" else "run": run})
                   for name in names}
        show = _on_terminal() and (args.output is not None or not sys.stdout.isatty())
        totals = {name: db[name].count_documents(queries[name]) for name in names} if show else {}
        written = 0
        with _export_progress(show, totals) as advance:
            for name in names:
                lines = []
                for doc in db[name].find(queries[name], batch_size=_EXPORT_CHUNK):
                    if tagged:
                        doc = {"_collection": name, **doc}
                    lines.append(orjson.dumps(doc, default=_encode_other, option=_JSON))
                    if len(lines) >= _EXPORT_CHUNK:
                        written += _flush_lines(sink, lines, advance, name)
                written += _flush_lines(sink, lines, advance, name)
        sink.flush()
    if show:
        target = args.output or "stdout"
        print(f"godo: exported {written} documents to {target}", file=sys.stderr)
    return 0


def _flush_lines(sink, lines: list[bytes], advance, name: str) -> int:
    if not lines:
        return 0
    sink.write(b"\n".join(lines) + b"\n")
    count = len(lines)
    lines.clear()
    if advance is not None:
        advance(name, count)
    return count


@contextmanager
def _export_progress(show: bool, totals: dict[str, int]):
    if not show:
        yield None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeElapsedColumn)
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TaskProgressColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        tasks = {name: bar.add_task(name, total=total) for name, total in totals.items()}
        yield lambda name, count: bar.update(tasks[name], advance=count)


# -- status ------------------------------------------------------------------------------

def cmd_status(args) -> int:
    from .audit import GODO_KEY, AuditControl, describe_pid
    from .rules import describe
    from .syscalls import native_arch
    with AuditControl() as control:
        st = control.status()
        rules = control.list_rules()
    arch = native_arch()
    ours = [describe(rule, arch) for rule, _raw in rules if GODO_KEY in rule.keys]
    others = [describe(rule, arch) for rule, _raw in rules if GODO_KEY not in rule.keys]
    report = {
        "audit": {"enabled": st.enabled, "failure": st.failure, "pid": st.pid,
                  "owner": describe_pid(st.pid) if st.pid else None, "backlog": st.backlog,
                  "backlog_limit": st.backlog_limit, "backlog_wait_time": st.backlog_wait_time,
                  "lost": st.lost, "rate_limit": st.rate_limit},
        "rules": {"godo": ours, "other": others},
        "hotpath": MODE, "version": __version__,
    }
    store_error = None
    try:
        report["store"] = _store_status(args)
    except GodoError as exc:
        report["store"] = {"where": _where(args), "error": str(exc)}
        store_error = exc
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, default=_encode_other, option=_JSON) + b"\n")
        sys.stdout.flush()
    else:
        from .views import render_status
        Console(highlight=False).print(render_status(report))
    if store_error is not None:
        print(f"godo: {store_error}", file=sys.stderr)
        return store_error.exit_code
    return 0


def _store_status(args) -> dict:
    with _db(args) as db:
        counts = {name: db[name].count_documents({}) for name in COLLECTIONS}
        last = db.runs.find_one({}, sort=[("started", -1)])
    return {"where": _where(args), "database": db.name, "counts": counts, "last_run": last}


def _jsonl(docs: list[dict]) -> None:
    out = sys.stdout.buffer
    out.write(b"".join(orjson.dumps(doc, default=_encode_other, option=_JSON) + b"\n" for doc in docs))
    out.flush()

"""`godo record` and `godo replay`: runs, and what they say when they end."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from ..errors import ConfigError
from ..tracker import Scope
from .output import shown
from .settings import data_dir, mongo_uri, on_terminal, postgresql_url, setting, store, where
from .settings import options as options_of

# Below this size a replay is over before a progress bar would tell anything.
PROGRESS_MIN_BYTES = 8 << 20
_ERRORS_SHOWN = 10  # malformed records told on stderr; the run document keeps 100


def cmd_record(args) -> int:
    from ..run.live import Recorder, RecordOptions
    from ..source.session import require_root
    from ..store.local import server_pids
    require_root()
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    scope_kind = setting(args, "record", "scope")
    pid = setting(args, "record", "pid")
    if scope_kind == "pid" and pid is None and not command:
        raise ConfigError("--scope pid needs --pid N")
    scope = Scope(scope_kind, pid if scope_kind == "pid" else None)
    options = RecordOptions(scope=scope, **options_of(args, "record"))
    _audit_preflight(options.multicast)
    # A loopback cluster's postmaster is excluded like a loopback mongod.
    options.exclude_pids = (server_pids(mongo_uri(args) or postgresql_url(args))
                            | set(options.exclude_pids))
    if not command:
        mode = "multicast, read-only" if options.multicast else "unicast"
        started = f"godo: recording {scope.describe()} ({mode}) into {where(args)} until SIGTERM"

        def ready() -> None:
            # Said once the rules are in, not before: whoever waits for this line
            # (or systemd for READY=1) may start the workload and miss nothing.
            print(started, file=sys.stderr, flush=True)
            sd_notify("READY=1")

        options.on_ready = ready
    with store(args) as opened, _retention(opened, setting(args, "store", "keep")):
        report = Recorder(opened, data_dir(args), options).run(command or None)
        settled(opened)
    report.store = opened.stats()
    _summary(report)
    return _said_lost(report, report.exit_status if report.exit_status is not None else 0)


@contextmanager
def _retention(opened, keep):
    """The daemon's prune of runs older than `keep` (godo.store.retention), beside
    the recording; none without `keep` or without a database."""
    uri = getattr(opened, "uri", None)
    if keep is None or uri is None:
        yield None
        return
    from ..store.retention import Retention
    from .status import as_seen_now
    pruner = Retention(uri, opened.database_name, keep, as_seen_now)
    pruner.start()
    try:
        yield pruner
    finally:
        pruner.stop()


def sd_notify(state: str) -> bool:
    """Tell systemd (Type=notify) about godo's state, when it runs under it: a
    datagram to $NOTIFY_SOCKET (`@` for the abstract namespace). Returns whether
    it was sent; a missing or refused socket is no error for godo."""
    import socket
    target = os.environ.get("NOTIFY_SOCKET")
    if not target or target[0] not in "/@":
        return False
    address = "\0" + target[1:] if target[0] == "@" else target
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
    from ..source.audit import AuditControl, busy_error
    from ..source.session import pid_alive
    with AuditControl() as control:
        owner = control.status().pid
    if not multicast and owner and owner != os.getpid() and pid_alive(owner):
        raise busy_error(owner)


def _summary(report) -> None:
    """What a run saw, on stderr: coloured on a terminal, plain text (whole lines,
    and no rich to import) for a pipe or a journal."""
    pipe, track = report.pipeline, report.tracker
    lost, own = report.lost, report.loss()["total"]
    lines = [
        [("godo", "bold"), (f" run {shown(report.run_id)} ({shown(report.scope)}, {report.mode})", None)],
        [(f"  processes {track.get('processes', 0)}   files {track.get('files', 0)}   "
          f"events {pipe.get('events', 0)}   activities {pipe.get('activities', 0)}   "
          f"records {pipe.get('records', 0)}", None)],
        [("  kernel lost ", None), ("unknown" if lost is None else str(lost), "red" if lost else "green"),
         ("   godo lost ", None), (str(own), "red" if own else "green"),
         (f"   serial gaps {pipe.get('serial_gaps', 0)}   malformed {pipe.get('malformed', 0)}", None)],
        # A line of its own: the counts above fill 80 columns already.
        [(f"  store {stored_docs(report.store)} docs", None)],
    ]
    if report.store.get("journaled"):
        lines.append([(f"  journal {report.store['journaled']} document writes left for the next "
                       "start", None)])
    if report.exit_status is not None:
        source = " (from waitpid: not in the stream)" if report.exit_source == "waitpid" else ""
        lines.append([(f"  command exit status {report.exit_status}{source}", None)])
    unaudited = track.get("unaudited", 0)
    if unaudited:
        lines.append([(f"  not audited {unaudited}", "yellow"),
                      (" (started before audit was first enabled on this boot)", None)])
    if not on_terminal():
        print("\n".join("".join(text for text, _style in line) for line in lines), file=sys.stderr)
        return
    from rich.console import Console
    from rich.text import Text
    console = Console(stderr=True, highlight=False)
    for line in lines:
        console.print(Text.assemble(*line))


# Seconds the database may answer nothing before a replay stops waiting for it: what
# it has not taken then goes to the spill journal, for the next start (said on stderr).
SETTLE_IDLE = 5.0
SETTLE_REPORT = 30.0    # seconds between two lines saying how much is left


def stored_docs(stats: dict) -> int | str:
    """Documents the database acknowledged: writes, less the run document's own
    rewrites (a run writes its document as it starts and twice as it ends)."""
    written = stats.get("written")
    if written is None:
        return "-"
    runs = (stats.get("collections") or {}).get("runs", 0)
    return written - max(0, runs - 1)


def cmd_replay(args) -> int:
    from ..run.replay import replay
    from ..source.logfile import LogSource
    out = sys.stdout.buffer

    def emit(activities):
        import orjson  # only with --jsonl: orjson costs a command's start-up
        out.write(b"".join(orjson.dumps(a.to_dict()) + b"\n" for a in activities))

    if (args.jsonl and args.mongo is None and args.postgresql is None and args.store == "mongo"
            and "GODO_MONGO_URI" not in os.environ and "GODO_POSTGRESQL_URL" not in os.environ):
        # --jsonl alone prints; it does not also fill a database.
        args.store = "null"
    # With no database, the cooked events printed are all a replay makes.
    track = not (args.jsonl and args.store == "null")
    # Opened once, before the store (an unreadable log is said first): a FIFO or
    # /dev/stdin cannot be opened twice.
    with LogSource(args.log) as source:
        show = on_terminal() and source.size >= PROGRESS_MIN_BYTES and not (args.jsonl and sys.stdout.isatty())
        with store(args) as opened, _replay_progress(args.log, source, show) as progress:
            report = replay(source, opened, scope=Scope(args.scope),
                            on_activities=emit if args.jsonl else None, progress=progress,
                            track=track, host=args.host)
            settled(opened)
    # The store is closed: its figures are final (what was written, what waits in
    # the journal, what was lost).
    report.store = opened.stats()
    out.flush()
    if report.pipeline.get("malformed"):
        for line in report.errors[:_ERRORS_SHOWN]:
            print(f"godo: malformed record at {shown(line)}", file=sys.stderr)
        print(f"godo: {report.pipeline['malformed']} malformed record(s) skipped", file=sys.stderr)
    if not args.jsonl:
        _summary(report)
    return _said_lost(report, 0)


def settled(opened) -> bool:
    """Wait while the database makes progress on what is queued, saying every
    SETTLE_REPORT seconds how much is left; after SETTLE_IDLE seconds in which it
    answered nothing, say so and stop waiting (closing the store then journals
    the rest)."""
    while True:
        began = time.monotonic()
        if opened.settle(SETTLE_IDLE, timeout=SETTLE_REPORT):
            return True
        if time.monotonic() - began < SETTLE_REPORT:
            break
        print(f"godo: the database is taking writes slowly: {opened.stats().get('queued', 0)} "
              f"document writes still to go (godo waits while it makes progress, up to "
              f"{SETTLE_IDLE:.0f} s without)", file=sys.stderr, flush=True)
    print(f"godo: the database took nothing for {SETTLE_IDLE:.0f} s; "
          "what it has not taken goes to the spill journal", file=sys.stderr)
    return False


def _said_lost(report, status: int) -> int:
    """The exit status of a run: `status`, or 1 when godo lost anything (said on
    stderr, one line each)."""
    lines = report.lost_lines()
    for line in lines:
        print(f"godo: {line}", file=sys.stderr)
    return status or (1 if lines else 0)


@contextmanager
def _replay_progress(path: str, source, show: bool):
    """A progress callback for `replay` drawing a bar with records/s on stderr."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)
    from rich.table import Column

    from .table import shorten_middle
    total = source.uncompressed_size() or source.size
    console = Console(stderr=True)
    # Below 120 columns the bar narrows and the bytes go: a bar that wraps is
    # redrawn a line lower each time. Every column is one line (no_wrap).
    wide = console.width >= 120
    name_room = None if wide else max(console.width - 66, 8)
    one_line = {"table_column": Column(no_wrap=True)}
    columns = (TextColumn("[bold]{task.description}", **one_line),
               BarColumn(bar_width=40 if wide else 10), TaskProgressColumn(**one_line),
               *([DownloadColumn(table_column=Column(no_wrap=True))] if wide else []),
               TextColumn("{task.fields[records]:>10,} records {task.fields[rate]:>9,.0f} "
                          "records/s", **one_line),
               TimeRemainingColumn(**one_line))
    started = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        # The column reads the description as markup: a file name is only text.
        name = shorten_middle(shown(os.path.basename(path)), name_room)
        task = bar.add_task(escape(name), total=total, records=0, rate=0.0)

        def advance(nbytes: int, records: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, advance=nbytes, records=records, rate=records / elapsed)

        yield advance
        bar.update(task, completed=bar.tasks[0].total)

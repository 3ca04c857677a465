"""How recorded documents are shown: process trees, file and container tables and
the status page, with rich. Times are stored in UTC and shown in local time.

Every value that came from the recorded host goes through `output.shown` before
it is shown (a control byte is written as `\\x1b`, never sent), and into rich only
as `Text`, never as markup: a `[bold]` in a file name is a file name."""

from __future__ import annotations

from datetime import date, datetime, timezone

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..vocab import kernel as C
from .output import shown
from .table import Column, shorten_end, shorten_middle, table

ARGV_SHOWN = 8
ARG_CHARS = 60


def abbreviate_argv(argv: list[str] | None) -> str:
    """The first ARGV_SHOWN arguments, each cut to ARG_CHARS."""
    if not argv:
        return ""
    cut = [a if len(a) <= ARG_CHARS else a[:ARG_CHARS - 1] + "…" for a in argv[:ARGV_SHOWN]]
    text = " ".join(_quote(shown(a)) for a in cut)
    if len(argv) > ARGV_SHOWN:
        text += f" … (+{len(argv) - ARGV_SHOWN} args)"
    return text


def argv_within(argv: list[str] | None, room: int | None) -> str:
    """argv whole where it fits in `room` characters (None: any), else abbreviated,
    else that cut at its end."""
    whole = " ".join(_quote(shown(a)) for a in argv or ())
    if room is None or len(whole) <= room:
        return whole
    return shorten_end(abbreviate_argv(argv), room)


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./=:,+@%" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m"


def outcome(doc: dict) -> Text:
    status = doc.get("status")
    if status == "exited":
        code = doc.get("exit_code")
        return Text(f"exit {code}", style="green" if code == 0 else "red")
    if status == "killed":
        return Text(f"killed by signal {doc.get('signal')}", style="red")
    if status == "gone":
        return Text("gone", style="yellow")
    return Text("running", style="cyan")


# The fewest characters of argv worth showing: less, and it is left out.
ARGV_MIN = 12


def process_label(doc: dict, room: int | None = None) -> Text:
    """pid, executable, argv, outcome and duration, in `room` characters (None:
    whole): argv shortened first, then the executable in its middle."""
    head = f"{doc.get('pid')}" + (" [runtime]" if doc.get("runtime") else "")
    exe = shown(doc.get("exe") or doc.get("comm") or "?")
    ended, took = outcome(doc), duration(doc.get("start"), doc.get("exit_time"))
    tail = len(ended) + (len(took) + 2 if took else 0)
    argv_room = None if room is None else room - len(head) - 1 - len(exe) - 2 - tail - 2
    argv = argv_within(doc.get("argv"), argv_room)
    if argv_room is not None and argv_room < ARGV_MIN:
        argv = ""
        exe = shorten_middle(exe, max(room - len(head) - 1 - tail - 2, 8))
    label = Text(no_wrap=room is not None, overflow="ellipsis")
    label.append(str(doc.get("pid")), style="bold")
    if doc.get("runtime"):
        label.append(" [runtime]", style="dim")   # shown with --runtime only
    label.append(" ")
    label.append(exe, style="magenta")
    if argv:
        label.append("  " + argv)
    label.append("  ")
    label.append_text(ended)
    if took:
        label.append(f"  {took}", style="dim")
    return label


def process_forest(docs: list[dict]) -> list[tuple[dict, list]]:
    """Roots and their subtrees: [(doc, children forest)], by start time."""
    by_id = {d["_id"]: d for d in docs}
    children: dict[str, list[dict]] = {}
    roots = []
    for doc in docs:
        parent = doc.get("parent")
        if parent in by_id and parent != doc["_id"]:
            children.setdefault(parent, []).append(doc)
        else:
            roots.append(doc)

    def start_key(d):
        return (d.get("start") or datetime.min, d.get("pid") or 0)

    def build(doc, depth=0):
        kids = sorted(children.get(doc["_id"], []), key=start_key)
        return doc, [build(k, depth + 1) for k in kids] if depth < 200 else []

    return [build(r) for r in sorted(roots, key=start_key)]


# What a tree adds before a label at each level ("├── ", "│   ").
TREE_INDENT = 4


def render_tree(docs: list[dict], title: str, names: dict[str, str] | None = None,
                width: int | None = None, by_run: bool = False) -> Tree:
    """One branch per run where there are several or `by_run` (the title names no
    run; a run's id names its host), in each one per container (by name where it
    has one), the host's first. Each label fits `width` (None: whole)."""
    names = names or {}
    top = Tree(_line(shown(title), width, style="bold"))
    runs: dict[str | None, list[dict]] = {}
    for doc in docs:
        runs.setdefault(doc.get("run"), []).append(doc)
    for run, run_docs in runs.items():   # by their first process's start
        one = len(runs) == 1 and not by_run
        branch = top if one else top.add(
            _line(f"run {shown(run or '?')}", _room(width, 1), style="bold"))
        _add_containers(branch, run_docs, names, width, 1 if one else 2)
    return top


def _add_containers(top: Tree, docs: list[dict], names: dict[str, str], width: int | None,
                    depth: int) -> None:
    groups: dict[str | None, list[dict]] = {}
    for doc in docs:
        groups.setdefault(doc.get("container"), []).append(doc)
    for container in sorted(groups, key=lambda c: (c is not None, c or "")):
        if len(groups) == 1 and container is None:
            branch, level = top, depth
        else:
            branch = top.add(_group_label(container, names.get(container), groups[container],
                                          _room(width, depth)))
            level = depth + 1
        for node in process_forest(groups[container]):
            _add(branch, node, width, level)


def _room(width: int | None, depth: int) -> int | None:
    return None if width is None else max(width - TREE_INDENT * depth, 20)


def _line(text: str, room: int | None, style: str) -> Text:
    return Text(shorten_end(text, room), style=style, no_wrap=room is not None,
                overflow="ellipsis")


def _group_label(container: str | None, name: str | None, docs: list[dict],
                 room: int | None) -> Text:
    if container is None:
        return Text("host", style="bold blue")
    label = Text(f"container {shown(name or container[:12])}", style="bold blue",
                 no_wrap=room is not None, overflow="ellipsis")
    if name:
        label.append(f"  id {shown(container[:12])}", style="blue")
    roots = sorted({shown(d["rootfs"]) for d in docs if d.get("rootfs")})
    if roots:
        rootfs = roots[-1] if len(roots) == 1 else ", ".join(roots)
        left = None if room is None else room - len(label) - len("  rootfs ")
        if left is None or left >= 12:
            label.append(f"  rootfs {shorten_middle(rootfs, left)}", style="blue")
    return label


def _add(branch: Tree, node, width: int | None, depth: int) -> None:
    doc, kids = node
    sub = branch.add(process_label(doc, _room(width, depth)))
    for kid in kids:
        _add(sub, kid, width, depth + 1)


def render_files(files: list[dict], procs: dict[str, dict], width: int | None) -> list[str]:
    """lsof's layout: plain columns, the path last. A container's file: its path as
    the container sees it, then as the host does, on the line below at a terminal,
    in a HOST PATH column of one whole line where `width` is None (a pipe, --wide).
    A HOST column where the files are of more than one host."""
    cells: dict[str, list[str]] = {name: [] for name in (
        "pid", "comm", "access", "writes", "bytes", "opened", "short", "held", "host", "path",
        "host_path")}
    notes = []
    for doc in files:
        proc = procs.get(doc.get("process"), {})
        host_path = doc.get("host_path")
        other = host_path if host_path and host_path != doc.get("path") else None
        held = duration(doc.get("opened"), doc.get("closed")) if doc.get("closed") else "open"
        for name, value in (("pid", str(doc.get("pid"))),
                            ("comm", shown(doc.get("comm") or proc.get("comm") or "?")),
                            ("access", access_label(doc)), ("writes", str(doc.get("writes", 0))),
                            ("bytes", str(doc.get("bytes", 0))), ("opened", _time(doc.get("opened"))),
                            ("short", _time(doc.get("opened"), short=True)), ("held", held),
                            ("host", shown(doc.get("host") or "-")),
                            ("path", shown(doc.get("path") or "?")),
                            ("host_path", shown(other) if other else "-")):
            cells[name].append(value)
        notes.append(f"↳ {shown(other)}" if other and width is not None else None)
    cols = [Column("PID", cells["pid"], right=True), Column("COMMAND", cells["comm"]),
            Column("ACCESS", cells["access"]),
            Column("WRITES", cells["writes"], right=True, priority=3),
            Column("BYTES", cells["bytes"], right=True, priority=2),
            Column("OPENED", cells["opened"], priority=4, narrow=("OPENED", cells["short"])),
            Column("HELD", cells["held"], right=True, priority=1)]
    if len(set(cells["host"])) > 1:
        cols.append(Column("HOST", cells["host"], priority=5))
    cols.append(Column("PATH", cells["path"]))
    if width is None and any(other != "-" for other in cells["host_path"]):
        cols.append(Column("HOST PATH", cells["host_path"]))
    return table(cols, width, notes)


def access_label(doc: dict) -> str:
    """`r`, `w`, `rw`, with `+append` as the open asked and `+creat`/`+trunc` as it
    happened; `inherited` for a descriptor opened before godo looked, whose mode it
    never saw."""
    if doc.get("inherited") and not doc.get("access"):
        return "inherited"
    label = doc.get("access") or "?"
    if (doc.get("flags") or 0) & C.O_APPEND:
        label += "+append"
    if doc.get("created"):
        label += "+creat"
    if doc.get("truncated"):
        label += "+trunc"
    return label


def render_containers(rows: list[dict], width: int | None) -> list[str]:
    """`docker ps -a` for what godo saw, the rootfs last. At 80 columns the times
    shorten and the least telling columns go (first seen, pod, runtime)."""
    def column(header, values, **kwargs):
        return Column(header, [shown(value) for value in values], **kwargs)

    first = [row.get("first_seen") for row in rows]
    last = [row.get("last_seen") for row in rows]
    cols = [column("CONTAINER ID", [row["id"][:12] for row in rows]),
            column("NAME", [row.get("name") or "-" for row in rows]),
            column("RUNTIME", [row.get("runtime") or "-" for row in rows], priority=3),
            column("STATUS", [container_status(row) for row in rows]),
            column("FIRST SEEN", map(_stamp, first), priority=1,
                   narrow=("FIRST SEEN", [_stamp(t, short=True) for t in first])),
            column("LAST SEEN", map(_stamp, last), priority=6,
                   narrow=("LAST SEEN", [_stamp(t, short=True) for t in last])),
            column("PROCESSES", [row.get("processes", 0) for row in rows], right=True,
                   priority=5, narrow=("PROCS", [str(row.get("processes", 0)) for row in rows])),
            column("FILES WRITTEN", [row.get("files_written", 0) for row in rows], right=True,
                   priority=4,
                   narrow=("WRITTEN", [str(row.get("files_written", 0)) for row in rows]))]
    if any(row.get("pod") for row in rows):   # a pod column only where there are pods
        cols.append(column("POD", [(row.get("pod") or "-")[:12] for row in rows], priority=2))
    # The host column only when the database holds more than one host's containers.
    if len({host for row in rows for host in row.get("hosts") or ()}) > 1:
        cols.append(column("HOST", [", ".join(row.get("hosts") or ()) for row in rows],
                           priority=7))
    cols.append(column("ROOTFS", [row.get("rootfs") or "-" for row in rows]))
    return table(cols, width)


def container_status(row: dict) -> str:
    """How the container's init ended, as `docker ps` says it."""
    status = row.get("status")
    if status == "exited" and row.get("exit_code") is not None:
        return f"exit {row['exit_code']}"
    if status == "killed" and row.get("signal") is not None:
        return f"signal {row['signal']}"
    return status or "-"


def render_status(report: dict) -> Table:
    """The kernel's audit state, the rules, the store and the last run, as a grid.
    Built of `Text`, never markup: run ids, rules and errors carry the host's names."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    audit = report.get("audit") or {}
    if "error" in audit:
        grid.add_row("audit", _text((shown(audit["error"]), "red")))
    else:
        enabled = {0: ("0 (off)", "yellow"), 1: ("1", "green"), 2: ("2 (locked)", "green")}.get(
            audit["enabled"], (str(audit["enabled"]), None))
        grid.add_row("audit", _text("enabled ", enabled, f"   owner {shown(audit['owner'] or 'none')}   "
                                    f"backlog {audit['backlog']}/{audit['backlog_limit']}   "
                                    f"wait {audit['backlog_wait_time']}   lost {audit['lost']}   "
                                    f"rate limit {audit['rate_limit']}   failure {audit['failure']}"))
        if audit.get("reach"):
            grid.add_row("audited", _text(*audit_reach(audit["reach"], audit["enabled"])))
    if report.get("rules") is not None:
        ours, others = report["rules"]["godo"], report["rules"]["other"]
        grid.add_row("rules", f"{len(ours)} godo, {len(others)} other")
        for who, rules in (("godo", ours), ("other", others)):
            for rule in rules[:20]:
                grid.add_row("", _text((who, "dim"), f"  {_shorten(shown(rule), 160)}"))
            if len(rules) > 20:
                grid.add_row("", _text((who, "dim"), f"  … and {len(rules) - 20} more"))
    store = report["store"]
    if "error" in store:
        grid.add_row("store", _text(f"{shown(store['where'])}   ", (shown(store["error"]), "red")))
    else:
        counts = "   ".join(f"{name} {n}" for name, n in store["counts"].items())
        host = f"   host {shown(store['host'])}" if store.get("host") else ""
        grid.add_row("store", Text(f"{shown(store['where'])}   database {shown(store['database'])}{host}"))
        grid.add_row("", counts)
        run = store.get("last_run")
        if run is None:
            grid.add_row("last run", "none")
        else:
            _run_rows(grid, run)
    journal = report.get("journal")
    if journal is not None:
        grid.add_row("journal", f"{journal['segments']} segments ({journal['bytes']:,} bytes) wait for "
                     "the database" if journal["segments"] else "nothing waits for the database")
        for one in journal["journals"]:
            if one["damaged_segments"]:
                grid.add_row("", _text((f"{one['damaged_segments']} damaged segments "
                                        f"({one['damaged_bytes']:,} bytes)", "red"),
                                       f" kept in {shown(one['damaged_dir'])}"))
    grid.add_row("godo", f"{report['version']} ({report['hotpath']})")
    return grid


def _run_rows(grid: Table, run: dict) -> None:
    grid.add_row("last run", Text(f"{shown(run['_id'])}   {shown(run.get('status'))}   "
                                  f"{shown(run.get('mode'))}   scope {shown(run.get('scope'))}"))
    for why in ("interrupted", "failed"):
        if run.get(why):
            grid.add_row("", Text(f"{why}: {shown(run[why])}"))
    took = duration(run.get("started"), run.get("ended"))
    grid.add_row("", f"started {_stamp(run.get('started'))}" +
                 (f"   ended {_stamp(run.get('ended'))} ({took})" if run.get("ended") else ""))
    lost = run.get("kernel_lost")
    grid.add_row("", f"processes {run.get('processes', 0)}   files {run.get('files', 0)}   "
                 f"records {run.get('records', 0)}   events {run.get('events', 0)}   "
                 f"kernel lost {'unknown' if lost is None else lost}   "
                 f"serial gaps {run.get('serial_gaps', 0)}   malformed {run.get('malformed', 0)}")
    if run.get("unaudited"):
        grid.add_row("", _text((f"not audited {run['unaudited']}", "yellow"),
                               " (in scope, started before audit was first enabled on their boot)"))
    if "godo_lost" in run:
        store = run.get("store") or {}
        grid.add_row("", f"godo lost {run['godo_lost']}   journal: spilled "
                     f"{store.get('spilled', 0)}   replayed {store.get('replayed', 0)}   "
                     f"left {store.get('pending', 0)}")


def audit_reach(reach: dict, enabled: int) -> list:
    """Which processes the kernel can audit on this boot, said with what to do
    about those it cannot: (text, style) pieces."""
    kind = reach.get("kind")
    if kind == "boot":
        return [("every process", "green"), " (audit=1 at boot)"]
    fix = "; boot with audit=1 to audit every process"
    if kind == "since":
        return [(f"processes started since {_stamp(reach.get('first_enabled'))}", "yellow"),
                f" (when godo first enabled audit on this boot): older ones never are{fix}"]
    if kind == "first":
        return [("what starts after audit's first enable", "yellow"),
                f" (off now, no audit=1 at boot, not enabled by godo on this boot){fix}"]
    return [("unknown", "yellow"), " (audit was enabled on this boot before godo looked, "
            f"without audit=1): older processes may never be audited{fix}"]


def _text(*parts) -> Text:
    """Text from pieces, each a str or a (str, style): markup never applies."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    return text


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:  # pymongo hands back naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone()


def when(value: datetime, *, millis: bool = False, today: date | None = None) -> str:
    """A stored time as every view shows it: local, with its date unless it is of
    today (`today`, local; default now), to the second or the millisecond."""
    local = _local(value)
    shown = local.strftime("%H:%M:%S.%f")[:-3] if millis else local.strftime("%H:%M:%S")
    if not (local.date() == today if today is not None else _today(local)):
        shown = f"{local:%Y-%m-%d} {shown}"
    return shown


def _stamp(value: datetime | None, short: bool = False) -> str:
    """A time to the second (see `when`); short: the time alone today, else the
    date without the year and the time without the seconds."""
    if not value:
        return "-"
    if not short:
        return when(value)
    value = _local(value)
    return value.strftime("%H:%M:%S" if _today(value) else "%m-%d %H:%M")


def _time(value: datetime | None, short: bool = False) -> str:
    """A time to the millisecond (see `when`); short: a date of another day
    without the year, and the time without the milliseconds."""
    if not value:
        return ""
    if not short:
        return when(value, millis=True)
    value = _local(value)
    if _today(value):
        return value.strftime("%H:%M:%S.%f")[:-3]
    return value.strftime("%m-%d %H:%M:%S")


def _today(value: datetime) -> bool:
    return value.date() == datetime.now(value.tzinfo).date()


def render_runs(runs: list[dict], width: int | None) -> list[str]:
    """One row a run, as `godo runs` lists them (newest first), its command or
    scope last. At 80 columns the times shorten and mode and counts go first."""
    def column(header, values, **kwargs):
        return Column(header, [shown(value) for value in values], **kwargs)

    def what(run: dict) -> str:
        command = run.get("command")
        if not command:
            return f"scope {run.get('scope') or '-'}"
        # Whole: the table cuts its last column to the terminal, and a pipe keeps it all.
        return argv_within(command, None) if isinstance(command, list) else str(command)

    started = [run.get("started") for run in runs]
    ended = [run.get("ended") for run in runs]
    cols = [column("RUN", [run["_id"] for run in runs]),
            column("HOST", [run.get("host") or "-" for run in runs], priority=5),
            column("MODE", [run.get("mode") or "-" for run in runs], priority=1),
            column("STARTED", map(_stamp, started), priority=6,
                   narrow=("STARTED", [_stamp(t, short=True) for t in started])),
            column("ENDED", map(_stamp, ended), priority=4,
                   narrow=("ENDED", [_stamp(t, short=True) for t in ended])),
            column("STATUS", [run.get("status") or "-" for run in runs]),
            column("PROCESSES", [run.get("processes", 0) for run in runs], right=True,
                   priority=3, narrow=("PROCS", [str(run.get("processes", 0)) for run in runs])),
            column("FILES", [run.get("files", 0) for run in runs], right=True, priority=2),
            column("COMMAND", map(what, runs))]
    return table(cols, width)


def render_hosts(hosts: list[dict], width: int | None) -> list[str]:
    """One row a host, as `godo hosts` lists them (the last seen first), its newest
    run last. At 80 columns the times shorten and the first seen goes first."""
    def column(header, values, **kwargs):
        return Column(header, [shown(value) for value in values], **kwargs)

    first = [row.get("first_seen") for row in hosts]
    last = [None if row.get("running") else row.get("last_seen") for row in hosts]
    cols = [column("HOST", [row["host"] for row in hosts]),
            column("RUNS", [row.get("runs", 0) for row in hosts], right=True),
            column("FIRST SEEN", map(_stamp, first), priority=1,
                   narrow=("FIRST SEEN", [_stamp(t, short=True) for t in first])),
            column("LAST SEEN", [_stamp(t) if t else "running" for t in last], priority=3,
                   narrow=("LAST SEEN", [_stamp(t, short=True) if t else "running" for t in last])),
            column("STATUS", [row.get("newest_status") or "-" for row in hosts], priority=2),
            column("NEWEST RUN", [row.get("newest_run") or "-" for row in hosts])]
    return table(cols, width)

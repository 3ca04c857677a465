"""How recorded documents are shown: process trees, file and container tables and
the status page, with rich. Times are stored in UTC and shown in local time.

Every value that came from the recorded host goes through `output.shown` before
it is shown (a control byte is written as `\\x1b`, never sent), and into rich only
as `Text`, never as markup: a `[bold]` in a file name is a file name."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..hotpath import contract as C
from .output import shown

ARGV_SHOWN = 8
ARG_CHARS = 60


def abbreviate_argv(argv: list[str] | None) -> str:
    if not argv:
        return ""
    cut = [a if len(a) <= ARG_CHARS else a[:ARG_CHARS - 1] + "…" for a in argv[:ARGV_SHOWN]]
    text = " ".join(_quote(shown(a)) for a in cut)
    if len(argv) > ARGV_SHOWN:
        text += f" … (+{len(argv) - ARGV_SHOWN} args)"
    return text


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


def process_label(doc: dict) -> Text:
    label = Text()
    label.append(str(doc.get("pid")), style="bold")
    if doc.get("runtime"):
        label.append(" [runtime]", style="dim")   # shown with --runtime only
    label.append(" ")
    label.append(shown(doc.get("exe") or doc.get("comm") or "?"), style="magenta")
    argv = abbreviate_argv(doc.get("argv"))
    if argv:
        label.append("  " + argv)
    label.append("  ")
    label.append_text(outcome(doc))
    took = duration(doc.get("start"), doc.get("exit_time"))
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


def subtree(docs: list[dict], pid: int) -> list[dict]:
    """The processes with this pid and everything below them."""
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


def render_tree(docs: list[dict], title: str, names: dict[str, str] | None = None) -> Tree:
    """One branch per container (by name where it has one), the host's first."""
    names = names or {}
    top = Tree(Text(shown(title), style="bold"))
    groups: dict[str | None, list[dict]] = {}
    for doc in docs:
        groups.setdefault(doc.get("container"), []).append(doc)
    for container in sorted(groups, key=lambda c: (c is not None, c or "")):
        branch = top if len(groups) == 1 and container is None else top.add(
            _group_label(container, names.get(container), groups[container]))
        for node in process_forest(groups[container]):
            _add(branch, node)
    return top


def _group_label(container: str | None, name: str | None, docs: list[dict]) -> Text:
    if container is None:
        return Text("host", style="bold blue")
    label = Text(f"container {shown(name or container[:12])}", style="bold blue")
    if name:
        label.append(f"  id {shown(container[:12])}", style="blue")
    roots = sorted({shown(d["rootfs"]) for d in docs if d.get("rootfs")})
    if roots:
        label.append(f"  rootfs {roots[-1] if len(roots) == 1 else ', '.join(roots)}", style="blue")
    return label


def _add(branch: Tree, node) -> None:
    doc, kids = node
    sub = branch.add(process_label(doc))
    for kid in kids:
        _add(sub, kid)


def render_files(files: list[dict], procs: dict[str, dict], width: int | None) -> list[str]:
    """lsof's layout: plain columns, the path last (a container's file: as the
    container sees it, then as the host does, on the line below)."""
    rows = []
    for doc in files:
        proc = procs.get(doc.get("process"), {})
        host_path = doc.get("host_path")
        held = duration(doc.get("opened"), doc.get("closed")) if doc.get("closed") else "open"
        rows.append(([str(doc.get("pid")), shown(doc.get("comm") or proc.get("comm") or "?"),
                      access_label(doc), str(doc.get("writes", 0)), str(doc.get("bytes", 0)),
                      _time(doc.get("opened")), held, shown(doc.get("path") or "?")],
                     f"↳ {shown(host_path)}" if host_path and host_path != doc.get("path") else None))
    return columns(("PID", "COMMAND", "ACCESS", "WRITES", "BYTES", "OPENED", "HELD", "PATH"), rows,
                   right={0, 3, 4, 6}, width=width)


# The narrowest a path may be shown in its column; in a terminal narrower than the
# other columns and this, it goes on a line of its own.
MIN_FREE = 24


def columns(headers, rows: list[tuple[list[str], str | None]], *, right=frozenset(),
            width: int | None) -> list[str]:
    """Rows as aligned lines, the header first; the last column is the free one (a
    path): whole when `width` is None (a pipe), else cut in the middle to fit, or,
    when the terminal leaves it less than MIN_FREE, on a line of its own. A row's
    note, if any, is a line of its own under its last column."""
    headers = list(headers)
    fixed = [max([len(headers[i])] + [len(cells[i]) for cells, _note in rows])
             for i in range(len(headers) - 1)]
    start = sum(fixed) + 2 * len(fixed)
    free = None if width is None else width - start
    own_line = free is not None and free < MIN_FREE
    if own_line:
        free, start = width - 4, 4

    def line(cells):
        parts = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                 enumerate(zip(cells, fixed))]
        last = shorten_middle(cells[-1], free)
        if own_line:
            return ["  ".join(parts).rstrip(), " " * start + last]
        return ["  ".join(parts + [last]).rstrip()]

    out = line(headers)[:1] if own_line else line(headers)
    for cells, note in rows:
        out += line(cells)
        if note is not None:
            out.append(" " * start + shorten_middle(note, free))
    return out


def shorten_middle(text: str, width: int | None) -> str:
    """`text` cut to `width` characters by an ellipsis in its middle, leaning to
    keep its end (a file's name)."""
    if width is None or len(text) <= width:
        return text
    if width < 3:
        return text[-width:] if width > 0 else ""
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


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
    """`docker ps -a` for what godo saw, the rootfs last."""
    # The host column only when the database holds more than one host's containers.
    several = len({host for row in rows for host in row.get("hosts") or ()}) > 1
    pods = any(row.get("pod") for row in rows)   # a pod column only where there are pods
    headers = ["CONTAINER ID", "NAME", "RUNTIME", "STATUS", "FIRST SEEN", "LAST SEEN",
               "PROCESSES", "FILES WRITTEN"]
    lines = []
    for row in rows:
        cells = [shown(row["id"][:12]), shown(row.get("name") or "-"),
                 shown(row.get("runtime") or "-"), shown(container_status(row)),
                 _stamp(row.get("first_seen")), _stamp(row.get("last_seen")),
                 str(row.get("processes", 0)), str(row.get("files_written", 0))]
        if pods:
            cells.append(shown((row.get("pod") or "-")[:12]))
        if several:
            cells.append(shown(", ".join(row.get("hosts") or ())))
        lines.append((cells + [shown(row.get("rootfs") or "-")], None))
    headers += (["POD"] if pods else []) + (["HOST"] if several else []) + ["ROOTFS"]
    return columns(headers, lines, right={6, 7}, width=width)


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
        grid.add_row("store", Text(f"{shown(store['where'])}   database {shown(store['database'])}"))
        grid.add_row("", counts)
        run = store.get("last_run")
        if run is None:
            grid.add_row("last run", "none")
        else:
            _run_rows(grid, run)
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


def _stamp(value: datetime | None) -> str:
    return _local(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _time(value: datetime | None) -> str:
    return _local(value).strftime("%H:%M:%S.%f")[:-3] if value else ""

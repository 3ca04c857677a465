"""How recorded documents are shown: process trees and file tables, with rich."""

from __future__ import annotations

from datetime import datetime

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

ARGV_SHOWN = 8
ARG_CHARS = 60


def abbreviate_argv(argv: list[str] | None) -> str:
    if not argv:
        return ""
    shown = [a if len(a) <= ARG_CHARS else a[:ARG_CHARS - 1] + "…" for a in argv[:ARGV_SHOWN]]
    text = " ".join(_quote(a) for a in shown)
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
    label.append(" ")
    label.append(doc.get("exe") or doc.get("comm") or "?", style="magenta")
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


def render_tree(docs: list[dict], title: str) -> Tree:
    top = Tree(Text(title, style="bold"))
    groups: dict[str | None, list[dict]] = {}
    for doc in docs:
        groups.setdefault(doc.get("container"), []).append(doc)
    for container in sorted(groups, key=lambda c: (c is not None, c or "")):
        branch = top if len(groups) == 1 and container is None else top.add(
            Text(f"container {container[:12]}" if container else "host", style="bold blue"))
        for node in process_forest(groups[container]):
            _add(branch, node)
    return top


def _add(branch: Tree, node) -> None:
    doc, kids = node
    sub = branch.add(process_label(doc))
    for kid in kids:
        _add(sub, kid)


def render_files(files: list[dict], procs: dict[str, dict]) -> Table:
    table = Table(show_header=True, header_style="bold", expand=False)
    for column in ("pid", "process", "path", "access", "writes", "bytes", "opened", "closed"):
        table.add_column(column, overflow="fold")
    for doc in files:
        proc = procs.get(doc.get("process"), {})
        access = doc.get("access") or ("?" if doc.get("inherited") else "")
        flags = []
        if doc.get("created"):
            flags.append("created")
        if doc.get("truncated"):
            flags.append("truncated")
        if doc.get("inherited"):
            flags.append("inherited")
        path = doc.get("path") or "?"
        if doc.get("host_path") and doc.get("host_path") != path:
            path += f"\n(host: {doc['host_path']})"
        table.add_row(
            str(doc.get("pid")), escape(proc.get("comm") or doc.get("comm") or "?"), escape(path),
            access + (f" ({', '.join(flags)})" if flags else ""), str(doc.get("writes", 0)),
            str(doc.get("bytes", 0)), _time(doc.get("opened")), _time(doc.get("closed")))
    return table


def _time(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S.%f")[:-3] if value else ""

"""`godo status`: the kernel's audit state, the rules, the store and the last run."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from rich.console import Console

from .. import __version__
from ..errors import GodoError
from ..paths import boot_id, hostname
from ..store.schema import COLLECTIONS
from ..twins import mode
from .settings import JSON_OPTIONS, database, encode_other, where


def cmd_status(args) -> int:
    from ..source.audit import GODO_KEY, AuditControl, describe_pid
    from ..source.rules import describe, native_arch
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
        "hotpath": mode(), "version": __version__,
    }
    from ..store.ferret import NoStore
    store_error = None
    try:
        report["store"] = _store_status(args)
    except NoStore as exc:  # nothing recorded yet: said, and no failure
        report["store"] = {"where": where(args), "error": str(exc)}
    except GodoError as exc:
        report["store"] = {"where": where(args), "error": str(exc)}
        store_error = exc
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, default=encode_other, option=JSON_OPTIONS) + b"\n")
        sys.stdout.flush()
    else:
        from .views import render_status
        Console(highlight=False).print(render_status(report))
    if store_error is not None:
        print(f"godo: {store_error}", file=sys.stderr)
        return store_error.exit_code
    return 0


def _store_status(args) -> dict:
    with database(args) as db:
        counts = {name: db[name].count_documents({}) for name in COLLECTIONS}
        last = db.runs.find_one({}, sort=[("started", -1)])
    return {"where": where(args), "database": db.name, "counts": counts,
            "last_run": last and as_seen_now(last)}


def as_seen_now(run: dict) -> dict:
    """A run whose document still says `running` although the godo that wrote it is
    gone (killed with SIGKILL, or the host rebooted) is shown `interrupted`: no one
    is left to end it. Only this host's runs can be checked."""
    if run.get("status") != "running" or run.get("host") != hostname():
        return run
    pid = run.get("pid")
    if run.get("boot_id") == boot_id():
        if not isinstance(pid, int) or _is_godo(pid):
            return run
        why = f"godo (pid {pid}) ended without ending the run"
    else:
        why = "the host rebooted during the run"
    return {**run, "status": "interrupted", "interrupted": why}


def _is_godo(pid: int) -> bool:
    """Whether `pid` runs godo: the `godo` script (its name is the process's), or
    `python -m godo` (its command line says so)."""
    proc = Path(f"/proc/{pid}")
    try:
        return (proc / "comm").read_text().strip() == "godo" or b"godo" in (proc / "cmdline").read_bytes()
    except OSError:
        return False

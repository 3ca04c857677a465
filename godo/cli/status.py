"""`godo status`: the kernel's audit state, the rules, the store and the last run."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from .. import __version__
from ..errors import GodoError
from ..paths import boot_id, hostname
from ..store.schema import COLLECTIONS
from ..twins import mode
from .settings import JSON_OPTIONS, data_dir, database, encode_other, where


def cmd_status(args) -> int:
    """What can be read is shown, whoever asks: a user who may not read the
    kernel's audit state (it needs CAP_AUDIT_CONTROL) still sees the store and
    the last run; the first part that could not be read is the one error line."""
    report = {"audit": None, "rules": None, "hotpath": mode(), "version": __version__}
    errors: list[GodoError] = []
    try:
        report["audit"], report["rules"] = _audit_status()
    except GodoError as exc:
        report["audit"] = {"error": str(exc)}
        errors.append(exc)
    try:
        report["store"] = _store_status(args)
    except GodoError as exc:
        report["store"] = {"where": _where(args), "error": str(exc)}
        errors.append(exc)
    report["journal"] = _journal_status(args)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, default=encode_other, option=JSON_OPTIONS) + b"\n")
        sys.stdout.flush()
    else:
        from .output import print_rich
        from .views import render_status
        print_rich(render_status(report))
    if errors:
        raise errors[0]
    return 0


def _journal_status(args) -> dict | None:
    """What waits in the spill journal, and what was set aside as damaged, read
    from the disk; None when the data directory cannot be named."""
    from ..store.journal_dir import journal_state
    try:
        return journal_state(data_dir(args))
    except GodoError:
        return None


def _where(args) -> str:
    try:
        return where(args)
    except GodoError:  # its data directory cannot be made: the error says so
        return "the embedded FerretDB"


def _audit_status() -> tuple[dict, dict]:
    """The kernel's audit settings, how far audit reaches on this boot, and the rules."""
    from ..paths import run_dir
    from ..source.audit import GODO_KEY, AuditControl, describe_pid
    from ..source.coverage import current
    from ..source.rules import describe, native_arch
    with AuditControl() as control:
        st = control.status()
        rules = control.list_rules()
    arch = native_arch()
    ours = [describe(rule, arch) for rule, _raw in rules if GODO_KEY in rule.keys]
    others = [describe(rule, arch) for rule, _raw in rules if GODO_KEY not in rule.keys]
    try:
        reach = current(run_dir(create=False), st.enabled, boot_id()).document()
    except GodoError:  # the run directory cannot be made: nothing written down there
        reach = {"kind": "unknown", "first_enabled": None, "first_enabled_ticks": None}
    audit = {"enabled": st.enabled, "failure": st.failure, "pid": st.pid,
             "owner": describe_pid(st.pid) if st.pid else None, "backlog": st.backlog,
             "backlog_limit": st.backlog_limit, "backlog_wait_time": st.backlog_wait_time,
             "lost": st.lost, "rate_limit": st.rate_limit, "reach": reach}
    return audit, {"godo": ours, "other": others}


def _store_status(args) -> dict:
    """The documents of each collection and the last run: of one host with --host
    (every document names its host), else of all."""
    from ..store.queries import known_host
    with database(args) as db:
        mine = {"host": known_host(db, args.host)} if getattr(args, "host", None) else {}
        counts = {name: db[name].count_documents(mine) for name in COLLECTIONS}
        last = db.runs.find_one(mine, sort=[("started", -1)])
    return {"where": where(args), "database": db.name, **mine, "counts": counts,
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

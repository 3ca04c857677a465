"""Terminal escape injection: whatever the recorded host wrote into argv, paths,
comm, exe, cwd, container and host names reaches a terminal escaped (`\\x1b`),
in every view, piped or on a terminal; --json stays exact. Documents made by
replaying tests/support/evil.py's log through each twin."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pytest
from rich.console import Console

from godo.cli import views
from godo.cli.output import shown
from godo.tracker import Scope
from support.capture import DocStore
from support.evil import CONTROLS, EVIL_PATH, evil_log

# Everything a terminal acts on: C0 (newline apart: the views' own line ends), DEL, C1.
_ACTED_ON = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _evil_docs(twin, tmp_path) -> DocStore:
    log = tmp_path / "evil.log"
    log.write_bytes(evil_log())
    store = DocStore()
    tracker = twin.Tracker(store, host="h", boot_id="b", scope=Scope("host"), run="r")
    pipeline = twin.Pipeline()
    tracker.process(pipeline.feed_log(log.read_bytes(), "evil.log") + pipeline.flush())
    tracker.finish(2e9)
    assert pipeline.malformed == 0
    return store


def _rendered(renderable, width: int | None, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width or 10_000, force_terminal=terminal,
                      color_system="standard" if terminal else None, highlight=False)
    console.print(renderable)
    text = out.getvalue()
    # A terminal gets godo's own colours: SGR sequences, and nothing else.
    return re.sub(r"\x1b\[[0-9;]*m", "", text) if terminal else text


def _clean(text: str) -> None:
    found = _ACTED_ON.findall(text)
    assert not found, f"raw control characters reached the output: {found!r}\n{text!r}"


def test_shown_escapes_what_a_terminal_acts_on_and_nothing_else():
    assert shown("/srv/plain name/é 漢 [bold]x[/bold]") == "/srv/plain name/é 漢 [bold]x[/bold]"
    assert shown("a\x1b[1Ab\x07\r\x7f\x9b\u202e\u2028\ud800\t") == \
        "a\\x1b[1Ab\\x07\\x0d\\x7f\\x9b\\u202e\\u2028\\ud800\\x09"
    assert shown("bad\\xff") == "bad\\xff", "invalid UTF-8, stored as \\xNN text, shown as stored"
    assert shown(42) == "42"
    _clean(shown("".join(map(chr, range(0x00, 0x100)))))


@pytest.mark.parametrize("width, terminal", [(None, False), (80, True), (200, True)])
def test_tree_and_files_escape_every_name(twin, tmp_path, width, terminal):
    store = _evil_docs(twin, tmp_path)
    procs, files = store.docs("processes"), store.docs("files")
    assert len(procs) == 1 and len(files) == 2
    tree = _rendered(views.render_tree(procs, "run h:\x1b[31mr"), width, terminal)
    _clean(tree)
    assert "/usr/bin/\\x1b]0;title\\x07evil" in tree.replace("\n", "").replace("│", "")
    assert "run h:\\x1b[31mr" in tree
    lines = views.render_files(files, {}, width)
    table = "\n".join(lines)
    _clean(table)
    assert "\\x1b[2Jcls" in table and "[bold]x[/bold].txt" in table
    if width is None:
        whole = shown(EVIL_PATH.decode("utf-8", "backslashreplace"))
        assert whole in table, "piped: the whole path, escaped, on its line"
        controls = "".join(f"\\x{b:02x}" for b in CONTROLS)
        assert f"/tmp/ctl{controls}.txt" in table


def test_json_keeps_the_values_exact(twin, tmp_path):
    (proc,) = _evil_docs(twin, tmp_path).docs("processes")
    assert proc["comm"] == "\x1b[2Jcls" and proc["argv"][2] == "\x07bell\rreturn"
    assert proc["argv"][3] == "\\xff\\xfe", "invalid UTF-8 kept as \\xNN text"


def test_containers_table_and_tree_groups_escape_names_and_rootfs():
    rows = [{"id": "c\x1b[2K" * 4, "name": "web\x07app", "runtime": "containerd",
             "status": "exited", "exit_code": 0, "pod": "p\x1bod", "hosts": ["h1", "h\x1b2"],
             "rootfs": "/srv/\x1b]52;c;x\x07root", "processes": 1, "files_written": 0,
             "first_seen": None, "last_seen": None}]
    for width in (None, 80):
        table = "\n".join(views.render_containers(rows, width))
        _clean(table)
        assert "web\\x07app" in table and "h\\x1b2" in table
    docs = [{"_id": "p", "pid": 1, "container": "c\x1b[2Kc", "rootfs": "/r\x1b[1A",
             "exe": "/bin/sh", "argv": ["sh"], "status": "exited", "exit_code": 0}]
    tree = _rendered(views.render_tree(docs, "t", {"c\x1b[2Kc": "[bold]n\x1b"}), 80, True)
    _clean(tree)
    assert "container [bold]n\\x1b" in tree and "rootfs /r\\x1b[1A" in tree


def _status(**run) -> dict:
    now = datetime(2026, 12, 7, 20, 0, tzinfo=timezone.utc)
    return {"audit": {"enabled": 1, "failure": 1, "pid": 5, "owner": "\x1b[2Jauditd, pid 5",
                      "backlog": 0, "backlog_limit": 64, "backlog_wait_time": 0, "lost": 0,
                      "rate_limit": 0, "reach": {"kind": "since", "first_enabled": now}},
            "rules": {"godo": ["-a always,exit -k godo"], "other": ["-w /etc/\x1b[1Ax -k :smile:"]},
            "store": {"where": "the embedded FerretDB in /var/lib/godo", "database": "godo",
                      "counts": {"processes": 1}, "last_run": {
                          "_id": "h\x1b[5m:20261207T200000:abcd", "status": "failed",
                          "failed": "nothing in \x1b]52;c;x\x07.log parsed", "mode": "replay",
                          "scope": "host", "started": now, "ended": now, "unaudited": 3, **run}},
            "version": "0.1.0", "hotpath": "accelerated"}


@pytest.mark.parametrize("width, terminal", [(None, False), (80, True)])
def test_status_escapes_run_ids_rules_errors_and_takes_no_markup(width, terminal):
    text = _rendered(views.render_status(_status()), width, terminal)
    _clean(text)
    flat = " ".join(text.split())
    assert "h\\x1b[5m:20261207T200000:abcd" in flat and ":smile:" in flat, "no emoji codes either"
    assert "failed: nothing in \\x1b]52;c;x\\x07.log parsed" in flat
    assert "not audited 3" in flat and "boot with audit=1" in flat


def test_status_of_a_user_who_may_not_read_audit_shows_the_rest():
    report = _status()
    report["audit"], report["rules"] = {"error": "not allowed to read the audit status"}, None
    text = _rendered(views.render_status(report), None, False)
    assert "not allowed to read the audit status" in text and "godo" in text.splitlines()[-1]


def test_the_replay_summary_escapes_the_run_id(capsys):
    from godo.cli.record import _summary
    from godo.run.report import new_run
    report = new_run("replay", Scope("host"), host="h\x1b[2J")
    report.pipeline, report.tracker, report.store = {}, {"unaudited": 2}, {}
    _summary(report)
    err = capsys.readouterr().err
    _clean(err)
    assert "run h\\x1b[2J:" in err and "not audited 2" in err

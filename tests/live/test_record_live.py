"""`godo record` end to end: the real kernel, the real FerretDB, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest
from pymongo import MongoClient

from godo.source import audit as A
from godo.cli import main
from godo.errors import GodoError
from godo.tracker import Tracker
import godo.run.wiring

GODO = [sys.executable, "-m", "godo"]


def _db(uri):
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    return client, client.get_default_database()


@pytest.fixture
def short_dir():
    """A directory whose path is short enough to show whole in a tree."""
    path = Path(tempfile.mkdtemp(prefix="godo-"))
    yield path
    shutil.rmtree(path)


def test_record_a_command_tree_and_its_files(live_audit, godo_env, store_uri, short_dir,
                                             monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    target = short_dir / "x"
    script = f"echo hi > {target}; cat {target}; exit 7"
    rc = main(["record", "--mongo", store_uri, "--", "sh", "-c", script])
    assert rc == 7, "godo exits with the command's status"
    client, db = _db(store_uri)
    with client:
        run = db.runs.find_one({"command": ["sh", "-c", script]})
        assert run["status"] == "finished" and run["kernel_lost"] == 0 and run["drained"] is True
        assert run["malformed"] == 0 and run["exit_status"] == 7
        procs = list(db.processes.find({"run": run["_id"]}))
        by_exe = {p["exe"].rsplit("/", 1)[-1]: p for p in procs}
        assert sorted(by_exe) == ["cat", "dash"], "exactly the shell and cat"
        shell, cat = by_exe["dash"], by_exe["cat"]
        assert shell["argv"] == ["sh", "-c", script] and shell["exit_code"] == 7
        assert shell["parent"] is None and shell["children"] == [cat["_id"]]
        assert cat["parent"] == shell["_id"] and cat["argv"] == ["cat", str(target)]
        assert cat["exit_code"] == 0 and cat["status"] == "exited"
        assert cat["start"] >= shell["start"] and cat["exit_time"] <= shell["exit_time"]

        files = list(db.files.find({"run": run["_id"], "path": str(target)}))
        written = [f for f in files if f["process"] == shell["_id"]]
        read = [f for f in files if f["process"] == cat["_id"]]
        assert len(written) == 1 and len(read) == 1
        assert written[0]["access"] == "w" and written[0]["writes"] == 1 and written[0]["bytes"] == 3
        assert written[0]["truncated"] is True and written[0]["status"] == "closed"
        assert read[0]["access"] == "r" and read[0]["writes"] == 0 and read[0]["status"] == "closed"
        assert {f["host"] for f in files} == {os.uname().nodename}

    capsys.readouterr()
    assert main(["files", "--mongo", store_uri, "--json"]) == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["path"], r["access"], r["pid"]) for r in rows if r["path"] == str(target)} == {
        (str(target), "w", shell["pid"]), (str(target), "r", cat["pid"])}
    assert main(["tree", "--mongo", store_uri]) == 0
    tree = capsys.readouterr().out
    assert f"cat {target}" in tree and "exit 7" in tree


def test_the_command_is_forked_after_godo_turns_audit_on(live_audit, godo_env, store_uri, short_dir):
    """A task forked while audit was never enabled since boot is never audited
    (audit_alloc), so on a fresh boot (enabled 0, no audit=1) CMD must be forked
    after godo sets `enabled 1`: its start time in /proc (clock ticks on the boot
    clock) is not before the moment the run document says godo turned audit on.
    (audit_ever_enabled cannot be made false again here; this is the order that
    makes a fresh boot's first run whole.)"""
    stat = short_dir / "stat"
    script = f"cat /proc/$$/stat > {stat}"
    with A.AuditControl() as control:
        control.set_status(enabled=0)  # as a fresh boot finds it; live_audit checks it is put back
    try:
        assert main(["record", "--mongo", store_uri, "--", "sh", "-c", script]) == 0
    finally:
        with A.AuditControl() as control:
            control.set_status(enabled=live_audit["enabled"])
    start_ticks = int(stat.read_text().rsplit(")", 1)[1].split()[19])
    client, db = _db(store_uri)
    with client:
        run = db.runs.find_one({"command": ["sh", "-c", script]})
        shell = db.processes.find_one({"run": run["_id"], "argv": ["sh", "-c", script]})
    assert run["audit_enabled_at"] is not None, "godo found audit off and turned it on"
    assert start_ticks >= int(run["audit_enabled_at"] * os.sysconf("SC_CLK_TCK")), \
        "CMD was forked after godo set enabled 1"
    assert run["audit_coverage"]["kind"] in ("since", "boot"), run["audit_coverage"]
    assert run["exit_source"] == "audit" and shell["exe"] == "/usr/bin/dash", \
        "CMD's own exec and exit are in the stream"
    assert run["unaudited"] == 0 and "audited" not in shell


def test_record_subprocess_with_null_store_prints_a_summary(live_audit, godo_env):
    result = subprocess.run(GODO + ["record", "--store", "null", "--", "sh", "-c", "ls / >/dev/null"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "processes 2" in result.stderr and "kernel lost 0" in result.stderr


def test_sigterm_stops_the_command_and_leaves_nothing_behind(live_audit, godo_env):
    with subprocess.Popen(GODO + ["record", "--store", "null", "--", "sleep", "30"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as godo:
        deadline = time.monotonic() + 20
        with A.AuditControl() as control:
            while not any("godo" in r.keys for r, _ in control.list_rules()):
                assert time.monotonic() < deadline and godo.poll() is None, godo.stderr.read()
                time.sleep(0.05)
        godo.send_signal(signal.SIGTERM)
        try:
            out, err = godo.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            subprocess.run(["pkill", "-KILL", "-f", "^sleep 30$"])
            out, err = godo.communicate(timeout=30)
            raise AssertionError(f"the command outlived godo's SIGTERM: rc {godo.returncode}: {err}")
    assert godo.returncode == 128 + signal.SIGTERM, err
    # live_audit asserts the rules, daemon pid and settings are as they were


def test_a_failure_inside_the_run_restores_the_audit_state(live_audit, godo_env, monkeypatch, capsys):
    class Broken(Tracker):  # (the compiled tracker's own methods cannot be patched)
        def process(self, activities, *, dense=False):
            raise GodoError("the tracker broke")

    monkeypatch.setattr(godo.run.wiring, "Tracker", Broken)
    rc = main(["record", "--store", "null", "--", "sh", "-c", "echo x > /dev/null"])
    assert rc == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "godo: the tracker broke"
    # live_audit asserts the rules, daemon pid and settings are as they were


def test_command_not_found_is_one_line(godo_env, capsys):
    assert main(["record", "--store", "null", "--", "no-such-command-godo"]) == 1
    assert capsys.readouterr().err == "godo: command not found: no-such-command-godo\n"


def test_a_run_stopped_by_a_signal_ends_interrupted(live_audit, godo_env, store_uri):
    # The recorded command plays the user's Ctrl-C: SIGINT to godo, which passes it on.
    script = "kill -INT $PPID; sleep 5"
    result = subprocess.run(GODO + ["record", "--mongo", store_uri, "--", "sh", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 128 + signal.SIGINT, result.stderr
    client, db = _db(store_uri)
    with client:
        run = db.runs.find_one({"command": ["sh", "-c", script]})
    assert (run["status"], run["interrupted"]) == ("interrupted", "stopped by SIGINT"), run
    assert run["ended"] is not None and run["processes"] >= 1, run


def test_a_run_that_fails_part_way_ends_interrupted(live_audit, godo_env, store_uri, monkeypatch,
                                                    capsys):
    class Broken(Tracker):  # (the compiled tracker's own methods cannot be patched)
        def tick(self, now):
            raise KeyboardInterrupt  # what Ctrl-C raises where no handler is installed

    monkeypatch.setattr(godo.run.wiring, "Tracker", Broken)
    assert main(["record", "--mongo", store_uri, "--", "sh", "-c", "sleep 1.5"]) == 128 + signal.SIGINT
    assert capsys.readouterr().err.strip().splitlines()[-1] == "godo: interrupted"
    client, db = _db(store_uri)
    with client:
        run = db.runs.find_one({"command": ["sh", "-c", "sleep 1.5"]})
    assert run["status"] == "interrupted" and run["interrupted"] == "stopped by SIGINT"
    assert run["ended"] is not None
    # live_audit asserts the rules, daemon pid and settings are as they were

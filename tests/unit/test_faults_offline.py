"""Fault injection without the kernel's audit or FerretDB: a store that accepts
connections but never answers, malformed and truncated logs, input that must not
grow godo without bound, credentials kept out of journal paths, config files
others can write, the losses `godo status` shows."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import time

import pytest

from godo.errors import GodoError, StoreError
from godo.run.replay import replay
from godo.store.base import NullStore
from godo.store.journal_dir import journal_dir_for, legacy_journal_dir
from godo.store.opening import database, open_store
from support.cli import GODO
from support.faults import _env


# -- a database that stalls, or never answers ----------------------------------------------

def test_a_store_that_accepts_connections_but_never_answers(mute, tmp_path):
    uri = f"mongodb://godo:hunter2secret@127.0.0.1:{mute.port}/godo"
    began = time.monotonic()
    with pytest.raises(StoreError) as caught:
        with open_store(uri, tmp_path, timeout=1.0):
            pass
    took = time.monotonic() - began
    message = str(caught.value)
    assert took < 10, f"godo waited {took:.1f} s for a server that never answers"
    assert message.startswith("cannot reach the database at mongodb://***:***@127.0.0.1:")
    assert "\n" not in message and "hunter2secret" not in message
    assert len(mute.held) >= 1, "the server was never even connected to"
    began = time.monotonic()
    with pytest.raises(StoreError):
        with database(uri, tmp_path, timeout=1.0):
            pass
    assert time.monotonic() - began < 10


# -- bad input ---------------------------------------------------------------------------

GOOD = (b'type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=257 success=yes exit=3 '
        b'a0=ffffff9c a1=1 a2=241 a3=1b6 items=2 ppid=1 pid=42 auid=0 uid=0 gid=0 euid=0 suid=0 '
        b'fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="sh" exe="/bin/sh" key="godo"\n'
        b'type=CWD msg=audit(1700000000.100:10): cwd="/tmp"\n'
        b'type=PATH msg=audit(1700000000.100:10): item=0 name="/tmp/" inode=1 dev=00:01 mode=041777 '
        b'ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0\n'
        b'type=PATH msg=audit(1700000000.100:10): item=1 name="/tmp/x" inode=2 dev=00:01 mode=0100644 '
        b'ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0\n'
        b'type=PROCTITLE msg=audit(1700000000.100:10): proctitle="sh"\n')


def _bad_log() -> tuple[bytes, list[int]]:
    lines = [
        b"this is not an audit record",                                   # 6
        b"type=SYSCALL msg=audit(garbage): arch=c000003e",                # 7
        b"type=SYSCALL msg=audit(1700000000.200:11) no colon",             # 8
        b"\x00\xff\xfe binary \x1b[31m junk",                              # 9
        b"type=" + b"A" * 100_000,                                         # 10: far too long
    ]
    body = GOOD + b"\n".join(lines) + b"\n" + GOOD.replace(b":10)", b":12)")
    # Cut short in the middle of the last record's header, as a crash leaves a log.
    return body + b"type=SYSCALL msg=audit(1700000000.3", [6, 7, 8, 9, 10, 16]


def test_malformed_and_truncated_lines_are_counted_with_their_line_numbers(tmp_path):
    body, bad_lines = _bad_log()
    path = tmp_path / "bad.log"
    path.write_bytes(body)
    seen = []
    report = replay(str(path), NullStore(host="h"), on_activities=seen.extend)
    assert [a.kind for a in seen] == ["open", "open"], "the good events around the bad lines"
    assert report.pipeline["malformed"] == len(bad_lines)
    places = [error.split(": ", 1)[0] for error in report.errors]
    assert places == [f"bad.log:{n}" for n in bad_lines]
    assert report.document()["malformed"] == len(bad_lines)


def test_godo_replay_reports_each_malformed_line(tmp_path):
    body, bad_lines = _bad_log()
    (tmp_path / "bad.log").write_bytes(body)
    result = subprocess.run(GODO + ["replay", "--store", "null", "--jsonl", str(tmp_path / "bad.log")],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    for n in bad_lines:
        assert f"bad.log:{n}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_truncated_gzip_keeps_what_was_read_and_fails_in_one_line(tmp_path):
    whole = gzip.compress(GOOD * 2000)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(whole[:len(whole) // 2])
    seen = []
    with pytest.raises(GodoError) as caught:
        replay(str(path), NullStore(host="h"), on_activities=seen.extend)
    assert "cut.log.gz" in str(caught.value) and "\n" not in str(caught.value)
    assert seen, "the events before the cut were lost"
    result = subprocess.run(GODO + ["replay", "--store", "null", str(path)], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_no_input_grows_godo_without_bound(tmp_path):
    # 64 MiB with no newline, then 64 MiB of records that never complete an event.
    path = tmp_path / "huge.log"
    with open(path, "wb") as f:
        f.write(b"type=SYSCALL " + b"x" * (64 << 20) + b"\n")
        line = (b'type=PATH msg=audit(1700000000.1:%d): item=0 name="/%s" nametype=NORMAL\n')
        chunk = b"".join(line % (n, b"y" * 200) for n in range(200_000))
        for _ in range(3):
            f.write(chunk)
    code = ("import resource, sys\n"
            "from godo.run.replay import replay\nfrom godo.store.base import NullStore\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "r = replay(sys.argv[1], NullStore(host='h'))\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(after - before, r.pipeline['malformed'], r.pipeline['records'])\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    grown_kb, malformed, records = map(int, result.stdout.split())
    assert malformed >= 1 and records == 600_000
    assert grown_kb < 200 * 1024, f"replay grew by {grown_kb / 1024:.0f} MiB on a 190 MiB log"


# -- credentials and file modes ---------------------------------------------------------------

def test_the_journal_path_names_no_credentials():
    """The old naming, from the URI's hosts and the database (still read, to move
    what an older godo left): no credentials in it, one name for one database."""
    path = legacy_journal_dir("/d", "mongodb://godo:hunter2secret@db.example:27017/?authSource=admin", "g")
    assert "hunter2" not in str(path) and "godo:" not in str(path)
    assert path.name == hashlib.sha256(b"db.example:27017/g").hexdigest()[:16], "as godo named it"
    assert legacy_journal_dir("/d", "mongodb://a:1@db.example:27017/", "g") == \
        legacy_journal_dir("/d", "mongodb://b:2@db.example:27017/?w=1", "g"), "one database, one journal"
    assert legacy_journal_dir("/d", "mongodb://db.example/", "g") != legacy_journal_dir("/d", "mongodb://db.example/", "h")
    assert legacy_journal_dir("/d", None, "g") != legacy_journal_dir("/d", "mongodb://127.0.0.1:1/", "g")
    # Today's naming: from the database's identity alone.
    assert journal_dir_for("/d", "a" * 32) != journal_dir_for("/d", "b" * 32)
    assert journal_dir_for("/d", "a" * 32).parent == legacy_journal_dir("/d", None, "g").parent


def test_a_config_file_others_can_write_is_refused(tmp_path):
    from godo import config
    from godo.errors import ConfigError
    path = tmp_path / "godo.toml"
    path.write_text('[store]\nuri = "mongodb://127.0.0.1/"\n')
    os.chmod(tmp_path, 0o755)
    for mode in (0o666, 0o620):
        os.chmod(path, mode)
        with pytest.raises(ConfigError, match="refusing"):
            config.load(str(path))
    os.chmod(path, 0o600)
    assert config.load(str(path)).get("store", "uri") == "mongodb://127.0.0.1/"


def test_status_shows_the_last_runs_losses():
    from rich.console import Console

    from godo.cli.views import render_status
    run = {"_id": "h:1", "status": "finished", "mode": "unicast", "scope": "command 1",
           "kernel_lost": 0, "serial_gaps": 3, "godo_lost": 0,
           "store": {"spilled": 120, "replayed": 120, "pending": 0}}
    report = {"audit": {"enabled": 1, "owner": None, "backlog": 0, "backlog_limit": 65536,
                        "backlog_wait_time": 0, "lost": 5, "rate_limit": 0, "failure": 1},
              "rules": {"godo": [], "other": []}, "version": "x", "hotpath": "accelerated",
              "store": {"where": "here", "database": "godo", "counts": {}, "last_run": run}}
    console = Console(width=200, record=True)
    console.print(render_status(report))
    text = console.export_text()
    assert "kernel lost 0" in text and "serial gaps 3" in text
    assert "godo lost 0" in text and "spilled 120" in text

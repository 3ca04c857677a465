"""The command line without the kernel's audit or a database: what the views
draw, replay with no store, times and globs, systemd's notify socket."""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from godo.cli.record import PROGRESS_MIN_BYTES
from godo.config import parse_time
from godo.store.queries import glob_regex
from support.cli import GODO, _json_lines, _on_a_terminal, _run
from support.paths import DATA


# -- files ----------------------------------------------------------------------------------

def test_access_label_says_how_the_file_was_opened():
    from godo.cli.views import access_label
    # echo hello > f (a new file), then echo more >> f, on x86_64 and aarch64 alike.
    assert access_label({"access": "w", "flags": 0o1101, "created": True,
                         "truncated": True}) == "w+creat+trunc"
    assert access_label({"access": "w", "flags": 0o2101, "created": False,
                         "truncated": False}) == "w+append"
    assert access_label({"access": "rw", "flags": 0o2}) == "rw"
    assert access_label({"inherited": True, "access": None}) == "inherited"


# -- containers ----------------------------------------------------------------------------

def test_containers_show_the_host_only_when_there_are_several():
    from io import StringIO

    from rich.console import Console

    from godo.cli.views import render_containers

    def rendered(rows):
        out = StringIO()
        Console(file=out, width=120).print(render_containers(rows))
        return out.getvalue()

    row = {"id": "ab" * 32, "rootfs": "/srv/r", "processes": 3, "files_written": 1}
    assert "HOST" not in rendered([{**row, "hosts": ["vm"]}])
    both = rendered([{**row, "hosts": ["vm"]}, {**row, "id": "cd" * 32, "hosts": ["db1"]}])
    assert "HOST" in both.splitlines()[0] and "db1" in both


# -- replay ------------------------------------------------------------------------------------

def test_replay_subprocess(env):
    result = _run("replay", "--jsonl", DATA / "dirfd.log")
    assert result.returncode == 0, result.stderr
    assert all("kind" in e for e in _json_lines(result.stdout))


def test_replay_shows_records_per_second_on_a_terminal(tmp_path):
    # A log past the size that earns a bar: a real capture, repeated.
    one = (DATA / "container.log").read_bytes()
    big = tmp_path / "big.log"
    big.write_bytes(one * (PROGRESS_MIN_BYTES // len(one) + 2))
    rc, drawn = _on_a_terminal(GODO + ["replay", "--store", "null", str(big)])
    assert rc == 0, drawn
    assert "records/s" in drawn and "big.log" in drawn and "100%" in drawn


# -- units: times and globs -----------------------------------------------------------------------

def test_parse_time():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_time("10m", now) == now - timedelta(minutes=10)
    assert parse_time("2h", now) == now - timedelta(hours=2)
    assert parse_time("1d", now) == now - timedelta(days=1)
    assert parse_time("90s", now) == now - timedelta(seconds=90)
    assert parse_time("now", now) == now
    assert parse_time("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert parse_time("2024-05-01 12:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    local = parse_time("2024-05-01T10:00")
    assert local == datetime(2024, 5, 1, 10).astimezone().astimezone(timezone.utc)
    assert parse_time("today", now) <= now
    with pytest.raises(ValueError, match="cannot read"):
        parse_time("10 parsecs", now)


@pytest.mark.parametrize("glob, matches, misses", [
    ("/tmp/*", ["/tmp/a", "/tmp/a/b"], ["/tmpx", "/var/tmp/a"]),
    ("*.txt", ["/data/a.txt", "a.txt"], ["/data/a.txt.bak"]),
    ("/data/?.txt", ["/data/a.txt"], ["/data/ab.txt"]),
    ("/d/[ab].log", ["/d/a.log", "/d/b.log"], ["/d/c.log"]),
    ("/d/[!ab].log", ["/d/c.log"], ["/d/a.log"]),
    ("/odd (1)+[x]$.^", ["/odd (1)+x$.^"], ["/odd 1+x$.^"]),
])
def test_glob_regex(glob, matches, misses):
    import re
    pattern = re.compile(glob_regex(glob))
    assert all(pattern.search(m) for m in matches)
    assert not any(pattern.search(m) for m in misses)


def test_sd_notify_reaches_a_path_or_an_abstract_socket(tmp_path, monkeypatch):
    from godo.cli.record import sd_notify
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False  # not under systemd: nothing to tell
    abstract = f"@godo-test-{uuid.uuid4().hex}"
    for where in (str(tmp_path / "notify"), abstract):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + where[1:] if where.startswith("@") else where)
            monkeypatch.setenv("NOTIFY_SOCKET", where)
            assert sd_notify("READY=1") is True
            assert sock.recv(64) == b"READY=1"
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sd_notify("READY=1") is False

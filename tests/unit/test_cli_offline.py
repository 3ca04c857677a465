"""The command line without the kernel's audit or a database: what the views
draw, replay with no store, times and globs, systemd's notify socket."""

from __future__ import annotations

import gzip
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from godo.cli.record import PROGRESS_MIN_BYTES
from godo.config import parse_time
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
    from godo.cli.views import render_containers

    def rendered(rows):
        return "\n".join(render_containers(rows, 120))

    row = {"id": "ab" * 32, "rootfs": "/srv/r", "processes": 3, "files_written": 1}
    assert "HOST" not in rendered([{**row, "hosts": ["vm"]}])
    both = rendered([{**row, "hosts": ["vm"]}, {**row, "id": "cd" * 32, "hosts": ["db1"]}])
    assert "HOST" in both.splitlines()[0] and "db1" in both


# -- replay ------------------------------------------------------------------------------------

def test_replay_jsonl_alone_prints_the_events_and_fills_no_database(env):
    result = _run("replay", "--jsonl", DATA / "dirfd.log")
    assert result.returncode == 0 and not result.stderr, result.stderr
    printed = _json_lines(result.stdout)
    # The reviewed golden events, every one, in order (tests/unit/test_golden.py
    # holds each twin to them field by field).
    want = _json_lines((DATA / "dirfd.expected.jsonl").read_text())
    assert len(printed) == len(want) > 0
    assert [(e["kind"], e["serial"]) for e in printed] == [(e["kind"], e["serial"]) for e in want]
    assert {"exec", "open", "write", "close"} <= {e["kind"] for e in printed}
    # --jsonl alone prints: no store was opened, so nothing is in the data directory
    # (no FerretDB, no journal).
    data = env / "data"
    assert not data.exists() or not any(data.iterdir())


def test_a_log_of_one_line_with_no_newline_after_it_replays(tmp_path):
    # The last line is held until the end (it may be cut short): a log that is that
    # line alone is read then, not called empty.
    line = (DATA / "dirfd.log").read_bytes().splitlines()[0]
    log = tmp_path / "one.log"
    log.write_bytes(line)
    store = _replayed(log)
    (run,) = store.docs("runs")
    assert run["records"] == 1 and run["malformed"] == 0 and not run.get("failed")


def _replayed(log, **options):
    from godo.run.replay import replay
    from support.capture import DocStore
    store = DocStore()
    replay(str(log), store, **options)
    return store


def test_replay_names_the_node_of_the_log_as_the_host_or_the_one_given(tmp_path):
    plain = (DATA / "dirfd.log").read_bytes()
    noded = tmp_path / "web1.log.gz"
    noded.write_bytes(gzip.compress(b"".join(b"node=web1 " + line
                                              for line in plain.splitlines(keepends=True))))
    store = _replayed(noded)
    (run,) = store.docs("runs")
    assert run["host"] == "web1" and run["_id"].startswith("web1:") and run["malformed"] == 0
    procs, files = store.docs("processes"), store.docs("files")
    assert procs and files and run["activities"] == _replayed(DATA / "dirfd.log").docs("runs")[0]["activities"]
    assert {d["host"] for d in procs + files} == {"web1"}
    assert all(d["_id"].startswith("web1:") for d in procs)
    given = _replayed(noded, host="db7")
    assert {d["host"] for d in given.docs("runs") + given.docs("processes")} == {"db7"}
    assert {d["host"] for d in _replayed(DATA / "dirfd.log").docs("runs")} == {socket.gethostname()}


def test_replay_shows_records_per_second_on_a_terminal(tmp_path):
    # A log past the size that earns a bar: a real capture, repeated.
    one = (DATA / "container.log").read_bytes()
    big = tmp_path / "big.log"
    big.write_bytes(one * (PROGRESS_MIN_BYTES // len(one) + 2))
    rc, drawn = _on_a_terminal(GODO + ["replay", "--store", "null", str(big)])
    assert rc == 0, drawn
    assert "records/s" in drawn and "big.log" in drawn and "100%" in drawn
    # The bar's column reads its description as markup: a file name is only text.
    odd = big.rename(tmp_path / "[red]a\x1b[2J[bold].log")
    rc, drawn = _on_a_terminal(GODO + ["replay", "--store", "null", str(odd)])
    assert rc == 0 and "Traceback" not in drawn, drawn
    assert "[red]a\\x1b[2J[bold].log" in drawn and "\x1b[2J" not in drawn


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
    ("/tmp/*", ["/tmp/", "/tmp/a", "/tmp/a/b", "/tmp/\uffff"], ["/tmo/", "/tmp", "/tmq", "/var/tmp/a"]),
    ("/data/?.txt", ["/data/a.txt"], ["/dat", "/datb", "/data/ab.txt"]),
    ("/d/[ab].log", ["/d/a.log", "/d/b.log"], ["/d", "/e/a.log", "/d/c.log"]),
    ("*.txt", ["/data/a.txt"], ["/data/a.txt.bak"]),
])
def test_path_terms_select_the_glob_by_its_regex_and_its_literal_start(glob, matches, misses):
    """The regex decides; a literal start is also asked as a range, which an index
    answers."""
    import re

    from godo.store.queries import path_terms
    terms = path_terms(glob)
    assert [list(t) for t in terms["$or"]] == [["path"], ["host_path"]]
    match = terms["$or"][0]["path"]
    assert ("$gte" in match) == (glob[0] not in "*?[")

    def selected(p):
        in_range = "$gte" not in match or match["$gte"] <= p < match["$lt"]
        return in_range and re.search(match["$regex"], p) is not None

    assert all(selected(m) for m in matches) and not any(selected(m) for m in misses)


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


# -- tables at any width -------------------------------------------------------------------

_LONG = "/var/lib/containers/storage/overlay/" + "a" * 64 + "/merged/srv/app/data/reports/2026/12/out.json"


def _file_doc(path, host_path=None):
    from datetime import datetime, timezone
    # Opened today: shown without its date (a file of another day carries it, 11
    # columns more, which the table does not yet make room for below 71 columns).
    opened = datetime.now(timezone.utc)
    return {"_id": path, "process": "p", "pid": 4242, "comm": "python3", "path": path,
            "host_path": host_path, "flags": 0o101, "access": "w", "writes": 3, "bytes": 120,
            "opened": opened, "closed": opened, "truncated": True}


@pytest.mark.parametrize("width", [None, 60, 200])
def test_files_table_keeps_every_path_whole_on_a_line_or_cut_in_the_middle(width):
    from godo.cli.views import render_files
    docs = [_file_doc("/tmp/x"), _file_doc(_LONG), _file_doc("/data/a.txt", "/srv/rootfs/data/a.txt")]
    lines = render_files(docs, {}, width)
    assert lines[0].split()[:2] == ["PID", "COMMAND"]
    if width is None:  # a pipe: every row one line, every path whole, the host path a column
        assert len(lines) == 1 + len(docs) and lines[0].split()[-3:] == ["PATH", "HOST", "PATH"]
        assert any(line.split()[-2:] == [_LONG, "-"] for line in lines)
        assert lines[-1].split()[-2:] == ["/data/a.txt", "/srv/rootfs/data/a.txt"]
    else:
        assert all(len(line) <= width for line in lines), lines
        cut = [line for line in lines if "…" in line]
        assert len(cut) == 1 and cut[0].rstrip().endswith("out.json"), "the file's name is kept"
    # No path is ever folded into a column a few characters wide.
    assert not [line for line in lines if 0 < len(line.strip()) < 6]


def test_files_piped_at_60_and_200_columns_keep_each_path_on_one_line(env, monkeypatch):
    """`godo files | cat` with COLUMNS set: a pipe gets whole lines all the same."""
    import io

    from godo.cli import output
    from godo.cli.views import render_files
    docs = [_file_doc(_LONG)]
    for columns in ("60", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        out = io.StringIO()
        monkeypatch.setattr(output.sys, "stdout", out)
        output.print_lines(render_files(docs, {}, output.terminal_width()))
        text = out.getvalue()
        assert _LONG in text.splitlines()[1] and "\x1b" not in text

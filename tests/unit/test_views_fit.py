"""Tables and trees that fit the terminal: at 80 columns no row of `containers`,
`files` or `tree` is longer than the terminal (columns narrowed, then dropped, by
priority; argv and paths cut, never folded); at 200 argv is whole where it fits;
with no width (a pipe, --wide) every row is one whole line, the host path of a
container's file a column. Documents made by replaying the golden container log
through each twin, and rows written out where a case needs them."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from godo.cli import views
from godo.cli.table import KEPT, Column, fitted, table
from godo.tracker import Scope
from support.capture import DocStore
from support.paths import DATA

_SGR = re.compile(r"\x1b\[[0-9;]*m")
_ECHO = "echo " + "y" * 100
_LONG_ARG = "--log=/var/lib/containerd/io.containerd.runtime.v2.task/default/webapp/log.json"


def _replayed(twin, run: str = "r", host: str = "h") -> DocStore:
    store = DocStore()
    tracker = twin.Tracker(store, host=host, boot_id="b", scope=Scope("containers"), run=run)
    pipeline = twin.Pipeline()
    tracker.process(pipeline.feed_log((DATA / "container.log").read_bytes(), "container.log")
                    + pipeline.flush())
    tracker.finish(2e9)
    return store


def _drawn(renderable, width: int | None) -> list[str]:
    """What a terminal `width` wide (None: a pipe) shows, a line each."""
    out = io.StringIO()
    Console(file=out, width=width or 1 << 20, force_terminal=width is not None,
            color_system="standard" if width else None, highlight=False).print(renderable)
    return [line.rstrip() for line in _SGR.sub("", out.getvalue()).splitlines()]


def _container_row(cid: str, **extra) -> dict:
    seen = datetime(2026, 11, 27, 8, 53, 57, tzinfo=timezone.utc)
    return {"id": cid, "name": None, "runtime": "containerd", "status": "exited",
            "exit_code": 0, "first_seen": seen, "last_seen": seen + timedelta(seconds=3),
            "processes": 9, "files_written": 5, "hosts": ["vm"],
            "rootfs": f"/var/lib/docker/overlay2/{cid}/merged", **extra}


# -- the fitting ------------------------------------------------------------------------------

def test_columns_narrow_then_drop_by_priority_and_the_kept_stay():
    cols = [Column("ID", ["a" * 12]), Column("WHEN", ["2026-11-27 08:53:57"], priority=2,
                                                narrow=("WHEN", ["08:53"])),
            Column("COUNT", ["12345"], right=True, priority=1), Column("PATH", ["/p" * 30])]
    assert [c.header for c in fitted(cols, 200)] == ["ID", "WHEN", "COUNT", "PATH"]
    assert fitted(cols, 200)[1].cells == ["2026-11-27 08:53:57"], "no narrowing where it fits"
    narrowed = fitted(cols, 55)
    assert [c.header for c in narrowed] == ["ID", "WHEN", "COUNT", "PATH"]
    assert narrowed[1].cells == ["08:53"]
    assert [c.header for c in fitted(cols, 48)] == ["ID", "WHEN", "PATH"]
    assert [c.header for c in fitted(cols, 10)] == ["ID", "PATH"], "ID is never dropped"
    assert all(c.priority == KEPT for c in fitted(cols, 10))
    lines = table(cols, 48)
    assert all(len(line) <= 48 for line in lines) and "…" in lines[1]
    assert table(cols, None)[1].endswith("/p" * 30), "no width: every cell whole"


# -- containers -------------------------------------------------------------------------------

@pytest.mark.parametrize("pods, hosts", [(False, False), (True, True)])
def test_containers_fit_80_columns_and_show_everything_at_200(pods, hosts):
    rows = [_container_row("ab" * 32, name="webapp", pod=("cd" * 32) if pods else None,
                           hosts=["vm", "db7"] if hosts else ["vm"]),
            _container_row("ef" * 32, last_seen=None, status=None)]
    at_80 = views.render_containers(rows, 80)
    assert len(at_80) == 3 and all(len(line) <= 80 for line in at_80), at_80
    header = at_80[0]
    for kept in ("CONTAINER ID", "NAME", "STATUS", "LAST SEEN", "ROOTFS"):
        assert kept in header, header
    assert "FIRST SEEN" not in header, "the first to go"
    assert "webapp" in at_80[1] and "exit 0" in at_80[1] and "…" in at_80[1]
    at_200 = views.render_containers(rows, 200)
    for shown in ("RUNTIME", "FIRST SEEN", "PROCESSES", "FILES WRITTEN", "ROOTFS"):
        assert shown in at_200[0]
    assert ("POD" in at_200[0]) == pods and ("HOST" in at_200[0]) == hosts
    whole = views.render_containers(rows, None)
    assert len(whole) == 3 and whole[1].endswith(rows[0]["rootfs"]) and "…" not in "".join(whole)
    assert "2026-11-27 " in whole[1], "a time not of today carries its date"


# -- files ------------------------------------------------------------------------------------

def test_files_fit_80_columns_and_pipe_one_line_a_row(twin):
    files = _replayed(twin).docs("files")
    containerised = [f for f in files if f.get("host_path") and f["host_path"] != f["path"]]
    assert containerised, "the golden log has a container's files"
    at_80 = views.render_files(files, {}, 80)
    assert all(len(line) <= 80 for line in at_80), [line for line in at_80 if len(line) > 80]
    assert at_80[0].split()[:3] == ["PID", "COMMAND", "ACCESS"] and at_80[0].endswith("PATH")
    assert len(at_80) == 1 + len(files) + len(containerised), "a host path: a line of its own"
    piped = views.render_files(files, {}, None)
    assert len(piped) == 1 + len(files), "piped: one line a row"
    assert piped[0].split()[-3:] == ["PATH", "HOST", "PATH"] and "↳" not in "".join(piped)
    for doc in containerised:
        assert any(line.split()[-2:] == [doc["path"], doc["host_path"]] for line in piped)


def test_files_of_several_hosts_and_days_say_which():
    old = datetime(2026, 1, 5, 8, 0, 1, 500000, tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    docs = [{"pid": 1, "comm": "sh", "access": "r", "path": "/etc/a", "opened": old, "host": "vm"},
            {"pid": 2, "comm": "sh", "access": "r", "path": "/etc/b", "opened": now, "host": "db7"}]
    lines = views.render_files(docs, {}, 200)
    assert "HOST" in lines[0].split() and "db7" in lines[2]
    assert re.search(r"2026-01-0[45] \d\d:00:01\.500", lines[1]), lines[1]
    assert re.search(r"  \d\d:\d\d:\d\d\.\d{3}  ", lines[2]), "today: the time alone"
    assert all(len(line) <= 80 for line in views.render_files(docs, {}, 80))


# -- tree -------------------------------------------------------------------------------------

def _long_argv_docs(twin) -> list[dict]:
    docs = _replayed(twin, run="vm:20261127T085357:aaaa0001").docs("processes")
    docs[-1]["argv"] = ["runc", "--root", "/run/containerd/runc/default", _LONG_ARG, "create",
                        "--bundle", "/run/containerd/io.containerd.runtime.v2.task/default/x",
                        "--pid-file", "/run/x/init.pid", "webapp"]
    docs[-2]["argv"] = ["sh", "-c", _ECHO]
    assert len(_ECHO) > views.ARG_CHARS
    return docs


def test_tree_fits_80_columns_and_shows_argv_whole_where_it_fits(twin):
    docs = _long_argv_docs(twin)
    whole = " ".join(docs[-1]["argv"])
    at_80 = _drawn(views.render_tree(docs, "every run", width=80), 80)
    assert len(at_80) == 1 + len(docs) + 1, "a line a process, nothing folded"   # + container
    assert all(len(line) <= 80 for line in at_80), [line for line in at_80 if len(line) > 80]
    assert "exit 0" in at_80[-1] or "running" in at_80[-1] or "gone" in at_80[-1]
    at_400 = _drawn(views.render_tree(docs, "every run", width=400), 400)
    assert any(whole in line for line in at_400), "room enough: argv whole"
    at_200 = _drawn(views.render_tree(docs, "every run", width=200), 200)
    assert any(_ECHO in line for line in at_200), \
        "an argument longer than ARG_CHARS is whole where there is room"
    assert not any(_ECHO in line for line in at_80)
    wide = _drawn(views.render_tree(docs, "every run"), None)
    assert any(whole in line for line in wide) and "…" not in "".join(wide)


def test_tree_of_several_runs_has_a_branch_a_run(twin):
    first = _replayed(twin, run="vm:20261127T085357:aaaa0001").docs("processes")
    second = _replayed(twin, run="db7:20261128T090000:bbbb0002", host="db7").docs("processes")
    lines = _drawn(views.render_tree(first + second, "every run", width=80), 80)
    runs = [line for line in lines if "── run " in line]
    assert [r.split("run ", 1)[1] for r in runs] == ["vm:20261127T085357:aaaa0001",
                                                     "db7:20261128T090000:bbbb0002"]
    assert all(len(line) <= 80 for line in lines)
    one = _drawn(views.render_tree(first, "run vm:20261127T085357:aaaa0001", width=80), 80)
    assert not [line for line in one if "── run " in line], "one run: its title names it"
    assert [line for line in _drawn(views.render_tree(first, "every run", width=80, by_run=True),
                                    80) if "── run " in line]


# -- the replay progress bar ----------------------------------------------------------------

@pytest.mark.parametrize("columns", [80, 60])
def test_the_replay_progress_bar_is_one_line_at_80_columns(tmp_path, columns):
    """Each redraw of the bar is one line no longer than the terminal: a bar that
    wraps is redrawn a line lower each time."""
    import os

    from godo.cli.record import PROGRESS_MIN_BYTES
    from support.cli import GODO, on_a_pty
    one = (DATA / "container.log").read_bytes()
    big = tmp_path / ("a-log-with-a-rather-long-name-" * 3 + ".log")
    big.write_bytes(one * (PROGRESS_MIN_BYTES // len(one) + 2))
    rc, drawn = on_a_pty(GODO + ["replay", "--store", "null", str(big)], "stderr",
                         {**os.environ, "COLUMNS": str(columns)})
    assert rc == 0, drawn
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))
    bar = text[:text.index("godo run")]
    assert "records/s" in bar and "100%" in bar and "…" in bar, bar
    frames = [frame for frame in re.split(r"\r\n|\r|\n", bar) if frame.strip()]
    assert all(len(frame) <= columns for frame in frames), frames
    assert bar.count("\n") == 1, f"one line a redraw, the last one kept: {bar!r}"

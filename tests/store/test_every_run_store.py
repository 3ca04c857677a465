"""Queries over every run, against the real store: two replays (the golden
container log, then a host command's); `tree`, `files`, `containers` and `export`
search both unless `--run` names one or `--latest` asks for the last; across runs a
listing with no --limit is the newest rows; and at 80 columns on a terminal no
row of the three tables is longer than the terminal, with --wide showing every
value whole."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess

import pytest

from godo.cli import main, query
from support.cli import GODO, _json_lines, on_a_pty
from support.paths import DATA

_SGR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


@pytest.fixture
def two_runs(env, ferret_uri, store_db, capsys) -> tuple[str, str, str]:
    """The URI, the container log's run (the earlier), the host command's (the latest)."""
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, "--scope", "containers",
                 str(DATA / "container.log")]) == 0
    assert main(["replay", "--mongo", uri, str(DATA / "dirfd.log")]) == 0
    capsys.readouterr()
    runs = {doc["command"][0]: doc["_id"] for doc in _godo_json("export", "--collection", "runs",
                                                                 uri=uri)}
    first, latest = runs[str(DATA / "container.log")], runs[str(DATA / "dirfd.log")]
    return uri, first, latest


def _godo(*args, uri: str, columns: str = "200") -> subprocess.CompletedProcess:
    done = subprocess.run(GODO + [str(a) for a in args] + ["--mongo", uri], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": columns})
    assert done.returncode == 0, done.stderr
    return done


def _godo_json(*args, uri: str) -> list[dict]:
    return _json_lines(_godo(*args, *([] if args[0] == "export" else ["--json"]), uri=uri).stdout)


def test_every_run_is_searched_unless_run_or_latest_narrows(two_runs):
    uri, first, latest = two_runs
    # The earlier run's file, though a later run exists: found with no --since.
    found = _godo_json("files", "--path", "/data/a.txt", uri=uri)
    assert found and {f["run"] for f in found} == {first}
    assert _godo_json("files", "--path", "/data/a.txt", "--run", first[-8:], uri=uri) == found
    none = _godo("files", "--path", "/data/a.txt", "--latest", uri=uri)
    assert none.stdout == "" and none.stderr == f"godo: no files recorded (run {latest})\n"

    every = _godo_json("tree", uri=uri)
    assert {p["run"] for p in every} == {first, latest}
    assert {p["run"] for p in _godo_json("tree", "--latest", uri=uri)} == {latest}
    assert {p["run"] for p in _godo_json("tree", "--run", first, uri=uri)} == {first}
    assert {f["run"] for f in _godo_json("files", uri=uri)} == {first, latest}
    tree = _godo("tree", uri=uri).stdout.splitlines()
    assert tree[0] == "every run"
    # A branch a run, in the order of their processes' times.
    assert sorted(line.split("run ", 1)[1] for line in tree if "── run " in line) == sorted(
        [first, latest])

    (container,) = _godo_json("containers", uri=uri)
    assert _godo_json("containers", "--run", first, uri=uri) == [container]
    latest_only = _godo("containers", "--latest", uri=uri)
    assert latest_only.stdout == "" and latest_only.stderr == (
        f"godo: no containers recorded (run {latest})\n")

    exported = _godo_json("export", uri=uri)
    assert {d.get("run", d["_id"]) for d in exported} == {first, latest}
    assert {d.get("run", d["_id"]) for d in _godo_json("export", "--latest", uri=uri)} == {latest}
    both = subprocess.run(GODO + ["files", "--run", first, "--latest", "--mongo", uri],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_across_runs_a_listing_with_no_limit_is_the_newest_rows(two_runs, monkeypatch, capsys):
    uri, first, latest = two_runs
    everything = _godo_json("files", uri=uri)
    monkeypatch.setattr(query, "NEWEST", 3)
    assert main(["files", "--json", "--mongo", uri]) == 0
    out, err = capsys.readouterr()
    newest = _json_lines(out)
    # The newest, oldest first (files opened in the same millisecond in either order).
    assert [f["opened"] for f in newest] == [f["opened"] for f in everything[-3:]]
    assert err == ("godo: showing the newest 3 files of every run; older ones match "
                   "(narrow with --run, --since, or give --limit)\n")
    assert main(["files", "--json", "--limit", "3", "--mongo", uri]) == 0
    out, err = capsys.readouterr()
    assert [f["opened"] for f in _json_lines(out)] == [f["opened"] for f in everything[:3]]
    assert "showing the first 3 files" in err
    # A glob the database's range only approximates (`?` after its literal start):
    # the limit still holds, over the documents the glob keeps.
    matching = [f for f in everything if fnmatch.fnmatchcase(f["path"] or "", "/data/?.txt")]
    assert len(matching) > 3 and len(matching) < sum(
        1 for f in everything if (f["path"] or "").startswith("/data/"))
    for args, expected in ((["--path", "/data/?.txt"], matching[-3:]),
                           (["--path", "/data/?.txt", "--limit", "2"], matching[:2])):
        assert main(["files", "--json", *args, "--mongo", uri]) == 0
        got = _json_lines(capsys.readouterr().out)
        assert all(fnmatch.fnmatchcase(f["path"], "/data/?.txt") for f in got), args
        assert [f["opened"] for f in got] == [f["opened"] for f in expected], args
    assert main(["tree", "--json", "--mongo", uri]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 3
    assert main(["tree", "--json", "--run", first, "--mongo", uri]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 9, "one run: every process, as before"


def _drawn_at(args: list[str], uri: str, columns: int) -> list[str]:
    rc, drawn = on_a_pty(GODO + args + ["--mongo", uri], "stdout",
                         {**os.environ, "COLUMNS": str(columns), "LINES": "50"})
    assert rc == 0, drawn
    text = _SGR.sub("", drawn.decode()).replace("\r\n", "\n")
    return text.rstrip("\n").split("\n")


@pytest.mark.parametrize("command", [["containers"], ["files"], ["files", "--runtime"],
                                     ["tree"], ["tree", "--runtime"]])
def test_at_80_columns_no_row_is_longer_than_the_terminal(two_runs, command):
    uri, first, latest = two_runs
    lines = _drawn_at(command, uri, 80)
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    docs = _godo_json(*command, uri=uri)
    if command[0] == "tree":   # one line a process: nothing folded
        assert sum(bool(re.match(r"^[│ ]*[├└]── \d+ ", line)) for line in lines) == len(docs)
    elif command[0] == "files":   # a row a line, a container's host path a line of its own
        notes = sum(1 for f in docs if f.get("host_path") and f["host_path"] != f["path"])
        assert len(lines) == 1 + len(docs) + notes and notes
    else:
        assert len(lines) == 1 + len(docs)
        assert lines[0].split()[:4] == ["CONTAINER", "ID", "NAME", "STATUS"], lines[0]


def test_wide_shows_every_argv_and_path_whole(two_runs):
    uri, first, latest = two_runs
    files = _godo_json("files", "--runtime", uri=uri)
    lines = _drawn_at(["files", "--runtime", "--wide"], uri, 80)
    assert "…" not in "".join(lines) and len(lines) == 1 + len(files)
    assert {line.split()[-2] for line in lines[1:]} == {f["path"] or "?" for f in files}
    assert max(map(len, lines)) > 80, "rows may then be long"
    procs = _godo_json("tree", "--runtime", uri=uri)
    tree = " ".join(_drawn_at(["tree", "--runtime", "--wide"], uri, 80))
    assert "…" not in tree
    longest = max((p for p in procs if p.get("argv")), key=lambda p: len(" ".join(p["argv"])))
    assert longest["argv"][-1] in tree and len(" ".join(longest["argv"])) > 80
    rows = _drawn_at(["containers", "--wide"], uri, 80)
    (container,) = _godo_json("containers", uri=uri)
    assert rows[1].endswith(container["rootfs"]) and "FIRST SEEN" in rows[0]


def test_a_pid_subtree_is_found_level_by_level_in_every_run(two_runs):
    uri, first, latest = two_runs
    every = _godo_json("tree", "--runtime", uri=uri)
    below = {14741}
    for doc in every:   # by start: a parent before its children
        if doc["parent"] in {d["_id"] for d in every if d["pid"] in below}:
            below.add(doc["pid"])
    subtree = _godo_json("tree", "--pid", "14741", "--runtime", uri=uri)
    assert {d["pid"] for d in subtree} == below and len(below) > 5
    workload = _godo_json("tree", "--pid", "14741", uri=uri)
    assert {d["pid"] for d in workload} == {d["pid"] for d in subtree if not d["runtime"]}
    assert len(workload) < len(subtree)
    tree = _godo("tree", "--pid", "14741", uri=uri).stdout.splitlines()
    assert tree[0] == "every run, pid 14741" and tree[1] == f"└── run {first}"
    assert _godo_json("tree", "--pid", "14741", "--latest", uri=uri) == []

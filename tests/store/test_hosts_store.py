"""Many hosts in one store, against the real FerretDB: every query narrowed to one
host with --host, `godo hosts`, a server's error text kept whole, and a URI that
names two FerretDB front-ends refused in one line instead of waited on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time

import pytest
from pymongo import MongoClient

from godo.cli import main
from godo.errors import StoreError
from godo.store.ferret import EmbeddedFerret, find_binary
from godo.store.opening import database
from support.cli import GODO, _json_lines, _one_line_error, db_uri, on_a_pty
from support.paths import DATA

# A host name long enough that a table must make room for it at 80 columns.
WEB = "web-frontend-01.eu-west.example.com"
DB = "db-2"


@pytest.fixture
def two_hosts(env, ferret_uri, store_db, capsys):
    """A store two hosts recorded into: WEB one run, DB two (one of the same log)."""
    uri = db_uri(ferret_uri, store_db)
    for host, log in ((WEB, "container.log"), (DB, "dirfd.log"), (DB, "container.log")):
        assert main(["replay", "--mongo", uri, "--host", host, str(DATA / log)]) == 0
    capsys.readouterr()
    return uri


def _godo(*args) -> subprocess.CompletedProcess:
    return subprocess.run(GODO + list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["tree", "--json"], ["files", "--json"],
                                     ["containers", "--json"], ["runs", "--json"], ["export"]])
def test_each_query_reads_one_host_with_host(two_hosts, command):
    """--host narrows each query to the documents of that host; without it both show."""
    both = _json_lines(_godo(*command, "--mongo", two_hosts).stdout)

    def hosts(docs):
        # A container row lists its hosts; every other document names its own.
        return {h for d in docs for h in (d.get("hosts") or [d.get("host")])}

    assert hosts(both) == {WEB, DB}
    for host in (WEB, DB):
        done = _godo(*command, "--mongo", two_hosts, "--host", host)
        assert done.returncode == 0, done.stderr
        docs = _json_lines(done.stdout)
        assert docs and hosts(docs) == {host}, (command, host)


def test_host_with_latest_run_and_a_host_never_seen(two_hosts):
    runs = _json_lines(_godo("runs", "--json", "--mongo", two_hosts).stdout)
    newest = {host: next(r["_id"] for r in runs if r["host"] == host) for host in (WEB, DB)}
    tree = _json_lines(_godo("tree", "--json", "--latest", "--host", WEB, "--mongo",
                             two_hosts).stdout)
    assert {d["run"] for d in tree} == {newest[WEB]}, "the latest run of that host, not the newest"
    exported = _json_lines(_godo("export", "--latest", "--host", WEB, "--mongo", two_hosts).stdout)
    assert {d.get("run", d["_id"]) for d in exported} == {newest[WEB]}
    # A run of another host, or a host no run names: one line, exit 1.
    other = _godo("files", "--run", newest[DB], "--host", WEB, "--mongo", two_hosts)
    assert other.returncode == 1
    assert _one_line_error(other.stderr) == f"godo: no run {newest[DB]} recorded on host {WEB}"
    for command in ("tree", "files", "containers", "runs", "export"):
        unknown = _godo(command, "--host", "nosuch", "--mongo", two_hosts)
        assert unknown.returncode == 1 and unknown.stdout == "", command
        assert _one_line_error(unknown.stderr) == "godo: no host nosuch recorded (see godo hosts)"


def test_status_with_host_counts_that_hosts_documents_and_its_last_run(two_hosts):
    every = json.loads(_godo("status", "--json", "--mongo", two_hosts).stdout)["store"]
    assert every["last_run"]["host"] == DB and "host" not in every
    web = json.loads(_godo("status", "--json", "--host", WEB, "--mongo", two_hosts).stdout)["store"]
    assert web["host"] == WEB and web["last_run"]["host"] == WEB
    assert web["counts"]["runs"] == 1 and 0 < web["counts"]["files"] < every["counts"]["files"]
    shown = _godo("status", "--host", WEB, "--mongo", two_hosts).stdout
    assert f"host {WEB}" in shown and web["last_run"]["_id"] in shown
    unknown = _godo("status", "--host", "nosuch", "--mongo", two_hosts)
    assert unknown.returncode == 1
    assert "no host nosuch recorded (see godo hosts)" in unknown.stderr


def test_godo_hosts_lists_each_host_its_runs_and_newest_run(two_hosts):
    rows = _json_lines(_godo("hosts", "--json", "--mongo", two_hosts).stdout)
    runs = _json_lines(_godo("runs", "--json", "--mongo", two_hosts).stdout)
    assert [r["host"] for r in rows] == [DB, WEB], "the host last seen first"
    for row in rows:
        mine = [r for r in runs if r["host"] == row["host"]]
        assert row["runs"] == len(mine) and row["running"] == 0
        assert row["newest_run"] == mine[0]["_id"] and row["newest_status"] == "finished"
        assert row["first_seen"] == min(r["started"] for r in mine)
        assert row["last_seen"] == max(r["ended"] for r in mine)
    # A pipe: a header and one whole line a host, the newest run whole.
    piped = _godo("hosts", "--mongo", two_hosts).stdout.splitlines()
    assert piped[0].split() == ["HOST", "RUNS", "FIRST", "SEEN", "LAST", "SEEN", "STATUS",
                                "NEWEST", "RUN"]
    assert len(piped) == 3 and all(row["newest_run"] in line for row, line in zip(rows, piped[1:]))
    limited = _godo("hosts", "--limit", "1", "--mongo", two_hosts).stdout.splitlines()
    assert [line.split() for line in limited[1:]] == [piped[1].split()]
    # A terminal of 80 columns: every line fits, one line a host.
    rc, drawn = on_a_pty(GODO + ["hosts", "--mongo", two_hosts], "stdout",
                         {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"})
    lines = drawn.decode().replace("\r", "").splitlines()
    assert rc == 0 and len(lines) == 3 and max(map(len, lines)) <= 80, lines
    assert lines[2].startswith(WEB)


def test_godo_hosts_on_an_empty_store_is_an_answer(env, ferret_uri, store_db):
    done = _godo("hosts", "--mongo", db_uri(ferret_uri, store_db))
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith("godo: no hosts recorded")


def test_a_server_error_longer_than_300_characters_is_kept_whole(env, ferret_uri, store_db):
    """The server's cause comes last in its message (FerretDB's PostgreSQL errors:
    `... relation "..." already exists (SQLSTATE 42P07)`): nothing of it is cut."""
    operator = "$" + "x" * 400 + "_the_cause"
    with pytest.raises(StoreError) as caught:
        with database(db_uri(ferret_uri, store_db), env / "data", name=store_db) as db:
            db.files.insert_one({"_id": "f", "path": "/etc/passwd"})   # an empty one is not read
            db.files.find_one({"path": {operator: 1}})
    message = str(caught.value)
    assert operator in message and "\n" not in message and len(message) > 400


# -- two FerretDB front-ends in one URI -----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _replica_set_member(directory: str, port: int) -> subprocess.Popen:
    """A FerretDB started with --repl-set-name: it claims to be the only member."""
    return subprocess.Popen(
        [find_binary(), "--handler=sqlite", f"--sqlite-url=file:{directory}/",
         f"--state-dir={directory}", f"--listen-addr=127.0.0.1:{port}", "--debug-addr=-",
         "--telemetry=disable", "--repl-set-name=rs", "--log-level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _answers(port: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true",
                             serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
                return True
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    return False


def test_two_front_ends_in_one_uri_are_refused_in_one_line(env, ferret_uri, tmp_path):
    """pymongo drops standalone seeds ("No servers available"), and of a "replica
    set" of FerretDBs keeps the first that answers, never failing over: godo says
    so, and what to do, instead of waiting."""
    log = str(DATA / "dirfd.log")
    with EmbeddedFerret(tmp_path / "a", port=0) as a, EmbeddedFerret(tmp_path / "b", port=0) as b:
        uri = f"mongodb://127.0.0.1:{a.port},127.0.0.1:{b.port}/godo"
        started = time.monotonic()
        done = _godo("replay", "--mongo", uri, log)
        took = time.monotonic() - started
        assert done.returncode == 1 and took < 20, (took, done.stderr)
        line = _one_line_error(done.stderr)
        assert "answered as a server of its own" in line and "one front-end" in line, line
    ports = [_free_port(), _free_port()]
    members = [_replica_set_member(tempfile.mkdtemp(dir=tmp_path), port) for port in ports]
    try:
        assert all(_answers(port) for port in ports)
        uri = f"mongodb://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/godo?replicaSet=rs"
        done = _godo("replay", "--mongo", uri, log)
        assert done.returncode == 1, done.stderr
        line = _one_line_error(done.stderr)
        assert "names 2 servers, and they are FerretDB front-ends" in line, line
        assert "one front-end" in line
    finally:
        for member in members:
            member.kill()
            member.wait()

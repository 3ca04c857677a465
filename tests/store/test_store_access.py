"""Who may touch the audit trail, against the real embedded FerretDB: only godo's
user reaches the server (a Unix socket in the 0700 data directory, no TCP port);
the last of two commands sharing it stops it; every file godo writes is 0600; one
process's document is bounded whatever its argv and exec history, and one the
database still cannot take counts in `godo lost`. The attacker is uid 65534."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import time
from pathlib import Path

import bson
import pymongo
import pytest

from godo.cli import main
from godo.store.ferret import EmbeddedFerret, connect_or_start, read_endpoint
from godo.store.local import listening_port, server_pids
from godo.store.opening import database
from godo.tracker.model import ARGV_BYTES
from support.auditlog import CHILD, argv_of, many_huge_execs
from support.cli import NOBODY
from support.paths import DATA
from support.servers import _alive

store = pytest.mark.store
MAX_DOCUMENT = 16 * 1024 * 1024


def _connect_as_nobody(path: Path) -> str:
    """Try to connect to the Unix socket `path` as nobody; what happened."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        answer = b"?"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
            answer = b"connected"
        except OSError as exc:
            answer = (exc.strerror or "?").encode()
        finally:
            os.write(write_end, answer)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        answer = f.read().decode()
    os.waitpid(pid, 0)
    return answer


@pytest.fixture
def open_base():
    """A directory anyone may pass through (0711), outside pytest's 0700 base: only
    godo's own modes stand between nobody and the server."""
    base = Path(tempfile.mkdtemp(prefix="godo-access-"))
    base.chmod(0o711)
    yield base
    import shutil
    shutil.rmtree(base, ignore_errors=True)


# -- 1: only godo's user reaches the embedded server ---------------------------------------

@store
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_nobody_cannot_reach_the_embedded_server(open_base, ferret_uri):
    with EmbeddedFerret(open_base / "data") as ferret:
        assert listening_port(ferret.pid) is None  # no TCP port at all
        assert read_endpoint(open_base / "data")["port"] is None
        assert _connect_as_nobody(ferret.socket_path) == "Permission denied"
        # Even with every directory open to pass through, the socket is its user's alone.
        for directory in (ferret.root, ferret.dir):
            directory.chmod(0o711)
        assert stat.S_IMODE(os.lstat(ferret.socket_path).st_mode) == 0o700
        assert _connect_as_nobody(ferret.socket_path) == "Permission denied"
        with pymongo.MongoClient(ferret.uri) as client:
            client.godo.runs.insert_many([{"_id": i} for i in range(3)])
            assert client.godo.runs.count_documents({}) == 3


@store
def test_a_port_is_opened_only_when_asked_for(tmp_path, ferret_uri):
    with EmbeddedFerret(tmp_path, port=0) as ferret:
        assert ferret.port == listening_port(ferret.pid) and ferret.port > 0
        # The server godo must not audit, found from its socket URI as from its port.
        assert server_pids(ferret.uri) == server_pids(f"mongodb://127.0.0.1:{ferret.port}/") == {ferret.pid}
        with pymongo.MongoClient(f"mongodb://127.0.0.1:{ferret.port}/?directConnection=true") as c:
            assert c.admin.command("ping")["ok"] == 1


# -- 9: a server shared by two commands is stopped by its last user ------------------------

@store
def test_a_shared_server_is_stopped_by_its_last_user_only(tmp_path, ferret_uri):
    first = connect_or_start(tmp_path)
    second = connect_or_start(tmp_path)
    assert (first.owned, second.owned, second.pid) == (True, False, first.pid)
    pid = first.pid
    first.stop()  # the one that started it ends first: the other still uses it
    assert _alive(pid)
    with pymongo.MongoClient(second.uri) as client:
        client.godo.runs.insert_one({"_id": "after the first left"})
        assert client.godo.runs.count_documents({}) == 1
    second.stop()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid) and read_endpoint(tmp_path) is None
    assert not (tmp_path / "ferretdb" / "ferretdb.sock").exists()


# -- 5: every file godo writes is 0600 -----------------------------------------------------

@store
def test_every_file_a_replay_leaves_is_its_users_alone(env, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("GODO_DATA_DIR", str(data))
    assert main(["replay", "--scope", "host", str(DATA / "dirfd.log")]) == 0
    capsys.readouterr()
    seen = {}
    for directory, dirs, files in os.walk(data):
        for name in dirs:
            seen[Path(directory, name)] = stat.S_IMODE(os.lstat(Path(directory, name)).st_mode)
        for name in files:
            seen[Path(directory, name)] = stat.S_IMODE(os.lstat(Path(directory, name)).st_mode)
    ferret = data / "ferretdb"
    assert {ferret / name for name in ("godo.sqlite", "ferretdb.log", "state.json", "lock",
                                       "users")} <= set(seen)
    assert stat.S_IMODE(os.lstat(data).st_mode) == 0o700
    assert {path: mode for path, mode in seen.items()
            if mode not in (0o600, 0o640, 0o700)} == {}


# -- 6: one process's document is bounded ---------------------------------------------------

def _replay(log: Path, data: Path, capsys) -> tuple[int, str, dict]:
    code = main(["replay", "--scope", "host", str(log)])
    err = capsys.readouterr().err
    with database(None, data) as db:
        run = db.runs.find_one({})
        counts = {name: db[name].count_documents({}) for name in ("processes", "files")}
        doc = db.processes.find_one({"pid": CHILD})
    return code, err, {"run": run, "counts": counts, "doc": doc}


@store
def test_nine_execs_of_two_mib_argv_are_stored_with_both_ends(env, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("GODO_DATA_DIR", str(data))
    log = many_huge_execs(tmp_path / "execs.log", runs=9, nargs=300, arg_bytes=7000)
    code, err, got = _replay(log, data, capsys)
    assert code == 0, err
    run, doc = got["run"], got["doc"]
    assert run["godo_lost"] == 0 and run["loss"]["rejected"] == 0
    assert got["counts"] == {"processes": run["processes"], "files": run["files"]} and run["processes"] == 2
    assert len(bson.encode(doc)) < MAX_DOCUMENT
    assert len(doc["execs"]) == 9 and "execs_dropped" not in doc
    for i, run_ in enumerate(doc["execs"]):
        full = argv_of(i, 300, 7000)
        kept, cut = run_["argv"], run_["argv_truncated"]
        assert kept[0] == full[0] and kept[-1] == full[-1]  # both ends kept
        assert kept[1] == full[1] and kept[-2] == full[-2]
        assert cut["kept"] == len(kept) and cut["kept"] + cut["dropped_args"] == len(full)
        kept_bytes = sum(len(a) for a in kept)
        assert kept_bytes <= ARGV_BYTES
        assert kept_bytes + cut["dropped_bytes"] == sum(len(a) for a in full)
    assert doc["argv"] == doc["execs"][-1]["argv"]
    assert doc["argv_truncated"] == doc["execs"][-1]["argv_truncated"]


@store
def test_a_document_the_database_cannot_take_counts_in_godo_lost(env, tmp_path, monkeypatch, capsys):
    # The case as it was: the argv bound lifted (in both twins), so the
    # process's document is over 16 MiB again, and the store must say so.
    import godo._tracker_c.model as compiled
    import godo.tracker.model as pure
    for twin in (compiled, pure):
        monkeypatch.setattr(twin, "ARGV_BYTES", 1 << 40)
    data = tmp_path / "data"
    monkeypatch.setenv("GODO_DATA_DIR", str(data))
    log = many_huge_execs(tmp_path / "execs.log", runs=9, nargs=300, arg_bytes=7000)
    code, err, got = _replay(log, data, capsys)
    run = got["run"]
    assert code == 1
    assert "godo lost 1 " in err
    assert "rejected 1," in err
    assert ("godo: the database refused 1 documents for good; the last: processes " in err
            and "is over the 16 MiB document limit" in err)
    assert run["godo_lost"] == 1 and run["loss"]["rejected"] == 1
    assert got["doc"] is None
    assert got["counts"]["processes"] == run["processes"] - 1 == 1

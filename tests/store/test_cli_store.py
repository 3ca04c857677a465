"""The command line against the real store, without the kernel's audit: a replay
into FerretDB, and the embedded FerretDB stopped with the godo that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from godo.cli import main
from support.cli import GODO, _json_lines, _one_line_error, _run
from support.paths import DATA


# -- replay ------------------------------------------------------------------------------------

def test_replay_jsonl_and_into_the_store(env, ferret_uri, store_db, capsys):
    log = DATA / "container.log"
    assert main(["replay", "--jsonl", str(log)]) == 0
    events = _json_lines(capsys.readouterr().out)
    assert events and all("kind" in e for e in events)
    base, _, options = ferret_uri.partition("?")
    uri = f"{base.rstrip('/')}/{store_db}" + (f"?{options}" if options else "")
    assert main(["replay", "--mongo", uri, "--scope", "containers", str(log)]) == 0
    assert "malformed 0" in capsys.readouterr().err
    assert main(["containers", "--mongo", uri, "--json"]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 1


def test_replay_of_an_enriched_node_log_with_host_given(env, ferret_uri, store_db, tmp_path):
    """Into the real store: the host given, the ids, the ENRICHED names and the flag names."""
    lines = []
    for line in (DATA / "dirfd.log").read_bytes().splitlines():
        if line.startswith(b"type=SYSCALL"):
            line += b'\x1dARCH=x86_64 SYSCALL=x AUID="alice" UID="root" EUID="root" GID="root"'
        lines.append(b"node=web1 " + line + b"\n")
    log = tmp_path / "enriched.log"
    log.write_bytes(b"".join(lines))
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, "--host", "db7", str(log)]) == 0
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db = client.get_default_database()
        assert db.runs.distinct("host") == db.processes.distinct("host") == ["db7"]
        proc = db.processes.find_one({"execs.0": {"$exists": True}})
        assert proc["names"] == {"arch": "x86_64", "syscall": "x", "auid": "alice", "uid": "root",
                                 "euid": "root", "gid": "root"}
        assert proc["euid"] == proc["uid"] == 0 and proc["execs"][-1]["names"] == proc["names"]
        written = db.files.find_one({"writes": {"$gt": 0}, "flags": {"$ne": None}})
        assert written["flag_names"][0] in ("O_WRONLY", "O_RDWR") and "O_CREAT" in written["flag_names"]


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


def test_empty_answers_exit_0_and_errors_do_not(env, ferret_uri, store_db):
    """An empty store, then a filter that matches nothing: answers (exit 0, said on
    stderr, nothing on stdout); a run that does not exist is an error."""
    uri = _uri(ferret_uri, store_db)
    for args in (["containers"], ["containers", "--json"], ["tree"], ["tree", "--json"],
                 ["files"], ["files", "--json"], ["files", "--latest"], ["containers", "--latest"],
                 ["tree", "--latest"], ["export", "--latest"]):
        result = subprocess.run(GODO + args + ["--mongo", uri], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0 and result.stdout == "", (args, result)
        assert result.stderr.startswith("godo: no") and len(result.stderr.splitlines()) == 1, (
            args, result.stderr)
    assert main(["replay", "--mongo", uri, str(DATA / "container.log")]) == 0
    for args in (["files", "--path", "/no/such/*"], ["tree", "--pid", "999999"]):
        result = subprocess.run(GODO + args + ["--mongo", uri], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0 and result.stdout == "", (args, result)
        assert result.stderr.startswith("godo: no "), result.stderr
    bad = subprocess.run(GODO + ["tree", "--run", "no-such-run", "--mongo", uri],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert _one_line_error(bad.stderr) == "godo: no run no-such-run recorded"


def test_files_piped_keeps_every_path_whole_on_one_line(env, ferret_uri, store_db):
    """`godo files | cat`, whatever COLUMNS says: one row a line, each path whole,
    the host path of a container's file a column (--runtime: the shim's own files
    have the long paths)."""
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, str(DATA / "container.log")]) == 0
    files = _json_lines(subprocess.run(
        GODO + ["files", "--runtime", "--json", "--mongo", uri], capture_output=True, text=True,
        timeout=60, check=True).stdout)
    paths = {d["path"] or "?" for d in files}
    hosts = {d["host_path"] for d in files if d["host_path"] and d["host_path"] != d["path"]}
    assert paths and hosts and max(map(len, paths)) > 20
    for columns in ("60", "200"):
        result = subprocess.run(GODO + ["files", "--runtime", "--mongo", uri],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": columns})
        assert result.returncode == 0, result.stderr
        header, *rows = result.stdout.splitlines()
        assert "\x1b" not in result.stdout and "…" not in result.stdout and "↳" not in result.stdout
        assert header.split()[-3:] == ["PATH", "HOST", "PATH"] and len(rows) == len(files)
        assert {row.split()[-2] for row in rows} == paths, (columns, result.stdout)
        assert {row.split()[-1] for row in rows} == hosts | {"-"}, (columns, result.stdout)


def _godo(*args: str, uri: str) -> subprocess.CompletedProcess:
    return _run(*args, "--mongo", uri, env={**os.environ, "COLUMNS": "200"})


def test_container_listings_show_the_workload_and_the_runtime_on_request(env, ferret_uri,
                                                                           store_db):
    """The golden container: `containers` says how it ended; `tree` and `files`
    show its workload, `--runtime` adds the shim's own processes and files; the
    container is found by a unique start of its id, a wrong one is a one-line error."""
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, "--scope", "containers",
                 str(DATA / "container.log")]) == 0
    listing = _godo("containers", uri=uri)
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.splitlines()
    assert header.split()[:4] == ["CONTAINER", "ID", "NAME", "RUNTIME"]
    cid = row.split()[0]
    assert row.split()[1:5] == ["-", "-", "exit", "0"] and row.split()[-3:-1] == ["9", "5"], row
    (summary,) = _json_lines(_godo("containers", "--json", uri=uri).stdout)
    assert (summary["processes"], summary["status"], summary["exit_code"]) == (9, "exited", 0)

    workload = _json_lines(_godo("tree", "--json", "--container", cid[:6], uri=uri).stdout)
    everything = _json_lines(_godo("tree", "--json", "--runtime", "--container", cid,
                                   uri=uri).stdout)
    assert len(workload) == 9 and not any(d["runtime"] for d in workload)
    shims = [d for d in everything if d["runtime"]]
    assert len(everything) == 11 and any(d["exe"].endswith("containerd-shim-runc-v2")
                                         for d in shims)
    tree = _godo("tree", "--container", cid, uri=uri).stdout
    assert f"container {cid[:12]}" in tree and "containerd-shim" not in tree
    assert "containerd-shim" in _godo("tree", "--runtime", uri=uri).stdout

    files = _json_lines(_godo("files", "--json", uri=uri).stdout)
    assert files and not any(f["runtime"] for f in files)
    assert len(_json_lines(_godo("files", "--json", "--runtime", uri=uri).stdout)) > len(files)
    wrong = _godo("tree", "--container", "nosuch", uri=uri)
    assert wrong.returncode != 0
    assert _one_line_error(wrong.stderr) == ("godo: no container nosuch recorded "
                                             "(see godo containers)")


def _servers_under(data: Path) -> list[int]:
    """pids of FerretDB servers whose state lives under `data`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"ferretdb" in cmdline and str(data).encode() in cmdline:
                pids.append(int(entry))
    return pids


def test_sigterm_stops_the_embedded_database_it_started(tmp_path, ferret_uri):
    """`godo replay` into its embedded FerretDB, killed with SIGTERM while it reads:
    it says so in one line, exits 143, and the server it started (in a session of
    its own, which the signal does not reach) is gone with it."""
    data = tmp_path / "data"
    fifo = tmp_path / "audit.log"
    os.mkfifo(fifo)
    env = {**os.environ, "GODO_DATA_DIR": str(data)}
    env.pop("GODO_MONGO_URI", None)
    godo = subprocess.Popen(GODO + ["replay", "--config", str(tmp_path / "none.toml"), str(fifo)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (tmp_path / "none.toml").write_text("")
    try:
        with open(fifo, "wb") as writer:  # godo reads on; the log never ends
            writer.write((DATA / "container.log").read_bytes()[:4096])
            writer.flush()
            deadline = time.monotonic() + 60
            while not _servers_under(data):
                assert godo.poll() is None and time.monotonic() < deadline, godo.communicate()
                time.sleep(0.1)
            time.sleep(0.5)
            godo.send_signal(signal.SIGTERM)
            _out, err = godo.communicate(timeout=60)
    finally:
        if godo.poll() is None:
            godo.kill()
            godo.communicate()
    left = _servers_under(data)
    for pid in left:  # not to leave one behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert godo.returncode == 128 + signal.SIGTERM
    assert _one_line_error(err) == "godo: terminated"
    assert left == [], "the embedded FerretDB outlived godo"


def test_a_replay_stopped_part_way_ends_interrupted(env, ferret_uri, store_db, tmp_path):
    from godo.run.replay import replay
    from godo.store.opening import open_store
    uri = _uri(ferret_uri, store_db)
    seen = []

    def ctrl_c_after_the_first_batch(activities):
        if seen:
            raise KeyboardInterrupt
        seen.append(len(activities))

    log = tmp_path / "long.log"
    log.write_bytes((DATA / "container.log").read_bytes() * 40)  # 3.9 MB: more than one 1 MiB chunk
    with open_store(uri, tmp_path / "data", database=store_db) as store:
        with pytest.raises(KeyboardInterrupt):
            replay(str(log), store, on_activities=ctrl_c_after_the_first_batch)
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        run = client.get_default_database().runs.find_one({"command": [str(log)]})
    assert (run["status"], run["interrupted"]) == ("interrupted", "stopped by SIGINT"), run
    assert run["ended"] is not None and run["activities"] >= seen[0] > 0

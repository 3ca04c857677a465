"""What a new user sees first: `godo record -- CMD` on a fresh data directory, so
each run starts the embedded FerretDB cold, and the command itself is in the
stream whole every time: its exe (its exec went in after the rules did), its
argv and its exit status (from its exit record, not from waitpid)."""

from __future__ import annotations

import os
import subprocess
import threading

import orjson
import pytest
from pymongo import MongoClient

from godo.store.ferret import EmbeddedFerret
from support.cli import GODO

RUNS = 8  # cold starts in a row


def _fresh_env(tmp_path, name: str) -> dict[str, str]:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "GODO_MONGO_URI"}
    env.update(GODO_DATA_DIR=str(tmp_path / name), GODO_CONFIG=str(empty), COLUMNS="80")
    return env


def _record(env: dict, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(GODO + ["record", "--", "sh", "-c", script], env=env,
                          capture_output=True, text=True, timeout=180)


def _json(env: dict, *args: str) -> list[dict]:
    result = subprocess.run(GODO + list(args), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def _assert_whole(env: dict, script: str, target: str, exit_code: int) -> None:
    [run] = _json(env, "export", "--collection", "runs")
    assert run["status"] == "finished" and run["kernel_lost"] == 0 and run["godo_lost"] == 0
    assert run["exit_status"] == exit_code and run["exit_source"] == "audit", run
    procs = _json(env, "tree", "--json")
    [root] = [p for p in procs if p["parent"] is None]
    assert root["exe"] == "/usr/bin/dash", root
    assert root["argv"] == ["sh", "-c", script]
    assert (root["status"], root["exit_code"]) == ("exited", exit_code)
    by_exe = {p["exe"]: p for p in procs if p["parent"] == root["_id"]}
    assert {"/usr/bin/cat", "/usr/bin/ls"} <= set(by_exe), procs
    assert by_exe["/usr/bin/cat"]["argv"] == ["cat", target]
    files = _json(env, "files", "--path", target, "--json")
    assert any(f["bytes"] == len("hello\n") and f["process"] == root["_id"] for f in files), files


def test_record_on_cold_starts_has_the_command_whole(live_audit, tmp_path):
    for n in range(RUNS):
        target = str(tmp_path / f"demo-{n}")
        script = f"echo hello > {target}; cat {target}; ls -l {target}; exit {n % 3}"
        env = _fresh_env(tmp_path, f"data-{n}")
        result = _record(env, script)
        assert result.returncode == n % 3, result.stderr
        assert result.stdout.startswith("hello\n"), result.stdout
        assert "(from waitpid" not in result.stderr, result.stderr
        _assert_whole(env, script, target, n % 3)


def test_record_with_the_store_under_load(live_audit, tmp_path):
    """The same, while another client keeps the embedded FerretDB busy with bulk
    inserts: the store answering slowly changes nothing in what is recorded."""
    target = str(tmp_path / "loaded")
    script = f"echo hello > {target}; cat {target}; ls -l {target}; exit 5"
    env = _fresh_env(tmp_path, "data")
    stop = threading.Event()
    with EmbeddedFerret(env["GODO_DATA_DIR"]) as ferret:
        def load():
            with MongoClient(ferret.uri, serverSelectionTimeoutMS=5000) as client:
                junk = client.get_database("load").junk
                while not stop.is_set():
                    junk.insert_many([{"n": i, "pad": "x" * 512} for i in range(500)])
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            result = _record(env, script)
        finally:
            stop.set()
            loader.join(30)
        assert result.returncode == 5, result.stderr
        _assert_whole(env, script, target, 5)


def test_a_command_killed_by_a_signal_has_it_from_waitpid(live_audit, tmp_path):
    """A signal ends a process without an exit call, so the stream has no exit
    status for it: godo reaped it, and says so."""
    env = _fresh_env(tmp_path, "data")
    result = _record(env, "kill -TERM $$")
    assert result.returncode == 128 + 15, result.stderr
    assert "(from waitpid" in result.stderr
    [run] = _json(env, "export", "--collection", "runs")
    assert run["exit_source"] == "waitpid" and run["exit_status"] == 143
    [root] = [p for p in _json(env, "tree", "--json") if p["parent"] is None]
    assert root["exe"] == "/usr/bin/dash"
    assert (root["status"], root["signal"], root["exit_code"]) == ("killed", 15, None)


@pytest.fixture(autouse=True)
def _no_stray_servers(tmp_path):
    """Every embedded FerretDB these runs started is stopped when they end."""
    yield
    stray = subprocess.run(["pgrep", "-f", f"ferretdb.*{tmp_path}"], capture_output=True, text=True)
    assert stray.stdout == "", f"FerretDB left running: {stray.stdout}"

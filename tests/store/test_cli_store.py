"""The command line against the real store, without the kernel's audit: a replay
into FerretDB, and the embedded FerretDB stopped with the godo that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from godo.cli import main
from support.cli import GODO, _json_lines, _one_line_error
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

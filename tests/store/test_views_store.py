"""What the views print from the real store, and the error paths around it: names
full of control bytes replayed by each twin and shown by `godo tree`, `files`,
`status` piped and on a terminal (no control byte reaches either), --json exact;
an export that fails leaves its file whole; a failed replay is never the latest run."""

from __future__ import annotations

import os
import re
import subprocess

import orjson
import pytest
from pymongo import MongoClient

from godo.cli import main
from support.cli import GODO, _one_line_error, on_a_pty
from support.evil import evil_log
from support.paths import DATA

# Left once godo's own colours are taken out: nothing a terminal acts on.
_SGR = re.compile(rb"\x1b\[[0-9;]*m")
_ACTED_ON = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]")


def _uri(ferret_uri: str, db: str) -> str:
    base, _, options = ferret_uri.partition("?")
    return f"{base.rstrip('/')}/{db}" + (f"?{options}" if options else "")


def _env(twin: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GODO_NO_EXTENSIONS"}
    if twin == "pure":
        env["GODO_NO_EXTENSIONS"] = "1"
    return env


def _on_a_terminal(argv: list[str], env: dict, columns: int = 80) -> bytes:
    """argv with its stdout on a pseudo-terminal `columns` wide: what it drew."""
    rc, drawn = on_a_pty(argv, "stdout", {**env, "COLUMNS": str(columns), "LINES": "50"})
    assert rc == 0, drawn
    return drawn


def _clean(out: bytes, terminal: bool) -> None:
    if terminal:
        out = _SGR.sub(b"", out).replace(b"\r\n", b"\n")  # the pty's own line ends
    found = _ACTED_ON.findall(out)
    assert not found, f"raw control bytes reached the output: {found!r}\n{out!r}"


@pytest.mark.parametrize("twin", ["compiled", "pure"])
def test_views_escape_every_control_byte_piped_and_on_a_terminal(env, ferret_uri, store_db,
                                                                  tmp_path, twin):
    log = tmp_path / "evil.log"
    log.write_bytes(evil_log())
    uri = _uri(ferret_uri, store_db)
    environ = _env(twin)
    done = subprocess.run(GODO + ["replay", "--mongo", uri, str(log)], capture_output=True,
                          env=environ, timeout=120)
    assert done.returncode == 0 and b"malformed 0" in done.stderr, done.stderr
    for argv in (["tree"], ["files"], ["status"], ["tree", "--json"]):
        piped = subprocess.run(GODO + argv + ["--mongo", uri], capture_output=True, env=environ,
                               timeout=120)
        assert piped.returncode == 0, piped.stderr
        _clean(piped.stdout, terminal=False)
        _clean(piped.stderr, terminal=False)
        if "--json" not in argv:
            _clean(_on_a_terminal(GODO + argv + ["--mongo", uri], environ), terminal=True)
    files = subprocess.run(GODO + ["files", "--mongo", uri], capture_output=True, env=environ,
                           timeout=120).stdout
    assert b"\\x1b[2Jcls" in files and b"/srv/\\x1b[5mblink/evil\\x1b[1A\\x1b[2Kname" in files
    assert b"[bold]x[/bold].txt" in files, "markup in a name is printed as it is"
    (proc,) = [orjson.loads(line) for line in subprocess.run(
        GODO + ["tree", "--json", "--mongo", uri], capture_output=True, env=environ,
        timeout=120).stdout.splitlines()]
    assert proc["comm"] == "\x1b[2Jcls" and proc["argv"][1] == "--opt=\x1b[1A\x1b[2K", \
        "--json is exact"


def test_export_that_fails_leaves_its_file_whole(env, ferret_uri, store_db, tmp_path, capsys):
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, str(DATA / "dirfd.log")]) == 0
    capsys.readouterr()
    keep = tmp_path / "keep.jsonl"
    keep.write_text("what was there\n")
    keep.chmod(0o644)
    assert main(["export", "--mongo", uri, "--run", "typo", "-o", str(keep)]) == 1
    assert _one_line_error(capsys.readouterr().err) == "godo: no run typo recorded"
    assert keep.read_text() == "what was there\n", "not truncated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"], "no temporary file left"
    assert main(["export", "--mongo", uri, "-o", str(keep)]) == 0
    lines = keep.read_bytes().splitlines()
    assert lines and all(orjson.loads(line)["_collection"] for line in lines)
    assert keep.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]
    capsys.readouterr()
    assert main(["export", "--mongo", uri, "-o", "/dev/full"]) == 1
    assert _one_line_error(capsys.readouterr().err) == (
        "godo: cannot write /dev/full: No space left on device")
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full"), "written in place"
    with open("/dev/full", "wb") as full:
        result = subprocess.run(GODO + ["export", "--mongo", uri], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert _one_line_error(result.stderr) == "godo: cannot write to stdout: No space left on device"


def test_a_failed_replay_is_marked_failed_and_never_the_latest_run(env, ferret_uri, store_db,
                                                                 tmp_path, capsys):
    uri = _uri(ferret_uri, store_db)
    assert main(["replay", "--mongo", uri, str(DATA / "dirfd.log")]) == 0
    not_a_log = tmp_path / "hostname"
    not_a_log.write_text("web1\n")
    capsys.readouterr()
    assert main(["replay", "--mongo", uri, str(not_a_log)]) == 1
    assert _one_line_error(capsys.readouterr().err) == (
        "godo: nothing in hostname parsed as an audit record (1 malformed line)")
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        runs = {r["command"][0]: r for r in client.get_default_database().runs.find()}
    failed = runs[str(not_a_log)]
    assert failed["status"] == "failed" and "nothing in hostname parsed" in failed["failed"]
    assert runs[str(DATA / "dirfd.log")]["status"] == "finished"
    assert main(["tree", "--latest", "--mongo", uri]) == 0
    assert capsys.readouterr().out.startswith(f"run {runs[str(DATA / 'dirfd.log')]['_id']}")
    assert main(["status", "--mongo", uri]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"last run {failed['_id']} failed replay" in out, "status shows the last run as it is"

"""Every error a user can meet without a live recording or a database: one line,
a non-zero exit, never a traceback. Not root, no audit in the kernel, a database
that refuses connections, configs that are wrong or cannot be trusted, logs that
cannot be read, usage errors. Some tests need root (to drop to nobody, or to get
past godo's own root check); none takes the kernel's audit or changes it."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from godo.cli import main
from godo.source import audit as A
from support.cli import NOBODY, _as_nobody, _config_file, _nobody_subprocess, _one_line_error, _run
from support.paths import DATA


# A netlink protocol no kernel registers (NETLINK_UNUSED): opening it fails the way
# NETLINK_AUDIT does on a kernel built without CONFIG_AUDIT (EPROTONOSUPPORT).
NO_SUCH_NETLINK = 1


# -- errors: each one line, a non-zero exit, never a traceback -------------------------------------

NOT_ROOT = "godo: live recording needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ)"


@pytest.mark.parametrize("argv, message", [
    (["record", "--store", "null", "--", "true"], NOT_ROOT),
    (["record", "--store", "null"], NOT_ROOT),
    (["status"], "godo: not allowed to read the audit status: run godo as root (CAP_AUDIT_CONTROL)"),
])
def test_not_root(argv, message):
    rc, err = _as_nobody(argv)
    assert rc == 1 and _one_line_error(err) == message


def test_not_root_subprocess():
    result = _nobody_subprocess("record", "--", "true")
    assert result.returncode == 1 and _one_line_error(result.stderr) == NOT_ROOT


NO_AUDIT = "godo: this kernel has no audit support (CONFIG_AUDIT is off)"


@pytest.mark.parametrize("argv", [["status"], ["record", "--store", "null", "--", "true"],
                                  ["record", "--store", "null", "--scope", "host"]])
def test_no_audit_support(env, monkeypatch, capsys, argv):
    # This kernel has audit: the message path is reached through the socket call
    # that fails without it, pointed at a netlink protocol that does not exist.
    monkeypatch.setattr(A, "NETLINK_AUDIT", NO_SUCH_NETLINK)
    assert main(argv) == 1
    assert _one_line_error(capsys.readouterr().err) == NO_AUDIT


def test_no_audit_support_subprocess(env):
    code = ("import sys; import godo.source.audit as a; a.NETLINK_AUDIT = %d; from godo.cli import main; "
            "sys.exit(main(sys.argv[1:]))" % NO_SUCH_NETLINK)
    result = subprocess.run([sys.executable, "-c", code, "record", "--store", "null", "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and _one_line_error(result.stderr) == NO_AUDIT


@pytest.mark.parametrize("argv", [
    ["tree"], ["files"], ["containers"], ["export"], ["status"],
    ["replay", str(DATA / "dirfd.log")],
])
def test_database_unreachable(env, closed_port, capsys, argv):
    uri = f"mongodb://127.0.0.1:{closed_port}/godo?serverSelectionTimeoutMS=300"
    assert main([argv[0], "--mongo", uri] + argv[1:]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(f"godo: cannot reach the database at {uri}: ")


def test_database_unreachable_subprocess(env, closed_port):
    uri = f"mongodb://127.0.0.1:{closed_port}/?serverSelectionTimeoutMS=300"
    result = _run("tree", "--mongo", uri)
    assert result.returncode == 1
    assert _one_line_error(result.stderr).startswith(f"godo: cannot reach the database at {uri}: ")


def test_database_refused_is_reported_within_the_server_selection_timeout(env, closed_port):
    # No timeout in the URI: godo's own 2-second server selection applies. (The time
    # itself is not asserted; the client godo builds is.)
    from godo.store.client import SERVER_SELECTION_TIMEOUT, client
    assert SERVER_SELECTION_TIMEOUT == 2.0
    uri = f"mongodb://127.0.0.1:{closed_port}/"
    conn = client(uri, 5.0)
    try:
        assert conn.options.server_selection_timeout == 2.0
    finally:
        conn.close()
    result = _run("files", "--mongo", uri)
    assert result.returncode == 1
    assert _one_line_error(result.stderr).startswith(f"godo: cannot reach the database at {uri}: ")
    assert "Connection refused" in result.stderr


def test_srv_name_that_does_not_resolve_is_one_line(env):
    # `.invalid` never resolves (RFC 2606): NXDOMAIN, or no DNS at all, is the same line.
    result = _run("tree", "--mongo", "mongodb+srv://nonexistent.invalid/")
    assert result.returncode == 1, result.stderr
    assert _one_line_error(result.stderr).startswith(
        "godo: cannot reach the database at mongodb+srv://nonexistent.invalid/: ")
    assert "Traceback" not in result.stderr


def test_uri_of_another_scheme_is_a_config_error(env, capsys):
    assert main(["tree", "--mongo", "http://localhost:27017/"]) == 2
    assert _one_line_error(capsys.readouterr().err) == (
        "godo: invalid database URI http://localhost:27017/: it must begin with 'mongodb://' "
        "or 'mongodb+srv://'")


@pytest.mark.parametrize("text, mode, message", [
    ("[record]\nscope = 'host'\n", 0o666, "is writable by everyone (mode 0666): refusing it"),
    ("[record]\nscope = 'host'\n", 0o664, "is writable by its group (mode 0664)"),
    ("[record\n", 0o644, "invalid TOML: Expected ']' at the end of a table declaration (at line 1"),
    ("[recorder]\n", 0o644, "unknown section [recorder]"),
    ("[record]\nscop = 'host'\n", 0o644, "unknown key record.scop"),
    ("[store]\nbatch_size = 'big'\n", 0o644, "store.batch_size must be an integer, not 'big'"),
    ("[store]\nbatch_size = 0\n", 0o644, "store.batch_size must be a number above 0"),
    ("[record]\nscope = 'pods'\n", 0o644, "record.scope must be containers or host or pid"),
    ("[record]\nscope = 'pid'\n", 0o644, 'record.scope = "pid" needs record.pid'),
    ("[rules]\nexclude_pids = [1, 'x']\n", 0o644, "rules.exclude_pids must be a list of pids"),
    ("record = 3\n", 0o644, "`record` must be a [record] table"),
])
@pytest.mark.parametrize("command", ["tree", "record"])
def test_bad_config(env, tmp_path, capsys, text, mode, message, command):
    path = _config_file(tmp_path, text, mode)
    assert main([command, "--config", str(path)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(f"godo: config {path}") and message in line


def test_config_that_cannot_be_trusted_or_read(env, tmp_path, capsys):
    owned = _config_file(tmp_path, "")
    os.chown(owned, NOBODY, NOBODY)
    assert main(["tree", "--config", str(owned)]) == 2
    assert f"is owned by uid {NOBODY}" in _one_line_error(capsys.readouterr().err)

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    in_shared = _config_file(shared, "")
    assert main(["tree", "--config", str(in_shared)]) == 2
    assert "which others can write to" in _one_line_error(capsys.readouterr().err)

    assert main(["tree", "--config", str(tmp_path / "missing.toml")]) == 2
    assert _one_line_error(capsys.readouterr().err) == (
        f"godo: cannot read config {tmp_path / 'missing.toml'}: No such file or directory")
    assert main(["tree", "--config", str(tmp_path)]) == 2
    assert "it is a directory" in _one_line_error(capsys.readouterr().err)


def test_bad_config_subprocess(env, tmp_path):
    path = _config_file(tmp_path, "[store]\nuri = 'mongodb://x'\n", 0o646)
    result = _run("status", "--config", path)
    assert result.returncode == 2
    assert _one_line_error(result.stderr) == (
        f"godo: config {path} is writable by everyone (mode 0646): refusing it; chmod go-w {path}")


def test_unreadable_log(env, tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.log")]) == 1
    assert _one_line_error(capsys.readouterr().err) == (
        f"godo: cannot read {tmp_path / 'missing.log'}: No such file or directory")
    assert main(["replay", "--jsonl", str(tmp_path)]) == 1
    assert _one_line_error(capsys.readouterr().err) == f"godo: cannot read {tmp_path}: Is a directory"
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress((DATA / "dirfd.log").read_bytes())[:200])
    assert main(["replay", "--jsonl", str(cut)]) == 1
    captured = capsys.readouterr()
    assert _one_line_error(captured.err).startswith(f"godo: cannot read {cut}")
    assert "Compressed file ended" in captured.err


def test_a_log_in_which_nothing_parses_is_an_error(env, tmp_path, capsys):
    garbage = tmp_path / "g.log"
    garbage.write_bytes(b"hello\nnode=web1 type=BOGUS msg=audit(1.2:3): x\n\n")
    assert main(["replay", "--store", "null", str(garbage)]) == 1
    assert _one_line_error(capsys.readouterr().err) == (
        "godo: nothing in g.log parsed as an audit record (2 malformed lines)")
    blank = tmp_path / "blank.log"
    blank.write_bytes(b"\n\n")
    assert main(["replay", "--jsonl", str(blank)]) == 1
    assert _one_line_error(capsys.readouterr().err) == (
        "godo: nothing in blank.log parsed as an audit record (no records in it)")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert main(["replay", "--store", "null", str(empty)]) == 0, "an empty log is no error"
    some = tmp_path / "some.log"
    some.write_bytes(garbage.read_bytes() + (DATA / "dirfd.log").read_bytes())
    assert main(["replay", "--store", "null", str(some)]) == 0
    assert "godo: 2 malformed record(s) skipped" in capsys.readouterr().err


def test_a_log_in_which_nothing_parses_subprocess(tmp_path):
    garbage = tmp_path / "g.log"
    garbage.write_bytes(b"\0\xff garbage\n")
    result = _run("replay", "--jsonl", garbage)
    assert result.returncode == 1 and result.stdout == ""
    assert _one_line_error(result.stderr) == (
        "godo: nothing in g.log parsed as an audit record (1 malformed line)")


def test_unreadable_log_subprocess(tmp_path):
    private = Path(tempfile.mkdtemp(prefix="godo-log-"))
    try:
        private.chmod(0o755)
        log = private / "audit.log"
        shutil.copy(DATA / "dirfd.log", log)
        log.chmod(0o600)
        result = _nobody_subprocess("replay", "--jsonl", log)
    finally:
        shutil.rmtree(private)
    assert result.returncode == 1
    assert _one_line_error(result.stderr) == f"godo: cannot read {log}: Permission denied"


def test_usage_errors_are_one_line(capsys):
    assert main(["tree", "--since", "last tuesday"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("godo tree: argument --since: cannot read 'last tuesday' as a time")
    assert main(["export", "--format", "csv"]) == 2
    assert "invalid choice: 'csv'" in _one_line_error(capsys.readouterr().err)
    for bad in ("0", "-3", "ten"):
        assert main(["files", "--limit", bad]) == 2
        assert _one_line_error(capsys.readouterr().err) == (
            f"godo files: argument --limit: '{bad}' is not a positive whole number "
            "(see godo files --help)")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("godo ")


@pytest.mark.parametrize("command", ["tree", "files"])
def test_an_inverted_window_is_a_usage_error_before_the_database_is_opened(env, closed_port, capsys,
                                                                          command):
    # A database that refuses connections: the window is refused first, in one line.
    uri = f"mongodb://127.0.0.1:{closed_port}/"
    assert main([command, "--mongo", uri, "--since", "10m", "--until", "1h"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("godo: --since (") and "is after --until (" in line
    assert main([command, "--mongo", uri, "--since", "1h", "--until", "10m"]) == 1, \
        "the right way round, it asks the database"
    assert "cannot reach the database" in _one_line_error(capsys.readouterr().err)


def test_a_host_name_is_a_host_name(env, tmp_path, capsys):
    log = tmp_path / "n.log"
    log.write_bytes(b"node=" + b"\x1b[2Jx" * 200 + b" " + (DATA / "dirfd.log").read_bytes())
    assert main(["replay", "--store", "null", str(log)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("godo: n.log names its host '\\x1b[2Jx") and "--host NAME" in line
    assert "\x1b" not in line and len(line) < 250, "escaped, and cut"
    assert main(["replay", "--store", "null", "--host", "db7", str(log)]) == 0, "--host wins"
    capsys.readouterr()
    for bad in ("a\x1bb", "x" * 254, "", "two words", "-lead"):
        assert main(["replay", "--store", "null", f"--host={bad}", str(log)]) == 2
        assert "is not a host name" in _one_line_error(capsys.readouterr().err)
    from godo.paths import is_host_name
    assert all(is_host_name(n) for n in ("web1", "db7.example.org", "10.0.0.7", "fe80::1", "my_host"))


def test_status_as_nobody_shows_what_it_can():
    result = _nobody_subprocess("status")
    assert result.returncode == 1
    assert _one_line_error(result.stderr) == (
        "godo: not allowed to read the audit status: run godo as root (CAP_AUDIT_CONTROL)")
    shown = result.stdout.splitlines()
    assert shown[0].split()[0] == "audit" and "not allowed" in shown[0]
    assert any(line.startswith("store") for line in shown)
    assert shown[-1].startswith("godo") and "0.1.0" in shown[-1]


# -- a run whose godo is gone ----------------------------------------------------------------------

def test_a_run_left_running_by_a_dead_godo_is_shown_interrupted():
    from godo.cli.status import as_seen_now
    from godo.paths import boot_id, hostname
    gone = _a_dead_pid()
    run = {"_id": "r", "status": "running", "host": hostname(), "boot_id": boot_id(), "pid": gone}
    seen = as_seen_now(run)
    assert seen["status"] == "interrupted" and seen["interrupted"] == (
        f"godo (pid {gone}) ended without ending the run")
    assert run["status"] == "running", "the document read is not changed"
    rebooted = as_seen_now({**run, "boot_id": "another-boot"})
    assert rebooted["interrupted"] == "the host rebooted during the run"
    # Another host's run cannot be checked from here; a finished run is what it says.
    assert as_seen_now({**run, "host": "elsewhere"}) == {**run, "host": "elsewhere"}
    assert as_seen_now({**run, "status": "finished"})["status"] == "finished"


def test_a_run_whose_godo_still_runs_stays_running(tmp_path):
    from godo.cli.status import as_seen_now
    from godo.paths import boot_id, hostname
    # A process whose command line names godo, as a recording godo's does.
    fake = tmp_path / "godo"
    fake.symlink_to(shutil.which("sleep"))
    with subprocess.Popen([fake, "30"]) as proc:
        try:
            comm = Path(f"/proc/{proc.pid}/comm")
            for _ in range(500):  # until the exec is seen in /proc
                if comm.read_text().strip() == "godo":
                    break
                time.sleep(0.01)
            run = {"status": "running", "host": hostname(), "boot_id": boot_id(), "pid": proc.pid}
            assert as_seen_now(run) is run
        finally:
            proc.kill()


def _a_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid

"""The command line after a real recording, against the real store.

Every command runs through `main(argv)` and once as a real `python -m godo`
subprocess, on what one module-wide recording left in FerretDB: a command
recorded with `godo record -- CMD`, then a real container
(tests/support/containers.py) recorded by `godo record` running as a daemon from
a config file until SIGTERM. The errors only a live kernel can give (another
audit daemon, a recording with no database) are here too; the rest are in
tests/unit/test_cli_errors.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import types
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from pymongo import MongoClient

from godo.cli import main
from godo.vocab import syscalls as S
from godo.source import audit as A
from godo.source import rules as R
from godo.source.rules import native_arch
from support import containers
from support.cli import GODO, _config_file, _json_lines, _on_a_terminal, _one_line_error, _run
from support.live import exclusive_audit


# -- the module's recording ----------------------------------------------------------

@pytest.fixture(scope="module")
def uri(ferret_uri):
    """A database of the module's own in the session's FerretDB."""
    name = f"test_cli_{uuid.uuid4().hex[:10]}"
    base, _, options = ferret_uri.partition("?")
    yield f"{base.rstrip('/')}/{name}" + (f"?{options}" if options else "")
    client = MongoClient(ferret_uri, serverSelectionTimeoutMS=5000)
    with client:
        client.drop_database(name)


def _db(uri):
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    return client, client.get_default_database()


def _wait_until_recording(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until `proc` is the audit daemon with all of godo's rules in (they go in one
    at a time: one of them alone is not yet a recording)."""
    deadline = time.monotonic() + timeout
    every = len(R.build_rules(native_arch()))
    with A.AuditControl() as control:
        while True:
            ours = sum(A.GODO_KEY in r.keys for r, _ in control.list_rules())
            if ours == every and control.status().pid == proc.pid:
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _out, err = proc.communicate()
                pytest.fail(f"godo record did not start recording: {err}")
            time.sleep(0.05)


def _start_daemon(config: Path, notify: socket.socket) -> tuple[subprocess.Popen, str, list[str]]:
    """`godo record --config CONFIG` under a stand-in for systemd's notify socket:
    waits for READY=1, then for the line that says it is recording. Returns the
    process, that line, and godo's rules as the kernel held them at READY=1."""
    env = {**os.environ, "NOTIFY_SOCKET": notify.getsockname()}
    daemon = subprocess.Popen(GODO + ["record", "--config", str(config)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    notify.settimeout(30)
    try:
        state = notify.recv(256)
    except TimeoutError:
        daemon.kill()
        pytest.fail(f"godo record never said READY=1: {daemon.communicate()[1]}")
    with A.AuditControl() as control:
        rules = [R.describe(r, native_arch()) for r, _ in control.list_rules()
                 if A.GODO_KEY in r.keys]
    assert state == b"READY=1"
    return daemon, daemon.stderr.readline(), rules


@pytest.fixture(scope="module")
def recorded(env, uri):
    short = Path(tempfile.mkdtemp(prefix="godo-"))
    target = short / "x"
    script = f"echo hi > {target}; cat {target}; exit 7"
    config = env / "daemon.toml"
    raw_log = env / "daemon.raw.log"  # what the daemon received, for a failure to show
    config.write_text(f'[record]\nscope = "containers"\nraw_log = "{raw_log}"\n\n'
                      f'[store]\nuri = "{uri}"\n'
                      "batch_size = 200\nflush_interval = 0.2\n")
    box = containers.build(env / "box")
    before = datetime.now(timezone.utc)
    with exclusive_audit():
        command_rc = main(["record", "--mongo", uri, "--", "sh", "-c", script])
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(str(env / "notify"))
            daemon, started, ready_rules = _start_daemon(config, notify)
        try:
            boxed = subprocess.run(box.argv, capture_output=True, timeout=60)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _out, daemon_err = daemon.communicate(timeout=90)
            daemon_err = started + daemon_err
    after = datetime.now(timezone.utc)
    client, db = _db(uri)
    with client:
        command_run = db.runs.find_one({"command": ["sh", "-c", script]})
        daemon_run = db.runs.find_one({"scope": "containers"})
        procs = {p["exe"].rsplit("/", 1)[-1]: p for p in db.processes.find({"run": command_run["_id"]})}
    yield types.SimpleNamespace(
        uri=uri, target=target, script=script, command_rc=command_rc, box=box, boxed=boxed,
        daemon_rc=daemon.returncode, daemon_err=daemon_err, ready_rules=ready_rules, raw_log=raw_log,
        command_run=command_run["_id"],
        daemon_run=daemon_run["_id"] if daemon_run else None, shell=procs.get("dash"),
        cat=procs.get("cat"), before=before, after=after)
    shutil.rmtree(short)


def _diagnose(raw_log: Path, box) -> str:
    """What the daemon's raw log says about the container: the shim's activities
    and its children's, and what a replay of the log attributes."""
    from godo.hotpath._pipeline_py import Pipeline
    from godo.tracker import Scope as _Scope
    from godo.tracker import Tracker
    pipeline = Pipeline()
    acts = pipeline.feed_log(raw_log.read_bytes()) + pipeline.flush()
    shim = {a.pid for a in acts if (a.exe or "").endswith("/" + box.shim.name)}
    lines = [f"{a.serial} {a.kind} pid={a.pid} ppid={a.ppid} exe={a.exe} argv={a.argv}"
             for a in acts if a.pid in shim or a.ppid in shim][:40]

    class _Docs:
        def write(self, mutations):
            pass
    tracker = Tracker(_Docs(), host="h", boot_id="b", scope=_Scope("containers"), run="r")
    tracker.process(acts)
    return (f"replayed: {tracker.counts['processes']} processes in scope; the shim and its "
            "children:\n" + "\n".join(lines))


def _iso(stamp: datetime) -> str:
    return stamp.isoformat()


# -- record ------------------------------------------------------------------------------

def test_record_a_command_exits_with_its_status(recorded):
    assert recorded.command_rc == 7
    assert recorded.shell["argv"] == ["sh", "-c", recorded.script]
    assert recorded.cat["parent"] == recorded.shell["_id"]


def test_record_as_a_daemon_from_a_config_file_until_sigterm(recorded):
    assert recorded.boxed.returncode == 0, recorded.boxed.stderr
    assert recorded.daemon_rc == 0, recorded.daemon_err
    first = recorded.daemon_err.splitlines()[0]
    # The config's [store] uri and [record] scope were used.
    assert first == f"godo: recording containers (unicast) into {recorded.uri} until SIGTERM"
    assert "kernel lost 0" in recorded.daemon_err
    client, db = _db(recorded.uri)
    with client:
        run = db.runs.find_one({"_id": recorded.daemon_run})
        assert run["status"] == "finished" and run["mode"] == "unicast"
        # READY=1 (and the line) came with every one of the run's rules in.
        assert sorted(recorded.ready_rules) == sorted(run["rules"])
        assert db.containers.find_one({"id": recorded.box.id}) is not None, (
            f"the daemon saw no container; it said:\n{recorded.daemon_err}\nrun: {run}\n"
            f"{_diagnose(recorded.raw_log, recorded.box)}")
        exes = {p["exe"] for p in db.processes.find({"container": recorded.box.id})}
        assert "/bin/busybox" in exes


# -- tree ----------------------------------------------------------------------------------

def test_tree_by_run_container_pid_and_time(recorded, capsys):
    uri, target = recorded.uri, recorded.target
    assert main(["tree", "--mongo", uri, "--run", recorded.command_run]) == 0
    out = capsys.readouterr().out
    assert f"run {recorded.command_run}" in out
    assert f"cat {target}" in out and "exit 7" in out and "exit 0" in out

    # No selection: every run, a branch each; --latest: the daemon's, by container.
    assert main(["tree", "--mongo", uri]) == 0
    out = capsys.readouterr().out
    assert f"── run {recorded.daemon_run}" in out and f"── run {recorded.command_run}" in out
    assert main(["tree", "--mongo", uri, "--latest"]) == 0
    out = capsys.readouterr().out
    assert f"run {recorded.daemon_run}" in out and recorded.command_run not in out
    assert f"container {recorded.box.id[:12]}" in out and "/init.sh" in out

    assert main(["tree", "--mongo", uri, "--container", recorded.box.id[:8]]) == 0
    out = capsys.readouterr().out
    assert f"container {recorded.box.id[:12]}" in out and f"cat {target}" not in out

    assert main(["tree", "--mongo", uri, "--run", recorded.command_run[-8:],
                 "--pid", str(recorded.cat["pid"])]) == 0
    out = capsys.readouterr().out
    assert f"cat {target}" in out and "sh -c" not in out

    # A window around the whole recording holds both runs; one after it, nothing.
    assert main(["tree", "--mongo", uri, "--since", _iso(recorded.before),
                 "--until", _iso(recorded.after)]) == 0
    out = capsys.readouterr().out
    assert f"cat {target}" in out and f"container {recorded.box.id[:12]}" in out
    # An empty answer is an answer (exit 0), said on stderr, with nothing on stdout.
    assert main(["tree", "--mongo", uri, "--since", _iso(recorded.after + timedelta(seconds=1))]) == 0
    empty = capsys.readouterr()
    assert "godo: no processes recorded" in empty.err and empty.out == ""
    assert main(["tree", "--mongo", uri, "--until", _iso(recorded.before - timedelta(seconds=1))]) == 0
    capsys.readouterr()


def test_tree_json_is_the_documents(recorded, capsys):
    assert main(["tree", "--mongo", recorded.uri, "--run", recorded.command_run, "--json"]) == 0
    docs = _json_lines(capsys.readouterr().out)
    assert {d["_id"] for d in docs} == {recorded.shell["_id"], recorded.cat["_id"]}
    assert all(d["start"].endswith("Z") for d in docs)


def test_tree_subprocess(recorded):
    result = _run("tree", "--mongo", recorded.uri, "--run", recorded.command_run)
    assert result.returncode == 0, result.stderr
    assert f"cat {recorded.target}" in result.stdout and result.stderr == ""


# -- files ----------------------------------------------------------------------------------

def test_files_written_by_path_pid_and_container(recorded, capsys):
    uri, target = recorded.uri, recorded.target
    assert main(["files", "--mongo", uri, "--run", recorded.command_run, "--written",
                 "--path", f"{target.parent}/*"]) == 0
    out = capsys.readouterr().out
    assert str(target) in out and "w+" in out and "+trunc" in out

    assert main(["files", "--mongo", uri, "--run", recorded.command_run, "--pid",
                 str(recorded.cat["pid"]), "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert rows and {r["pid"] for r in rows} == {recorded.cat["pid"]}
    assert any(r["path"] == str(target) and r["access"] == "r" for r in rows)

    # A container's files match a glob by their path inside it, or on the host.
    assert main(["files", "--mongo", uri, "--container", recorded.box.id[:12], "--written",
                 "--path", "*/data/*", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert rows and all(r["writes"] > 0 and r["container"] == recorded.box.id for r in rows)
    assert any(r["path"].endswith("/data/id.txt") for r in rows)

    assert main(["files", "--mongo", uri, "--run", recorded.command_run,
                 "--path", "/no/such/*"]) == 0
    empty = capsys.readouterr()
    assert "godo: no files recorded" in empty.err and empty.out == ""


def test_files_in_a_time_window(recorded, capsys):
    assert main(["files", "--mongo", recorded.uri, "--since", _iso(recorded.before),
                 "--until", _iso(recorded.after), "--written", "--json"]) == 0
    runs = {r["run"] for r in _json_lines(capsys.readouterr().out)}
    assert runs == {recorded.command_run, recorded.daemon_run}
    assert main(["files", "--mongo", recorded.uri, "--since", "1d",
                 "--until", _iso(recorded.before - timedelta(seconds=1))]) == 0
    empty = capsys.readouterr()
    assert empty.out == "" and empty.err.startswith("godo: no files recorded (since ")


def test_files_subprocess(recorded):
    result = _run("files", "--mongo", recorded.uri, "--run", recorded.command_run, "--written")
    assert result.returncode == 0, result.stderr
    assert str(recorded.target) in result.stdout


# -- containers ----------------------------------------------------------------------------

def test_containers_lists_what_godo_saw(recorded, capsys):
    client, db = _db(recorded.uri)
    with client:
        # The workload's: the runtime's own processes and files are not counted.
        mine = {"container": recorded.box.id, "runtime": False}
        processes = db.processes.count_documents(mine)
        written = db.files.count_documents({**mine, "writes": {"$gt": 0}})
    assert processes > 0 and written > 0
    assert main(["containers", "--mongo", recorded.uri]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:2] == ["CONTAINER", "ID"] and "PROCESSES" in header
    row = next(line for line in out.splitlines() if line.startswith(recorded.box.id[:12]))
    assert f" {processes} " in f" {row} " and f" {written} " in f" {row} "

    assert main(["containers", "--mongo", recorded.uri, "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 1
    assert rows[0]["id"] == recorded.box.id
    assert rows[0]["processes"] == processes and rows[0]["files_written"] == written
    assert recorded.before <= datetime.fromisoformat(rows[0]["first_seen"]) <= recorded.after


def test_containers_subprocess(recorded):
    result = _run("containers", "--mongo", recorded.uri)
    assert result.returncode == 0, result.stderr
    assert recorded.box.id[:12] in result.stdout


# -- export --------------------------------------------------------------------------------------

def test_export_one_collection_and_all_of_them(recorded, capsys, tmp_path):
    client, db = _db(recorded.uri)
    with client:
        counts = {name: db[name].count_documents({}) for name in ("processes", "files",
                                                                  "containers", "runs")}
        in_run = db.processes.count_documents({"run": recorded.command_run})
    assert main(["export", "--mongo", recorded.uri, "--format", "jsonl", "--collection", "processes",
                 "--run", recorded.command_run]) == 0
    docs = _json_lines(capsys.readouterr().out)
    assert len(docs) == in_run == 2
    assert {d["_id"] for d in docs} == {recorded.shell["_id"], recorded.cat["_id"]}

    out = tmp_path / "all.jsonl"
    assert main(["export", "--mongo", recorded.uri, "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""  # no terminal: no bar, no summary
    docs = _json_lines(out.read_text())
    tally: dict[str, int] = {}
    for doc in docs:
        tally[doc["_collection"]] = tally.get(doc["_collection"], 0) + 1
    assert tally == counts


def test_export_subprocess_streams_to_a_pipe(recorded):
    result = _run("export", "--mongo", recorded.uri, "--collection", "runs")
    assert result.returncode == 0, result.stderr
    assert {d["_id"] for d in _json_lines(result.stdout)} == {recorded.command_run,
                                                               recorded.daemon_run}
    # A reader that leaves early is no error.
    piped = subprocess.run(" ".join(GODO + ["export", "--mongo", f"'{recorded.uri}'"]) + " | head -n 1",
                           shell=True, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "Traceback" not in piped.stderr
    assert len(piped.stdout.splitlines()) == 1


def test_export_shows_progress_on_a_terminal(recorded, tmp_path):
    out = tmp_path / "all.jsonl"
    rc, drawn = _on_a_terminal(GODO + ["export", "--mongo", recorded.uri, "-o", str(out)])
    assert rc == 0, drawn
    total = len(out.read_text().splitlines())
    assert "processes" in drawn and "100%" in drawn
    assert f"godo: exported {total} documents to {out}" in drawn


# -- status ---------------------------------------------------------------------------------------

def test_status_reports_kernel_rules_store_and_last_run(recorded, live_audit, capsys):
    assert main(["status", "--mongo", recorded.uri]) == 0
    out = capsys.readouterr().out
    assert "enabled" in out and "lost" in out and "rate limit" in out
    assert "0 godo" in out
    assert f"last run  {recorded.daemon_run}" in out and "finished" in out

    assert main(["status", "--mongo", recorded.uri, "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["audit"]["enabled"] == live_audit["enabled"]
    assert report["audit"]["backlog_limit"] == live_audit["backlog_limit"]
    assert report["rules"]["godo"] == []
    assert report["store"]["last_run"]["_id"] == recorded.daemon_run
    client, db = _db(recorded.uri)
    with client:
        assert report["store"]["counts"]["processes"] == db.processes.count_documents({})


def test_status_during_a_recording_shows_godo_rules_and_others(recorded, live_audit, tmp_path):
    arch = native_arch()
    foreign = A.AuditRule(S.numbers(arch, ["pivot_root"]),
                          [(A.FIELD_ARCH, A.OP_EQUAL, arch), (A.FIELD_FILTERKEY, A.OP_EQUAL, "godo-test-other")])
    # The config's rules apply, and a flag beats the config.
    config = _config_file(tmp_path, "[rules]\nexclude_pids = [4242]\nbacklog = 131072\n")
    with A.AuditControl() as control:
        control.add_rule(foreign)
    try:
        with subprocess.Popen(GODO + ["record", "--config", config, "--backlog", "139264", "--store",
                                      "null", "--", "sleep", "30"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as rec:
            try:
                _wait_until_recording(rec)
                result = _run("status", "--mongo", recorded.uri, "--json")
                text = _run("status", "--mongo", recorded.uri)
            finally:
                rec.send_signal(signal.SIGTERM)
                rec.communicate(timeout=60)
    finally:
        with A.AuditControl() as control:
            control.delete_rule(foreign.pack())
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["audit"]["pid"] == rec.pid and report["audit"]["enabled"] == 1
    assert len(report["rules"]["godo"]) == len(R.build_rules(arch))
    assert all("-F pid!=4242 " in rule for rule in report["rules"]["godo"])
    assert report["audit"]["backlog_limit"] == max(139264, live_audit["backlog_limit"])
    assert any("key=godo-test-other" in rule for rule in report["rules"]["other"])
    assert text.returncode == 0 and f"pid {rec.pid}" in text.stdout
    assert f"{len(R.build_rules(arch))} godo, " in text.stdout


# -- errors: each one line, a non-zero exit, never a traceback -------------------------------------

def test_audit_owned_by_another_daemon(env, standin_daemon, capsys):
    assert main(["record", "--store", "null"]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("godo: the audit stream is owned by another daemon (")
    assert f"pid {standin_daemon})" in line and line.endswith("use --multicast to record beside it")

    result = _run("record", "--store", "null", "--", "true")
    assert result.returncode == 1 and _one_line_error(result.stderr) == line

    # The read-only mode records beside it.
    assert main(["record", "--store", "null", "--multicast", "--", "sh", "-c", "echo x >/dev/null"]) == 0
    assert "(command" in capsys.readouterr().err
    assert main(["status", "--json", "--mongo", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"]) == 1
    captured = capsys.readouterr()
    assert orjson.loads(captured.out)["audit"]["pid"] == standin_daemon
    assert "cannot reach the database" in _one_line_error(captured.err)


def test_database_unreachable_when_recording(env, live_audit, closed_port, capsys):
    # Live: godo asks the kernel first (and would refuse beside another recording).
    uri = f"mongodb://127.0.0.1:{closed_port}/godo?serverSelectionTimeoutMS=300"
    assert main(["record", "--mongo", uri, "--", "true"]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(f"godo: cannot reach the database at {uri}: ")


def test_config_sets_the_store_and_flags_override_it(recorded, tmp_path, closed_port, capsys,
                                                     monkeypatch):
    dead = f"mongodb://127.0.0.1:{closed_port}/godo?serverSelectionTimeoutMS=300"
    path = _config_file(tmp_path, f'[store]\nuri = "{dead}"\n')
    assert main(["tree", "--config", str(path)]) == 1
    assert dead in _one_line_error(capsys.readouterr().err)
    monkeypatch.setenv("GODO_CONFIG", str(path))  # the same file, found through the environment
    assert main(["tree", "--mongo", recorded.uri, "--run", recorded.command_run]) == 0
    assert f"cat {recorded.target}" in capsys.readouterr().out


def test_config_sets_the_batch_sizes(recorded, tmp_path):
    from godo.cli import parser, settings
    path = _config_file(tmp_path, "[store]\nbatch_size = 200\nflush_interval = 0.25\nmax_queued = 5000\n")
    args = parser.build().parse_args(["record", "--config", str(path), "--mongo", recorded.uri])
    with settings.store(args) as store:
        assert (store.batch_size, store.flush_interval, store._backlog.limit) == (200, 0.25, 5000)

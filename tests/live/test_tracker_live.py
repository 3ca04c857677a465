"""The tracker against the real kernel and the real store: a container made
without Docker, pid reuse, dup2 redirection, threads, a process killed by a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from pymongo import MongoClient

from godo.cli import main
from support import containers
from support.live import start_daemon
from support.paths import PROGRAMS


def _record(store_uri, argv) -> dict:
    rc = main(["record", "--mongo", store_uri, "--", *argv])
    client = MongoClient(store_uri, serverSelectionTimeoutMS=5000)
    with client:
        run = client.get_default_database().runs.find_one({"command": argv})
    assert run is not None and run["status"] == "finished", "the run document is written"
    assert run["kernel_lost"] == 0 and run["drained"] is True
    run["rc"] = rc
    return run


def test_container_without_docker_as_the_daemon_sees_it(live_audit, godo_env, store_uri, db,
                                                        tmp_path, capsys):
    box = containers.build(tmp_path / "box")
    # The daemon, in its default scope: containers (descendants of a runtime shim).
    godo = start_daemon(store_uri)
    with godo:
        try:
            ran = subprocess.run(box.argv, capture_output=True, timeout=60)
            assert ran.returncode == 0, ran.stderr
        finally:
            godo.send_signal(signal.SIGTERM)
            _out, err = godo.communicate(timeout=60)
    assert godo.returncode == 0, err
    for name, content in containers.expected_files(box).items():
        assert (box.data / name).read_bytes() == content, "the container really ran"

    (doc,) = list(db.containers.find({"id": box.id}))
    assert doc["rootfs"] == str(box.rootfs)
    assert doc["host"] == os.uname().nodename and doc["files_written"] >= 4
    procs = list(db.processes.find({"container": box.id, "runtime": False}))
    assert doc["processes"] == len(procs) and doc["status"] == "exited"
    argvs = [p["argv"] for p in procs]
    # busybox sh runs some applets (mv, rm) in a forked child without an exec: those
    # keep the shell's argv, and show in what they did (fs_ops below).
    assert ["cat", "b.txt"] in argvs and ["/bin/busybox", "sh", "/init.sh"] in argvs
    (shim,) = list(db.processes.find({"exe": str(box.shim)}))
    assert (shim["container"], shim["runtime"]) == (box.id, True), "the shim is the runtime's"
    assert all(p["status"] == "exited" for p in procs), [p for p in procs if p["status"] != "exited"]
    ids = {p["_id"] for p in procs}
    orphans = [p for p in procs if p["parent"] not in ids and p["argv"][:1] != ["unshare"]]
    assert orphans == [], "every container process hangs off the container's first process"

    files = {f["path"]: f for f in db.files.find({"container": box.id, "writes": {"$gt": 0}})}
    for inside in ("/data/a.txt", "/data/sub/d.txt", "/data/id.txt", "/data/listing.txt"):
        assert inside in files, f"{inside} written in the container"
        assert files[inside]["host_path"] == str(box.rootfs) + inside
    a_docs = list(db.files.find({"container": box.id, "path": "/data/a.txt"}))
    opened = sorted(f["bytes"] for f in a_docs)
    assert opened == [len(b"more\n"), len(b"hello\n")], "opened twice (> then >>): one document each"
    ops = [op for p in procs for op in p["fs_ops"]]
    rename = next(op for op in ops if op["op"] == "rename")
    assert (rename["path"], rename["new_path"]) == ("/data/a.txt", "/data/b.txt")
    assert rename["new_host_path"] == str(box.data / "b.txt")
    assert any(op["op"] == "unlink" and op["host_path"] == str(box.data / "b.txt") for op in ops)

    capsys.readouterr()
    assert main(["tree", "--mongo", store_uri, "--container", box.id[:12]]) == 0
    tree = capsys.readouterr().out
    assert f"container {box.id[:12]}" in tree and "cat b.txt" in tree and "/init.sh" in tree
    assert main(["files", "--mongo", store_uri, "--container", box.id, "--written"]) == 0
    table = capsys.readouterr().out
    assert "/data/sub/d.txt" in table and str(box.rootfs) in table


# Started before godo: it says it is ready, then waits for /data/go, then writes.
WAITING_INIT = """\
export PATH=/bin
echo ready > /data/ready
while [ ! -e /data/go ]; do sleep 0.1; done
echo late > /data/late.txt
"""


def test_a_container_started_before_godo_keeps_its_ancestry_and_id(live_audit, godo_env,
                                                                  store_uri, db, tmp_path):
    box = containers.build(tmp_path / "box", init_script=WAITING_INIT)
    started = subprocess.Popen(box.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (box.data / "ready").exists():
            assert started.poll() is None and time.monotonic() < deadline, started.communicate()
            time.sleep(0.05)
        godo = start_daemon(store_uri)
        with godo:
            try:
                (box.data / "go").touch()
                _out, err = started.communicate(timeout=60)
                assert started.returncode == 0, err
            finally:
                godo.send_signal(signal.SIGTERM)
                _out, err = godo.communicate(timeout=60)
        assert godo.returncode == 0, err
    finally:
        if started.poll() is None:
            started.kill()
            started.communicate()
    assert (box.data / "late.txt").read_bytes() == b"late\n"

    # Learnt from /proc at start: unshare (the shim's child) and the container's
    # init, each with the container id and its parent.
    procs = {p["_id"]: p for p in db.processes.find({"container": box.id, "runtime": False})}
    by_argv = {tuple(p["argv"]): p for p in procs.values()}
    unshare = next(p for p in procs.values() if p["argv"][:1] == ["unshare"])
    init = by_argv[("/bin/busybox", "sh", "/init.sh")]
    assert init["parent"] == unshare["_id"] and init["_id"] in unshare["children"]
    assert init["status"] == "exited" and unshare["status"] == "exited"
    # What the container did after godo started is its own, in the container.
    (late,) = list(db.files.find({"path": "/data/late.txt"}))
    assert late["container"] == box.id and late["process"] == init["_id"]
    assert late["writes"] == 1 and late["bytes"] == len(b"late\n")
    # Its pivot_root came before godo: the rootfs is read from the mount tables.
    assert late["host_path"] == str(box.data / "late.txt")
    (doc,) = list(db.containers.find({"id": box.id}))
    assert doc["rootfs"] == str(box.rootfs)
    assert doc["processes"] == len(procs) and doc["files_written"] >= 1


def test_pid_reuse_never_links_a_process_to_the_wrong_parent(live_audit, godo_env, store_uri, db):
    # Wrap pids quickly: a small pid_max (restored after) brings the first pid back.
    pid_max = Path("/proc/sys/kernel/pid_max")
    saved = pid_max.read_text()
    script = r"""
target=$(sh -c 'echo $$' first)
sh -c '
  i=0
  while [ $i -lt 100000 ]; do
    p=$(sh -c "echo \$\$" again)
    [ "$p" = "$0" ] && { echo "reused $p after $i"; exit 0; }
    i=$((i+1))
  done
  exit 1' "$target"
"""
    try:
        pid_max.write_text("1200")
        run = _record(store_uri, ["sh", "-c", script])
    finally:
        pid_max.write_text(saved)
    assert run["rc"] == 0, "the pid came back"
    procs = list(db.processes.find({"run": run["_id"]}))
    by_id = {p["_id"]: p for p in procs}
    root = next(p for p in procs if p["argv"] == ["sh", "-c", script])
    first = next(p for p in procs if p["argv"] == ["sh", "-c", "echo $$", "first"])
    loop = next(p for p in procs if p["parent"] == root["_id"] and p["argv"][-1] == str(first["pid"]))
    reused = [p for p in procs if p["pid"] == first["pid"] and p["_id"] != first["_id"]]
    assert len(reused) == 1, "two process lifetimes with one pid: two documents"
    second = reused[0]
    assert second["argv"][-1] == "again" and second["start"] > first["exit_time"]
    assert by_id[first["parent"]] is root, "the first one's parent is the command"
    assert second["parent"] == loop["_id"], "the second one's parent is the loop, not the command"
    assert first["status"] == second["status"] == "exited"


def test_dup2_redirection_lands_on_the_file(live_audit, godo_env, store_uri, db, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log"
    script = f"exec 3>{log}; echo one >&3; echo two >&3; /bin/echo three > {out}; exec 3>&-"
    run = _record(store_uri, ["sh", "-c", script])
    found = list(db.files.find({"run": run["_id"], "path": {"$in": [str(out), str(log)]}}))
    assert len(found) == 2, "one open file each, nothing inherited mistaken for them"
    files = {f["path"]: f for f in found}
    assert files[str(log)]["writes"] == 2 and files[str(log)]["bytes"] == 8
    assert files[str(log)]["status"] == "closed"
    shell = db.processes.find_one({"run": run["_id"], "argv": ["sh", "-c", script]})
    echo = db.processes.find_one({"run": run["_id"], "argv": ["/bin/echo", "three"]})
    # dash opens the redirection itself, then vforks: the shell opened the file,
    # the child it shares it with wrote to it.
    assert files[str(out)]["process"] == shell["_id"] and files[str(out)]["writers"] == [echo["pid"]]
    assert files[str(out)]["writes"] == 1 and files[str(out)]["bytes"] == 6


def test_threads_write_files_for_their_process(live_audit, godo_env, store_uri, db, tmp_path):
    binary = tmp_path / "threads"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(binary), str(PROGRAMS / "threads.c")], check=True)
    work = tmp_path / "work"
    work.mkdir()
    run = _record(store_uri, ["sh", "-c", f"cd {work} && {binary} 4"])
    proc = db.processes.find_one({"run": run["_id"], "exe": str(binary)})
    assert proc["status"] == "exited" and proc["exit_code"] == 0
    written = list(db.files.find({"run": run["_id"], "process": proc["_id"], "writes": {"$gt": 0}}))
    assert sorted(f["path"] for f in written) == [str(work / f"thread-{i}.txt") for i in range(4)]
    others = db.processes.count_documents({"run": run["_id"], "exe": str(binary), "_id": {"$ne": proc["_id"]}})
    assert others == 0, "threads are no processes"


def test_a_process_killed_by_a_signal_is_marked_so(live_audit, godo_env, store_uri, db):
    run = _record(store_uri, ["sh", "-c", "sleep 30 & sleep 0.3; kill -9 $!; wait; exit 0"])
    (sleep,) = list(db.processes.find({"run": run["_id"], "argv": ["sleep", "30"]}))
    assert sleep["status"] == "killed" and sleep["signal"] == 9
    assert sleep["exit_time"] is not None

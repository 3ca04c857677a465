"""Real container runtimes under the godo daemon: containerd's shim, runc and
podman's conmon start busybox-static containers, and godo tells each container's
workload from the runtime that made it, by the names users gave them.

Each test starts a containerd (or a podman store) of its own and leaves nothing
running; the host's own containerd, if any, is never touched."""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import time

import pytest

from support.cli import _json_lines, _run
from support.live import skip_unless_required, start_daemon
from support.runtimes import (PrivateContainerd, build_rootfs, containerd_available,
                              podman_available, podman_run)

# The workload: a shell that forks a child, writes, renames, and exits 3.
WEBAPP_INIT = """\
echo hello > /data/out.txt
(echo draft > /data/draft.txt; mv /data/draft.txt /data/final.txt)
cat /data/out.txt > /data/copy.txt
exit 3
"""

# Started before godo: it says it is ready, waits for /data/go, then writes.
WAITING_INIT = """\
echo ready > /data/ready
while [ ! -e /data/go ]; do sleep 0.1; done
echo late > /data/late.txt
"""


def _require(runtime: str, available) -> None:
    """Skip where the runtime cannot run; fail where the live tier is required
    (scripts/setup.sh installs the runtimes)."""
    if not available:
        skip_unless_required(f"{runtime} cannot run here: {available}")


@pytest.fixture
def containerd():
    _require("containerd", containerd_available())
    with PrivateContainerd() as ctrd:
        yield ctrd


def _godo(uri: str, *args: str) -> str:
    result = _run(*args, "--mongo", uri)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def _stop(godo: subprocess.Popen) -> None:
    godo.send_signal(signal.SIGTERM)
    _out, err = godo.communicate(timeout=60)
    assert godo.returncode == 0, err


def _workload(db, cid: str) -> list[dict]:
    return list(db.processes.find({"container": cid, "runtime": False}))


def test_ctr_containers_by_name_and_by_id(live_audit, godo_env, store_uri, db, tmp_path,
                                          containerd):
    rootfs = build_rootfs(tmp_path / "rootfs", init_script=WEBAPP_INIT)
    hex_id = secrets.token_hex(32)
    godo = start_daemon(store_uri)
    with godo:
        try:
            webapp = containerd.run("webapp", ["/bin/sh", "/init.sh"], rootfs)
            other = containerd.run(hex_id, ["/bin/sh", "-c", "echo hi > /data/hex.txt"], rootfs)
        finally:
            _stop(godo)
    assert (webapp.returncode, other.returncode) == (3, 0), (webapp.stderr, other.stderr)
    assert (rootfs / "data" / "final.txt").read_text() == "draft\n", "the container really ran"

    (box,) = list(db.containers.find({"id": "webapp"}))
    assert (box["namespace"], box["runtime"], box["rootfs"]) == ("default", "containerd",
                                                                  str(rootfs))
    assert (box["status"], box["exit_code"]) == ("exited", 3)
    procs = _workload(db, "webapp")
    init = next(p for p in procs if p["pid"] == box["init_pid"])
    assert init["argv"] == ["/bin/sh", "/init.sh"] and init["exe"] == "/bin/busybox"
    assert init["exit_code"] == 3 and init["_id"] == box["init"]
    assert box["processes"] == len(procs) >= 2, "the shell and the subshell it forked"
    assert all(p["exe"] == "/bin/busybox" for p in procs), [p["exe"] for p in procs]
    ids = {p["_id"] for p in procs}
    assert [p for p in procs if p["parent"] not in ids] == [init], "the workload hangs off init"
    runtime = list(db.processes.find({"container": "webapp", "runtime": True}))
    programs = {p["exe"].rsplit("/", 1)[-1] for p in runtime}
    assert {"containerd-shim-runc-v2", "runc"} <= programs, programs
    assert box["runtime_processes"] == len(runtime)

    written = list(db.files.find({"container": "webapp", "writes": {"$gt": 0}}))
    files = {f["path"]: f for f in written if not f["runtime"]}
    assert {"/data/out.txt", "/data/draft.txt", "/data/copy.txt"} <= set(files), set(files)
    assert all(f["path"].startswith("/data/") for f in files.values()), set(files)
    assert {f["exe"].rsplit("/", 1)[-1] for f in written if f["runtime"]} <= programs
    assert files["/data/out.txt"]["host_path"] == str(rootfs / "data" / "out.txt")
    ops = [op for p in procs for op in p["fs_ops"]]
    assert any(op["op"] == "rename" and (op["path"], op["new_path"]) ==
               ("/data/draft.txt", "/data/final.txt") for op in ops), ops

    (other_box,) = list(db.containers.find({"id": hex_id}))
    assert other_box["status"] == "exited" and other_box["processes"] == 1
    (hex_file,) = list(db.files.find({"container": hex_id, "runtime": False,
                                      "writes": {"$gt": 0}}))
    assert hex_file["path"] == "/data/hex.txt"

    # What a user sees: each container by the name it was given, the workload only
    # unless --runtime, the files where the container and the host see them.
    listing = _godo(store_uri, "containers")
    row = next(line for line in listing.splitlines() if line.startswith("webapp"))
    assert re.search(r"webapp\s+-\s+containerd\s+exit 3\s", row), listing
    assert any(line.startswith(hex_id[:12]) for line in listing.splitlines()), listing
    tree = _godo(store_uri, "tree", "--container", "webapp")
    assert "container webapp" in tree and "/bin/sh /init.sh" in tree and "exit 3" in tree
    assert "runc" not in tree and "containerd-shim" not in tree, tree
    everything = _godo(store_uri, "tree", "--container", "webapp", "--runtime")
    assert "containerd-shim-runc-v2" in everything and "runc init" in everything
    assert {p["pid"] for p in _json_lines(_godo(store_uri, "tree", "--json", "--container",
                                                hex_id[:10]))} \
        == {p["pid"] for p in _workload(db, hex_id)}
    table = _godo(store_uri, "files", "--container", "webapp", "--written")
    assert "/data/copy.txt" in table and str(rootfs / "data" / "copy.txt") in table


def test_a_ctr_container_started_before_godo(live_audit, godo_env, store_uri, db, tmp_path,
                                             containerd):
    rootfs = build_rootfs(tmp_path / "rootfs", init_script=WAITING_INIT)
    started = containerd.run("early", ["/bin/sh", "/init.sh"], rootfs, background=True)
    try:
        deadline = time.monotonic() + 30
        while not (rootfs / "data" / "ready").exists():
            assert started.poll() is None and time.monotonic() < deadline, started.communicate()
            time.sleep(0.05)
        godo = start_daemon(store_uri)
        with godo:
            try:
                (rootfs / "data" / "go").touch()
                _out, err = started.communicate(timeout=60)
                assert started.returncode == 0, err
            finally:
                _stop(godo)
    finally:
        if started.poll() is None:
            started.kill()
            started.communicate()

    # Learnt from /proc at start: the shim (the runtime's) and the shell it runs
    # (the workload, the container's init), both of container `early`.
    # (Its `sleep`s are busybox applets forked without an exec: they keep the
    # shell's argv, and one may be alive when godo starts.)
    (box,) = list(db.containers.find({"id": "early"}))
    (init,) = [p for p in _workload(db, "early") if p["pid"] == box["init_pid"]]
    assert init["argv"] == ["/bin/sh", "/init.sh"] and init["_id"] == box["init"]
    assert init["seeded"] and init["status"] == "exited"
    assert (box["status"], box["exit_code"], box["rootfs"]) == ("exited", 0, str(rootfs))
    shims = list(db.processes.find({"container": "early", "runtime": True}))
    assert any(p["exe"].endswith("containerd-shim-runc-v2") for p in shims)
    (late,) = list(db.files.find({"path": "/data/late.txt"}))
    assert (late["container"], late["runtime"], late["process"]) == ("early", False, init["_id"])
    assert late["host_path"] == str(rootfs / "data" / "late.txt")


def test_a_kubernetes_pod_its_containers_apart_under_one_shim(live_audit, godo_env, store_uri,
                                                               db, tmp_path, containerd):
    """As the CRI plugin runs a pod: a sandbox, then a container of the pod in the
    sandbox's shim (containerd namespace k8s.io, the sandbox-id annotation). The
    shim's -id is the sandbox's; runc's `create ID` tells the container apart."""
    rootfs = build_rootfs(tmp_path / "rootfs")
    sandbox, app = secrets.token_hex(32), secrets.token_hex(32)
    godo = start_daemon(store_uri)
    with godo:
        try:
            pause = containerd.run(sandbox, ["/bin/sh", "-c", "sleep 2"], rootfs,
                                   namespace="k8s.io", background=True,
                                   annotations={"io.kubernetes.cri.container-type": "sandbox"})
            deadline = time.monotonic() + 30
            while not _running_in(containerd, sandbox):
                assert pause.poll() is None and time.monotonic() < deadline, pause.communicate()
                time.sleep(0.05)
            ran = containerd.run(app, ["/bin/sh", "-c", "echo hi > /data/app.txt; exit 5"],
                                 rootfs, namespace="k8s.io",
                                 annotations={"io.kubernetes.cri.sandbox-id": sandbox,
                                              "io.kubernetes.cri.container-type": "container"})
            pause.communicate(timeout=60)
        finally:
            _stop(godo)
    assert (ran.returncode, pause.returncode) == (5, 0), ran.stderr

    boxes = {b["id"]: b for b in db.containers.find()}
    assert set(boxes) == {sandbox, app}
    for box in boxes.values():
        assert (box["runtime"], box["namespace"], box["pod"]) == ("kubernetes", "k8s.io", sandbox)
    assert (boxes[app]["status"], boxes[app]["exit_code"]) == ("exited", 5)
    (sleeper,) = _workload(db, sandbox)
    (shell,) = _workload(db, app)
    assert sleeper["argv"] == ["sleep", "2"] and shell["exit_code"] == 5
    (written,) = list(db.files.find({"container": app, "runtime": False, "writes": {"$gt": 0}}))
    assert written["path"] == "/data/app.txt"
    assert written["host_path"] == str(rootfs / "data" / "app.txt")
    listing = _godo(store_uri, "containers")
    assert "POD" in listing.splitlines()[0] and listing.count(sandbox[:12]) == 3, listing


def _running_in(containerd, ident: str) -> bool:
    tasks = containerd.ctr("task", "ls", namespace="k8s.io").stdout
    return any(line.split()[:1] == [ident] and "RUNNING" in line for line in tasks.splitlines())


def test_a_podman_container_by_its_name(live_audit, godo_env, store_uri, db, tmp_path):
    _require("podman", podman_available())
    rootfs = build_rootfs(tmp_path / "rootfs", init_script=WEBAPP_INIT)
    godo = start_daemon(store_uri)
    with godo:
        try:
            ran = podman_run(["/bin/sh", "/init.sh"], rootfs, name="godo-web")
        finally:
            _stop(godo)
    assert ran.returncode == 3, ran.stderr

    (box,) = list(db.containers.find({"name": "godo-web"}))
    assert re.fullmatch(r"[0-9a-f]{64}", box["id"]) and box["runtime"] == "podman"
    assert (box["status"], box["exit_code"], box["rootfs"]) == ("exited", 3, str(rootfs))
    procs = _workload(db, box["id"])
    assert all(p["exe"] == "/bin/busybox" for p in procs) and len(procs) == box["processes"] >= 1
    programs = {p["exe"].rsplit("/", 1)[-1]
                for p in db.processes.find({"container": box["id"], "runtime": True})}
    assert {"conmon", "runc"} <= programs, programs
    files = {f["path"] for f in db.files.find({"container": box["id"], "writes": {"$gt": 0}})}
    assert {"/data/out.txt", "/data/copy.txt"} <= files, files

    tree = _godo(store_uri, "tree", "--container", "godo-web")
    assert f"container godo-web  id {box['id'][:12]}" in tree and "conmon" not in tree
    assert "conmon" in _godo(store_uri, "tree", "--container", "godo-web", "--runtime")

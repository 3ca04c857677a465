"""The tracker on hand-made activity sequences: process identity, fd lifecycles,
scope and containers. Each case is a sequence the kernel really produces."""

from __future__ import annotations

import itertools
import os
import subprocess

import pytest

from godo.store.base import NullStore, document_of
from godo.tracker import Scope
from support.fakeproc import fake_process

CID = "ab" * 32
_serial = itertools.count(1)


class ListStore(NullStore):
    """Keeps every batch the tracker hands over, as it came."""

    def __init__(self):
        super().__init__("test-host")
        self.batches = []

    def write(self, mutations, *, dense: bool = False):
        super().write(mutations, dense=dense)
        # The documents as a database store makes them when it encodes the batch.
        self.batches.append([(name, document_of(doc)) for name, doc in mutations])

    def docs(self, collection):
        """The last version of each document written to `collection`."""
        latest = {}
        for batch in self.batches:
            for name, doc in batch:
                if name == collection:
                    latest[doc["_id"]] = doc
        return list(latest.values())


@pytest.fixture(autouse=True)
def _twins(twin):
    """Every case with each twin's tracker, fed that twin's activities."""
    global Activity, Tracker
    Activity, Tracker = twin.Activity, twin.Tracker


Activity = Tracker = None  # the twin under test (_twins)


def act(kind, pid, ts, *, ppid=1, syscall=None, success=True, exit=0, comm="sh", exe="/bin/sh", **fields):
    a = Activity(kind, ts, next(_serial), syscall or kind, "x86_64", success, exit, pid, ppid, 0, 0,
                 comm, exe, 0, 0, 0, 0, 1, None)
    for name, value in fields.items():
        setattr(a, name, value)
    return a


def spawn(parent, child, ts, thread=False, syscall="clone", ppid=1):
    return act("spawn", parent, ts, ppid=ppid, syscall=syscall, exit=child, child=child,
               thread=None if syscall == "clone3" else thread)


def execve(pid, ts, argv, exe, ppid=1):
    return act("exec", pid, ts, ppid=ppid, syscall="execve", exe=exe, comm=exe.rsplit("/", 1)[-1],
               argv=argv, cwd="/work")


def exit_(pid, ts, code=0, syscall="exit_group", ppid=1):
    a = act("exit", pid, ts, ppid=ppid, syscall=syscall, success=None, exit=None, code=code)
    return a


def open_(pid, ts, path, fd, flags=0o1101, ppid=1, dirfd=None):
    return act("open", pid, ts, ppid=ppid, syscall="openat", exit=fd, path=path, fd=fd,
               flags=flags, mode=0o644, dirfd=dirfd)


def write(pid, ts, fd, n, ppid=1):
    return act("write", pid, ts, ppid=ppid, exit=n, fd=fd, bytes=n)


def close(pid, ts, fd, ppid=1):
    return act("close", pid, ts, ppid=ppid, fd=fd)


def dup2(pid, ts, fd, new_fd, ppid=1):
    return act("dup", pid, ts, ppid=ppid, syscall="dup2", exit=new_fd, fd=fd, new_fd=new_fd, cloexec=False)


@pytest.fixture
def tracked():
    store = ListStore()
    tracker = Tracker(store, host="h", boot_id="boot0000", scope=Scope("command", 100), run="r1")
    tracker.adopt_command(100, 1000.0, ["sh", "-c", "x"])
    return tracker, store


def by_pid(docs):
    return {d["pid"]: d for d in docs}


def test_command_tree_with_vfork_child_reported_before_its_spawn(tracked):
    tracker, store = tracked
    tracker.process([
        execve(100, 1000.1, ["sh", "-c", "x"], "/usr/bin/dash", ppid=50),
        # vfork: the child execs and exits before the parent's vfork record is written
        execve(101, 1000.2, ["cat", "/tmp/x"], "/usr/bin/cat", ppid=100),
        exit_(101, 1000.3, ppid=100),
        spawn(100, 101, 1000.2, syscall="vfork", ppid=50),
        exit_(100, 1000.4, code=3, ppid=50),
    ])
    procs = by_pid(store.docs("processes"))
    assert set(procs) == {100, 101}
    assert procs[101]["parent"] == procs[100]["_id"]
    assert procs[100]["children"] == [procs[101]["_id"]]
    assert procs[101]["argv"] == ["cat", "/tmp/x"] and procs[101]["status"] == "exited"
    assert procs[100]["exit_code"] == 3
    assert tracker.procs == {}, "exited processes leave memory"


def test_ids_tty_and_a_setuid_exec_on_the_process_and_its_execs(tracked):
    tracker, store = tracked
    shell = execve(100, 1000.1, ["sh", "-c", "passwd"], "/usr/bin/dash", ppid=50)
    shell.uid, shell.euid, shell.suid, shell.gid, shell.egid, shell.ses, shell.tty = (
        1000, 1000, 1000, 100, 100, 3, "pts1")
    setuid = execve(101, 1000.2, ["passwd"], "/usr/bin/passwd", ppid=100)
    setuid.uid, setuid.euid, setuid.suid, setuid.gid, setuid.egid, setuid.ses, setuid.tty = (
        1000, 0, 0, 100, 100, 3, "pts1")
    setuid.arch = "i386"
    setuid.names = {"uid": "alice", "euid": "root", "syscall": "execve", "arch": "i386"}
    tracker.process([shell, spawn(100, 101, 1000.15, ppid=50), setuid, exit_(101, 1000.3, ppid=100),
                     exit_(100, 1000.4, ppid=50)])
    procs = by_pid(store.docs("processes"))
    sh, passwd = procs[100], procs[101]
    ids = ("uid", "euid", "suid", "gid", "egid")
    assert [sh[k] for k in ids + ("ses", "tty")] == [1000, 1000, 1000, 100, 100, 3, "pts1"]
    assert [passwd[k] for k in ids + ("ses", "tty")] == [1000, 0, 0, 100, 100, 3, "pts1"]
    (run,) = passwd["execs"]
    assert [run[k] for k in ids] == [1000, 0, 0, 100, 100] and run["arch"] == "i386"
    assert run["names"] == passwd["names"] == setuid.names
    assert "names" not in sh and "names" not in sh["execs"][0], "a RAW log names nothing"
    assert sh["execs"][0]["arch"] == "x86_64"


@pytest.mark.parametrize("flags, arch, names", [
    (0o1101, "x86_64", ["O_WRONLY", "O_CREAT", "O_TRUNC"]),
    (0o2000000, "x86_64", ["O_RDONLY", "O_CLOEXEC"]),
    (0o20200002, "x86_64", ["O_RDWR", "O_TMPFILE"]),
    (0o4010001, "i386", ["O_WRONLY", "O_SYNC"]),
    (0o10001, "x86_64", ["O_WRONLY", "O_DSYNC"]),
    (0o40000, "x86_64", ["O_RDONLY", "O_DIRECT"]),
    (0o40000, "aarch64", ["O_RDONLY", "O_DIRECTORY"]),
    (0o20040002, "aarch64", ["O_RDWR", "O_TMPFILE"]),
    (0o200000 | 0o100000, "x86_64", ["O_RDONLY", "O_LARGEFILE", "O_DIRECTORY"]),
    (0o3 | 0o4000 | 0x40000000, "x86_64", ["O_ACCMODE", "O_NONBLOCK", "0x40000000"]),
])
def test_open_flags_also_by_name(tracked, flags, arch, names):
    tracker, store = tracked
    opened = open_(100, 1000.1, "/tmp/f", 3, flags=flags)
    opened.arch = arch
    tracker.process([opened, close(100, 1000.2, 3)])
    (doc,) = store.docs("files")
    assert (doc["flags"], doc["flag_names"]) == (flags, names)


def test_an_inherited_file_has_no_flags_to_name(tracked):
    tracker, store = tracked
    tracker.process([write(100, 1000.1, 1, 5), close(100, 1000.2, 1)])
    (doc,) = store.docs("files")
    assert doc["flags"] is None and doc["flag_names"] is None


def test_command_exit_from_the_stream_wins_over_waitpid(tracked):
    tracker, store = tracked
    tracker.process([execve(100, 1000.1, ["sh", "-c", "x"], "/usr/bin/dash", ppid=50),
                     exit_(100, 1000.4, code=3, ppid=50)])
    assert tracker.command_reaped(9, None, 1000.5) == "audit"
    proc = by_pid(store.docs("processes"))[100]
    assert (proc["exit_code"], proc["status"]) == (3, "exited")


def test_command_exit_lost_from_the_stream_comes_from_waitpid(tracked):
    tracker, store = tracked
    tracker.process([execve(100, 1000.1, ["sh", "-c", "x"], "/usr/bin/dash", ppid=50)])
    assert tracker.command_reaped(4, None, 1000.5) == "waitpid"
    proc = by_pid(store.docs("processes"))[100]
    assert (proc["exe"], proc["exit_code"], proc["status"]) == ("/usr/bin/dash", 4, "exited")
    assert tracker.procs == {}


def test_command_killed_by_a_signal_is_closed_as_killed(tracked):
    tracker, store = tracked
    tracker.process([execve(100, 1000.1, ["sh", "-c", "x"], "/usr/bin/dash", ppid=50)])
    assert tracker.command_reaped(None, 9, 1000.5) == "waitpid"
    proc = by_pid(store.docs("processes"))[100]
    assert (proc["exit_code"], proc["signal"], proc["status"]) == (None, 9, "killed")


def test_no_command_no_exit_source():
    tracker = Tracker(ListStore(), host="h", boot_id="boot0000", scope=Scope("host"), run="r1")
    assert tracker.command_reaped(0, None, 1.0) is None


def test_pid_reuse_never_links_to_the_old_process(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 200, 1.0),
        execve(200, 1.1, ["old"], "/bin/old", ppid=100),
        # 200's exit record was lost; much later the pid comes back under another parent
        spawn(100, 300, 5.0),
        spawn(300, 200, 9.0, ppid=100),
        execve(200, 9.1, ["new"], "/bin/new", ppid=300),
        exit_(200, 9.2, ppid=300),
    ])
    docs = [d for d in store.docs("processes") if d["pid"] == 200]
    assert len(docs) == 2
    old, new = sorted(docs, key=lambda d: d["start"])
    assert old["argv"] == ["old"] and old["status"] == "gone"
    assert new["argv"] == ["new"] and new["status"] == "exited"
    assert new["parent"] == tracker.procs[300].id != old["parent"]
    assert old["_id"] != new["_id"]


def test_pid_reused_by_a_vfork_child_is_a_new_process(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 200, 1.0),
        execve(200, 1.1, ["old"], "/bin/old", ppid=100),
        spawn(100, 300, 5.0),
        execve(300, 5.1, ["shell"], "/bin/sh", ppid=100),
        # 200's exit record was lost; the pid comes back as 300's vfork child,
        # whose records come before 300's vfork record.
        execve(200, 9.1, ["new"], "/bin/new", ppid=300),
        exit_(200, 9.2, ppid=300),
        spawn(300, 200, 9.0, syscall="vfork", ppid=100),
    ])
    docs = sorted((d for d in store.docs("processes") if d["pid"] == 200), key=lambda d: d["start"])
    assert [d["argv"] for d in docs] == [["old"], ["new"]]
    old, new = docs
    assert old["status"] == "gone" and new["status"] == "exited"
    assert new["parent"] == tracker.procs[300].id and old["parent"] == tracker.procs[100].id
    assert tracker.procs[300].children == [new["_id"]]


def test_pid_reused_by_a_child_that_only_exits(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 200, 1.0),
        execve(200, 1.1, ["old"], "/bin/old", ppid=100),
        spawn(100, 300, 5.0),
        # 200's exit was lost; 300 forks a child that gets pid 200 and exits at once.
        spawn(300, 200, 9.0, syscall="fork", ppid=100),
        exit_(200, 9.1, code=4, ppid=300),
    ])
    old, new = sorted((d for d in store.docs("processes") if d["pid"] == 200),
                      key=lambda d: d["start"])
    assert old["argv"] == ["old"] and old["status"] == "gone" and old.get("exit_code") is None
    assert new["status"] == "exited" and new["exit_code"] == 4
    assert new["parent"] == tracker.procs[300].id


def test_an_orphan_reparented_stays_one_process(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 200, 1.0),
        execve(200, 1.1, ["daemon"], "/bin/daemon", ppid=100),
        exit_(100, 2.0, ppid=1),
        # 100 is gone: 200 now reports init (or a subreaper) as its parent.
        write(200, 3.0, 1, 5, ppid=1),
        exit_(200, 4.0, ppid=1),
    ])
    docs = [d for d in store.docs("processes") if d["pid"] == 200]
    assert len(docs) == 1 and docs[0]["argv"] == ["daemon"] and docs[0]["status"] == "exited"


def test_dup2_redirection_writes_land_on_the_opened_file(tracked):
    tracker, store = tracked
    tracker.process([
        open_(100, 1.0, "/tmp/out", 3),
        dup2(100, 1.1, 3, 1),
        close(100, 1.2, 3),
        write(100, 1.3, 1, 5),
        write(100, 1.4, 1, 7),
    ])
    assert store.docs("files") == [], "still open through fd 1"
    tracker.process([close(100, 1.5, 1)])
    (doc,) = store.docs("files")
    assert doc["path"] == "/tmp/out" and doc["writes"] == 2 and doc["bytes"] == 12
    assert doc["access"] == "w" and doc["truncated"] and doc["status"] == "closed"


def test_fork_shares_open_files_until_the_last_holder_closes(tracked):
    tracker, store = tracked
    tracker.process([
        open_(100, 1.0, "/tmp/log", 4),
        spawn(100, 101, 1.1),
        write(101, 1.2, 4, 10, ppid=100),
        close(100, 1.3, 4),
    ])
    assert store.docs("files") == []
    tracker.process([exit_(101, 1.4, ppid=100)])
    (doc,) = store.docs("files")
    assert doc["writes"] == 1 and doc["writers"] == [101] and doc["closed"] is not None


def test_a_file_closed_before_a_forked_child_s_first_record_is_open_again_and_counted_once(tracked):
    tracker, store = tracked
    tracker.process([open_(100, 1.0, "/tmp/log", 4), spawn(100, 101, 1.1), close(100, 1.2, 4)])
    assert [d["status"] for d in store.docs("files")] == ["closed"]
    assert tracker.counts["files"] == 1
    # The child held it since the fork: its first record shows the file was never closed.
    tracker.process([write(101, 1.3, 4, 10, ppid=100)])
    assert tracker.counts["files"] == 0 and tracker.procs[101].fds[4].closed is None
    tracker.process([exit_(101, 1.4, ppid=100)])
    assert tracker.counts["files"] == 1
    last = store.docs("files")[-1]
    assert (last["status"], last["writes"], last["writers"]) == ("closed", 1, [101])


def test_close_on_exec_closes_at_exec_and_close_range_closes_the_range(tracked):
    tracker, store = tracked
    tracker.process([
        open_(100, 1.0, "/a", 3, flags=0o2000000),           # O_CLOEXEC
        open_(100, 1.1, "/b", 4),
        open_(100, 1.2, "/c", 5),
        open_(100, 1.3, "/d", 9),
        execve(100, 1.4, ["x"], "/bin/x"),
    ])
    assert [d["path"] for d in store.docs("files")] == ["/a"]
    tracker.process([act("close", 100, 1.5, syscall="close_range", fd=4, max_fd=5)])
    assert sorted(d["path"] for d in store.docs("files")) == ["/a", "/b", "/c"]
    assert 9 in tracker.procs[100].fds


def test_dirfd_relative_open_resolves_through_the_fd_table(tracked):
    tracker, store = tracked
    dir_open = open_(100, 1.0, "/srv/data", 3, flags=0o200000)
    rel = open_(100, 1.1, "sub/../f.txt", 4, dirfd=3)
    rel.path = "f.txt"
    tracker.process([dir_open, rel])
    assert rel.path == "f.txt", "the tracker does not rewrite what the cook made"
    assert tracker.procs[100].fds[4].path == "/srv/data/f.txt"


def test_threads_fold_into_their_process_and_thread_exit_does_not_end_it(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 150, 1.0, thread=True),
        spawn(100, 151, 1.0, syscall="clone3"),      # flags hidden: thread until proven otherwise
        open_(100, 1.1, "/tmp/t", 3),
        write(100, 1.2, 3, 4),
        exit_(100, 1.3, syscall="exit"),
        exit_(100, 1.4, syscall="exit"),
    ])
    assert 100 in tracker.procs and not store.docs("processes")
    tracker.process([exit_(100, 1.5)])
    (proc,) = store.docs("processes")
    assert proc["status"] == "exited" and proc["children"] == []


def test_clone3_child_that_shows_up_is_a_process(tracked):
    tracker, store = tracked
    tracker.process([
        spawn(100, 160, 1.0, syscall="clone3"),
        execve(160, 1.1, ["ls"], "/bin/ls", ppid=100),
        exit_(160, 1.2, ppid=100),
    ])
    (child,) = store.docs("processes")
    assert child["pid"] == 160 and child["parent"] == tracker.procs[100].id
    assert tracker.procs[100].threads == 0


def test_killed_process_is_marked_when_found_gone():
    store = ListStore()
    me = os.getpid()
    tracker = Tracker(store, host="h", boot_id="b", scope=Scope("pid", me),
                      run="r", live=True)
    victim = subprocess.Popen(["sleep", "60"])
    tracker.process([spawn(me, victim.pid, 1.0, ppid=os.getppid()),
                     execve(victim.pid, 1.1, ["sleep", "60"], "/usr/bin/sleep", ppid=me),
                     act("kill", me, 2.0, syscall="kill", target=victim.pid, signal=9)])
    assert tracker.sweep(2.5) == 0, "still alive: nothing to close"
    victim.kill()
    victim.wait()  # a process killed by a signal leaves no exit record
    assert tracker.sweep(3.0) == 1
    (doc,) = [d for d in store.docs("processes") if d["pid"] == victim.pid]
    assert doc["status"] == "killed" and doc["signal"] == 9


def test_container_attribution_rootfs_and_host_paths():
    store = ListStore()
    tracker = Tracker(store, host="h", boot_id="b", scope=Scope("containers"), run="r")
    shim_argv = ["/tmp/x/containerd-shim-runc-v2", "-c", "script", "-id", CID]
    tracker.process([
        spawn(1, 10, 1.0),
        execve(10, 1.1, shim_argv, "/tmp/x/containerd-shim-runc-v2"),
        open_(10, 1.2, "/tmp/shim.log", 3),                 # the runtime's own file
        spawn(10, 11, 1.3),
        execve(11, 1.35, ["/bin/sh", "/init.sh"], "/bin/busybox", ppid=10),
        act("pivot_root", 11, 1.4, ppid=10, new_root="/tmp/rootfs", put_old="/tmp/rootfs/old"),
        open_(11, 1.5, "/data/out", 4, ppid=10),
        write(11, 1.6, 4, 3, ppid=10),
        close(11, 1.7, 4, ppid=10),
        act("rename", 11, 1.8, ppid=10, path="/data/out", new_path="/data/final"),
        exit_(11, 1.9, ppid=10),
    ])
    tracker.finish(2.0)
    (box,) = store.docs("containers")
    assert box["id"] == CID and box["rootfs"] == "/tmp/rootfs" and box["files_written"] == 1
    procs = by_pid(store.docs("processes"))
    assert set(procs) == {10, 11} and {d["container"] for d in procs.values()} == {CID}
    assert (procs[10]["runtime"], procs[11]["runtime"]) == (True, False)
    assert (box["init_pid"], box["processes"], box["runtime_processes"]) == (11, 1, 1)
    assert (box["status"], box["exit_code"]) == ("exited", 0)
    shim_log, f = sorted(store.docs("files"), key=lambda d: d["opened"])
    assert shim_log["path"] == "/tmp/shim.log" and shim_log["runtime"] is True
    assert f["runtime"] is False
    assert f["path"] == "/data/out" and f["host_path"] == "/tmp/rootfs/data/out"
    assert procs[11]["fs_ops"][0]["new_host_path"] == "/tmp/rootfs/data/final"


MEMFD = "/memfd:runc_cloned:/proc/self/exe (deleted)"


def _runc_create() -> list:
    """containerd's shim for container `webapp` runs `runc create`, which forks 21."""
    shim = "/usr/bin/containerd-shim-runc-v2"
    return [spawn(1, 10, 1.0),
            execve(10, 1.1, [shim, "-namespace", "default", "-id", "webapp", "-address", "/s"], shim),
            spawn(10, 20, 1.2),
            execve(20, 1.3, ["runc", "--root", "/run/r", "create", "--bundle", "/b", "webapp"],
                   "/usr/sbin/runc", ppid=10),
            spawn(20, 21, 1.4, ppid=10)]


def test_a_runc_container_the_runtime_apart_from_its_workload():
    """containerd's shim, `runc create`, and `runc init` re-executed from a memfd
    copy of itself, which enters the root and execs the workload: the runtime's
    processes are plumbing of container `webapp`, the init and its children its
    workload, and the container ends as its init did."""
    store = ListStore()
    tracker = Tracker(store, host="h", boot_id="b", scope=Scope("containers"), run="r")
    tracker.process(_runc_create() + [
        execve(21, 1.5, ["runc", "init"], MEMFD, ppid=20),
        act("pivot_root", 21, 1.6, ppid=20, exe=MEMFD, new_root="/tmp/rootfs",
            put_old="/tmp/rootfs"),
        execve(21, 1.7, ["/bin/sh", "-c", "work"], "/bin/busybox", ppid=20),
        exit_(20, 1.8, ppid=10),
        spawn(21, 22, 1.9, ppid=10),
        execve(22, 2.0, ["cat"], "/bin/busybox", ppid=21),
        open_(22, 2.1, "/data/out", 1, ppid=21),
        write(22, 2.2, 1, 6, ppid=21),
        exit_(22, 2.3, ppid=21),
        exit_(21, 2.4, code=3, ppid=10),
    ])
    tracker.finish(3.0)
    (box,) = store.docs("containers")
    # ctr's container id is the name the user gave: no second name.
    assert (box["id"], box["name"], box["namespace"], box["runtime"]) == \
        ("webapp", None, "default", "containerd")
    assert (box["init_pid"], box["status"], box["exit_code"]) == (21, "exited", 3)
    assert (box["processes"], box["runtime_processes"], box["files_written"]) == (2, 2, 1)
    assert box["rootfs"] == "/tmp/rootfs"
    procs = by_pid(store.docs("processes"))
    assert {pid: d["runtime"] for pid, d in procs.items()} == \
        {10: True, 20: True, 21: False, 22: False}
    assert {d["container"] for d in procs.values()} == {"webapp"}
    assert procs[21]["exe"] == "/bin/busybox" and procs[21]["exit_code"] == 3
    assert [e["exe"] for e in procs[21]["execs"]][:1] == ["/usr/sbin/runc"], \
        "runc init from its memfd copy is still runc"
    (f,) = store.docs("files")
    assert (f["host_path"], f["runtime"], f["container"]) == ("/tmp/rootfs/data/out", False, "webapp")


def test_a_file_names_the_command_its_open_record_names_not_the_process_earlier_state():
    """runc's shape, as a real containerd container shows it: `runc init` is runc
    re-executed through /proc/self/exe (comm `exe`, its exe a memfd), which enters
    the root and becomes the container's `sh`; the opens that follow say `comm="sh"`
    (here with no exec record between, as when that record never reached godo).
    The file is `sh`'s, as its open record says."""
    store = ListStore()
    tracker = Tracker(store, host="h", boot_id="b", scope=Scope("containers"), run="r")
    memfd = MEMFD
    tracker.process(_runc_create() + [
        act("exec", 21, 1.5, ppid=20, syscall="execve", comm="exe", exe=memfd,
            argv=["/proc/self/exe", "init"], cwd="/b"),
        act("pivot_root", 21, 1.6, ppid=20, comm="exe", exe=memfd, new_root="/tmp/rootfs",
            put_old="/tmp/rootfs"),
        act("open", 21, 1.7, ppid=20, syscall="openat", exit=3, comm="exe", exe=memfd,
            path="/run/runc.fifo", fd=3, flags=0o1, mode=None),
        act("open", 21, 1.8, ppid=20, syscall="openat", exit=4, comm="sh", exe="/bin/busybox",
            path="/data/out.txt", fd=4, flags=0o1101, mode=0o644),
        write(21, 1.9, 4, 6, ppid=20),
        close(21, 2.0, 4, ppid=20),
        close(21, 2.1, 3, ppid=20),
    ])
    tracker.finish(3.0)
    procs = by_pid(store.docs("processes"))
    assert procs[21]["comm"] == "exe", "the process as its last exec left it"
    files = {f["path"]: f for f in store.docs("files")}
    assert (files["/data/out.txt"]["comm"], files["/data/out.txt"]["exe"]) == ("sh", "/bin/busybox")
    assert (files["/run/runc.fifo"]["comm"], files["/run/runc.fifo"]["exe"]) == \
        ("exe", "/usr/sbin/runc"), "runc init from its memfd copy is still runc"


def test_a_file_inherited_from_before_godo_looked_names_its_holder(tracked):
    tracker, store = tracked
    tracker.process([execve(100, 1000.1, ["sh"], "/usr/bin/dash", ppid=50),
                     write(100, 1000.2, 1, 3, ppid=50), exit_(100, 1000.3, ppid=50)])
    (f,) = store.docs("files")
    assert f["inherited"] and (f["comm"], f["exe"]) == ("dash", "/usr/bin/dash")


def test_memory_is_released_for_many_short_processes(tracked):
    tracker, store = tracked
    batch = []
    for i in range(2000):
        pid = 1000 + i
        batch += [spawn(100, pid, 1.0 + i), execve(pid, 1.0 + i, ["t"], "/bin/true", ppid=100),
                  open_(pid, 1.0 + i, "/tmp/f", 3, ppid=100), close(pid, 1.0 + i, 3, ppid=100),
                  exit_(pid, 1.0 + i, ppid=100)]
    tracker.process(batch)
    assert set(tracker.procs) == {100}
    assert len(store.batches) == 1, "one store call per batch, not per document"
    assert len(store.docs("processes")) == 2000 and len(store.docs("files")) == 2000


HOST_MOUNTS = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 8:1 / /var/lib rw,relatime shared:2 - ext4 /dev/sdb1 rw
31 22 8:2 /data /mnt/d rw,relatime shared:3 - xfs /dev/sdc rw
40 30 0:55 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=x
41 22 254:0 /srv/box /srv/alias rw - ext4 /dev/vda rw
42 22 8:3 / /mnt/with\\040space rw - ext4 /dev/sdd rw
"""


@pytest.mark.parametrize("root_line, host_path", [
    ("254:0 /srv/box/rootfs", "/srv/box/rootfs"),             # bind-mounted (not the alias)
    ("0:55 /", "/var/lib/docker/overlay2/abc/merged"),         # Docker's overlay
    ("8:1 /containers/c1", "/var/lib/containers/c1"),          # on another filesystem
    ("8:2 /data/c2", "/mnt/d/c2"),                             # under a bind mount
    ("8:3 /a\\040b", "/mnt/with space/a b"),                  # escaped names
    ("0:99 /", None),                                          # mounted only inside
])
def test_a_container_started_before_godo_has_its_rootfs_from_the_mount_tables(
        tmp_path, root_line, host_path):
    from godo.tracker.procfs import MountRoots as _MountRoots
    (tmp_path / "self" / "ns").mkdir(parents=True)
    (tmp_path / "self" / "ns" / "mnt").symlink_to("mnt:[4026531841]")
    (tmp_path / "self" / "mountinfo").write_text(HOST_MOUNTS)
    (tmp_path / "7" / "ns").mkdir(parents=True)
    (tmp_path / "7" / "ns" / "mnt").symlink_to("mnt:[4026532001]")
    device, root = root_line.split(" ")
    (tmp_path / "7" / "mountinfo").write_text(
        f"63 42 {device} {root} / rw,relatime - ext4 /dev/x rw\n"
        "64 63 0:5 / /proc rw - proc proc rw\n")
    (tmp_path / "8" / "ns").mkdir(parents=True)
    (tmp_path / "8" / "ns" / "mnt").symlink_to("mnt:[4026531841]")
    roots = _MountRoots(str(tmp_path))
    assert roots.of(7) == host_path
    assert roots.of(8) is None, "godo's own mount namespace: no rootfs"
    assert roots.of(9) is None, "gone: nothing to say"


def test_a_second_look_at_proc_adds_only_what_started_in_between(tmp_path):
    store = ListStore()
    tracker = Tracker(store, host="h", boot_id="b", scope=Scope("host"), run="r")
    fake_process(tmp_path, 1, 0, 10, ["/sbin/init"])
    fake_process(tmp_path, 10, 1, 500, ["/usr/sbin/sshd"])
    assert tracker.seed_from_proc(str(tmp_path)) == 2
    # While the first look was taken and the rules went in, sshd forked 11;
    # 12 started after the rules were in: its spawn is in the stream.
    fake_process(tmp_path, 11, 10, 700, ["sshd: session"])
    fake_process(tmp_path, 12, 10, 900, ["sshd: late"])
    assert tracker.seed_from_proc(str(tmp_path), started_before=800) == 1
    assert set(tracker.procs) == {1, 10, 11}
    session, sshd = tracker.procs[11], tracker.procs[10]
    assert session.parent == sshd.id and sshd.children == [session.id]
    assert session.argv == ["sshd: session"] and session.seeded


# -- paths --------------------------------------------------------------------------

_JOINS = [("/", "usr/lib/libc.so.6"), ("/home/me", "src/a.c"), ("/home/me/", "src/a.c"),
          ("/", ""), ("/a", "../../b"), ("/a/b", "./c"), ("/a", "b/"), ("/a", "b//c"),
          ("/a", ".hidden"), ("/a", "b/.."), ("", "x"), ("//", "x"), ("/a", "/abs"),
          ("rel", "x"), ("/run/containerd/rootfs", "etc/hosts"), ("/a", "b/..."),
          ("/a", "b/./c/../d"),
          # openat(fd, "."): the directory itself, however its name was written.
          ("/a/b", "."), ("/a/b/", "."), ("/", "."), ("", "."), ("/a/./b", "."), ("/a/..", "."),
          ("./a", "x"), ("./a", "."), (".", "."), ("a/b", ".")]


@pytest.mark.parametrize("base, name", _JOINS)
def test_a_joined_path_is_normalised_as_posixpath_has_it(twin, base, name):
    import importlib
    import posixpath
    paths = importlib.import_module(twin.Tracker.__module__.rsplit(".", 1)[0] + ".paths")
    expected = posixpath.normpath(base.rstrip("/") + "/" + name)
    if expected.startswith("//"):
        expected = "/" + expected.lstrip("/")
    assert paths.join(base, name) == expected

"""Who may touch godo's data, without a database: a data directory, lock,
endpoint or server binary that another user could change is refused with one
line before anything runs; a symlinked data directory is refused and its target
left as it was; a command that only reads makes no directory; the config check
looks through links and above the parent; a read-only or full disk is one line.
The attacker is uid 65534 (nobody): what they made is chowned to them."""

from __future__ import annotations

import fcntl
import socket
import os
import stat
import subprocess
from pathlib import Path

import bson
import pytest

from godo.cli import main
from godo.errors import GodoError, StoreError
from godo.paths import UnsafePath
from godo.store.ferret import FERRETDB_BUILD, EmbeddedFerret, find_binary
from godo.store.ferret_connect import connect_or_start
from support.cli import NOBODY, _config_file, _one_line_error
from support.paths import DATA

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: to chown to nobody, to mount")
LOG = DATA / "dirfd.log"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _godo(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, _one_line_error(capsys.readouterr().err)


@pytest.fixture
def data(env, tmp_path, monkeypatch):
    """GODO_DATA_DIR of the test's own (not made yet)."""
    path = tmp_path / "data"
    monkeypatch.setenv("GODO_DATA_DIR", str(path))
    return path


# -- 2: a data directory, lock or endpoint made by nobody ------------------------------------

@root_only
def test_a_data_directory_of_nobody_is_refused_by_every_command(data, capsys):
    data.mkdir(mode=0o700)
    os.chown(data, NOBODY, NOBODY)
    for argv in (["tree"], ["files"], ["replay", LOG]):
        code, line = _godo(capsys, *argv)
        assert (code, line) == (2, f"godo: data directory {data} is owned by uid {NOBODY}, "
                                   f"not root or uid 0: refusing it")
    assert os.listdir(data) == []


def test_a_data_directory_others_can_write_is_refused(data, capsys):
    data.mkdir()
    data.chmod(0o770)
    code, line = _godo(capsys, "replay", LOG)
    assert code == 2 and line == (f"godo: data directory {data} is writable by its group "
                                  f"(mode 0770): refusing it; chmod go-w {data}")
    assert _mode(data) == 0o770 and os.listdir(data) == []


@root_only
def test_a_lock_of_nobody_is_refused_before_any_server_starts(tmp_path):
    (tmp_path / "ferretdb").mkdir(mode=0o700)
    lock = tmp_path / "ferretdb" / "lock"
    lock.touch(mode=0o600)
    os.chown(lock, NOBODY, NOBODY)
    marker = tmp_path / "ran"
    with pytest.raises(UnsafePath) as caught:
        EmbeddedFerret(tmp_path, binary=_script(tmp_path / "ferretdb", marker)).start()
    assert str(caught.value) == (f"FerretDB's lock {lock} is owned by uid {NOBODY}, "
                                 "not root or uid 0: refusing it")
    assert not marker.exists()


@root_only
def test_an_endpoint_of_nobody_is_refused_not_followed(tmp_path):
    # The lock held (a server is said to run) and an endpoint nobody wrote, naming
    # a server of theirs: refused, never connected to.
    directory = tmp_path / "ferretdb"
    directory.mkdir(mode=0o700)
    endpoint = directory / "endpoint.json"
    endpoint.write_text('{"pid": 1, "socket": "/tmp/nobody.sock", "port": 47017}')
    os.chown(endpoint, NOBODY, NOBODY)
    endpoint.chmod(0o600)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(UnsafePath) as caught:
            connect_or_start(tmp_path, binary="/bin/false", start_timeout=2)
    finally:
        os.close(fd)
    assert str(caught.value) == (f"FerretDB's endpoint {endpoint} is owned by uid {NOBODY}, "
                                 "not root or uid 0: refusing it")


def test_a_symlinked_lock_is_refused(tmp_path):
    (tmp_path / "ferretdb").mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.touch(mode=0o600)
    (tmp_path / "ferretdb" / "lock").symlink_to(elsewhere)
    with pytest.raises(UnsafePath, match=r"FerretDB's lock .*/lock is a symlink: refusing it"):
        EmbeddedFerret(tmp_path, binary="/bin/false").start()


# -- 3: GODO_DATA_DIR a symlink; a read-only command changes nothing ------------------------

def test_a_symlinked_data_dir_is_refused_and_its_target_left_as_it_was(env, tmp_path, capsys,
                                                                        monkeypatch):
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(target)
    monkeypatch.setenv("GODO_DATA_DIR", str(link))
    for argv in (["tree"], ["files"], ["replay", LOG]):
        code, line = _godo(capsys, *argv)
        assert (code, line) == (2, f"godo: data directory {link} is a symlink (to {target}): "
                                   "refusing it; give the directory itself")
    assert _mode(target) == 0o755 and os.listdir(target) == []


def test_a_command_that_reads_makes_no_directory_and_changes_no_mode(data, capsys, monkeypatch):
    monkeypatch.setenv("GODO_FERRETDB", "/bin/true")  # a binary there (never run here)
    code, line = _godo(capsys, "tree")
    assert (code, line) == (0, f"godo: nothing recorded yet in {data}: run `godo record -- CMD` first")
    assert not data.exists()
    data.mkdir()
    data.chmod(0o755)
    for argv in (["tree"], ["files"]):
        code, line = _godo(capsys, *argv)
        assert code == 0 and line.startswith("godo: nothing recorded yet in")
    assert _mode(data) == 0o755 and os.listdir(data) == []


def test_the_run_directory_is_made_only_when_asked(tmp_path, monkeypatch):
    # `godo status` reads audit's reach from the run directory with create False:
    # a read-only command makes none (as a user, it is the data directory).
    from godo.paths import run_dir
    from godo.source.coverage import marker_readable
    missing = tmp_path / "run"
    monkeypatch.setenv("GODO_RUN_DIR", str(missing))
    assert run_dir(create=False) == missing and not missing.exists()
    assert marker_readable(missing)   # none made yet: no marker, which is an answer
    assert run_dir() == missing and _mode(missing) == 0o700


# -- 4: the server binary ----------------------------------------------------------------

def _script(directory: Path, marker: Path) -> str:
    """A 'FerretDB' that leaves `marker` if it is ever run."""
    path = directory / "ferretdb"
    path.write_text(f"#!/bin/sh\nid > {marker}\n")
    path.chmod(0o755)
    return str(path)


@root_only
@pytest.mark.parametrize("how", ["GODO_FERRETDB", "XDG_CACHE_HOME", "PATH"])
def test_a_binary_nobody_could_change_is_never_run(how, data, tmp_path, capsys, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone may replace what is in it
    marker = tmp_path / "ran-as-root"
    for name in ("GODO_FERRETDB", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    if how == "XDG_CACHE_HOME":
        cache = shared / "godo" / f"ferretdb-{FERRETDB_BUILD}"
        cache.mkdir(parents=True)
        binary = _script(cache, marker)
        monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    else:
        binary = _script(shared, marker)
        if how == "GODO_FERRETDB":
            monkeypatch.setenv("GODO_FERRETDB", binary)
        else:
            monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no cached build
            monkeypatch.setenv("PATH", f"{shared}:/usr/bin:/bin")
    os.chown(binary, NOBODY, NOBODY)
    with pytest.raises(GodoError, match=f"is owned by uid {NOBODY}, not root or uid 0: refusing it"):
        find_binary()
    code, line = _godo(capsys, "replay", LOG)
    assert code == 2 and f"{binary} is owned by uid {NOBODY}" in line
    os.chown(binary, 0, 0)  # root's now, but still in a directory anyone can write
    code, line = _godo(capsys, "replay", LOG)
    assert code == 2 and f"is in {shared}, which others can write to (mode 0777)" in line
    assert not marker.exists()


def test_a_binary_anyone_can_write_is_never_run(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    binary = _script(tmp_path, marker)
    os.chmod(binary, 0o777)
    monkeypatch.setenv("GODO_FERRETDB", binary)
    with pytest.raises(UnsafePath, match=r"is writable by everyone \(mode 0777\)"):
        find_binary()
    assert not marker.exists()


# -- 5: the config file ------------------------------------------------------------------

def test_a_config_linked_into_a_directory_others_can_write_is_refused(env, tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    real = _config_file(shared, "")
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o755)
    link = safe / "godo.toml"
    link.symlink_to(real)
    code, line = _godo(capsys, "tree", "--config", link)
    assert code == 2 and line == (f"godo: config {link} (a link to {real}): {real} is in "
                                  f"{shared}, which others can write to (mode 0777): refusing it")


def test_a_config_below_a_directory_others_can_write_is_refused(env, tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    inner = shared / "etc"
    inner.mkdir(mode=0o755)
    path = _config_file(inner, "", 0o644)
    code, line = _godo(capsys, "tree", "--config", path)
    assert code == 2 and line == (f"godo: config {path} is in {shared}, which others can "
                                  "write to (mode 0777): refusing it")


# -- 11: a read-only mount, a full disk ----------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs of the test's own."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    mount = tmp_path / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_store_on_a_read_only_mount_is_one_line(small_fs, env, capsys, monkeypatch):
    data = small_fs / "data"
    (data / "ferretdb").mkdir(mode=0o700, parents=True)
    for name in ("lock", "users"):
        (data / "ferretdb" / name).touch(mode=0o600)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    monkeypatch.setenv("GODO_DATA_DIR", str(data))
    code, line = _godo(capsys, "tree")
    assert (code, line) == (1, f"godo: cannot use FerretDB's users lock {data}/ferretdb/users: "
                               "Read-only file system")


def test_a_full_disk_writing_the_endpoint_is_one_line_and_leaves_no_temp(small_fs):
    ferret = EmbeddedFerret(small_fs, binary="/bin/false")
    ferret.dir.mkdir(mode=0o700)
    with open(small_fs / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    ferret.pid, ferret.port = os.getpid(), None
    with pytest.raises(StoreError) as caught:
        ferret._write_endpoint()
    assert str(caught.value) == (f"cannot write {ferret.dir}/endpoint.json: "
                                 "No space left on device")
    assert os.listdir(ferret.dir) == []


# -- 1: a running server is used only when provably godo's own -----------------------------

def test_a_server_not_provably_ours_is_neither_used_nor_stopped(tmp_path):
    directory = tmp_path / "ferretdb"
    directory.mkdir(mode=0o700)
    other = subprocess.Popen(["sleep", "60"])
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    listener = socket.socket(socket.AF_UNIX)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held: a server is said to run
        listener.bind(str(directory / "ferretdb.sock"))
        os.chmod(directory / "ferretdb.sock", 0o700)
        listener.listen()
        (directory / "endpoint.json").write_text(
            '{"pid": %d, "socket": "%s", "port": null}' % (other.pid, directory / "ferretdb.sock"))
        with pytest.raises(StoreError) as caught:
            connect_or_start(tmp_path, binary="/bin/false", start_timeout=0.5)
        assert str(caught.value) == (f"the FerretDB serving {directory} cannot be used: pid "
                                     f"{other.pid} was not started with --state-dir={directory}")
        assert other.poll() is None
    finally:
        listener.close()
        os.close(fd)
        other.kill()
        other.wait()


# -- 6: one process's document, in each twin's tracker -------------------------------------

def test_a_process_document_is_bounded_in_argv_and_exec_history(twin):
    from godo.store.base import NullStore, document_of
    from godo.tracker import Scope

    class Kept(NullStore):
        def __init__(self):
            super().__init__("h")
            self.last = {}

        def write(self, mutations, *, dense=False):
            super().write(mutations, dense=dense)
            for name, doc in mutations:
                doc = document_of(doc)
                self.last[(name, doc["_id"])] = doc

    serial = iter(range(1, 1000))

    def activity(kind, ts, **fields):
        a = twin.Activity(kind, ts, next(serial), "execve" if kind == "exec" else kind, "x86_64",
                          True if kind != "exit" else None, 0, 200, 1, 0, 0, "prog", "/bin/prog",
                          0, 0, 0, 0, 1, None)
        for name, value in fields.items():
            setattr(a, name, value)
        return a

    huge = ["a" * 7000] * 300  # 2 MiB
    execs = [activity("exec", 1.0 + i, argv=[f"/bin/prog{i}", *huge, f"last{i}"], cwd="/")
             for i in range(70)]
    store = Kept()
    tracker = twin.Tracker(store, host="h", boot_id="b", scope=Scope("host"), run="r")
    tracker.process(execs + [activity("exit", 80.0, code=0)])
    (doc,) = [d for (name, _id), d in store.last.items() if name == "processes" and d["pid"] == 200]
    assert len(bson.encode(doc)) < 16 * 1024 * 1024
    assert doc["execs_dropped"] == 6 and len(doc["execs"]) == 64
    assert [e["argv"][0] for e in doc["execs"]] == (
        [f"/bin/prog{i}" for i in range(32)] + [f"/bin/prog{i}" for i in range(38, 70)])
    assert doc["argv"][0] == "/bin/prog69" and doc["argv"][-1] == "last69"
    # Each end: 64 KiB, nine whole arguments and a tenth cut to the room left.
    total = len("/bin/prog69") + 300 * 7000 + len("last69")
    assert doc["argv_truncated"] == {"kept": 22, "dropped_args": 280,
                                     "dropped_bytes": total - 128 * 1024}
    assert len(doc["argv"][10]) == 64 * 1024 - len("/bin/prog69") - 9 * 7000


@root_only
def test_a_journal_directory_of_nobody_is_refused(tmp_path):
    from godo.store.journal_dir import journal_dir_for, open_journal
    base = journal_dir_for(tmp_path, "0" * 32)
    base.mkdir(mode=0o700, parents=True)
    os.chown(base, NOBODY, NOBODY)
    with pytest.raises(UnsafePath) as caught:
        open_journal(base, max_bytes=1 << 20, fsync_interval=None)
    assert str(caught.value) == (f"journal directory {base} is owned by uid {NOBODY}, not root "
                                 "or uid 0: refusing it")
    assert os.listdir(base) == []

"""The hot path's contract, every case run against both twins (`twin` fixture).

Records here are written in the layout this kernel writes them (the SYSCALL,
PATH and CWD lines of tests/data/*.log, captured live), with one field changed
per case; expected activities are written out by hand, so a case fails for
whichever twin gets it wrong. The last part feeds random and broken bytes to
both twins and asks them to agree, and the Receiver tests use a real datagram
socket pair.
"""

from __future__ import annotations

import faulthandler
import os
import posixpath
import signal
import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from godo import hotpath, twins
from godo.hotpath import _cook_py, _parse_py
from godo.hotpath import _pipeline_py as _hotpath_py
from godo.hotpath import contract as _bounds
from godo.vocab import activity as _activity
from godo.vocab import records as _records
from godo.errors import MalformedRecord
from support.frames import lines_to_frames
from support.paths import DATA

REAL_LOGS = sorted(DATA.glob("*.log"))

TS = "1795768960.226"
X86 = "c000003e"
AARCH64 = "c00000b7"
AT_FDCWD = 0xFFFFFF9C  # -100 in the register, as the kernel prints it
O_WRONLY_CREAT_TRUNC = 0o1101
O_RDONLY_CLOEXEC = 0o2000000
O_TMPFILE_RDWR = 0o20200002


# -- records ------------------------------------------------------------------

def syscall(serial, nr, a0=0, a1=0, a2=0, a3=0, *, success="yes", exit=0, arch=X86, pid=6721,
            ppid=6719, comm='"sh"', exe='"/usr/bin/dash"', items=0, ts=TS) -> str:
    result = "" if success is None else f" success={success} exit={exit}"
    return (f"type=SYSCALL msg=audit({ts}:{serial}): arch={arch} syscall={nr}{result} "
            f"a0={a0:x} a1={a1:x} a2={a2:x} a3={a3:x} items={items} ppid={ppid} pid={pid} "
            f"auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) "
            f'ses=4294967295 comm={comm} exe={exe} key="godo"')


def record(kind: str, serial, body: str, ts=TS) -> str:
    return f"type={kind} msg=audit({ts}:{serial}): {body}"


def path(serial, item, name, nametype="NORMAL") -> str:
    return record("PATH", serial, f"item={item} name={name} inode=9978562 dev=fe:00 mode=0100644 "
                                  f"ouid=0 ogid=0 rdev=00:00 nametype={nametype} cap_fp=0 cap_fi=0 "
                                  f"cap_fe=0 cap_fver=0 cap_frootid=0")


def cwd(serial, value='"/work/main"') -> str:
    return record("CWD", serial, f"cwd={value}")


def proctitle(serial, *argv: str) -> str:
    return record("PROCTITLE", serial, "proctitle=" + hexed("\0".join(argv).encode()))


def hexed(raw: bytes) -> str:
    return raw.hex().upper()


def log(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def cook(twin, *lines: str, **settings) -> list[dict]:
    pipeline = twin.Pipeline(**settings)
    activities = pipeline.feed_log(log(*lines)) + pipeline.flush()
    assert (pipeline.malformed, pipeline.errors) == (0, [])
    return [a.to_dict() for a in activities]


def one(twin, *lines: str) -> dict:
    activities = cook(twin, *lines)
    assert len(activities) == 1, activities
    return activities[0]


def common(serial=400, syscall_name="openat", *, success=True, exit=0, pid=6721, ppid=6719,
           comm="sh", exe="/usr/bin/dash", ts=1795768960.226, arch="x86_64") -> dict:
    """The fields every activity takes from its SYSCALL record, in contract order
    (what syscall() writes: tty=(none), so no tty)."""
    out = {"ts": ts, "serial": serial, "syscall": syscall_name, "arch": arch}
    if success is not None:
        out.update(success=success, exit=exit)
    out.update(pid=pid, ppid=ppid, uid=0, auid=4294967295)
    if comm is not None:
        out["comm"] = comm
    if exe is not None:
        out["exe"] = exe
    out.update(euid=0, suid=0, gid=0, egid=0, ses=4294967295)
    return out


def activity(kind, serial=400, syscall_name="openat", *, success=True, exit=0, **fields) -> dict:
    base = common(serial, syscall_name, success=success, exit=exit)
    out = {"kind": kind, **base}
    order = _activity.ACTIVITY_FIELDS
    out.update(fields)
    return {name: out[name] for name in order if name in out}


@pytest.fixture(scope="module")
def _watchdog_file(tmp_path_factory):
    with open(tmp_path_factory.getbasetemp() / "hang-traceback.txt", "w") as f:
        yield f


@pytest.fixture(autouse=True)
def no_hang(_watchdog_file):
    """A loop in C that never returns cannot be stopped by a signal or a deadline:
    a watchdog thread ends the run (exit status 1) after GODO_HANG_SECONDS, writing
    every thread's traceback to hang-traceback.txt in pytest's base temp directory
    (pytest's capture would swallow it on stderr)."""
    faulthandler.dump_traceback_later(int(os.environ.get("GODO_HANG_SECONDS", "300")), exit=True,
                                      file=_watchdog_file)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- the compiled twin is there ---------------------------------------------------

def test_compiled_twin_loaded():
    if os.environ.get("GODO_NO_EXTENSIONS"):
        pytest.skip("GODO_NO_EXTENSIONS is set: the pure-Python twin is the one meant to run")
    assert twins.accelerated(), f"the compiled twins did not load: {twins.IMPORT_ERRORS}"
    assert hotpath.Pipeline.__module__ == "godo.hotpath._hotpath_c"


# -- spawn, exec, exit ------------------------------------------------------------

def test_clone_of_a_thread_says_thread(twin):
    flags = 0x3D0F00  # what glibc's pthread_create passes: CLONE_VM|CLONE_THREAD|...
    got = one(twin, syscall(400, 56, flags, exit=6722), proctitle(400, "sh"))
    assert got == activity("spawn", 400, "clone", exit=6722, child=6722, thread=True)


def test_clone_of_a_process_fork_and_clone3(twin):
    got = cook(twin, syscall(400, 56, 0x1200011, exit=6722), proctitle(400, "sh"),
               syscall(401, 57, exit=6723), proctitle(401, "sh"),
               syscall(402, 435, 0x7FFD0000, 0x58, exit=6724), proctitle(402, "sh"))
    assert got == [activity("spawn", 400, "clone", exit=6722, child=6722, thread=False),
                   activity("spawn", 401, "fork", exit=6723, child=6723, thread=False),
                   # clone3 hides its flags behind a pointer: thread is unknown
                   activity("spawn", 402, "clone3", exit=6724, child=6724)]


def test_failed_clone_and_the_child_side_are_not_spawns(twin):
    assert cook(twin, syscall(400, 56, success="no", exit=-11), proctitle(400, "sh"),
                syscall(401, 56, exit=0), proctitle(401, "sh")) == []


def test_exec_with_arguments_cwd_and_path(twin):
    got = one(twin, syscall(380, 59, exit=0, items=2), record("EXECVE", 380, 'argc=3 a0="sh" a1="-c" a2='
                                                               + hexed(b"echo hi > /tmp/xx")),
              cwd(380), path(380, 0, '"/bin/sh"'), path(380, 1, '"/lib64/ld-linux-x86-64.so.2"'),
              proctitle(380, "sh", "-c", "echo hi > /tmp/xx"))
    assert got == activity("exec", 380, "execve", argv=["sh", "-c", "echo hi > /tmp/xx"],
                           cwd="/work/main", path="/bin/sh")


def test_exec_split_arguments_over_several_execve_records(twin):
    long_plain = "x" * 30
    spaced = "sp ace " * 4
    lines = [syscall(500, 59, items=2),
             record("EXECVE", 500, f'argc=4 a0="/bin/true" a1_len={2 * len(long_plain)} '
                                   f"a1[0]={hexed(long_plain[:10].encode())}"),
             record("EXECVE", 500, f"a1[1]={hexed(long_plain[10:25].encode())}"),
             record("EXECVE", 500, f"a1[2]={hexed(long_plain[25:].encode())} "
                                   f"a2_len={2 * len(spaced)} a2[0]={hexed(spaced[:5].encode())}"),
             record("EXECVE", 500, f'a2[1]={hexed(spaced[5:].encode())} a3="short"'),
             cwd(500), path(500, 0, '"/bin/true"'), proctitle(500, "/bin/true")]
    got = one(twin, *lines)
    assert got["argv"] == ["/bin/true", long_plain, spaced, "short"]
    assert "argc" not in got  # the kernel's count agrees


def test_exec_pieces_out_of_order_and_a_multibyte_character_cut_between_them(twin):
    word = "grüße".encode()  # ü and ß are two bytes each; cut inside ß
    got = one(twin, syscall(501, 59),
              record("EXECVE", 501, f"argc=2 a0=\"x\" a1[1]={hexed(word[5:])} a1_len={2 * len(word)} "
                                    f"a1[0]={hexed(word[:5])}"),
              proctitle(501, "x"))
    assert got["argv"] == ["x", "grüße"]


def test_exec_argc_larger_than_the_arguments_present(twin):
    got = one(twin, syscall(502, 59), record("EXECVE", 502, 'argc=3 a0="ls" a1="-l"'), proctitle(502, "ls"))
    assert (got["argv"], got["argc"]) == (["ls", "-l"], 3)


def test_failed_exec_falls_back_to_the_proctitle(twin):
    # A shell searching PATH: the execve fails with ENOENT, no EXECVE record is
    # written, the PATH item is UNKNOWN, and PROCTITLE says who tried.
    got = one(twin, syscall(370, 59, success="no", exit=-2, items=1), cwd(370),
              path(370, 0, '"/usr/local/go/bin/sh"', "UNKNOWN"),
              proctitle(370, ".venv/bin/python", "/tmp/cap2.py", "sh", "-c", "echo hi"))
    assert got == activity("exec", 370, "execve", success=False, exit=-2,
                           proctitle=[".venv/bin/python", "/tmp/cap2.py", "sh", "-c", "echo hi"],
                           cwd="/work/main", path="/usr/local/go/bin/sh")


def test_execveat_keeps_no_path(twin):
    got = one(twin, syscall(503, 322, 3), record("EXECVE", 503, 'argc=1 a0="prog"'),
              path(503, 0, '"prog"'), proctitle(503, "prog"))
    assert got["kind"] == "exec" and "path" not in got and got["argv"] == ["prog"]


def test_exit_group_code_without_success_or_exit(twin):
    got = one(twin, syscall(600, 231, 0x102, success=None), proctitle(600, "sh"))
    assert got == {"kind": "exit", **common(600, "exit_group", success=None), "code": 2}


# -- open, write, close, dup ----------------------------------------------------------

def test_openat_for_writing_keeps_mode_and_fd(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 0x7FCD141B20B1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3),
              cwd(400), path(400, 0, '"/tmp/"', "PARENT"), path(400, 1, '"/tmp/xx"', "CREATE"),
              proctitle(400, "sh"))
    assert got == activity("open", exit=3, path="/tmp/xx", fd=3, flags=O_WRONLY_CREAT_TRUNC, mode=0o644,
                           created=True)


def test_open_of_an_existing_file_is_not_created(twin):
    got = one(twin, syscall(401, 257, AT_FDCWD, 1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3), cwd(401),
              path(401, 0, '"/tmp/"', "PARENT"), path(401, 1, '"/tmp/xx"', "NORMAL"),
              proctitle(401, "sh"))
    assert "created" not in got


def test_openat_for_reading_drops_mode(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, O_RDONLY_CLOEXEC, 0o777, exit=3), cwd(400),
              path(400, 0, '"/etc/ld.so.cache"'), proctitle(400, "sh"))
    assert got == activity("open", exit=3, path="/etc/ld.so.cache", fd=3, flags=O_RDONLY_CLOEXEC)


def test_o_tmpfile_keeps_mode(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, O_TMPFILE_RDWR, 0o600, exit=4), cwd(400),
              path(400, 0, '"/tmp"'), proctitle(400, "sh"))
    assert (got["flags"], got["mode"]) == (O_TMPFILE_RDWR, 0o600)


def test_o_tmpfile_keeps_mode_on_aarch64_by_its_own_value(twin):
    # aarch64's O_TMPFILE holds its O_DIRECTORY, 0o40000 there: 0o20040000 | O_RDWR.
    # openat is 56 there.
    got = one(twin, syscall(402, 56, AT_FDCWD, 1, 0o20040002, 0o600, exit=4, arch=AARCH64),
              cwd(402), path(402, 0, '"/tmp"'), proctitle(402, "sh"))
    assert (got["flags"], got["mode"], got["arch"]) == (0o20040002, 0o600, "aarch64")
    # x86_64's value on aarch64 is O_DIRECT | __O_TMPFILE bits, not O_TMPFILE: no mode.
    got = one(twin, syscall(403, 56, AT_FDCWD, 1, O_TMPFILE_RDWR, 0o600, exit=4, arch=AARCH64),
              cwd(403), path(403, 0, '"/tmp"'), proctitle(403, "sh"))
    assert "mode" not in got


def test_failed_open_has_a_path_and_no_fd(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, 0, 0, success="no", exit=-2, items=1), cwd(400),
              path(400, 0, '"/etc/nonexistent"', "UNKNOWN"), proctitle(400, "sh"))
    assert got == activity("open", success=False, exit=-2, path="/etc/nonexistent", flags=0)


def test_relative_name_is_joined_with_the_cwd_and_normalised(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, 0, exit=3), cwd(400, '"/work/main/"'),
              path(400, 0, '"./tests/../data//x.log"'), proctitle(400, "sh"))
    assert got["path"] == "/work/main/data/x.log" and "dirfd" not in got


def test_name_relative_to_a_real_dirfd_stays_relative(twin):
    got = one(twin, syscall(400, 257, 5, 1, 0, exit=6), cwd(400), path(400, 0, '"sub/./f.txt"'),
              proctitle(400, "sh"))
    assert (got["path"], got["dirfd"], got["fd"]) == ("sub/f.txt", 5, 6)


def test_absolute_name_ignores_the_dirfd(twin):
    got = one(twin, syscall(400, 257, 5, 1, 0, exit=6), cwd(400), path(400, 0, '"/etc//passwd"'),
              proctitle(400, "sh"))
    assert got["path"] == "/etc/passwd" and "dirfd" not in got


def test_leading_double_slash_collapses(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, 0, exit=3), cwd(400), path(400, 0, '"//etc/./hosts"'),
              proctitle(400, "sh"))
    assert got["path"] == "/etc/hosts"


def test_open_creat_and_openat2(twin):
    got = cook(twin,
               syscall(401, 2, 1, O_WRONLY_CREAT_TRUNC, 0o640, exit=3), cwd(401), path(401, 0, '"a"'),
               proctitle(401, "sh"),
               syscall(402, 85, 1, 0o600, exit=4), cwd(402), path(402, 0, '"b"'), proctitle(402, "sh"),
               # openat2's flags come in their own record, in octal
               syscall(403, 437, AT_FDCWD, 1, 0x7FFD, 0x18, exit=5),
               record("OPENAT2", 403, "oflag=02000101 mode=0600 resolve=0x0"), cwd(403),
               path(403, 0, '"c"'), proctitle(403, "sh"))
    assert got == [
        activity("open", 401, "open", exit=3, path="/work/main/a", fd=3, flags=O_WRONLY_CREAT_TRUNC,
                 mode=0o640),
        activity("open", 402, "creat", exit=4, path="/work/main/b", fd=4, flags=O_WRONLY_CREAT_TRUNC,
                 mode=0o600),
        activity("open", 403, "openat2", exit=5, path="/work/main/c", fd=5, flags=0o2000101),
    ]


def test_parent_items_are_never_the_file(twin):
    got = one(twin, syscall(400, 257, AT_FDCWD, 1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3), cwd(400),
              path(400, 0, '"/data"', "PARENT"), path(400, 1, "(null)", "CREATE"),
              path(400, 2, '"/data/new"', "CREATE"), proctitle(400, "sh"))
    assert got["path"] == "/data/new"
    only_parent = one(twin, syscall(401, 257, AT_FDCWD, 1, 0, exit=3), cwd(401),
                      path(401, 0, '"/data"', "PARENT"), proctitle(401, "sh"))
    assert "path" not in only_parent


def test_write_close_and_close_range(twin):
    got = cook(twin, syscall(410, 1, 3, 0x55, 12, exit=12), proctitle(410, "sh"),
               syscall(411, 18, 0xFFFFFFFF, exit=4), proctitle(411, "sh"),
               syscall(412, 3, 3), proctitle(412, "sh"),
               syscall(413, 436, 3, 0x7FFFFFFF), proctitle(413, "sh"),
               syscall(414, 436, 3, 0xFFFFFFFF, 4), proctitle(414, "sh"))
    assert got == [
        activity("write", 410, "write", exit=12, fd=3, bytes=12),
        activity("write", 411, "pwrite64", exit=4, fd=-1, bytes=4),  # the low 32 bits, signed
        activity("close", 412, "close", fd=3),
        activity("close", 413, "close_range", fd=3, max_fd=0x7FFFFFFF),
        # CLOSE_RANGE_CLOEXEC marks the range close-on-exec instead of closing it
        activity("cloexec", 414, "close_range", fd=3, max_fd=0xFFFFFFFF, cloexec=True),
    ]


def test_failed_fd_calls_are_not_activities(twin):
    assert cook(twin, syscall(410, 1, 3, success="no", exit=-9), proctitle(410, "sh"),
                syscall(411, 3, 99, success="no", exit=-9), proctitle(411, "sh")) == []


def test_dup_family_and_fcntl(twin):
    got = cook(twin, syscall(420, 32, 3, exit=4), proctitle(420, "sh"),
               syscall(421, 33, 3, 1, exit=1), proctitle(421, "sh"),
               syscall(422, 292, 3, 5, 0o2000000, exit=5), proctitle(422, "sh"),
               syscall(423, 72, 1, 0, 10, exit=10), proctitle(423, "sh"),         # F_DUPFD
               syscall(424, 72, 1, 1030, 10, exit=11), proctitle(424, "sh"),      # F_DUPFD_CLOEXEC
               syscall(425, 72, 10, 2, 1), proctitle(425, "sh"),                  # F_SETFD FD_CLOEXEC
               syscall(426, 72, 10, 2, 0), proctitle(426, "sh"),                  # F_SETFD 0
               syscall(427, 72, 10, 3, 0), proctitle(427, "sh"))                  # F_GETFL: nothing
    assert got == [
        activity("dup", 420, "dup", exit=4, fd=3, new_fd=4, cloexec=False),
        activity("dup", 421, "dup2", exit=1, fd=3, new_fd=1, cloexec=False),
        activity("dup", 422, "dup3", exit=5, fd=3, new_fd=5, cloexec=True),
        activity("dup", 423, "fcntl", exit=10, fd=1, new_fd=10, cloexec=False),
        activity("dup", 424, "fcntl", exit=11, fd=1, new_fd=11, cloexec=True),
        activity("cloexec", 425, "fcntl", fd=10, cloexec=True),
        activity("cloexec", 426, "fcntl", fd=10, cloexec=False),
    ]


# -- paths and processes ------------------------------------------------------------

def test_pivot_root_keeps_relative_names_for_the_tracker(twin):
    # The CWD record of a pivot_root event is written after the pivot, relative to
    # the new root: relative names are only resolvable with the cwd from before.
    got = one(twin, syscall(430, 155, 1, 2), cwd(430, '"/"'),
              path(430, 0, '"."'), path(430, 1, '"./x/../.oldroot"'), proctitle(430, "init"))
    assert got == activity("pivot_root", 430, "pivot_root", new_root=".", put_old=".oldroot")
    got = one(twin, syscall(431, 155, 1, 2), cwd(431, '"/"'),
              path(431, 0, '"/var/lib/rootfs"'), path(431, 1, '"/var/lib/rootfs/old"'),
              proctitle(431, "init"))
    assert (got["new_root"], got["put_old"]) == ("/var/lib/rootfs", "/var/lib/rootfs/old")


def test_sendfile_splice_and_copy_file_range_are_writes(twin):
    got = cook(twin, syscall(440, 40, 4, 3, 0, 0x1000000, exit=12), proctitle(440, "cat"),
               syscall(441, 275, 3, 0, 5, 0, exit=7), proctitle(441, "tee"),
               syscall(442, 326, 3, 0, 6, 0, exit=9), proctitle(442, "cp"))
    assert [(a["syscall"], a["kind"], a["fd"], a["bytes"]) for a in got] == [
        ("sendfile", "write", 4, 12), ("splice", "write", 5, 7), ("copy_file_range", "write", 6, 9)]


def test_chdir_and_fchdir(twin):
    got = cook(twin, syscall(431, 80, 1), cwd(431, '"/work"'), path(431, 0, '"main/../tests"'),
               proctitle(431, "sh"),
               syscall(432, 80, 1), cwd(432, '"/work"'), proctitle(432, "sh"),
               syscall(433, 81, 7), proctitle(433, "sh"))
    assert got == [activity("chdir", 431, "chdir", path="/work/tests"),
                   activity("chdir", 432, "chdir", path="/work"),  # no item: the cwd itself
                   activity("chdir", 433, "fchdir", fd=7)]


def test_rename_and_renameat2_with_dirfds(twin):
    got = cook(twin,
               syscall(507, 316, AT_FDCWD, 1, AT_FDCWD, 2, items=4), cwd(507, '"/"'),
               path(507, 0, '"/tmp/"', "PARENT"), path(507, 1, '"/tmp/"', "PARENT"),
               path(507, 2, '"/tmp/xx"', "DELETE"), path(507, 3, '"/tmp/yy"', "CREATE"),
               proctitle(507, "mv", "/tmp/xx", "/tmp/yy"),
               syscall(508, 316, 4, 1, 5, 2, items=4), cwd(508), path(508, 0, '"d1"', "PARENT"),
               path(508, 1, '"d2"', "PARENT"), path(508, 2, '"a"', "DELETE"), path(508, 3, '"b"', "CREATE"),
               proctitle(508, "mv"),
               syscall(509, 82, 1, 2, items=4), cwd(509), path(509, 0, '"x"', "DELETE"),
               path(509, 1, '"y"', "CREATE"), proctitle(509, "mv"))
    assert got == [
        activity("rename", 507, "renameat2", path="/tmp/xx", new_path="/tmp/yy"),
        activity("rename", 508, "renameat2", path="a", dirfd=4, new_path="b", new_dirfd=5),
        activity("rename", 509, "rename", path="/work/main/x", new_path="/work/main/y"),
    ]


def test_unlink_unlinkat_and_rmdir(twin):
    got = cook(twin,
               syscall(520, 263, AT_FDCWD, 1, 0, items=2), cwd(520), path(520, 0, '"/tmp/"', "PARENT"),
               path(520, 1, '"/tmp/yy"', "DELETE"), proctitle(520, "rm"),
               syscall(521, 263, 9, 1, 0x200, items=2), cwd(521), path(521, 0, '"d"', "PARENT"),
               path(521, 1, '"d/sub"', "DELETE"), proctitle(521, "rm"),
               syscall(522, 84, 1, items=2), cwd(522), path(522, 0, '"/w"', "PARENT"),
               path(522, 1, '"old"', "DELETE"), proctitle(522, "rmdir"))
    assert got == [activity("unlink", 520, "unlinkat", path="/tmp/yy"),
                   activity("unlink", 521, "unlinkat", path="d/sub", dirfd=9),
                   activity("unlink", 522, "rmdir", path="/work/main/old")]


def test_kill_and_tgkill(twin):
    got = cook(twin, syscall(530, 62, 6800, 15), proctitle(530, "kill"),
               syscall(531, 234, 6800, 6801, 9), proctitle(531, "sh"),
               syscall(532, 200, 6802, 2), proctitle(532, "sh"))
    assert got == [activity("kill", 530, "kill", target=6800, signal=15),
                   activity("kill", 531, "tgkill", target=6800, signal=9),
                   activity("kill", 532, "tkill", target=6802, signal=2)]


def test_rt_sigqueueinfo_is_a_kill(twin):
    """sigqueue(3)'s call: a signal (with data) to a process, as kill(2) sends one:
    one row of the vocabulary, the same numbers the kernel's tables give."""
    got = cook(twin, syscall(535, 129, 6800, 10, 0x7FFD0000), proctitle(535, "sigq"),
               syscall(536, 178, 6801, 15, 0xFFD0000, arch=I386), proctitle(536, "sigq32"),
               syscall(537, 138, 6802, 9, 0x7FFD0000, arch=AARCH64), proctitle(537, "sigq"),
               syscall(538, 129, 6803, 10, 0x7FFD0000, success="no", exit=-3), proctitle(538, "sigq"))
    assert got == [activity("kill", 535, "rt_sigqueueinfo", target=6800, signal=10),
                   {**activity("kill", 536, "rt_sigqueueinfo", target=6801, signal=15), "arch": "i386"},
                   {**activity("kill", 537, "rt_sigqueueinfo", target=6802, signal=9), "arch": "aarch64"}]


def test_memfd_create_opens_a_new_file_with_no_name(twin):
    """memfd_create(name, flags) is an open of a new file, read-write, that no PATH
    record names; MFD_CLOEXEC (1) in its flags is O_CLOEXEC, the mark the tracker
    closes it by at exec. A failed one is seen, as a failed open is."""
    got = cook(twin, syscall(545, 319, 0x7FFD0000, 1, exit=5), proctitle(545, "runc"),
               syscall(546, 356, 0xFFD0000, 0, exit=4, arch=I386), proctitle(546, "m32"),
               syscall(547, 319, 0x7FFD0000, 0, success="no", exit=-24), proctitle(547, "runc"))
    assert got == [activity("open", 545, "memfd_create", exit=5, fd=5, flags=0o2000002),
                   {**activity("open", 546, "memfd_create", exit=4, fd=4, flags=0o2), "arch": "i386"},
                   activity("open", 547, "memfd_create", success=False, exit=-24, flags=0o2)]


def test_aarch64_numbers_mean_aarch64_calls(twin):
    got = cook(twin,
               syscall(540, 56, AT_FDCWD, 1, 0, arch=AARCH64, exit=3), cwd(540), path(540, 0, '"/etc/hosts"'),
               proctitle(540, "cat"),
               syscall(541, 221, arch=AARCH64), record("EXECVE", 541, 'argc=1 a0="cat"'), proctitle(541, "cat"),
               syscall(542, 94, 1, arch=AARCH64, success=None), proctitle(542, "cat"),
               syscall(543, 2, 1, arch=AARCH64), proctitle(543, "cat"))  # no open() on aarch64
    assert [(a["kind"], a["syscall"]) for a in got] == [
        ("open", "openat"), ("exec", "execve"), ("exit", "exit_group")]


def test_unknown_architecture_and_uncooked_calls_make_no_activity(twin):
    assert cook(twin, syscall(550, 257, arch="40000028"), proctitle(550, "x"),
                syscall(551, 44, 4), proctitle(551, "x")) == []


# -- text ---------------------------------------------------------------------

WEIRD = [
    b"new\nline", b'quo"te', b"sp ace", b"t\tab", b"caf\xc3\xa9", b"bad\xff\xfeutf8", b"\xe2\x82",
]


@pytest.mark.parametrize("raw", WEIRD, ids=lambda r: r.decode("ascii", "backslashreplace"))
def test_hex_names_decode_with_backslashreplace(twin, raw):
    got = one(twin, syscall(560, 257, AT_FDCWD, 1, 0, exit=3, comm=hexed(b"my prog"),
                            exe=hexed(b"/opt/" + raw)),
              cwd(560, hexed(b"/tmp/" + raw)), path(560, 0, hexed(raw)), proctitle(560, "x"))
    text = raw.decode("utf-8", "backslashreplace")
    assert (got["comm"], got["exe"], got["path"]) == ("my prog", "/opt/" + text, f"/tmp/{text}/{text}")


def test_null_values_are_absent(twin):
    got = one(twin, syscall(561, 257, AT_FDCWD, 1, 0, exit=3, comm="(null)", exe="(null)"),
              cwd(561, "(null)"), path(561, 0, "(null)"), path(561, 1, '"rel"'), proctitle(561, "x"))
    assert "comm" not in got and "exe" not in got
    assert got["path"] == "rel"  # no cwd to join with


def test_hex_with_both_cases_of_digits_decodes(twin):
    got = one(twin, syscall(562, 257, AT_FDCWD, 1, 0, exit=3, comm="0a41", exe='"/bin/x"'), cwd(562),
              path(562, 0, "2f706C61696E"), proctitle(562, "x"))
    assert (got["comm"], got["path"]) == ("\nA", "/plain")


def _exec_lines(serial: int, *, comm="0A41", exe='"/bin/x"', arg="4A6F", cwd_value='"/w"',
                name='"/bin/x"') -> list[str]:
    return [syscall(serial, 59, exit=0, comm=comm, exe=exe, items=1),
            record("EXECVE", serial, f'argc=2 a0="x" a1={arg}'), cwd(serial, cwd_value),
            path(serial, 0, name), proctitle(serial, "x")]


@pytest.mark.parametrize("bad, why", [
    ({"comm": "0A4"}, "comm is neither quoted nor hex"),            # odd: half a byte
    ({"exe": "41424"}, "exe is neither quoted nor hex"),
    ({"arg": "4A6F6"}, "an argument is neither quoted nor hex"),    # the a1=4A6F6
    ({"name": "66696C65GG"}, "name is neither quoted nor hex"),     # and its name=66696C65GG
    ({"cwd_value": "2F7 4"}, "cwd is neither quoted nor hex"),      # the kernel writes no spaces
    ({"cwd_value": "2F74\t6D70"}, "cwd is neither quoted nor hex"),
    ({"arg": "C3A9\xc3\xa9"}, "an argument is neither quoted nor hex"),  # not ASCII
])
def test_a_value_neither_quoted_nor_hex_is_malformed_not_kept_as_text(twin, bad, why):
    """A string field is "quoted", (null), or pairs of hex digits: anything else is a
    record the kernel did not write, counted malformed with why, on both twins."""
    pipeline = twin.Pipeline()
    activities = pipeline.feed_log(log(*_exec_lines(570, **bad))) + pipeline.flush()
    assert pipeline.malformed == 1
    assert [w for _where, w in pipeline.errors] == [why]
    if "comm" in bad or "exe" in bad:
        assert activities == [], "no SYSCALL record: nothing to cook"
    else:
        (got,) = [a.to_dict() for a in activities]
        assert got["kind"] == "exec" and "4A6F6" not in str(got) and "GG" not in str(got)


def test_a_value_neither_quoted_nor_hex_in_a_datagram_is_malformed_too(twin):
    from support.frames import lines_to_frames
    pipeline = twin.Pipeline()
    frames = b"".join(lines_to_frames(line.encode()) for line in _exec_lines(571, name="ABC"))
    pipeline.feed_frames(frames, 0.0)
    pipeline.flush()
    assert pipeline.malformed == 1 and pipeline.errors[0][1] == "name is neither quoted nor hex"


def test_every_ascii_whitespace_separates_fields(twin):
    # Python's bytes \s, which the pure twin splits on: not the 0x1c-0x1f separators.
    got = twin.parse_record(b"audit(1.2:3): a=1\tb=2\x0bc=3\x0cd=4\re=5 f=6\x1cg=7\nh=8", 1300)
    assert got["fields"] == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6\x1cg=7", "h": "8"}


def test_enriched_lines_cook_as_raw_ones_and_keep_the_names(twin):
    raw = [syscall(563, 257, AT_FDCWD, 1, 0, exit=3), cwd(563), path(563, 0, '"/etc/hosts"'),
           proctitle(563, "cat", "/etc/hosts")]
    enriched = [raw[0] + '\x1dARCH=x86_64 SYSCALL=openat AUID="unset" UID="root" GID="root" '
                'EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"',
                raw[1], raw[2] + '\x1dOUID="root" OGID="root"', raw[3]]
    (got,) = cook(twin, *enriched)
    names = got.pop("names")
    assert [got] == cook(twin, *raw) and got["path"] == "/etc/hosts"
    assert names == {"arch": "x86_64", "syscall": "openat", "auid": "unset", "uid": "root",
                     "gid": "root", "euid": "root", "suid": "root", "egid": "root"}


def test_enriched_and_raw_lines_mixed_in_chunks_of_any_size(twin):
    # The compiled twin looks for 0x1d once a chunk, not once a line: the line it is
    # in, and no other, loses what follows it, wherever the chunks are cut.
    lines = [syscall(564, 3, 5), proctitle(564, "sh"),
             syscall(565, 3, 6) + '\x1dUID="root"', proctitle(565, "sh"),
             "node=a\x1db " + syscall(566, 3, 7), proctitle(566, "sh") + "\x1dPROCTITLE=x",
             "node=a\x1db " + syscall(567, 3, 8) + '\x1dAUID="me"', proctitle(567, "sh"),
             syscall(568, 3, 9), proctitle(568, "sh")]
    data = log(*lines)
    for size in (1, 7, 100, 311, len(data)):
        pipeline = twin.Pipeline()
        got = [a for at in range(0, len(data), size) for a in pipeline.feed_log(data[at:at + size])]
        got += pipeline.flush()
        assert pipeline.errors == []
        assert [(a.fd, a.names) for a in got] == [
            (5, None), (6, {"uid": "root"}), (7, None), (8, {"auid": "me"}), (9, None)]


def test_ids_and_tty_of_the_task(twin):
    setuid = syscall(600, 59, exit=0).replace("euid=0 suid=0", "euid=0 suid=0").replace(
        "uid=0 gid=0 euid=0 suid=0", "uid=1000 gid=100 euid=0 suid=0").replace(
        "egid=0", "egid=42").replace("tty=(none) ses=4294967295", "tty=pts3 ses=7")
    got = one(twin, setuid, record("EXECVE", 600, 'argc=1 a0="passwd"'), proctitle(600, "passwd"))
    assert {k: got[k] for k in ("uid", "euid", "suid", "gid", "egid", "ses", "tty")} == {
        "uid": 1000, "euid": 0, "suid": 0, "gid": 100, "egid": 42, "ses": 7, "tty": "pts3"}
    assert "tty" not in one(twin, syscall(601, 3, 5), proctitle(601, "sh")), "tty=(none): no tty"


def test_ids_the_record_lacks_are_none_and_bad_ones_refuse_the_event(twin):
    got = one(twin, _without(syscall(602, 3, 5), "euid=0", "ses=4294967295", "tty=(none)"),
              proctitle(602, "sh"))
    assert "euid" not in got and "ses" not in got and got["suid"] == 0
    for serial, (field, bad) in enumerate((("euid", "x"), ("ses", "+"), ("egid", "1" * 20)), 603):
        pipeline = twin.Pipeline()
        line = syscall(serial, 3, 5).replace(f" {field}=", f" {field}={bad}", 1)
        assert pipeline.feed_log(log(line, proctitle(serial, "sh"))) + pipeline.flush() == []
        assert pipeline.errors == [(f"event {serial}", f"cannot cook: {field} is not a number")]
    # the first bad one is told, in contract order
    pipeline = twin.Pipeline()
    line = syscall(610, 3, 5).replace(" suid=0", " suid=x").replace(" ses=", " ses=y")
    pipeline.feed_log(log(line, proctitle(610, "sh")))
    assert pipeline.errors == [("event 610", "cannot cook: suid is not a number")]


def test_lines_with_auditds_node_prefix_read_as_without(twin):
    lines = [syscall(620, 257, AT_FDCWD, 1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3), cwd(620),
             path(620, 0, '"f"', "CREATE"), proctitle(620, "sh"),
             syscall(621, 3, 3).replace(" a1=", "  a1="), proctitle(621, "sh")]  # the general way
    plain = cook(twin, *lines)
    assert cook(twin, *["node=web1 " + line for line in lines]) == plain and len(plain) == 2
    pipeline = twin.Pipeline()
    pipeline.feed_log(log("node=web1", "node=web1 garbage", "node=web1 type=BOGUS msg=audit(1.2:3): x"))
    assert pipeline.errors == [(f"log:{n}", why) for n, why in (
        (1, "line does not start with type="), (2, "line does not start with type="),
        (3, "unknown record type"))]


I386 = "40000003"
I386_AT_FDCWD = 0xFFFFFF9C


def test_i386_calls_cook_by_the_i386_table(twin):
    got = cook(twin,
               syscall(630, 5, 0x804A000, 0o1101, 0o644, arch=I386, exit=3, items=2), cwd(630),
               path(630, 1, '"/tmp/a"', "CREATE"), proctitle(630, "compat32"),
               syscall(631, 4, 3, 0x804A000, 6, arch=I386, exit=6), proctitle(631, "compat32"),
               syscall(632, 8, 0x804A000, 0o600, arch=I386, exit=4), cwd(632),
               path(632, 0, '"b"', "CREATE"), proctitle(632, "compat32"),
               syscall(633, 295, I386_AT_FDCWD, 0x804A000, 0, arch=I386, exit=5), cwd(633),
               path(633, 0, '"c"'), proctitle(633, "compat32"),
               syscall(634, 221, 5, 1030, 10, arch=I386, exit=10), proctitle(634, "compat32"),
               syscall(635, 6, 3, arch=I386), proctitle(635, "compat32"),
               syscall(636, 120, 0x1200011, arch=I386, exit=700), proctitle(636, "compat32"),
               syscall(637, 252, 3, arch=I386, success=None), proctitle(637, "compat32"),
               syscall(638, 11, arch=I386, items=1), record("EXECVE", 638, 'argc=1 a0="true"'),
               cwd(638), path(638, 0, '"/bin/true"'), proctitle(638, "true"),
               syscall(639, 257, arch=I386), proctitle(639, "compat32"))  # 257 is no call on i386
    assert [(a["arch"], a["syscall"], a["kind"]) for a in got] == [
        ("i386", "open", "open"), ("i386", "write", "write"), ("i386", "creat", "open"),
        ("i386", "openat", "open"), ("i386", "fcntl64", "dup"), ("i386", "close", "close"),
        ("i386", "clone", "spawn"), ("i386", "exit_group", "exit"), ("i386", "execve", "exec")]
    opened, written, created, at, duped, closed, spawned, ended, ran = got
    assert (opened["path"], opened["fd"], opened["flags"], opened["mode"], opened["created"]) == (
        "/tmp/a", 3, 0o1101, 0o644, True)
    assert (written["fd"], written["bytes"]) == (3, 6)
    assert (created["path"], created["flags"], created["mode"]) == ("/work/main/b", 0o1101, 0o600)
    assert (at["path"], at.get("dirfd")) == ("/work/main/c", None)
    assert (duped["fd"], duped["new_fd"], duped["cloexec"]) == (5, 10, True)
    assert closed["fd"] == 3 and (spawned["child"], spawned["thread"]) == (700, False)
    assert ended["code"] == 3 and (ran["argv"], ran["path"]) == (["true"], "/bin/true")


# -- records the pure twin's fast path leaves to the general way ----------------------
# The pure twin reads a record in the kernel's layout by a fast path and any other
# by the general one; these cases are each read one way and must cook alike.

def _without(line: str, *fields: str) -> str:
    for field in fields:
        assert f" {field}" in line, field
        line = line.replace(f" {field}", "", 1)
    return line


def test_syscall_fields_in_another_order(twin):
    line = syscall(570, 257, AT_FDCWD, 1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3)
    head, fields = line.split("): ", 1)
    words = fields.split(" ")
    want = activity("open", 570, exit=3, path="/work/main/f", fd=3, flags=O_WRONLY_CREAT_TRUNC, mode=0o644)
    for order in ([words[1], words[0], *words[2:]],  # syscall= before arch=
                  [*words[:9], words[10], words[9], *words[11:]],  # pid= before ppid=
                  words[::-1]):
        got = one(twin, head + "): " + " ".join(order), cwd(570), path(570, 0, '"f"'), proctitle(570, "sh"))
        assert got == want


def test_syscall_without_some_fields(twin):
    no_exe = activity("close", 571, "close", fd=5)
    del no_exe["exe"]
    no_exit = activity("close", 572, "close", fd=5)
    del no_exit["exit"]
    assert cook(twin, _without(syscall(571, 3, 5), 'exe="/usr/bin/dash"'), proctitle(571, "sh"),
                _without(syscall(572, 3, 5), "exit=0"), proctitle(572, "sh")) == [no_exe, no_exit]
    pipeline = twin.Pipeline()
    out = pipeline.feed_log(log(_without(syscall(573, 3, 5), "ppid=6719"), proctitle(573, "sh"),
                                _without(syscall(574, 3, 5), "items=0", "gid=0", "tty=(none)"),
                                proctitle(574, "sh")))
    assert [a.serial for a in out] == [574]
    assert pipeline.errors == [("event 573", "cannot cook: no ppid")]


def test_syscall_with_fields_the_kernel_did_not_write_there(twin):
    lsm = syscall(575, 3, 5).replace(' key="godo"', ' subj=unconfined key="godo"')
    between = syscall(576, 3, 5).replace(" gid=0", " gid=0 cgroup=/x")
    # A key the cook reads, again: the last one counts, wherever it is.
    again = syscall(577, 3, 5).replace(' key="godo"', ' key="godo" pid=99')
    twice = syscall(578, 3, 5).replace(" euid=0", " uid=7")
    got = cook(twin, lsm, proctitle(575, "sh"), between, proctitle(576, "sh"),
               again, proctitle(577, "sh"), twice, proctitle(578, "sh"))
    assert [(a["serial"], a["fd"], a["pid"], a["uid"]) for a in got] == [
        (575, 5, 6721, 0), (576, 5, 6721, 0), (577, 5, 99, 0), (578, 5, 6721, 7)]


def test_enriched_part_of_a_syscall_record_is_not_read_as_its_fields(twin):
    line = syscall(579, 3, 5) + '\x1dARCH=x86_64 SYSCALL=close pid=1 uid=2 exe="/bin/other" UID="a b'
    assert one(twin, line, proctitle(579, "sh")) == activity(
        "close", 579, "close", fd=5, names={"arch": "x86_64", "syscall": "close", "uid": "a"})
    nothing_known = syscall(580, 3, 5) + '\x1d  OUID="root" \0'
    assert "names" not in one(twin, nothing_known, proctitle(580, "sh"))


def test_values_spelt_otherwise_and_numbers_of_19_digits(twin):
    big = 10 ** 18  # 19 digits: within 64 bits
    upper = syscall(580, 3, 0xFFFFFFFF).replace("arch=c000003e", "arch=C000003E").replace(
        "syscall=3 ", "syscall=003 ").replace("a0=ffffffff", "a0=FFFFFFFF")
    got = cook(twin, upper, proctitle(580, "sh"), syscall(581, 1, 3, exit=big, pid=big), proctitle(581, "sh"),
               syscall(582, 3, 5).replace(" exit=0 ", " exit=-0 "), proctitle(582, "sh"))
    assert [(a["syscall"], a["fd"], a["pid"], a.get("bytes")) for a in got] == [
        ("close", -1, 6721, None), ("write", 3, big, big), ("close", 5, 6721, None)]


def test_fields_apart_by_other_whitespace_or_padded(twin):
    tabs = syscall(583, 3, 5).replace(" pid=", "\tpid=").replace(" a1=", "  a1=")
    padded = syscall(584, 3, 5).removesuffix(' key="godo"') + " \0"  # exe= last, then padding
    got = cook(twin, tabs, proctitle(583, "sh"), padded, proctitle(584, "sh"))
    assert got == [activity("close", 583, "close", fd=5), activity("close", 584, "close", fd=5)]


def test_syscall_records_of_any_length_and_with_odd_tokens(twin):
    # The compiled parser reads a SYSCALL body 512 bytes at a time: a value across
    # those edges, fields after them and tokens the kernel never writes read as here.
    for size in [*range(250, 330), 1100]:  # the fields after exe= land across 512 and 1024
        exe = '"/' + "x" * size + '"'
        got = one(twin, syscall(586, 3, 5, exe=exe).replace(' key="godo"', ' key="godo" pid=77'),
                  proctitle(586, "sh"))
        assert (got["exe"], got["pid"], got["fd"]) == (exe[1:-1], 77, 5)
    odd = syscall(587, 3, 5).replace(" a0=", " =a1=9 == a0=").replace(" items=0", " items")
    assert one(twin, odd, proctitle(587, "sh"))["fd"] == 5
    moved = syscall(588, 3, 5).replace(" a0=5", "").replace(" exit=0", " exit=0 =a0=6")
    assert one(twin, moved, proctitle(588, "sh"))["fd"] == 6


def test_path_fields_in_another_order(twin):
    def opened(serial, body):
        return one(twin, syscall(serial, 257, AT_FDCWD, 1, O_WRONLY_CREAT_TRUNC, 0o644, exit=3),
                   cwd(serial), record("PATH", serial, body), proctitle(serial, "sh"))

    assert opened(585, 'nametype=CREATE item=0 name="/tmp/a" inode=1')["created"] is True
    assert "created" not in opened(586, 'item=0 name="/tmp/a"')
    # xname= is not name=; a name= that does not start a field neither
    assert opened(587, 'item=0 xname="/x" dev=a,name="/y" name="/tmp/b" nametype=CREATE')["path"] == "/tmp/b"
    assert opened(588, 'item=0  name="/tmp/c" nametype=CREATE')["created"] is True
    # The compiled twin looks for fields 16 bytes at a time: at every offset, after
    # decoys that start with the same letter, inside a value or not after a space.
    for pad in range(0, 40):
        body = f'item=0 {"n" * pad}=nx name,="/n" nam=1 name="/tmp/d{pad}" nametyp=x nametype=CREATE'
        got = opened(589, body)
        assert (got["path"], got["created"]) == (f"/tmp/d{pad}", True)


def test_records_of_one_event_with_stamps_spelt_otherwise(twin):
    got = one(twin, syscall(590, 3, 5, ts="17.5"), record("CWD", "0590", 'cwd="/"', ts="17.500"),
              proctitle(590, "sh"))
    assert (got["serial"], got["ts"]) == (590, 17.005)  # ms is read as a number, as the kernel writes it


def test_a_record_without_fields_after_its_stamp(twin):
    got = one(twin, syscall(591, 257, AT_FDCWD, 1, 0, exit=3), "type=CWD msg=audit(1795768960.226:591):",
              path(591, 0, '"f"'), proctitle(591, "sh"))
    assert got["path"] == "f"  # no cwd to join with


def test_failed_exec_reads_its_proctitle_without_the_enriched_part(twin):
    got = one(twin, syscall(592, 59, success="no", exit=-2, items=1), cwd(592),
              path(592, 0, '"/nope/sh"', "UNKNOWN"), proctitle(592, "sh", "-c", "x") + "\x1dPROCTITLE=x")
    assert got["proctitle"] == ["sh", "-c", "x"]


def test_processes_with_the_same_fields_but_one(twin):
    got = cook(twin, *[line for pid, serial in ((10, 593), (11, 594), (10, 595))
                       for line in (syscall(serial, 3, 5, pid=pid), proctitle(serial, "sh"))])
    assert [a["pid"] for a in got] == [10, 11, 10]


def test_pure_twin_caches_stay_small():
    size = _parse_py.CACHE_SIZE
    pipeline = _hotpath_py.Pipeline()
    for n in range(2 * size + 5):
        serial = n + 1
        got = pipeline.feed_log(log(syscall(serial, 257, AT_FDCWD, 1, 0, exit=3, pid=n),
                                    cwd(serial, f'"/d{n}"'), path(serial, 0, '"f"'), proctitle(serial, "sh")))
        assert [(a.pid, a.path) for a in got] == [(n, f"/d{n}/f")]
        assert max(map(len, (_parse_py._TASKS, _cook_py._CWDS, _cook_py._PATHS))) <= size


def test_fast_records_over_the_byte_budget_are_refused_where_they_are(twin):
    lines = [syscall(596, 3, 4), syscall(597, 80, 1), cwd(597, '"/' + "d" * 400 + '"')]
    cost = [len(line.split("): ", 1)[1]) + _bounds.RECORD_COST for line in lines]
    pipeline = twin.Pipeline(max_bytes=cost[1] + cost[2] + 10)
    out = pipeline.feed_log(log(*lines, path(597, 0, '"' + "p" * 400 + '"')), "a.log")
    assert [a.serial for a in out] == [596] and pipeline.evicted == 1
    assert pipeline.errors == [("a.log:4", "event too large")]
    (chdir,) = pipeline.flush()
    assert chdir.path == "/" + "d" * 400


def test_a_line_too_long_between_others_in_one_chunk(twin):
    big = syscall(598, 3, 6).replace(' key="godo"', " x=" + "y" * _bounds.MAX_LINE)
    pipeline = twin.Pipeline()
    out = pipeline.feed_log(log(syscall(599, 3, 5), proctitle(599, "sh"), big, proctitle(598, "sh")))
    assert [a.serial for a in out] == [599]
    assert pipeline.errors == [("log:3", "line too long")]


def test_calls_not_cooked_are_not_checked_the_general_way_either(twin):
    # Read the general way (tabs), and no activity: the bad pid is never read.
    lines = [syscall(600, 3, 5, arch="40000028"), syscall(601, 44, 4),
             syscall(602, 3, 5, success="no", exit=-9)]
    got = cook(twin, *[line.replace(" pid=6721", "\tpid=x") + "\n" + proctitle(serial, "sh")
                       for serial, line in zip((600, 601, 602), lines)])
    assert got == []


# -- assembling -------------------------------------------------------------------

def test_interleaved_serials_assemble_apart(twin):
    got = cook(twin, syscall(600, 257, AT_FDCWD, 1, 0, exit=3), syscall(601, 257, AT_FDCWD, 1, 0, exit=4),
               cwd(601, '"/b"'), cwd(600, '"/a"'), path(600, 0, '"x"'), path(601, 0, '"y"'),
               proctitle(601, "b"), proctitle(600, "a"))
    assert [(a["serial"], a["path"], a["fd"]) for a in got] == [(601, "/b/y", 4), (600, "/a/x", 3)]


def test_without_proctitle_the_serial_window_completes_events(twin):
    pipeline = twin.Pipeline(window=2)
    first = pipeline.feed_log(log(syscall(700, 3, 5), syscall(701, 3, 6), syscall(702, 3, 7)))
    assert first == [] and pipeline.in_flight == 3
    later = pipeline.feed_log(log(syscall(703, 3, 8)))  # 700 is now more than 2 behind
    assert [a.fd for a in later] == [5]
    assert [a.fd for a in pipeline.flush()] == [6, 7, 8]
    assert pipeline.stats()["events"] == 4


def test_in_flight_cap_evicts_the_oldest(twin):
    pipeline = twin.Pipeline(max_in_flight=2, window=0)
    out = pipeline.feed_log(log(syscall(802, 3, 2), syscall(800, 3, 0), syscall(801, 3, 1)))
    assert [a.serial for a in out] == [800]
    assert (pipeline.evicted, pipeline.in_flight) == (1, 2)
    assert [a.serial for a in pipeline.flush()] == [801, 802]


def test_live_events_complete_on_eoe_or_time_out(twin):
    frames = lines_to_frames(log(syscall(900, 3, 5), syscall(901, 3, 6), record("EOE", 900, "")))
    pipeline = twin.Pipeline(timeout=2.0)
    assert [a.serial for a in pipeline.feed_frames(frames, now=100.0)] == [900]
    assert pipeline.expire(101.9) == [] and pipeline.in_flight == 1
    assert [a.serial for a in pipeline.expire(102.0)] == [901]


def test_stats_count_records_events_and_gaps(twin):
    pipeline = twin.Pipeline()
    pipeline.feed_log(log(record("CONFIG_CHANGE", 364, "op=set audit_pid=6719 res=1"),
                          syscall(365, 3, 5), proctitle(365, "x"), syscall(368, 44), proctitle(368, "x")))
    pipeline.flush()
    # CONFIG_CHANGE is one part of an event (its SYSCALL is missing here)
    assert pipeline.stats() == {"records": 5, "events": 3, "activities": 1, "malformed": 0,
                                "serial_gaps": 2, "evicted": 0, "in_flight": 0}


def test_flush_completes_in_serial_order(twin):
    pipeline = twin.Pipeline(window=0)
    pipeline.feed_log(log(syscall(12, 3, 2), syscall(10, 3, 0), syscall(11, 3, 1)))
    assert [a.serial for a in pipeline.flush()] == [10, 11, 12]


# -- chunks and frames ------------------------------------------------------------

@pytest.mark.parametrize("log_path", REAL_LOGS, ids=lambda p: p.stem)
def test_real_logs_cut_anywhere_give_the_same_activities(twin, log_path):
    data = log_path.read_bytes()
    whole = twin.Pipeline()
    want = [a.to_dict() for a in whole.feed_log(data, "x.log") + whole.flush()]
    assert want and whole.malformed == 0
    # Prime sizes cut lines everywhere relative to their start; single bytes on
    # the first lines (the pure twin re-joins a cut line per chunk).
    head = data[:data.index(b"\n", 6000) + 1]
    for size, text in ((997, data), (4093, data), (65537, data), (1, head)):
        pipeline = twin.Pipeline()
        got = []
        for start in range(0, len(text), size):
            got += pipeline.feed_log(text[start:start + size], "x.log")
        got += pipeline.flush()
        if text is data:
            assert [a.to_dict() for a in got] == want, f"chunks of {size} bytes"
        else:
            alone = twin.Pipeline()
            assert [a.to_dict() for a in got] == [
                a.to_dict() for a in alone.feed_log(text, "x.log") + alone.flush()]


def test_a_frame_keeps_its_trailing_nul_out_of_the_values(twin):
    line = syscall(950, 3, 5).removesuffix(' key="godo"')  # exe, quoted, ends the record
    body = (line[len("type=SYSCALL msg="):] + "\0").encode()
    frame = struct.pack("=IHHII", len(body) + 16, 1300, 0, 0, 0) + body
    pipeline = twin.Pipeline()
    pipeline.feed_frames(struct.pack("=I", len(frame)) + frame)
    (got,) = pipeline.flush()
    assert got.to_dict() == activity("close", 950, "close", fd=5)


# -- malformed input ---------------------------------------------------------------

BAD_LINES = [
    (b"garbage", "line does not start with type="),
    (b"type=SYSCALL", "no msg= after type="),
    (b"type=NOSUCH msg=audit(1.2:3): x", "unknown record type"),
    (b"type=SYSCALL mgs=audit(1.2:3): x", "no msg= after type="),
    (b"type=SYSCALL msg=adit(1.2:3): x", "no audit( stamp"),
    (b"type=SYSCALL msg=audit(1.2:3: x", "unterminated audit( stamp"),
    (b"type=SYSCALL msg=audit(1.2): x", "bad audit( stamp"),
    (b"type=SYSCALL msg=audit(+1.2:3): x", "bad audit( stamp"),
    (b"type=SYSCALL msg=audit(1" + b"9" * 400 + b".2:3): x", "bad audit( stamp"),
    (b"type=UNKNOWN[" + b"9" * 5000 + b"] msg=audit(1.2:3): x", "unknown record type"),
    (b"type=OPENAT2 msg=audit(1.2:3): oflag=0x100", "oflag is not octal"),
    # The stamp just read, cut short or run on: the compiled twin keeps the last one.
    (b"type=SYSCALL msg=audit(1.2:3)", "unterminated audit( stamp"),
    (b"type=SYSCALL msg=audit(1.2:33", "unterminated audit( stamp"),
    (b"type=SYSCALL msg=audit(1.2:3)x:", "unterminated audit( stamp"),
]


def test_malformed_lines_are_counted_where_they_are(twin):
    lines = [syscall(1000, 3, 5)] + [bad.decode("latin-1") for bad, _ in BAD_LINES] + [proctitle(1000, "x")]
    pipeline = twin.Pipeline()
    out = pipeline.feed_log("\n".join(lines).encode("latin-1") + b"\n", "audit.log.1") + pipeline.flush()
    assert [a.serial for a in out] == [1000]
    assert pipeline.malformed == len(BAD_LINES)
    assert pipeline.errors == [(f"audit.log.1:{n}", why) for n, (_, why) in enumerate(BAD_LINES, 2)]


def test_line_numbers_restart_with_a_new_source_and_count_blank_lines(twin):
    pipeline = twin.Pipeline()
    pipeline.feed_log(b"x\n\nx\n", "a.log")
    pipeline.feed_log(b"\nx\n", "b.log")
    pipeline.feed_log(b"x")
    pipeline.flush()
    assert [where for where, _ in pipeline.errors] == ["a.log:1", "a.log:3", "b.log:2", "log:1"]


def test_events_that_cannot_be_cooked_are_counted_by_serial(twin):
    pipeline = twin.Pipeline()
    out = pipeline.feed_log(log(
        syscall(1100, 3, 5).replace("arch=c000003e", "arch=zz"), proctitle(1100, "x"),
        syscall(1101, 3, 5).replace(" pid=6721", " pid=+6721"), proctitle(1101, "x"),
        syscall(1102, 3, 5).replace(" a2=0", ""), proctitle(1102, "x"),
        syscall(1103, 59), record("EXECVE", 1103, 'argc=1 a0="x" a1[x]="y"'), proctitle(1103, "x"),
        syscall(1104, 59), record("EXECVE", 1104, "argc=one"), proctitle(1104, "x"),
        syscall(1105, 3, 5).replace(" exit=0", " exit=99999999999999999999"), proctitle(1105, "x")))
    assert out == []
    assert pipeline.errors == [("event 1100", "cannot cook: arch is not hex"),
                               ("event 1101", "cannot cook: pid is not a number"),
                               ("event 1102", "cannot cook: no a2"),
                               ("event 1103", "cannot cook: bad EXECVE argument key"),
                               ("event 1104", "cannot cook: argc is not a number"),
                               ("event 1105", "cannot cook: exit is not a number")]


def test_errors_kept_are_bounded_but_all_are_counted(twin):
    pipeline = twin.Pipeline()
    pipeline.feed_log(b"bad\n" * 250)
    assert (pipeline.malformed, len(pipeline.errors)) == (250, _bounds.MAX_ERRORS_KEPT)


def test_a_line_too_long_is_dropped_as_it_comes(twin):
    pipeline = twin.Pipeline()
    big = b"type=SYSCALL msg=audit(1.2:3): " + b"x" * _bounds.MAX_LINE
    for start in range(0, len(big), 10000):
        pipeline.feed_log(big[start:start + 10000])
    out = pipeline.feed_log(b"\n" + log(syscall(1200, 3, 5), proctitle(1200, "x")))
    assert [a.serial for a in out] == [1200]
    assert pipeline.errors == [("log:1", "line too long")]


def test_an_event_over_the_byte_budget_is_refused_and_others_are_evicted(twin):
    lines = [syscall(1299, 3, 4), syscall(1300, 59), record("EXECVE", 1300, "argc=1 a0=" + "41" * 400)]
    cost = [len(line.split("): ", 1)[1]) + _bounds.RECORD_COST for line in lines]
    # Room for event 1300 with one EXECVE, not with two, nor beside event 1299.
    pipeline = twin.Pipeline(max_bytes=cost[1] + cost[2] + 10)
    out = pipeline.feed_log(log(*lines, lines[2]))
    assert [a.serial for a in out] == [1299] and pipeline.evicted == 1
    assert pipeline.errors == [("log:4", "event too large")]
    (exe,) = pipeline.flush()
    assert exe.argv == ["A" * 400]


def test_short_datagrams_are_counted_by_position(twin):
    pipeline = twin.Pipeline()
    frames = lines_to_frames(log(syscall(1400, 3, 5)))
    pipeline.feed_frames(struct.pack("=I", 3) + b"abc" + frames)
    assert pipeline.errors == [("netlink datagram 1", "short datagram")]
    assert [a.serial for a in pipeline.flush()] == [1400]


def test_settings_are_checked(twin):
    for bad in ({"window": -1}, {"max_in_flight": 0}, {"max_bytes": 0}):
        with pytest.raises(ValueError):
            twin.Pipeline(**bad)


# -- parse_record and Activity ------------------------------------------------------

def test_parse_record_types_fields(twin):
    line = syscall(370, 59, 0x7FF3ED943810, success="no", exit=-2, comm=hexed(b"a b"), items=1)
    got = twin.parse_record(line.encode() + b"\n")
    assert got["type"] == 1300 and got["ts"] == 1795768960.226 and got["serial"] == 370
    fields = got["fields"]
    assert (fields["arch"], fields["syscall"], fields["exit"], fields["a0"]) == (0xC000003E, 59, -2, 0x7FF3ED943810)
    assert (fields["success"], fields["comm"], fields["exe"], fields["tty"]) == ("no", "a b", "/usr/bin/dash", "(none)")
    assert fields["key"] == "godo"


def test_parse_record_of_a_netlink_body_and_execve_arguments(twin):
    got = twin.parse_record(b'audit(1.5:7): argc=2 a0="ls" a1=2D6C a1_len=4', 1309)
    assert got == {"type": 1309, "ts": 1.005, "serial": 7,
                   "fields": {"argc": 2, "a0": "ls", "a1": "-l", "a1_len": "4"}}


def test_parse_record_raises_for_a_malformed_record(twin):
    with pytest.raises(MalformedRecord, match="bad audit"):
        twin.parse_record(b"type=SYSCALL msg=audit(x): arch=c000003e")
    with pytest.raises(MalformedRecord, match="pid is not a number"):
        twin.parse_record(b"audit(1.2:3): pid=12a", 1300)


def test_activity_is_built_and_changed_like_the_contract_says(twin):
    act = twin.Activity("open", 1.5, 7, "openat", "i386", True, 3, 10, 1, 0, 0, "cat", None,
                        1000, 0, 0, 0, 2, None)
    act.path, act.fd = "/x", 3
    assert act.to_dict() == {"kind": "open", "ts": 1.5, "serial": 7, "syscall": "openat", "arch": "i386",
                             "success": True, "exit": 3, "pid": 10, "ppid": 1, "uid": 0, "auid": 0,
                             "comm": "cat", "euid": 1000, "suid": 0, "gid": 0, "egid": 0, "ses": 2,
                             "path": "/x", "fd": 3}
    assert repr(act).startswith("Activity({'kind': 'open'")


# -- the two twins agree on anything ----------------------------------------------------

def _both():
    if twins.NO_EXTENSIONS:
        pytest.skip("GODO_NO_EXTENSIONS is set: there is no compiled twin to compare")
    from godo.hotpath import _hotpath_c
    return _hotpath_c, _hotpath_py


def _run(module, chunks, frames=False, **settings):
    """Everything a pipeline says about its input, fed in the given chunks."""
    pipeline = module.Pipeline(**settings)
    out = []
    for chunk in chunks:
        out += pipeline.feed_frames(chunk, 5.0) if frames else pipeline.feed_log(chunk, "f")
        assert pipeline.in_flight <= pipeline.max_in_flight
    out += pipeline.expire(6.0) if frames else []
    out += pipeline.flush()
    return [a.to_dict() for a in out], pipeline.stats(), pipeline.errors


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


REAL_LINES = [line for p in REAL_LOGS for line in p.read_bytes().splitlines(keepends=True)]
_NUMBERS = ["56", "57", "59", "2", "257", "437", "85", "1", "3", "436", "32", "292", "72", "155",
            "80", "82", "316", "87", "263", "62", "234", "221", "94", "231", "60", "0", "-1", "99999",
            "5", "8", "11", "295", "120", "252"]
_VALUES = st.one_of(
    st.sampled_from(["(null)", '""', '"', '"a b', "ffffff9c", "0", "-2", "7fff", "2F746D70", "2F7",
                     '"/tmp/x"', '"rel/../a"', '"//x/./y/"', "yes", "no", "PARENT", "CREATE",
                     "DELETE", "UNKNOWN", "NORMAL", "0100", "0x10", "c000003e", "c00000b7",
                     "2F 74", "2F\t74\r", "2F\x0b", " 2F", "2F7 4", "40000003", "pts0", "(none)",
                     '"root"', "x86_64"]),
    st.sampled_from(_NUMBERS),
    st.binary(max_size=12).map(lambda b: b.hex().upper()),
    st.text(alphabet="0123456789abcdefxAF-+_ \"/.=\t\r\x0b\x0c\x1c\x1d\x00\xff", max_size=10),
)
_KEYS = st.sampled_from([
    "arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3", "pid", "ppid", "uid", "auid",
    "comm", "exe", "euid", "suid", "gid", "egid", "ses", "tty", "UID", "AUID", "SYSCALL", "ARCH", "name", "nametype", "cwd", "argc", "a0_len", "a0[0]", "a0[1]", "a1[0]", "a9",
    "proctitle", "oflag", "item", "key", "=", "a", "a[1]", "a1[", "a-1", "a1_0",
])
_TYPES = st.sampled_from(["SYSCALL", "PATH", "CWD", "EXECVE", "PROCTITLE", "EOE", "OPENAT2",
                          "BPRM_FCAPS", "CONFIG_CHANGE", "UNKNOWN[1400]", "UNKNOWN[99]", "USER", "BOGUS"])


@st.composite
def _records_text(draw) -> bytes:
    """Lines in the audit.log grammar, with every part sometimes wrong."""
    lines = []
    for _ in range(draw(st.integers(0, 25))):
        serial = draw(st.sampled_from(["1", "2", "3", "2", "70", "x", "-1", "1" * 16]))
        stamp = draw(st.sampled_from(["1.2", "17.999", "1.", ".5", "1.2.3", "9" * 16 + ".1"]))
        tokens = []
        for _ in range(draw(st.integers(0, 8))):
            tokens.append(f"{draw(_KEYS)}={draw(_VALUES)}")
        sep = draw(st.sampled_from([" ", " ", "  ", "\t", "\r", "\x0b", "\x0c", "\x1f", " \x1d "]))
        node = draw(st.sampled_from(["", "", "node=web1 ", "node= ", "node=x", "node=a b "]))
        line = f"{node}type={draw(_TYPES)} msg=audit({stamp}:{serial}): {sep.join(tokens)}"
        if draw(st.booleans()):
            line = line[:draw(st.integers(0, len(line)))]
        lines.append(line.encode("utf-8", "surrogateescape"))
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


@st.composite
def _mutated_real(draw) -> bytes:
    """Real captured lines with a few bytes changed, dropped or inserted."""
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=12))))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        what = draw(st.sampled_from(["flip", "drop", "insert"]))
        if what == "flip" and at < len(data):
            data[at] = draw(st.sampled_from(b" =\"\n\t\x1d()0:.9aZ\xff\x00"))
        elif what == "drop":
            del data[at:at + draw(st.integers(1, 40))]
        else:
            data[at:at] = draw(st.binary(max_size=8))
    return bytes(data)


_INPUTS = st.one_of(st.binary(max_size=400), _records_text(), _mutated_real())
# GODO_FUZZ_EXAMPLES raises it for a long run (a nightly job, or after changing a parser).
_DIFF = settings(max_examples=int(os.environ.get("GODO_FUZZ_EXAMPLES", "300")), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_DIFF
@given(data=_INPUTS, cuts=st.lists(st.integers(0, 10 ** 6), max_size=6),
       window=st.sampled_from([0, 1, 64]), max_in_flight=st.sampled_from([1, 3, 4096]),
       max_bytes=st.sampled_from([300, 5000, _bounds.MAX_BYTES]))
@example(data=b"type=EXECVE msg=audit(1.2:3): argc=1 a0_len=2 a0[0]=(null)\n", cuts=[],
         window=64, max_in_flight=4096, max_bytes=_bounds.MAX_BYTES)
def test_twins_agree_on_log_text(data, cuts, window, max_in_flight, max_bytes):
    compiled, pure = _both()
    chunks = _split(data, cuts)
    settings_ = {"window": window, "max_in_flight": max_in_flight, "max_bytes": max_bytes}
    got = _run(compiled, chunks, **settings_)
    assert got == _run(pure, chunks, **settings_)
    assert got == _run(compiled, [data], **settings_), "chunking changes nothing"


def _any_frames(data: bytes) -> bytes:
    """Each line as one datagram, whatever it holds (lines_to_frames wants real
    type names): the type from `type=NAME` where there is one, the body after
    `msg=` where there is one."""
    out = bytearray()
    for line in data.split(b"\n"):
        name, _, rest = line.partition(b" ")
        rtype = _records.type_number(name[5:]) if name.startswith(b"type=") else -1
        body = rest[4:] if rest.startswith(b"msg=") else line
        frame = struct.pack("=IHHII", 16 + len(body), rtype & 0xFFFF, 0, 0, 0) + body
        out += struct.pack("=I", len(frame)) + frame
    return bytes(out)


@_DIFF
@given(data=_INPUTS, cuts=st.lists(st.integers(0, 10 ** 6), max_size=3),
       junk=st.lists(st.tuples(st.integers(0, 64), st.binary(max_size=20)), max_size=3))
def test_twins_agree_on_netlink_frames(data, cuts, junk):
    compiled, pure = _both()
    frames = bytearray(_any_frames(data))
    for size, raw in junk:  # datagrams whose size lies, short ones, trailing bytes
        frames += struct.pack("=I", size) + raw
    chunks = [bytes(frames)] + _split(bytes(frames), cuts)[:1]
    assert _run(compiled, chunks, frames=True) == _run(pure, chunks, frames=True)


@_DIFF
@given(line=st.one_of(st.sampled_from(REAL_LINES), _records_text(), st.binary(max_size=200)),
       rtype=st.sampled_from([None, 1300, 1302, 1309, 1327]))
def test_twins_agree_on_parse_record(line, rtype):
    compiled, pure = _both()

    def parsed(module):
        try:
            return module.parse_record(line, rtype)
        except MalformedRecord as exc:
            return ("malformed", str(exc))
        except (ValueError, TypeError) as exc:  # neither may fail any other way
            pytest.fail(f"{module.__name__}.parse_record raised {exc!r}")

    assert parsed(compiled) == parsed(pure)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="/.a\x00é", max_size=30))
@example("//")
@example("/..")
@example("a/../..")
@example("./..")
def test_compiled_normalise_is_posix_normpath(path):
    compiled, pure = _both()
    assert compiled._normalise(path) == _parse_py.normalise(path)
    if path.startswith("/") and ("/." in path or "//" in path or path.endswith("/")):
        assert compiled._normalise(path) == "/" + posixpath.normpath(path).lstrip("/")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(serials=st.lists(st.integers(1, 10 ** 6), min_size=1, max_size=300))
def test_in_flight_memory_is_bounded(serials):
    # Events that never complete: the cap, the window and the byte budget hold them.
    for module in _both():
        pipeline = module.Pipeline(max_in_flight=8, window=0, max_bytes=3000)
        for serial in serials:
            pipeline.feed_log(log(cwd(serial, '"' + "d" * 200 + '"')))
            assert pipeline.in_flight <= 8
        pipeline.flush()
        assert pipeline.in_flight == 0


# -- the receiver ------------------------------------------------------------------------

@pytest.fixture
def datagrams():
    """A connected SOCK_DGRAM pair: the receiver reads `b`; the test sends on `a`."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield a, b
    a.close()
    b.close()


def _unpack(batch: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(batch):
        (size,) = struct.unpack_from("=I", batch, off)
        out.append(batch[off + 4:off + 4 + size])
        off += 4 + size
    return out


def test_receiver_packs_datagrams_as_received(twin, datagrams):
    a, b = datagrams
    sent = [b"audit(1.2:3): x=1", b"", b"no nul and \x00 inside", bytes(range(256)) * 30]
    for d in sent:
        a.send(d)
    receiver = twin.Receiver(b.fileno(), 64)
    try:
        assert _unpack(receiver.receive(1000)) == sent
        assert (receiver.calls, receiver.datagrams) == (1, 4)
        assert receiver.receive(0) == b""  # nothing left: no wait, no call counted
        assert receiver.calls == 1
    finally:
        receiver.detach()
    assert b.fileno() >= 0  # detach let go without closing it


def test_receiver_takes_at_most_its_slots(twin, datagrams):
    a, b = datagrams
    for i in range(5):
        a.send(b"%d" % i)
    receiver = twin.Receiver(b.fileno(), 2)
    try:
        assert _unpack(receiver.receive(1000)) == [b"0", b"1"]
        assert _unpack(receiver.receive(1000)) == [b"2", b"3"]
        assert _unpack(receiver.receive(1000)) == [b"4"]
    finally:
        receiver.detach()


def test_receiver_times_out_with_nothing(twin, datagrams):
    receiver = twin.Receiver(datagrams[1].fileno())
    try:
        started = time.monotonic()
        assert receiver.receive(50) == b""
        assert time.monotonic() - started >= 0.04
    finally:
        receiver.detach()


def test_a_signal_during_the_wait_raises_nothing_and_loses_nothing(twin, datagrams):
    a, b = datagrams
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    receiver = twin.Receiver(b.fileno())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        deadline = time.monotonic() + 5
        while not fired and time.monotonic() < deadline:
            assert receiver.receive(200) == b""
        assert fired, "the alarm went off during a wait"
        if twin.name == "compiled":
            assert receiver.interrupted == 1  # Python's poll retries EINTR unseen
        a.send(b"after")
        assert _unpack(receiver.receive(1000)) == [b"after"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        receiver.detach()


def test_receiver_releases_the_gil_while_it_waits(twin, datagrams):
    import threading

    receiver = twin.Receiver(datagrams[1].fileno())
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        receiver.receive(300)
    finally:
        stop.set()
        thread.join()
        receiver.detach()
    assert len(ticks) > 20


def test_receiver_feeds_the_pipeline(twin, datagrams):
    a, b = datagrams
    frames = lines_to_frames(log(syscall(1500, 3, 5), record("EOE", 1500, "")))
    off = 0
    while off < len(frames):  # each frame its own datagram, as the kernel sends them
        (size,) = struct.unpack_from("=I", frames, off)
        a.send(frames[off + 4:off + 4 + size])
        off += 4 + size
    receiver = twin.Receiver(b.fileno())
    try:
        batch = receiver.receive(1000)
    finally:
        receiver.detach()
    assert [a.serial for a in twin.Pipeline().feed_frames(batch)] == [1500]


def test_receiver_reports_a_bad_descriptor(twin):
    r, w = os.pipe()
    os.close(w)
    os.close(r)
    with pytest.raises(OSError):
        twin.Receiver(r).receive(10)

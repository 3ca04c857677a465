"""Golden fixtures: records captured from the live kernel (tests/data/NAME.log,
by tests/support/capture.py) beside the reviewed cooked result
(NAME.expected.jsonl), one case per file, every case through both twins; then what
each fixture is for, asserted on its own (NAME.md says how it was captured and
what was checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import orjson
import pytest

from support.capture import DocStore, replay_in_process
from support.frames import lines_to_frames
from support.paths import DATA

LOGS = sorted(DATA.glob("*.log"))

# Lines of an expected file that hold the answer read from the raw records where
# godo today gives another: (fixture, serial) -> {field: why godo is wrong}. The
# golden test checks that godo still differs there and nowhere else, so a fix
# fails it until its entry goes (as a strict xfail would, without hiding the
# fixture's other lines).
KNOWN_BUGS: dict = {}


def _ids(paths):
    return [p.name.removesuffix(".log") for p in paths]


def expected(name: str) -> list[dict]:
    return [orjson.loads(line) for line in (DATA / f"{name}.expected.jsonl").read_bytes().splitlines()]


def _compare(name: str, got: list[dict]) -> None:
    want = expected(name)
    assert [a["serial"] for a in got] == [a["serial"] for a in want], "the same events, in order"
    got = [dict(a) for a in got]
    for (fixture, serial), fields in KNOWN_BUGS.items():
        if fixture != name:
            continue
        index = next(i for i, a in enumerate(want) if a["serial"] == serial)
        for field in fields:
            assert got[index].get(field) != want[index].get(field), (
                f"{name} serial {serial} {field} is right now: remove it from KNOWN_BUGS")
            got[index][field] = want[index][field]
    for g, w in zip(got, want):
        assert g == w, f"{name} serial {w['serial']}"


@pytest.mark.parametrize("log", LOGS, ids=_ids(LOGS))
def test_replay_gives_the_expected_activities(twin, log):
    _compare(log.name.removesuffix(".log"), replay_in_process(twin, log))


@pytest.mark.parametrize("log", LOGS, ids=_ids(LOGS))
def test_godo_replay_jsonl_prints_the_expected_activities(twin, log):
    """The command line, as a user runs it, with the twin the environment selects."""
    env = {k: v for k, v in os.environ.items() if k != "GODO_NO_EXTENSIONS"}
    if twin.name == "pure":
        env["GODO_NO_EXTENSIONS"] = "1"
    godo = [sys.executable, "-m", "godo"]
    mode = subprocess.run(godo + ["--version"], env=env, capture_output=True, text=True).stdout
    assert ("accelerated" if twin.name == "compiled" else "pure-python") in mode
    result = subprocess.run(godo + ["replay", "--jsonl", str(log)], env=env, capture_output=True,
                            timeout=120)
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    _compare(log.name.removesuffix(".log"), [orjson.loads(line) for line in result.stdout.splitlines()])


@pytest.mark.parametrize("log", LOGS, ids=_ids(LOGS))
def test_netlink_frames_and_log_lines_give_the_same_result(twin, log):
    data = log.read_bytes()
    for line in data.splitlines():
        frame = lines_to_frames(line)
        rtype = frame[8] | frame[9] << 8
        assert twin.parse_record(frame[4 + 16:], rtype) == twin.parse_record(line), line[:120]
    from_log, from_frames = twin.Pipeline(), twin.Pipeline()
    via_log = from_log.feed_log(data, log.name) + from_log.flush()
    via_frames = from_frames.feed_frames(lines_to_frames(data), 0.0) + from_frames.flush()
    assert via_log and [a.to_dict() for a in via_frames] == [a.to_dict() for a in via_log]
    assert from_frames.stats() == from_log.stats()


def test_every_fixture_is_complete():
    """Each log has its reviewed expected result and its capture note."""
    for log in LOGS:
        name = log.name.removesuffix(".log")
        assert (DATA / f"{name}.expected.jsonl").is_file(), name
        note = (DATA / f"{name}.md").read_text()
        assert "## Review" in note and "TODO" not in note, f"{name}.md: not reviewed"


# -- what each fixture is for ---------------------------------------------------------

def _records(name: str, rtype: bytes) -> list[bytes]:
    return [line for line in (DATA / f"{name}.log").read_bytes().splitlines()
            if line.startswith(b"type=" + rtype + b" ")]


def _execs(activities) -> list[dict]:
    return [a for a in activities if a["kind"] == "exec" and a["success"]]


def _one_exec_argv(twin, name: str) -> tuple[list[str], dict]:
    activities = replay_in_process(twin, DATA / f"{name}.log")
    (exec_,) = [a for a in _execs(activities) if a["argv"][0] == "/bin/true"]
    return exec_["argv"], exec_


def test_split_arguments_are_joined(twin):
    argv, exec_ = _one_exec_argv(twin, "split_args")
    assert argv == ["/bin/true", "x" * 25000, "sp ace " * 3000, "short"]
    assert "argc" not in exec_, "the kernel's argc agrees"
    # What the fixture is for: the kernel split them, over several records.
    records = _records("split_args", b"EXECVE")
    assert len(records) > 2
    text = b" ".join(records)
    assert b" a1_len=50000 " in text and b" a2_len=42000 " in text
    assert b" a1[6]=" in text and b" a2[6]=" in text


def test_five_thousand_arguments(twin):
    argv, exec_ = _one_exec_argv(twin, "many_args")
    want = ["/bin/true"] + [f"with space {i:04d}" if i % 500 == 0 else f"arg{i:04d}"
                            for i in range(1, 5000)]
    assert len(argv) == 5000 and argv == want
    assert "argc" not in exec_
    records = _records("many_args", b"EXECVE")
    assert len(records) > 2 and b"): argc=5000 a0=" in records[0]


# The names tests/programs/weirdnames.c creates, as bytes.
WEIRD_NAMES = [b"new\nline", b'double"quote', b"with space", b"tab\there", b"bad\xff\xfeutf8",
               b"caf\xc3\xa9", b"back\\slash", b"plain_name"]


def test_weird_file_names_decode_to_their_bytes(twin):
    store = DocStore()
    activities = replay_in_process(twin, DATA / "weird_names.log", store)
    (exec_,) = _execs(activities)
    base = exec_["cwd"].encode() + b"/odd dir/"
    opens = [a for a in activities if a["kind"] == "open" and a["path"].startswith(base.decode())]
    created = [a for a in opens if a["flags"] & 0o100]
    assert [a["path"] for a in created] == [(base + n).decode("utf-8", "backslashreplace")
                                           for n in WEIRD_NAMES]
    assert created[4]["path"].endswith("bad\\xff\\xfeutf8") and created[5]["path"].endswith("café")
    # The record held them hex-encoded (all but the two the kernel quotes).
    names = b" ".join(_records("weird_names", b"PATH"))
    for name in WEIRD_NAMES[:6]:
        assert b"name=" + name.hex().upper().encode() + b" " in names
    assert b'name="back\\slash" ' in names and b'name="plain_name" ' in names
    # Each was written through its own fd: the tracker files the write under it.
    files = {doc["path"]: doc for doc in store.docs("files") if doc["access"] == "w"}
    for name in WEIRD_NAMES:
        doc = files[(base + name).decode("utf-8", "backslashreplace")]
        assert doc["writes"] == 1 and doc["bytes"] == len(name) and doc["status"] == "closed"
    reopened = [a for a in opens if not a["flags"] & 0o100]
    assert [a["path"] for a in reopened] == [(base + WEIRD_NAMES[0]).decode()], "absolute name"


def test_dirfd_relative_opens_resolve_to_absolute_paths(twin):
    store = DocStore()
    activities = replay_in_process(twin, DATA / "dirfd.log", store)
    (exec_,) = _execs(activities)
    target = exec_["cwd"] + "/target"
    # The cooked activities keep the names as the records give them, beside the fd
    # they are relative to: only the tracker knows where that fd points.
    relative = [a for a in activities if a["kind"] == "open" and a.get("dirfd") is not None]
    assert [(a["path"], a["dirfd"], a["success"]) for a in relative] == [
        ("plain.txt", 3, True), ("sub/nested.txt", 3, True), ("sub", 3, True),
        ("deeper.txt", 4, True), ("missing/file", 3, False)]
    # The tracker files them under fd 3's and fd 4's paths (two levels of fd table).
    opened = {(d["fd"], d["path"]) for d in store.docs("files") if d["pid"] == exec_["pid"]}
    assert {(3, target), (4, f"{target}/sub")} <= opened, "the directories the names are under"
    assert {path for _fd, path in opened} >= {f"{target}/plain.txt", f"{target}/sub/nested.txt",
                                               f"{target}/sub/deeper.txt"}
    # The records name them relative to the dirfd while the cwd is "/": a path
    # joined with the CWD record would be wrong, so these came from the fd table.
    serials = {str(a["serial"]).encode() for a in relative}
    for line in _records("dirfd", b"CWD"):
        if re.search(rb":(\d+)\)", line).group(1) in serials:
            assert line.endswith(b'cwd="/"')
    absolute = [a for a in activities if a["kind"] == "open" and a["path"] == "/dev/null"]
    assert len(absolute) == 1 and "dirfd" not in absolute[0], "an absolute name ignores the dirfd"


def test_dup2_redirections_land_on_the_files(twin):
    store = DocStore()
    activities = replay_in_process(twin, DATA / "dup_redirect.log", store)
    shell = _execs(activities)[0]
    work = shell["cwd"]
    pids = {a["argv"][0].rsplit("/", 1)[-1]: a["pid"] for a in _execs(activities)}
    files = {}
    for doc in store.docs("files"):
        files.setdefault(doc["path"], []).append(doc)
    (fd3,) = files[f"{work}/fd3.txt"]
    assert (fd3["fd"], fd3["writes"], fd3["bytes"], fd3["pid"]) == (3, 1, 5, pids["sh"])
    (out, read_back) = sorted(files[f"{work}/out.txt"], key=lambda d: d["opened"])
    assert (out["writes"], out["bytes"], out["pid"]) == (1, 7, pids["sh"])
    assert (read_back["pid"], read_back["access"], read_back["writes"]) == (pids["cat"], "r", 0)
    created, appended = sorted(files[f"{work}/child.txt"], key=lambda d: d["opened"])
    # Opened by the shell, dup2'd onto fd 1, inherited over vfork and exec: echo writes it.
    assert (created["pid"], created["writes"], created["bytes"]) == (pids["sh"], 1, 6)
    assert created["writers"] == [pids["echo"]] and created["truncated"] is True
    assert (appended["flags"] & 0o2000, appended["writes"], appended["bytes"]) == (0o2000, 1, 7)
    assert appended["writers"] == [pids["cat"]]


def test_thread_activities_belong_to_the_process(twin):
    store = DocStore()
    activities = replay_in_process(twin, DATA / "threads.log", store)
    (exec_,) = _execs(activities)
    pid = exec_["pid"]
    after_exec = activities[activities.index(exec_):]
    assert {a["pid"] for a in after_exec} == {pid}, "the kernel reports a thread as its process"
    spawns = [a for a in after_exec if a["kind"] == "spawn"]
    assert len(spawns) == 3 and all(a["syscall"] == "clone3" for a in spawns)
    written = sorted(d["path"].rsplit("/", 1)[-1] for d in store.docs("files") if d["writes"])
    assert written == ["thread-0.txt", "thread-1.txt", "thread-2.txt"]
    assert {d["pid"] for d in store.docs("files") if d["writes"]} == {pid}
    procs = [d for d in store.docs("processes") if d["pid"] == pid]
    assert len(procs) == 1 and procs[0]["status"] == "exited" and procs[0]["exit_code"] == 0
    assert [d["pid"] for d in store.docs("processes")] == [pid], "threads are no processes"


# -- the container -----------------------------------------------------------------------

def _container(twin):
    store = DocStore()
    activities = replay_in_process(twin, DATA / "container.log", store)
    shim = _execs(activities)[0]
    assert shim["exe"].endswith("/containerd-shim-runc-v2")
    cid = shim["argv"][shim["argv"].index("-id") + 1]
    rootfs = next(a for a in _execs(activities) if a["argv"][0] == "unshare")["argv"][-1]
    return activities, store, shim, cid, rootfs


def test_container_is_attributed_to_the_shim_id(twin):
    activities, store, shim, cid, _rootfs = _container(twin)
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    (box,) = store.docs("containers")
    assert box["id"] == cid
    real = {a["pid"] for a in activities}
    procs = {d["pid"]: d for d in store.docs("processes") if d["pid"] in real}
    assert {d["container"] for d in procs.values()} == {cid}
    # The shim and what ran before the pivot (the bind mount) are the runtime's
    # plumbing; the process that entered the root, and all it started, the workload.
    runtime = {d["argv"][0].rsplit("/", 1)[-1] for d in procs.values() if d["runtime"]}
    assert runtime == {"containerd-shim-runc-v2", "mount"}
    inside = {pid for pid, d in procs.items() if not d["runtime"]}
    assert len(inside) == 9
    pivot = next(a for a in activities if a["kind"] == "pivot_root")
    assert pivot["success"] and pivot["pid"] in inside
    unshare = next(a for a in _execs(activities) if a["argv"][0] == "unshare")
    assert (box["init_pid"], box["status"], box["exit_code"]) == (unshare["pid"], "exited", 0)
    ops = [op for d in procs.values() for op in d["fs_ops"]]
    assert [(op["op"], op["path"], op.get("new_path")) for op in ops if op["path"].startswith("/data")] \
        == [("rename", "/data/a.txt", "/data/b.txt"), ("unlink", "/data/b.txt", None)]
    # What busybox sh wrote itself, through fd 1 dup2'd onto the file (paths as the
    # container sees them).
    written = sorted((d["path"], d["bytes"], d["container"]) for d in store.docs("files") if d["writes"])
    assert [w for w in written if w[0] != "/data/listing.txt"] == [
        ("/data/a.txt", 5, cid), ("/data/a.txt", 6, cid), ("/data/id.txt", 65, cid),
        ("/data/sub/d.txt", 7, cid)]


def test_container_rootfs_is_the_host_path_of_its_root(twin):
    activities, store, _shim, _cid, rootfs = _container(twin)
    (box,) = store.docs("containers")
    assert box["rootfs"] == rootfs


def test_container_processes_are_the_ones_that_ran(twin):
    activities, store, _shim, _cid, _rootfs = _container(twin)
    real = {a["pid"] for a in activities}
    assert {d["pid"] for d in store.docs("processes")} <= real
    (box,) = store.docs("containers")
    assert (box["processes"], box["runtime_processes"]) == (9, 2)
    # The phantoms hold a copy of the shell's fds and never end, so the files they
    # share are never written out: c.txt (cat > c.txt) and listing.txt (ls > ...).
    paths = {d["path"] for d in store.docs("files")}
    assert {"/data/c.txt", "/data/listing.txt"} <= paths


def test_container_files_have_host_paths(twin):
    _activities, store, _shim, _cid, rootfs = _container(twin)
    data = [d for d in store.docs("files") if (d["path"] or "").startswith("/data/")]
    assert data and all(d["host_path"] == rootfs + d["path"] for d in data)

"""Capture a golden fixture from the live kernel (run as root, from the repo root):

    python -m tests.support.capture NAME [--filter SYSCALLS] [--note TEXT] -- CMD ARGS...
    python -m tests.support.capture NAME --container

records CMD's process subtree with `godo record --store null --raw-log` and writes

- `tests/data/NAME.log`: every record of the run, audit.log RAW format (or, with
  `--filter`, every record of the events whose syscall is in the list, and no other);
- `tests/data/NAME.expected.jsonl`: `godo replay --jsonl NAME.log` with the pure
  twin (GODO_NO_EXTENSIONS=1);
- `tests/data/NAME.md`: how it was captured (command, kernel, filter), for the
  reviewer, who reads the expected result against the raw records, writes down
  what was checked, and only then commits.

CMD runs in a fresh work directory, `/tmp/godo-capture/NAME`, with the programs of
tests/programs/ compiled into `/tmp/godo-capture/bin` and put first on PATH; its
first word is resolved to an absolute path before godo execs it, so the fixture
starts with one execve rather than a PATH walk. Fixed paths keep a fixture's paths
the same from one capture to the next. `--container` runs the busybox container of
tests/support/containers.py (a fixed container id) instead of CMD.

The kernel's audit is shared: the capture holds /run/lock/godo-live.lock (unless a
parent already does, `flock /run/lock/godo-live.lock python -m tests.support.capture
...`) and fails if the audit state afterwards is not what it was before.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from godo.store.base import NullStore, document_of

# Imported as tests.support.capture by `python -m`, as support.capture by the tests.
from . import containers
from .live import LIVE_LOCK, audit_snapshot
from .paths import DATA, PROGRAMS

CAPTURE_ROOT = Path("/tmp/godo-capture")
GODO = [sys.executable, "-m", "godo"]
# The fixture container's id: fixed, so recaptures differ only where the kernel does.
FIXTURE_CONTAINER_ID = "60d0" * 16
_LINK_FLAGS = {"threads": ["-pthread"], "auparse_oracle": ["-lauparse"]}
_SYSCALL_NUMBER = re.compile(rb" syscall=(\d+) ")
_SERIAL = re.compile(rb"msg=audit\(\d+\.\d+:(\d+)\)")
_LARGE = 256 * 1024


# -- programs -------------------------------------------------------------------------

def compile_program(name: str, out_dir: Path) -> Path:
    """tests/programs/NAME.c -> out_dir/NAME, with gcc (binaries are never committed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / name
    source = PROGRAMS / f"{name}.c"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(source),
                    *_LINK_FLAGS.get(name, [])], check=True)
    return out


def compile_programs(out_dir: Path) -> Path:
    """Every workload program (not the oracle, which needs libauparse) into out_dir."""
    for source in sorted(PROGRAMS.glob("*.c")):
        if source.stem != "auparse_oracle":
            compile_program(source.stem, out_dir)
    return out_dir


# -- the live lock and the kernel's state -----------------------------------------------

@contextlib.contextmanager
def live_lock():
    """Exclusive use of the kernel's audit subsystem, as the live_audit fixture takes it.
    A lock already held by one of our ancestors (`flock LOCK python -m
    tests.support.capture`) is ours: taking it again on a new open file would wait
    for ever."""
    Path(LIVE_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with open(LIVE_LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _ancestor_holds(lock.fileno()):
                print("capture: waiting for the live lock", LIVE_LOCK, file=sys.stderr)
                fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ancestor_holds(fd: int) -> bool:
    inode = os.fstat(fd).st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        cols = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
        if len(cols) >= 6 and cols[1] == "FLOCK" and cols[5].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(cols[4]))
    pid = os.getppid()
    while pid > 1:
        if pid in holders:
            return True
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        pid = int(stat[stat.rindex(b")") + 2:].split()[1])
    return False


def godo_rules() -> list[str]:
    """Rules carrying godo's key now in the kernel (there must be none after a run)."""
    from godo.source import audit as A
    with A.AuditControl() as control:
        return [repr(rule) for rule, _raw in control.list_rules() if A.GODO_KEY in rule.keys]


# -- recording and replaying ---------------------------------------------------------------

def record(cmd: list[str], raw_log: Path, *, cwd: Path, path_prefix: Path | None = None,
           extra_env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`godo record --store null --raw-log RAW -- CMD` in `cwd`; the caller holds the
    live lock. Returns the finished godo process (its stderr has the summary)."""
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory(prefix="godo-capture-data-") as data_dir:
        # A private data dir: the run's state file is nobody else's business.
        env["GODO_DATA_DIR"] = data_dir
        return subprocess.run(GODO + ["record", "--store", "null", "--raw-log", str(raw_log), "--",
                                      *cmd], cwd=cwd, env=env, capture_output=True,
                              timeout=timeout)


def replay_jsonl(log: Path, *, pure: bool = True) -> bytes:
    """`godo replay --jsonl LOG`: the cooked events, with the pure twin unless told."""
    env = {k: v for k, v in os.environ.items() if k != "GODO_NO_EXTENSIONS"}
    if pure:
        env["GODO_NO_EXTENSIONS"] = "1"
    result = subprocess.run(GODO + ["replay", "--jsonl", str(log)], env=env, capture_output=True,
                            timeout=120)
    if result.returncode != 0 or result.stderr:
        raise RuntimeError(f"godo replay failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace')}")
    return result.stdout


class DocStore(NullStore):
    """A store that keeps the last version of every document, for assertions."""

    def __init__(self):
        super().__init__("golden")
        self.latest: dict[tuple[str, str], dict] = {}

    def write(self, mutations, *, dense: bool = False):
        super().write(mutations, dense=dense)
        for collection, doc in mutations:
            doc = document_of(doc)  # as a database store makes it when it encodes
            self.latest[(collection, doc["_id"])] = doc

    def docs(self, collection: str) -> list[dict]:
        return [doc for (name, _id), doc in self.latest.items() if name == collection]


def replay_in_process(twin, log: Path, store=None) -> list[dict]:
    """`godo replay --jsonl LOG` in this process with one twin (its Pipeline and
    Tracker): the activities it prints, as JSON objects, through a tracker of every
    process whose documents go to `store`."""
    import orjson
    from godo.run.wiring import Run
    from godo.source.logfile import LogSource
    from godo.tracker import Scope
    out: list = []
    run = Run(DocStore() if store is None else store, "replay", Scope("host"), command=[str(log)],
              host="golden", boot="golden-boot", twin=twin, on_activities=out.extend)
    for chunk in LogSource(str(log)).chunks():
        run.feed_log(chunk, log.name)
    run.finish()
    if run.pipeline.malformed:
        raise AssertionError(f"{log.name}: malformed records: {run.pipeline.errors}")
    return [orjson.loads(orjson.dumps(a.to_dict())) for a in out]


def kernel_lost(summary: str) -> int | None:
    """The `kernel lost N` of godo's summary (None when it could not tell)."""
    found = re.search(r"kernel lost (\d+)", summary)
    return int(found.group(1)) if found else None


def filter_events(log: bytes, syscalls: set[int]) -> bytes:
    """Only the events whose SYSCALL record names one of `syscalls`, each with every
    one of its records (PATH, CWD, EXECVE, PROCTITLE ...), in the log's order."""
    wanted = set()
    for line in log.splitlines():
        if line.startswith(b"type=SYSCALL "):
            number = _SYSCALL_NUMBER.search(line)
            if number and int(number.group(1)) in syscalls:
                wanted.add(_SERIAL.search(line).group(1))
    out = []
    for line in log.splitlines(keepends=True):
        serial = _SERIAL.search(line)
        if serial and serial.group(1) in wanted:
            out.append(line)
    return b"".join(out)


def syscall_numbers(names: str) -> set[int]:
    from godo.vocab import syscalls as S
    from godo.source.rules import native_arch
    table = {name: nr for nr, (name, _code) in S.table(native_arch()).items()}
    unknown = [n for n in names.split(",") if n not in table]
    if unknown:
        raise SystemExit(f"capture: syscalls godo does not cook: {', '.join(unknown)}")
    return {table[n] for n in names.split(",")}


# -- the command line -----------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.capture", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the fixture's name: tests/data/NAME.*")
    parser.add_argument("--filter", metavar="SYSCALLS",
                        help="keep only the events of these syscalls (comma-separated names)")
    parser.add_argument("--container", action="store_true",
                        help="capture one run of the tests/support/containers.py container")
    parser.add_argument("--note", default="", help="what the fixture is for, for NAME.md")
    parser.add_argument("--shown", metavar="TEXT",
                        help="the command as NAME.md shows it (e.g. the shell that generated it)")
    parser.add_argument("--allow-failure", action="store_true",
                        help="keep the capture even when the command exits non-zero")
    parser.usage = "%(prog)s NAME [options] (-- CMD ARGS... | --container)"
    argv = sys.argv[1:] if argv is None else argv
    # Everything after the first `--` is the command, options included.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    cmd = given = argv[split + 1:]
    if not re.fullmatch(r"[a-z0-9_]+", args.name):
        parser.error("NAME is lowercase letters, digits and _")
    if bool(cmd) == args.container:
        parser.error("give either -- CMD ARGS... or --container")
    if os.geteuid() != 0:
        parser.error("live capture needs root")

    bin_dir = compile_programs(CAPTURE_ROOT / "bin")
    work = CAPTURE_ROOT / args.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if args.container:
        box = containers.build(work / "box", FIXTURE_CONTAINER_ID)
        cmd = box.argv
    else:
        found = shutil.which(cmd[0], path=f"{bin_dir}:{os.environ.get('PATH', '')}")
        if found is None:
            parser.error(f"command not found: {cmd[0]}")
        cmd = [found, *cmd[1:]]

    DATA.mkdir(exist_ok=True)
    raw = work.with_suffix(".raw.log")
    raw.unlink(missing_ok=True)
    with live_lock():
        before = audit_snapshot()
        # The C locale is built in: no locale files opened by every program, so
        # fixtures hold what they are about.
        result = record(cmd, raw, cwd=work, path_prefix=bin_dir,
                        extra_env={"LC_ALL": "C", "LANG": "C"})
        after = audit_snapshot()
        leftover = godo_rules()
    summary = result.stderr.decode(errors="replace")
    sys.stderr.write(summary)
    if after != before or leftover:
        print(f"capture: the audit state changed: {before} -> {after}; godo rules left: {leftover}",
              file=sys.stderr)
        return 1
    if result.returncode != 0 and not args.allow_failure:
        print(f"capture: the command exited {result.returncode}; nothing written", file=sys.stderr)
        return 1
    if kernel_lost(summary) != 0:
        print("capture: the kernel lost records (or godo did not say); nothing written",
              file=sys.stderr)
        return 1

    log = raw.read_bytes()
    full_size = len(log)
    if args.filter:
        log = filter_events(log, syscall_numbers(args.filter))
    elif full_size > _LARGE:
        print(f"capture: {full_size} bytes of records; consider --filter", file=sys.stderr)
    log_path = DATA / f"{args.name}.log"
    log_path.write_bytes(log)
    expected = replay_jsonl(log_path)
    (DATA / f"{args.name}.expected.jsonl").write_bytes(expected)
    shown = args.shown or ("--container" if args.container else
                           " ".join(_shell_word(w) for w in ["--", *given]))
    if len(shown) > 400:
        shown = shown[:200] + f" ... ({len(given)} words in all)"
    (DATA / f"{args.name}.md").write_text(
        f"# {args.name}\n\n{args.note}\n\n"
        f"- captured: `python -m tests.support.capture {args.name}"
        f"{' --filter ' + args.filter if args.filter else ''} {shown}`\n"
        f"- kernel: {platform.release()} ({platform.machine()}), "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}\n"
        f"- records: {len(log.splitlines())} lines, {len(log)} bytes"
        + (f" (filtered from {full_size} bytes: only the events of {args.filter}, each with "
           f"all its records)" if args.filter else " (the whole run, unfiltered)") + "\n"
        f"- expected: {len(expected.splitlines())} activities (`godo replay --jsonl`, pure twin)\n\n"
        "## Review\n\nTODO: what was checked against the raw records.\n")
    print(f"capture: wrote {log_path} ({len(log)} bytes) and "
          f"{len(expected.splitlines())} expected activities: review them before committing",
          file=sys.stderr)
    return 0


def _shell_word(word: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./=:,+-]+", word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":
    sys.exit(main())

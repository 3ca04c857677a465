# The compiled hot path (_ext/godo/hotpath/_hotpath_c.pyx), as type checkers see it:
# the same names and signatures as its pure-Python twin, godo/hotpath/_pipeline_py.py.
from typing import Any

from godo.errors import MalformedRecord as MalformedRecord

SYSCALL_FIELDS: tuple[str, ...]  # the vocabulary this module was built from
MAX_BYTES: int

class Activity:
    """One cooked audit event (godo.vocab.activity.ACTIVITY_FIELDS)."""

    kind: str | None
    ts: float | None
    serial: int | None
    syscall: str | None
    arch: str | None
    success: bool | None
    exit: int | None
    pid: int | None
    ppid: int | None
    uid: int | None
    auid: int | None
    comm: str | None
    exe: str | None
    euid: int | None
    suid: int | None
    gid: int | None
    egid: int | None
    ses: int | None
    tty: str | None
    argv: list[str] | None
    argc: int | None
    cwd: str | None
    path: str | None
    dirfd: int | None
    fd: int | None
    flags: int | None
    mode: int | None
    created: bool | None
    bytes: int | None
    new_fd: int | None
    max_fd: int | None
    cloexec: bool | None
    child: int | None
    thread: bool | None
    code: int | None
    new_root: str | None
    put_old: str | None
    new_path: str | None
    new_dirfd: int | None
    target: int | None
    signal: int | None
    proctitle: list[str] | None
    names: dict[str, str] | None
    def __init__(self, kind: str | None, ts: float | None, serial: int | None, syscall: str | None,
                 arch: str | None, success: bool | None, exit: int | None, pid: int | None,
                 ppid: int | None, uid: int | None, auid: int | None, comm: str | None,
                 exe: str | None, euid: int | None, suid: int | None, gid: int | None,
                 egid: int | None, ses: int | None, tty: str | None) -> None: ...
    def to_dict(self) -> dict[str, Any]: ...

class Pipeline:
    """One stream of records (a log, or the live kernel's) through the stages."""

    activities: int
    malformed: int
    errors: list[tuple[str, str]]
    window: int
    max_in_flight: int
    max_bytes: int
    timeout: float
    def __init__(self, *, window: int = 64, max_in_flight: int = 4096, timeout: float = 2.0,
                 max_bytes: int = ...) -> None: ...
    def feed_log(self, data: bytes | bytearray | memoryview, source: str = "") -> list[Activity]: ...
    def feed_frames(self, data: bytes | bytearray | memoryview, now: float = 0.0) -> list[Activity]: ...
    def expire(self, now: float) -> list[Activity]: ...
    def flush(self) -> list[Activity]: ...
    @property
    def records(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def evicted(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def serial_gaps(self) -> int: ...
    def stats(self) -> dict[str, int]: ...

def parse_record(data: bytes, rtype: int | None = None) -> dict[str, Any]: ...
def _normalise(path: str) -> str: ...

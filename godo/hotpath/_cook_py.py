"""Cook, pure Python: a complete event -> its activity.

The twin of `_ext/hotpath/cook.pxi`. An event becomes at most one `Activity`
(the cooked-event contract): which kind, if any, comes from the contract's
call -> kind rules; what each call adds is read from the event's records here.
"""

from __future__ import annotations

import re
from operator import attrgetter

from . import contract as C
from ._parse_py import CACHE_SIZE, dec, fields, hex_, join, normalise, text, to_str, tty

# -- the activity ---------------------------------------------------------------

_FIELD_VALUES = attrgetter(*C.ACTIVITY_FIELDS)
_TAIL = C.ACTIVITY_FIELDS[len(C.ACTIVITY_HEAD):]


def _init_source() -> str:
    """Activity.__init__, written from the field list (as dataclasses and namedtuple
    write theirs): the SYSCALL record's fields, from its arguments."""
    return (f"def __init__(self, {', '.join(C.ACTIVITY_HEAD)}):\n"
            + "".join(f"    self.{name} = {name}\n" for name in C.ACTIVITY_HEAD))


class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract.
    The fields every activity has are slots; what a kind adds is set as it is cooked,
    and reads None until then (class attributes below), which costs an activity
    nothing for the fields its kind lacks. The compiled twin's class is written from
    the same field list at build time."""

    __slots__ = C.ACTIVITY_HEAD + ("__dict__",)

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        return {name: value for name, value in zip(C.ACTIVITY_FIELDS, _FIELD_VALUES(self))
                if value is not None}

    def __repr__(self) -> str:
        return f"Activity({self.to_dict()!r})"


for _name in _TAIL:
    setattr(Activity, _name, None)
_made: dict = {}
exec(_init_source(), _made)  # noqa: S102 - code written here from the contract's names
Activity.__init__ = _made["__init__"]


# -- the call of a SYSCALL record -------------------------------------------------

# arch -> syscall number -> (name, cook code, kind of activity, arch name).
_CALLS = {arch: {number: (name, code, C.KINDS[code], C.ARCH_NAMES[arch])
                 for number, (name, code) in C.table(arch).items()}
          for arch in C.ARCH_NAMES}
# The same by arch= and syscall= as the kernel spells them; others go by number.
_CALLS_BY_TEXT = {b"%x" % arch: {b"%d" % number: entry for number, entry in table.items()}
                  for arch, table in _CALLS.items()}
# O_TMPFILE by the arch name an activity gives (its value differs on aarch64).
_O_TMPFILE = {name: C.o_tmpfile(name) for name in C.ARCH_NAMES.values()}
_SYSCALL_KEYS = tuple(name.encode() for name in C.SYSCALL_CALL_FIELDS) + (None,)


class _Int32(dict):
    """A syscall argument of type int from its register as the kernel prints it
    (hex): the low 32 bits, signed. Small values (fds, fcntl commands, AT_FDCWD)
    are looked up; others are worked out and not kept."""

    def __missing__(self, raw: bytes) -> int:
        value = int(raw, 16) & 0xFFFFFFFF
        return value - 0x100000000 if value & 0x80000000 else value


_INT32 = _Int32({b"%x" % n: n for n in range(4096)})
_INT32[b"%x" % (C.AT_FDCWD & 0xFFFFFFFF)] = C.AT_FDCWD


def _checked_call(values: tuple) -> tuple[str, int, str, str] | None:
    """(name, cook code, kind, arch name) of a SYSCALL record read the general way, every value the
    cook reads checked first, in the order the contract reports them."""
    arch, number, _success, exit, a0, a1, a2, a3, _task_text = values
    table = _CALLS.get(hex_(arch, "arch"))
    if not table:
        return None
    entry = table.get(dec(number, "syscall"))
    if entry is None:
        return None
    if exit is not None:
        dec(exit, "exit")
    hex_(a0, "a0"), hex_(a1, "a1"), hex_(a2, "a2"), hex_(a3, "a3")
    return entry


_ID_KEYS = tuple((name.encode(), name) for name in C.SYSCALL_ID_FIELDS if name != "tty")


def _checked_task(raw: dict) -> tuple:
    """The task of a SYSCALL record read the general way, checked in contract order:
    the ids only when the record has them."""
    task = (dec(raw.get(b"pid"), "pid"), dec(raw.get(b"ppid"), "ppid"),
            dec(raw.get(b"uid"), "uid"), dec(raw.get(b"auid"), "auid"),
            to_str(text(raw.get(b"comm"))), to_str(text(raw.get(b"exe"))))
    ids = tuple(None if raw.get(key) is None else dec(raw[key], name) for key, name in _ID_KEYS)
    return task + ids + (tty(raw.get(b"tty")),)


# -- cooking -----------------------------------------------------------------------

def cook(event) -> Activity | None:
    """One event's activity, or None when its call makes none. Raises ValueError
    when a value it reads is not what the kernel writes."""
    values, task = event.syscall, event.task
    if task is None:  # read the general way
        values = tuple(map(values.get, _SYSCALL_KEYS))
    arch, number, success_raw, exit_raw, a0, a1, a2, a3, _task_text = values
    if task is None:
        entry = _checked_call(values)
    else:
        calls = _CALLS_BY_TEXT.get(arch)
        entry = calls.get(number) if calls is not None else None
        if entry is None:  # spelt otherwise (C000003E, 059), or not a call godo cooks
            table = _CALLS.get(int(arch, 16))
            entry = table.get(int(number)) if table else None
    if entry is None:
        return None
    name, code, kind, arch_name = entry
    success = None if success_raw is None else success_raw == b"yes"
    exit = None if exit_raw is None else int(exit_raw)

    # Which activity, if any, is decided before it is built: building it reads
    # (and, for a record read the general way, checks) the task's fields.
    if not success and code not in C.COOKED_WHEN_FAILED:
        return None
    if kind == "exit":
        success = exit = None  # an exit does not return
    elif code in C.DECIDED_BY_ARGUMENTS:
        if kind == "spawn":
            if exit is None or exit <= 0:
                return None
        elif code == C.FCNTL:
            cmd = _INT32[a1]
            if cmd == C.F_SETFD:
                kind = C.CLOEXEC_KIND
            elif cmd != C.F_DUPFD and cmd != C.F_DUPFD_CLOEXEC:
                return None
        elif int(a2, 16) & C.CLOSE_RANGE_CLOEXEC:
            kind = C.CLOEXEC_KIND
    if task is None:
        task = _checked_task(event.syscall)
    act = Activity(kind, event.ts, event.serial, name, arch_name, success, exit, *task)
    if event.names is not None:
        act.names = _names(event.names)

    # What each call adds to its activity, the commonest first.
    if kind == "write":
        act.fd, act.bytes = _INT32[a0 if code == C.WRITE else a2], exit
    elif kind == "open":
        if code == C.OPEN:
            flags, mode = int(a1, 16), int(a2, 16)
        elif code == C.OPEN_AT:
            flags, mode = int(a2, 16), int(a3, 16)
        elif code == C.OPEN_AT2:
            flags, mode = event.openat2_flags, None
        else:
            flags, mode = C.O_CREAT | C.O_WRONLY | C.O_TRUNC, int(a1, 16)
        tmpfile = _O_TMPFILE[act.arch]
        if flags is None or not (flags & C.O_CREAT or flags & tmpfile == tmpfile):
            mode = None  # the kernel reads mode only with O_CREAT or O_TMPFILE
        act.flags, act.mode = flags, mode
        if success:
            act.fd = exit
        dirfd = _INT32[a0] if code == C.OPEN_AT or code == C.OPEN_AT2 else C.AT_FDCWD
        item, nametype = _file_entry(event.paths)
        if item is not None:
            act.path, act.dirfd = _located(dirfd, item, _cwd(event.cwd))
        if success and nametype == b"CREATE":
            act.created = True
    elif code == C.CLOSE:
        act.fd = _INT32[a0]
    elif code == C.CLOSE_RANGE:
        act.fd, act.max_fd = int(a0, 16) & 0xFFFFFFFF, int(a1, 16) & 0xFFFFFFFF
        if kind == C.CLOEXEC_KIND:
            act.cloexec = True
    elif code == C.FCNTL:
        act.fd = _INT32[a0]
        if kind == "dup":
            act.new_fd, act.cloexec = exit, _INT32[a1] == C.F_DUPFD_CLOEXEC
        else:
            act.cloexec = bool(int(a2, 16) & C.FD_CLOEXEC)
    elif kind == "dup":
        act.fd, act.new_fd = _INT32[a0], exit
        act.cloexec = bool(code == C.DUP3 and int(a2, 16) & C.O_CLOEXEC)
    elif kind == "spawn":
        act.child = exit
        if code == C.SPAWN_CLONE:
            act.thread = bool(int(a0, 16) & C.CLONE_THREAD)
        elif code == C.SPAWN_FORK:
            act.thread = False
    elif kind == "exec":
        act.argv, act.argc = _argv(event.execve)
        title = event.proctitle
        if not act.argv and title is not None and title.startswith(b"proctitle=") and len(title) > 10:
            act.proctitle = _proctitle(title[10:])
        act.cwd = cwd = _cwd(event.cwd)
        item = _file_item(event.paths)
        if item is not None and code == C.EXEC:
            act.path = _located(C.AT_FDCWD, item, cwd)[0]
    elif kind == "exit":
        act.code = int(a0, 16) & C.EXIT_CODE_MASK
    elif kind == "pivot_root":
        names = [to_str(n) for n, _t in event.paths if n is not None]
        if len(names) >= 2:
            # Relative names stay relative: they are relative to the cwd before the
            # call, and this event's CWD record is written after it, relative to the
            # new root. The tracker knows the cwd before.
            act.new_root, act.put_old = normalise(names[0]), normalise(names[1])
    elif code == C.CHDIR:
        cwd = _cwd(event.cwd)
        item = _file_item(event.paths)
        act.path = _located(C.AT_FDCWD, item, cwd)[0] if item is not None else cwd
    elif code == C.FCHDIR:
        act.fd = _INT32[a0]
    elif kind == "rename":
        cwd = _cwd(event.cwd)
        old = _item_of(event.paths, b"DELETE")
        new = _item_of(event.paths, b"CREATE")
        if old is not None:
            act.path, act.dirfd = _located(_INT32[a0] if code == C.RENAME_AT else C.AT_FDCWD, old, cwd)
        if new is not None:
            act.new_path, act.new_dirfd = _located(_INT32[a2] if code == C.RENAME_AT else C.AT_FDCWD,
                                                   new, cwd)
    elif kind == "unlink":
        item = _item_of(event.paths, b"DELETE")
        if item is not None:
            act.path, act.dirfd = _located(_INT32[a0] if code == C.UNLINK_AT else C.AT_FDCWD, item,
                                           _cwd(event.cwd))
    elif kind == "kill":
        act.target = _INT32[a0]
        act.signal = _INT32[a2 if code == C.TGKILL else a1]
    return act


# -- paths -------------------------------------------------------------------------

# Caches of values many events repeat, keyed by their text as the kernel wrote it
# and emptied when full, so any input keeps them small.
_CWDS: dict[bytes, str | None] = {}  # CWD record -> cwd
_PATHS: dict[tuple, str] = {}  # (cwd, PATH name) -> path


def _cwd(body: bytes | None) -> str | None:
    """The cwd of a CWD record (`cwd=...`)."""
    cwd = _CWDS.get(body)
    if cwd is None and body is not None:
        cwd = to_str(text(body[4:])) if body.startswith(b"cwd=") else None
        if len(_CWDS) >= CACHE_SIZE:
            _CWDS.clear()
        _CWDS[body] = cwd
    return cwd


def _located(dirfd: int, item: bytes, cwd: str | None) -> tuple[str, int | None]:
    """A PATH record's name as an activity gives it: (path, None), joined with the
    cwd and normalised, or (name, dirfd) for a name relative to a directory fd,
    which only the tracker's fd table can place."""
    if dirfd != C.AT_FDCWD and item[:1] != b"/":
        return normalise(to_str(item)), dirfd
    path = _PATHS.get((cwd, item))
    if path is None:
        path = join(cwd, to_str(item))
        if len(_PATHS) >= CACHE_SIZE:
            _PATHS.clear()
        _PATHS[cwd, item] = path
    return path, None


def _file_entry(paths) -> tuple[bytes | None, bytes | None]:
    """The name and nametype of the file an event is about: never a PARENT item."""
    for name, nametype in paths:
        if nametype != b"PARENT" and name is not None:
            return name, nametype
    return None, None


def _file_item(paths) -> bytes | None:
    return _file_entry(paths)[0]


def _item_of(paths, nametype: bytes) -> bytes | None:
    for name, kind in paths:
        if kind == nametype and name is not None:
            return name
    return None


# -- arguments ---------------------------------------------------------------------

def _argv(bodies: list[bytes]) -> tuple[list[str] | None, int | None]:
    """EXECVE records -> argv: split `aN[i]` pieces joined, several records merged.
    Returns (argv, argc) with argc only when the kernel's count disagrees."""
    if not bodies:
        return None, None
    argc = None
    whole: dict[int, bytes] = {}
    pieces: dict[int, dict[int, bytes]] = {}
    for body in bodies:
        for key, value in fields(body):
            if key == b"argc":
                argc = dec(value, "argc")
            elif key[:1] == b"a" and not key.endswith(b"_len"):
                index, piece = _arg_key(key)
                if piece is None:
                    whole[index] = text(value)
                else:
                    pieces.setdefault(index, {})[piece] = text(value)
    for index, parts in pieces.items():
        whole[index] = b"".join(parts[i] or b"" for i in sorted(parts))
    argv = [to_str(whole[i]) for i in sorted(whole) if whole[i] is not None]
    if argc is not None and argc == len(argv):
        argc = None
    return argv, argc


_ARG_KEY = re.compile(rb"a([0-9]{1,9})(?:\[([0-9]{1,9})\])?")


def _arg_key(key: bytes) -> tuple[int, int | None]:
    """`aN` -> (N, None), `aN[i]` -> (N, i)."""
    match = _ARG_KEY.fullmatch(key)
    if match is None:
        raise ValueError("bad EXECVE argument key")
    return int(match[1]), None if match[2] is None else int(match[2])


def _names(raw: bytes) -> dict | None:
    """An ENRICHED SYSCALL record's names (`UID="root" SYSCALL=openat ...`): the
    contract's ENRICHED_NAMES, keyed in lower case, quotes dropped; None when it has none."""
    names = {}
    for key, value in fields(raw):
        name = C.ENRICHED_NAMES.get(key.decode("ascii", "backslashreplace"))
        if name is not None:
            if value[:1] == b'"':
                value = value[1:-1] if value[-1:] == b'"' and len(value) > 1 else value[1:]
            names[name] = to_str(value)
    return names or None


def _proctitle(raw: bytes) -> list[str]:
    data = text(raw) or b""
    return [to_str(part) for part in data.rstrip(b"\0").split(b"\0")]

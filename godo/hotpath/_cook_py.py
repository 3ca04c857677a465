"""Cook, pure Python: a complete event -> its activity.

The twin of `_ext/godo/hotpath/cook.pxi`. An event becomes at most one `Activity`
(the cooked-event contract), by interpreting its call's row (godo.vocab.calls):
the row gives the kind and where each field is among the call's arguments; what
a kind means (an open's fd is its result, ...) is read from the event's records here.
"""

from __future__ import annotations

import re
from operator import attrgetter

from ..vocab import calls as CALLS
from ..vocab import kernel as K
from ..vocab import records as R
from ..vocab import syscalls as S
from ..vocab.activity import ACTIVITY_FIELDS, ACTIVITY_HEAD
from ._parse_py import CACHE_SIZE, dec, fields, hex_, join, normalise, text, to_str, tty

# -- the activity ---------------------------------------------------------------

_FIELD_VALUES = attrgetter(*ACTIVITY_FIELDS)
_TAIL = ACTIVITY_FIELDS[len(ACTIVITY_HEAD):]


def _init_source() -> str:
    """Activity.__init__, written from the field list (as dataclasses and namedtuple
    write theirs): the SYSCALL record's fields, from its arguments."""
    return (f"def __init__(self, {', '.join(ACTIVITY_HEAD)}):\n"
            + "".join(f"    self.{name} = {name}\n" for name in ACTIVITY_HEAD))


class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract.
    The fields every activity has are slots; what a kind adds is set as it is cooked,
    and reads None until then (class attributes below), which costs an activity
    nothing for the fields its kind lacks. The compiled twin's class is written from
    the same field list at build time."""

    __slots__ = ACTIVITY_HEAD + ("__dict__",)

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        return {name: value for name, value in zip(ACTIVITY_FIELDS, _FIELD_VALUES(self))
                if value is not None}

    def __repr__(self) -> str:
        return f"Activity({self.to_dict()!r})"


for _name in _TAIL:
    setattr(Activity, _name, None)
_made: dict = {}
exec(_init_source(), _made)  # noqa: S102 - code written here from the contract's names
Activity.__init__ = _made["__init__"]


# -- the calls, from their rows ------------------------------------------------------

# A row's fields as readers of the four raw argument registers (`regs`, hex as the
# kernel prints them): one function per field the row places, None for the others.
def _reader(where):
    if where is None:
        return None
    form, reg = where.form, where.reg
    if form == CALLS.INT:
        return lambda regs: _INT32[regs[reg]]
    if form == CALLS.U32:
        return lambda regs: int(regs[reg], 16) & 0xFFFFFFFF
    if form == CALLS.WORD:
        return lambda regs: int(regs[reg], 16)
    if form == CALLS.BIT:
        mask = where.mask
        return lambda regs: bool(int(regs[reg], 16) & mask)
    if form == CALLS.CONST:
        value = where.value
        return lambda regs: value
    if form == CALLS.FLAG:
        mask, value, added = where.mask, where.value, where.value | where.extra
        return lambda regs: added if int(regs[reg], 16) & mask else value
    if form == CALLS.OPENAT2_FLAGS:
        return _OPENAT2
    raise ValueError(f"no reader for form {form}")


def _OPENAT2(regs):  # noqa: N802 - a marker: openat2's flags are the event's, not a register's
    raise AssertionError("openat2's flags are read from its OPENAT2 record")


class _Row:
    """One row of vocab.calls, its fields made readers."""

    def __init__(self, row):
        layout = row.layout
        self.name, self.kind = row.name, row.kind
        for field in CALLS.LAYOUT_FIELDS:
            setattr(self, field, _reader(layout.get(field)))
        self.path, self.new_path = layout.get("path"), layout.get("new_path")
        # Whether its arguments or result decide the kind, or whether there is one.
        self.decides = row.kind == "spawn" or self.marks is not None or self.command is not None


# fcntl's commands: command -> (kind, reader of cloexec).
_FCNTL = {command: (kind, _reader(cloexec)) for command, (kind, cloexec) in CALLS.FCNTL_COMMANDS.items()}

# arch -> syscall number -> (name, row, kind of activity, arch name).
_ROWS = {code: _Row(row) for code, row in enumerate(CALLS.CALLS, 1)}
_CALLS = {arch: {number: (name, _ROWS[code], _ROWS[code].kind, S.ARCH_NAMES[arch])
                 for number, (name, code) in S.table(arch).items()}
          for arch in S.ARCH_NAMES}
# The same by arch= and syscall= as the kernel spells them; others go by number.
_CALLS_BY_TEXT = {b"%x" % arch: {b"%d" % number: entry for number, entry in table.items()}
                  for arch, table in _CALLS.items()}
# O_TMPFILE by the arch name an activity gives (its value differs on aarch64).
_O_TMPFILE = {name: K.o_tmpfile(name) for name in S.ARCH_NAMES.values()}
_SYSCALL_KEYS = tuple(name.encode() for name in R.SYSCALL_CALL_FIELDS) + (None,)


class _Int32(dict):
    """A syscall argument of type int from its register as the kernel prints it
    (hex): the low 32 bits, signed. Small values (fds, fcntl commands, AT_FDCWD)
    are looked up; others are worked out and not kept."""

    def __missing__(self, raw: bytes) -> int:
        value = int(raw, 16) & 0xFFFFFFFF
        return value - 0x100000000 if value & 0x80000000 else value


_INT32 = _Int32({b"%x" % n: n for n in range(4096)})
_INT32[b"%x" % (K.AT_FDCWD & 0xFFFFFFFF)] = K.AT_FDCWD


def _checked_call(values: tuple) -> tuple | None:
    """(name, row, kind, arch name) of a SYSCALL record read the general way, every value
    the cook reads checked first, in the order the vocabulary reports them."""
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


_ID_KEYS = tuple((name.encode(), name) for name in R.SYSCALL_ID_FIELDS if name != "tty")


def _checked_task(raw: dict) -> tuple:
    """The task of a SYSCALL record read the general way, checked in the vocabulary's
    order: the ids only when the record has them."""
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
    name, row, kind, arch_name = entry
    success = None if success_raw is None else success_raw == b"yes"
    exit = None if exit_raw is None else int(exit_raw)
    regs = (a0, a1, a2, a3)

    # Which activity, if any, is decided before it is built: building it reads
    # (and, for a record read the general way, checks) the task's fields.
    if not success and kind not in CALLS.COOKED_WHEN_FAILED:
        return None
    cloexec = row.cloexec
    if kind == "exit":
        success = exit = None  # an exit does not return
    elif row.decides:
        if kind == "spawn":
            if exit is None or exit <= 0:
                return None
        elif row.command is not None:
            decided = _FCNTL.get(row.command(regs))
            if decided is None:
                return None
            kind, cloexec = decided
        elif row.marks(regs):
            kind, cloexec = CALLS.CLOEXEC_KIND, _TRUE
    if task is None:
        task = _checked_task(event.syscall)
    act = Activity(kind, event.ts, event.serial, name, arch_name, success, exit, *task)
    if event.names is not None:
        act.names = _names(event.names)

    # What the row places, then what the kind adds; the commonest first.
    if row.fd is not None:
        act.fd = row.fd(regs)
    if kind == "write":
        act.bytes = exit
    elif kind == "open":
        if row.flags is _OPENAT2:
            flags, mode = event.openat2_flags, None
        else:
            flags, mode = row.flags(regs), row.mode(regs) if row.mode is not None else None
        tmpfile = _O_TMPFILE[arch_name]
        if flags is None or not (flags & K.O_CREAT or flags & tmpfile == tmpfile):
            mode = None  # the kernel reads mode only with O_CREAT or O_TMPFILE
        act.flags, act.mode = flags, mode
        if success:
            act.fd = exit
    elif kind == "dup":
        act.new_fd = exit
    elif kind == "spawn":
        act.child = exit
        if row.thread is not None:
            act.thread = row.thread(regs)
        return act
    elif kind == "exec":
        act.argv, act.argc = _argv(event.execve)
        title = event.proctitle
        if not act.argv and title is not None and title.startswith(b"proctitle=") and len(title) > 10:
            act.proctitle = _proctitle(title[10:])
        act.cwd = _cwd(event.cwd)
    elif kind == "exit":
        act.code = row.code(regs) & K.EXIT_CODE_MASK
        return act
    elif kind == "pivot_root":
        names = [to_str(n) for n, _t in event.paths if n is not None]
        if len(names) >= 2:
            # Relative names stay relative: they are relative to the cwd before the
            # call, and this event's CWD record is written after it, relative to the
            # new root. The tracker knows the cwd before.
            act.new_root, act.put_old = normalise(names[0]), normalise(names[1])
        return act
    elif kind == "kill":
        act.target, act.signal = row.target(regs), row.signal(regs)
        return act
    if cloexec is not None:
        act.cloexec = cloexec(regs)
    if row.max_fd is not None:
        act.max_fd = row.max_fd(regs)
    if row.path is not None:
        _place(act, event, row, kind, regs)
    return act


def _TRUE(regs) -> bool:  # noqa: N802 - a reader, as the rows' are
    return True


def _place(act, event, row, kind: str, regs) -> None:
    """The row's paths: each a PATH item, joined to the cwd or kept with its dirfd."""
    cwd = _cwd(event.cwd)
    name, nametype = _item(event.paths, row.path)
    if name is not None:
        act.path, act.dirfd = _located(row.dirfd(regs) if row.dirfd else K.AT_FDCWD, name, cwd)
        if kind == "open" and act.success and nametype == b"CREATE":
            act.created = True
    elif kind == "chdir":
        act.path = cwd
    if row.new_path is not None:
        name = _item(event.paths, row.new_path)[0]
        if name is not None:
            act.new_path, act.new_dirfd = _located(row.new_dirfd(regs) if row.new_dirfd else K.AT_FDCWD,
                                                   name, cwd)


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
    if dirfd != K.AT_FDCWD and item[:1] != b"/":
        return normalise(to_str(item)), dirfd
    path = _PATHS.get((cwd, item))
    if path is None:
        path = join(cwd, to_str(item))
        if len(_PATHS) >= CACHE_SIZE:
            _PATHS.clear()
        _PATHS[cwd, item] = path
    return path, None


_NAMETYPES = {CALLS.DELETED: b"DELETE", CALLS.CREATED: b"CREATE"}


def _item(paths, which: int) -> tuple[bytes | None, bytes | None]:
    """The name and nametype of a row's PATH item: the file an event is about (never
    a PARENT item) or the name the call removed or made."""
    want = _NAMETYPES.get(which)
    for name, nametype in paths:
        if name is not None and (nametype == want if want else nametype != b"PARENT"):
            return name, nametype
    return None, None


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
    vocabulary's ENRICHED_NAMES, keyed in lower case, quotes dropped; None when it has none."""
    names = {}
    for key, value in fields(raw):
        name = R.ENRICHED_NAMES.get(key.decode("ascii", "backslashreplace"))
        if name is not None:
            if value[:1] == b'"':
                value = value[1:-1] if value[-1:] == b'"' and len(value) > 1 else value[1:]
            names[name] = to_str(value)
    return names or None


def _proctitle(raw: bytes) -> list[str]:
    data = text(raw) or b""
    return [to_str(part) for part in data.rstrip(b"\0").split(b"\0")]

"""Each call godo cooks, as one row: the kind of activity it makes, the audit rule it
goes in, and which of its arguments holds which field of the activity.

Both cooks (_ext/godo/hotpath/cook.pxi and godo/hotpath/_cook_py.py) interpret these
rows: a kind says what an activity of it means (an open's fd is the call's result, a
spawn happened only with a child, ...), a row says where its call keeps the values.
A call that makes a known kind is one row here; its numbers come from the kernel's
tables (`syscalls`), and the rules godo installs take it from its `rule`.
"""

from __future__ import annotations

from collections import namedtuple

from . import kernel as K

# -- where a field comes from ---------------------------------------------------------

# How an argument register (a0..a3, which the kernel prints whole, in hex) gives a value.
INT = 1  # an int argument: the low 32 bits, signed (fds, signals, AT_FDCWD)
U32 = 2  # an unsigned int argument: the low 32 bits
WORD = 3  # the whole register (flags, modes)
BIT = 4  # whether the register has any of `mask`'s bits: True or False
CONST = 5  # `value`, whatever the registers hold
OPENAT2_FLAGS = 6  # openat2's flags: in its OPENAT2 record (the call's a2 is a pointer)
FLAG = 7  # `value`, with `extra`'s bits too when the register has any of `mask`'s:
#           another call's flag as open's (memfd_create's MFD_CLOEXEC is O_CLOEXEC)


# Named tuples from collections, not typing.NamedTuple: `typing` is a tenth of a
# godo command's start-up, and every command loads these rows.
class Arg(namedtuple("Arg", ("form", "reg", "mask", "value", "extra"), defaults=(-1, 0, None, 0))):
    """Where a field comes from: `form` (above), the register `reg`, and the form's
    `mask`, `value` and `extra`."""

    __slots__ = ()


def arg(reg: int) -> Arg:
    return Arg(INT, reg)


def u32(reg: int) -> Arg:
    return Arg(U32, reg)


def word(reg: int) -> Arg:
    return Arg(WORD, reg)


def bit(reg: int, mask: int) -> Arg:
    return Arg(BIT, reg, mask)


def flag(reg: int, mask: int, value: int, extra: int) -> Arg:
    return Arg(FLAG, reg, mask, value, extra)


def const(value) -> Arg:
    return Arg(CONST, value=value)


OPENAT2 = Arg(OPENAT2_FLAGS)

# Which PATH record a path is (a PATH item's nametype): the file the call is about
# (the first item that names something and is not its directory, PARENT), or the
# name it removed or made.
FILE, DELETED, CREATED = 1, 2, 3

# The fields a row may place, each read by an Arg (`path` and `new_path` by one of
# the item kinds above). `marks` and `command` decide the kind (below).
LAYOUT_FIELDS = ("fd", "flags", "mode", "dirfd", "new_dirfd", "max_fd", "target", "signal",
                 "code", "thread", "cloexec", "marks", "command")
ITEM_FIELDS = ("path", "new_path")

# -- the kinds ------------------------------------------------------------------------------

# What each kind means, beyond its row's fields (both cooks hold to this):
#   spawn      made only when the call returned a child (exit > 0): child = exit
#   exec       argv (EXECVE records), argc when the kernel's count differs, cwd, and the
#              proctitle when there is no argv
#   exit       never returns: no success and no exit; code = its register & EXIT_CODE_MASK
#   open       fd = exit when it succeeded; mode only when flags have O_CREAT or O_TMPFILE;
#              created when its PATH item says CREATE
#   write      bytes = exit
#   dup        new_fd = exit
#   chdir      path, else the event's cwd (an fchdir gives its fd instead)
#   pivot_root new_root and put_old: the first two PATH names, PARENT items too
#   close, rename, unlink, kill: their row's fields only
# A path relative to a dirfd that is not AT_FDCWD stays relative with its dirfd (only
# the tracker's fd table knows where it points); any other is joined to the cwd.
KINDS = ("spawn", "exec", "exit", "open", "write", "close", "dup", "pivot_root", "chdir",
         "rename", "unlink", "kill")
# The kind fcntl(F_SETFD) and close_range(CLOSE_RANGE_CLOEXEC) make: marks, not copies.
CLOEXEC_KIND = "cloexec"
# A call that failed makes an activity only when it tried to open or run a file;
# exit and exit_group never return, so they have no result to fail with.
COOKED_WHEN_FAILED = frozenset({"open", "exec", "exit"})

# A row's `marks` (close_range): when that bit is set the call marks its fds
# close-on-exec (kind cloexec, cloexec True) instead of making its own kind.
# A row's `command` (fcntl): the command decides, and a command not here makes nothing.
# command -> (kind, where cloexec comes from)
FCNTL_COMMANDS = {
    K.F_DUPFD: ("dup", const(False)),
    K.F_DUPFD_CLOEXEC: ("dup", const(True)),
    K.F_SETFD: (CLOEXEC_KIND, bit(2, K.FD_CLOEXEC)),
}

# -- the audit rules ---------------------------------------------------------------------

# How the rules group the calls: processes always; opens even when they fail (a failed
# open is worth seeing); fd bookkeeping only when it succeeded; fcntl only for the
# commands above.
PROCESS, OPENS, FDS, FCNTL = "process", "open", "fd", "fcntl"


class Call(namedtuple("Call", ("name", "kind", "rule", "layout"))):
    """A call godo cooks: its name, the kind of activity it makes, its rule group,
    and its `layout` (field -> Arg, or an item kind for path and new_path)."""

    __slots__ = ()


def call(name: str, kind: str, rule: str, **layout) -> Call:
    return Call(name, kind, rule, layout)


# -- the calls --------------------------------------------------------------------------------

# The i386 calls take the same arguments in a0..a3 as their 64-bit namesakes (clone's
# flags in a0 too); fcntl64 and sendfile64 are i386's fcntl and sendfile.
CALLS = (
    #     name               kind          rule      where its fields are
    call("clone",            "spawn",      PROCESS,  thread=bit(0, K.CLONE_THREAD)),
    call("clone3",           "spawn",      PROCESS),  # its flags are behind a pointer
    call("fork",             "spawn",      PROCESS,  thread=const(False)),
    call("vfork",            "spawn",      PROCESS,  thread=const(False)),
    call("execve",           "exec",       PROCESS,  path=FILE),
    call("execveat",         "exec",       PROCESS),  # its name is relative to a0
    call("exit",             "exit",       PROCESS,  code=word(0)),
    call("exit_group",       "exit",       PROCESS,  code=word(0)),
    call("open",             "open",       OPENS,    flags=word(1), mode=word(2), path=FILE),
    call("openat",           "open",       OPENS,    dirfd=arg(0), flags=word(2), mode=word(3), path=FILE),
    call("openat2",          "open",       OPENS,    dirfd=arg(0), flags=OPENAT2, path=FILE),
    call("creat",            "open",       OPENS,    flags=const(K.O_CREAT | K.O_WRONLY | K.O_TRUNC),
         mode=word(1), path=FILE),
    # A new file with no name (no PATH record: the name it is given is a pointer),
    # open read-write; its flags' MFD_CLOEXEC (1) is open's O_CLOEXEC.
    call("memfd_create",     "open",       OPENS,    flags=flag(1, 1, K.O_RDWR, K.O_CLOEXEC)),
    call("write",            "write",      FDS,      fd=arg(0)),
    call("pwrite64",         "write",      FDS,      fd=arg(0)),
    call("writev",           "write",      FDS,      fd=arg(0)),
    call("pwritev",          "write",      FDS,      fd=arg(0)),
    call("pwritev2",         "write",      FDS,      fd=arg(0)),
    # Writes that name their output fd elsewhere: sendfile(out, in, ...) in a0,
    # splice and copy_file_range(in, off, out, ...) in a2. busybox cat copies
    # with sendfile: without these, `cat a > b` wrote nothing to b.
    call("sendfile",         "write",      FDS,      fd=arg(0)),
    call("sendfile64",       "write",      FDS,      fd=arg(0)),
    call("splice",           "write",      FDS,      fd=arg(2)),
    call("copy_file_range",  "write",      FDS,      fd=arg(2)),
    call("close",            "close",      FDS,      fd=arg(0)),
    call("close_range",      "close",      FDS,      fd=u32(0), max_fd=u32(1),
         marks=bit(2, K.CLOSE_RANGE_CLOEXEC)),
    call("dup",              "dup",        FDS,      fd=arg(0), cloexec=const(False)),
    call("dup2",             "dup",        FDS,      fd=arg(0), cloexec=const(False)),
    call("dup3",             "dup",        FDS,      fd=arg(0), cloexec=bit(2, K.O_CLOEXEC)),
    call("fcntl",            "dup",        FCNTL,    fd=arg(0), command=arg(1)),
    call("fcntl64",          "dup",        FCNTL,    fd=arg(0), command=arg(1)),
    call("pivot_root",       "pivot_root", PROCESS),
    call("chdir",            "chdir",      PROCESS,  path=FILE),
    call("fchdir",           "chdir",      PROCESS,  fd=arg(0)),
    call("rename",           "rename",     PROCESS,  path=DELETED, new_path=CREATED),
    call("renameat",         "rename",     PROCESS,  dirfd=arg(0), path=DELETED, new_dirfd=arg(2),
         new_path=CREATED),
    call("renameat2",        "rename",     PROCESS,  dirfd=arg(0), path=DELETED, new_dirfd=arg(2),
         new_path=CREATED),
    call("unlink",           "unlink",     PROCESS,  path=DELETED),
    call("rmdir",            "unlink",     PROCESS,  path=DELETED),
    call("unlinkat",         "unlink",     PROCESS,  dirfd=arg(0), path=DELETED),
    call("kill",             "kill",       PROCESS,  target=arg(0), signal=arg(1)),
    call("tkill",            "kill",       PROCESS,  target=arg(0), signal=arg(1)),
    call("tgkill",           "kill",       PROCESS,  target=arg(0), signal=arg(2)),
    call("rt_sigqueueinfo",  "kill",       PROCESS,  target=arg(0), signal=arg(1)),
)
BY_NAME = {c.name: c for c in CALLS}
# A call's cook code: its place in CALLS, from 1 (0: a call godo does not cook).
CODES = {c.name: code for code, c in enumerate(CALLS, 1)}


def names(rule: str) -> tuple[str, ...]:
    """The calls of one audit rule group."""
    return tuple(c.name for c in CALLS if c.rule == rule)


def check() -> None:
    """Raise ValueError for a row that names a kind, rule or field nobody reads."""
    for c in CALLS:
        if c.kind not in KINDS or c.rule not in (PROCESS, OPENS, FDS, FCNTL):
            raise ValueError(f"{c.name}: kind {c.kind!r} or rule {c.rule!r} is not known")
        for field, where in c.layout.items():
            if field in ITEM_FIELDS:
                if where not in (FILE, DELETED, CREATED):
                    raise ValueError(f"{c.name}: {field} is not a PATH item kind")
            elif field not in LAYOUT_FIELDS or not isinstance(where, Arg):
                raise ValueError(f"{c.name}: {field} is not a field a row places")
            elif where.form not in (CONST, OPENAT2_FLAGS) and not 0 <= where.reg <= 3:
                raise ValueError(f"{c.name}: {field} names register {where.reg}")
    if len(BY_NAME) != len(CALLS):
        raise ValueError("a call has two rows")


check()

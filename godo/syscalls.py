"""The syscalls godo audits, per architecture: one table for rules and both cooks.

A SYSCALL record names its syscall by number and its architecture by `arch=`;
the same number means different calls on x86_64 and aarch64, so every lookup is
by (arch, number). Only the calls godo cooks are listed.
"""

from __future__ import annotations

ARCH_X86_64 = 0xC000003E
ARCH_AARCH64 = 0xC00000B7

ARCH_NAMES = {ARCH_X86_64: "x86_64", ARCH_AARCH64: "aarch64"}

# Cook codes: what godo does with a call. Both cooks switch on these numbers.
(SPAWN_CLONE, SPAWN_CLONE3, SPAWN_FORK, EXEC, EXEC_AT, EXIT, EXIT_GROUP,
 OPEN, OPEN_AT, OPEN_AT2, CREAT, WRITE, CLOSE, CLOSE_RANGE, DUP, DUP2, DUP3, FCNTL,
 PIVOT_ROOT, CHDIR, FCHDIR, RENAME, RENAME_AT, UNLINK, UNLINK_AT, KILL, TKILL, TGKILL,
 WRITE_A2) = range(1, 30)

# name -> (cook code, x86_64 number, aarch64 number); None where the arch lacks it.
SYSCALLS: dict[str, tuple[int, int | None, int | None]] = {
    "clone": (SPAWN_CLONE, 56, 220),
    "clone3": (SPAWN_CLONE3, 435, 435),
    "fork": (SPAWN_FORK, 57, None),
    "vfork": (SPAWN_FORK, 58, None),
    "execve": (EXEC, 59, 221),
    "execveat": (EXEC_AT, 322, 281),
    "exit": (EXIT, 60, 93),
    "exit_group": (EXIT_GROUP, 231, 94),
    "open": (OPEN, 2, None),
    "openat": (OPEN_AT, 257, 56),
    "openat2": (OPEN_AT2, 437, 437),
    "creat": (CREAT, 85, None),
    "write": (WRITE, 1, 64),
    "pwrite64": (WRITE, 18, 68),
    "writev": (WRITE, 20, 66),
    "pwritev": (WRITE, 296, 70),
    "pwritev2": (WRITE, 328, 287),
    # Writes that name their output fd elsewhere: sendfile(out, in, ...) in a0,
    # splice and copy_file_range(in, off, out, ...) in a2. busybox cat copies
    # with sendfile: without these, `cat a > b` wrote nothing to b.
    "sendfile": (WRITE, 40, 71),
    "splice": (WRITE_A2, 275, 76),
    "copy_file_range": (WRITE_A2, 326, 285),
    "close": (CLOSE, 3, 57),
    "close_range": (CLOSE_RANGE, 436, 436),
    "dup": (DUP, 32, 23),
    "dup2": (DUP2, 33, None),
    "dup3": (DUP3, 292, 24),
    "fcntl": (FCNTL, 72, 25),
    "pivot_root": (PIVOT_ROOT, 155, 41),
    "chdir": (CHDIR, 80, 49),
    "fchdir": (FCHDIR, 81, 50),
    "rename": (RENAME, 82, None),
    "renameat": (RENAME_AT, 264, 38),
    "renameat2": (RENAME_AT, 316, 276),
    "unlink": (UNLINK, 87, None),
    "rmdir": (UNLINK, 84, None),
    "unlinkat": (UNLINK_AT, 263, 35),
    "kill": (KILL, 62, 129),
    "tkill": (TKILL, 200, 130),
    "tgkill": (TGKILL, 234, 131),
}

# How the rules group them: processes always; opens even when they fail (a failed
# open is worth seeing); fd bookkeeping only when it succeeded.
PROCESS_CALLS = ("clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group",
                 "pivot_root", "chdir", "fchdir", "rename", "renameat", "renameat2",
                 "unlink", "rmdir", "unlinkat", "kill", "tkill", "tgkill")
OPEN_CALLS = ("open", "openat", "openat2", "creat")
FD_CALLS = ("write", "pwrite64", "writev", "pwritev", "pwritev2",
            "sendfile", "splice", "copy_file_range",
            "close", "close_range", "dup", "dup2", "dup3")
# fcntl is only worth a record for the commands that duplicate or mark close-on-exec.
F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC = 0, 2, 1030
FCNTL_COMMANDS = (F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD)


def table(arch: int) -> dict[int, tuple[str, int]]:
    """number -> (name, cook code) for one architecture."""
    column = {ARCH_X86_64: 1, ARCH_AARCH64: 2}.get(arch)
    if column is None:
        return {}
    return {entry[column]: (name, entry[0]) for name, entry in SYSCALLS.items() if entry[column] is not None}


def numbers(arch: int, names) -> frozenset[int]:
    column = {ARCH_X86_64: 1, ARCH_AARCH64: 2}[arch]
    return frozenset(SYSCALLS[n][column] for n in names if SYSCALLS[n][column] is not None)


def native_arch() -> int:
    import platform
    machine = platform.machine()
    if machine == "x86_64":
        return ARCH_X86_64
    if machine in ("aarch64", "arm64"):
        return ARCH_AARCH64
    from .errors import AuditError
    raise AuditError(f"godo does not know the syscall table of {machine}")

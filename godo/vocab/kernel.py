"""The kernel's values that a call's arguments are read with.

The generic values (x86_64, i386 and aarch64 alike), but O_TMPFILE's and three
others: arm places them elsewhere (OPEN_FLAG_NAMES_ARM, `o_tmpfile`).
"""

AT_FDCWD = -100
CLONE_THREAD = 0x10000
O_ACCMODE, O_WRONLY, O_RDWR = 0o3, 0o1, 0o2
O_CREAT, O_TRUNC, O_APPEND, O_CLOEXEC, O_TMPFILE = 0o100, 0o1000, 0o2000, 0o2000000, 0o20200000
# open(2)'s flags by name, as the file documents' `flag_names` give them: the access
# mode by its value (flags & O_ACCMODE), then each flag whose bits are all set, in
# this order, its bits taken (O_SYNC holds O_DSYNC's, O_TMPFILE O_DIRECTORY's);
# bits no name takes are shown as one hex number. The generic values serve x86_64
# and i386; arm's place four flags elsewhere (and its O_TMPFILE with them).
OPEN_ACCESS_NAMES = {0: "O_RDONLY", O_WRONLY: "O_WRONLY", O_RDWR: "O_RDWR"}
OPEN_FLAG_NAMES = {
    "O_TMPFILE": O_TMPFILE, "O_SYNC": 0o4010000, "O_CREAT": O_CREAT, "O_EXCL": 0o200,
    "O_NOCTTY": 0o400, "O_TRUNC": O_TRUNC, "O_APPEND": O_APPEND, "O_NONBLOCK": 0o4000,
    "O_DSYNC": 0o10000, "O_ASYNC": 0o20000, "O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000,
    "O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000, "O_NOATIME": 0o1000000,
    "O_CLOEXEC": O_CLOEXEC, "O_PATH": 0o10000000,
}
OPEN_FLAG_NAMES_ARM = {**OPEN_FLAG_NAMES, "O_TMPFILE": 0o20040000, "O_DIRECTORY": 0o40000,
                       "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000}
# By the activity's arch name; any other arch takes the generic values.
OPEN_FLAG_NAMES_BY_ARCH = {"aarch64": OPEN_FLAG_NAMES_ARM}


def o_tmpfile(arch_name: str) -> int:
    """O_TMPFILE as the arch numbers it: the cook reads an open's mode with it."""
    return OPEN_FLAG_NAMES_BY_ARCH.get(arch_name, OPEN_FLAG_NAMES)["O_TMPFILE"]


CLOSE_RANGE_CLOEXEC = 4
F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC = 0, 2, 1030  # fcntl's commands that copy or mark an fd
FD_CLOEXEC = 1  # fcntl(F_SETFD)'s flag
EXIT_CODE_MASK = 0xFF  # exit_group(status): the parent sees status & 0xff

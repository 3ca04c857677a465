"""The hot path's contract as data, written once and loaded by both twins.

Record types and how `parse_record` types a field; the syscalls godo cooks, per
architecture, with the kind of activity each makes; the fields of an activity in
the cooked-event contract's order; the kernel's values the cook reads arguments
with; and the bounds that keep a pipeline's memory finite.

This module imports nothing: setup.py loads it on its own to write the compiled
Activity's declaration (`_ext/hotpath/activity.pxi`) from `ACTIVITY_FIELDS`.
"""

# -- record types -------------------------------------------------------------

SYSCALL = 1300
PATH = 1302
CONFIG_CHANGE = 1305
CWD = 1307
EXECVE = 1309
EOE = 1320
BPRM_FCAPS = 1321
PROCTITLE = 1327
OPENAT2 = 1337

TYPE_NAMES = {
    1300: "SYSCALL", 1302: "PATH", 1303: "IPC", 1304: "SOCKETCALL", 1305: "CONFIG_CHANGE",
    1306: "SOCKADDR", 1307: "CWD", 1309: "EXECVE", 1311: "IPC_SET_PERM", 1312: "MQ_OPEN",
    1313: "MQ_SENDRECV", 1314: "MQ_NOTIFY", 1315: "MQ_GETSETATTR", 1316: "KERNEL_OTHER",
    1317: "FD_PAIR", 1318: "OBJ_PID", 1319: "TTY", 1320: "EOE", 1321: "BPRM_FCAPS",
    1322: "CAPSET", 1323: "MMAP", 1324: "NETFILTER_PKT", 1325: "NETFILTER_CFG",
    1326: "SECCOMP", 1327: "PROCTITLE", 1328: "FEATURE_CHANGE", 1329: "REPLACE",
    1330: "KERN_MODULE", 1331: "FANOTIFY", 1332: "TIME_INJOFFSET", 1333: "TIME_ADJNTPVAL",
    1334: "BPF", 1335: "EVENT_LISTENER", 1336: "URINGOP", 1337: "OPENAT2",
    1338: "DM_CTRL", 1339: "DM_EVENT",
    1005: "USER", 1006: "LOGIN",
    1100: "USER_AUTH", 1101: "USER_ACCT", 1102: "USER_MGMT", 1103: "CRED_ACQ",
    1104: "CRED_DISP", 1105: "USER_START", 1106: "USER_END", 1107: "USER_AVC",
    1108: "USER_CHAUTHTOK", 1109: "USER_ERR", 1110: "CRED_REFR", 1111: "USYS_CONFIG",
    1112: "USER_LOGIN", 1113: "USER_LOGOUT", 1114: "ADD_USER", 1115: "DEL_USER",
    1116: "ADD_GROUP", 1117: "DEL_GROUP", 1118: "DAC_CHECK", 1119: "CHGRP_ID", 1120: "TEST",
    1121: "TRUSTED_APP", 1122: "USER_SELINUX_ERR", 1123: "USER_CMD", 1124: "USER_TTY",
    1125: "CHUSER_ID", 1126: "GRP_AUTH", 1127: "SYSTEM_BOOT", 1128: "SYSTEM_SHUTDOWN",
    1129: "SYSTEM_RUNLEVEL", 1130: "SERVICE_START", 1131: "SERVICE_STOP", 1132: "GRP_MGMT",
    1133: "GRP_CHAUTHTOK", 1134: "MAC_CHECK", 1135: "ACCT_LOCK", 1136: "ACCT_UNLOCK",
    1137: "USER_DEVICE", 1138: "SOFTWARE_UPDATE",
    1200: "DAEMON_START", 1201: "DAEMON_END", 1202: "DAEMON_ABORT", 1203: "DAEMON_CONFIG",
    1204: "DAEMON_RECONFIG", 1205: "DAEMON_ROTATE", 1206: "DAEMON_RESUME",
    1207: "DAEMON_ACCEPT", 1208: "DAEMON_CLOSE", 1209: "DAEMON_ERR",
    1400: "AVC", 1401: "SELINUX_ERR", 1402: "AVC_PATH", 1403: "MAC_POLICY_LOAD",
    1404: "MAC_STATUS", 1405: "MAC_CONFIG_CHANGE", 1406: "MAC_UNLBL_ALLOW",
    1700: "ANOM_PROMISCUOUS", 1701: "ANOM_ABEND", 1702: "ANOM_LINK", 1703: "ANOM_CREAT",
}
TYPE_NUMBERS = {name.encode(): number for number, name in TYPE_NAMES.items()}
# The records whose text an event in flight keeps (and the byte budget charges).
KEPT_TYPES = frozenset({SYSCALL, PATH, CWD, EXECVE})


def type_number(name: bytes) -> int:
    """A log's `type=NAME` as a number; `UNKNOWN[1334]` names its number itself.
    Returns -1 for a name nobody knows."""
    number = TYPE_NUMBERS.get(name)
    if number is not None:
        return number
    digits = name[8:-1]
    # Bounded: a type number is 16 bits on the wire; int() of thousands of digits raises.
    if name.startswith(b"UNKNOWN[") and name.endswith(b"]") and digits.isdigit() and len(digits) <= 9:
        return int(digits)
    return -1


# The record types a syscall event is made of lie in [MULTI_FIRST, MULTI_END).
MULTI_FIRST, MULTI_END = 1300, 1500


def is_multi_record(rtype: int) -> bool:
    """Whether a record is one part of a syscall event (which later records or
    an EOE complete) rather than a whole event on its own."""
    return MULTI_FIRST <= rtype < MULTI_END and rtype != EOE


# How `parse_record` types a field: decoded text, decimal, hex number or raw.
TEXT_FIELDS = frozenset({"comm", "exe", "name", "cwd", "proctitle", "key", "new_root", "put_old"})
DECIMAL_FIELDS = frozenset({
    "syscall", "exit", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid",
    "fsuid", "egid", "sgid", "fsgid", "ses", "item", "inode", "ouid", "ogid", "argc",
})
HEX_FIELDS = frozenset({"arch", "a0", "a1", "a2", "a3"})

# The SYSCALL fields the cook reads, in the order it checks them (a record read
# the general way reports the first bad one). The ids after them are read when
# the record has them (the kernel always writes them) and checked when it does.
SYSCALL_CALL_FIELDS = ("arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3")
SYSCALL_TASK_FIELDS = ("pid", "ppid", "uid", "auid", "comm", "exe")
SYSCALL_ID_FIELDS = ("euid", "suid", "gid", "egid", "ses", "tty")
# tty= when the process has no terminal; the activity's tty is None then.
NO_TTY = "(none)"

# ENRICHED logs (auditd's log_format = ENRICHED) append to a record, after a 0x1d
# byte, what auditd made of its numbers: `UID="root" AUID="alice" SYSCALL=openat`.
# The names an activity keeps (`names`, keyed in lower case), from the SYSCALL record.
ENRICHED_NAMES = {"AUID": "auid", "UID": "uid", "EUID": "euid", "SUID": "suid", "GID": "gid",
                  "EGID": "egid", "SYSCALL": "syscall", "ARCH": "arch"}


# -- activities ---------------------------------------------------------------

# The cooked-event contract's fields, in its order: what `Activity.to_dict()`
# gives and `godo replay --jsonl` prints. The head comes from the SYSCALL record
# and is the constructor's arguments (its last ten the task's, in
# SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS order); the rest are what a kind adds,
# and `names`, what an ENRICHED log named (absent in a RAW one).
ACTIVITY_HEAD = ("kind", "ts", "serial", "syscall", "arch", "success", "exit") + (
    SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS)
ACTIVITY_FIELDS = ACTIVITY_HEAD + (
    "argv", "argc", "cwd", "path", "dirfd", "fd", "flags", "mode", "created", "bytes", "new_fd",
    "max_fd", "cloexec", "child", "thread", "code", "new_root", "put_old", "new_path", "new_dirfd",
    "target", "signal", "proctitle", "names",
)


# -- syscalls -----------------------------------------------------------------

ARCH_X86_64 = 0xC000003E
ARCH_AARCH64 = 0xC00000B7
ARCH_I386 = 0x40000003  # 32-bit programs on x86_64 (IA32 emulation), and i386 itself
ARCH_NAMES = {ARCH_X86_64: "x86_64", ARCH_AARCH64: "aarch64", ARCH_I386: "i386"}
_ARCH_COLUMN = {ARCH_X86_64: 1, ARCH_AARCH64: 2, ARCH_I386: 3}
# The 32-bit table a native architecture also runs, whose calls the rules cover too.
# (aarch64's, arm's EABI table, is not here yet.)
COMPAT_ARCHES = {ARCH_X86_64: (ARCH_I386,)}

# Cook codes: how the cook reads a call's arguments. Both cooks switch on these.
(SPAWN_CLONE, SPAWN_CLONE3, SPAWN_FORK, EXEC, EXEC_AT, EXIT, EXIT_GROUP,
 OPEN, OPEN_AT, OPEN_AT2, CREAT, WRITE, CLOSE, CLOSE_RANGE, DUP, DUP2, DUP3, FCNTL,
 PIVOT_ROOT, CHDIR, FCHDIR, RENAME, RENAME_AT, UNLINK, UNLINK_AT, KILL, TKILL, TGKILL,
 WRITE_A2) = range(1, 30)
COOK_CODES = 30  # one past the last

# name -> (cook code, x86_64 number, aarch64 number, i386 number); None where the
# arch lacks it. The i386 numbers are arch/x86/entry/syscalls/syscall_32.tbl's; its
# calls take the same arguments in a0..a3 as their 64-bit namesakes (clone's flags in
# a0 too), fcntl64 and sendfile64 as fcntl and sendfile.
SYSCALLS: dict[str, tuple] = {
    "clone": (SPAWN_CLONE, 56, 220, 120),
    "clone3": (SPAWN_CLONE3, 435, 435, 435),
    "fork": (SPAWN_FORK, 57, None, 2),
    "vfork": (SPAWN_FORK, 58, None, 190),
    "execve": (EXEC, 59, 221, 11),
    "execveat": (EXEC_AT, 322, 281, 358),
    "exit": (EXIT, 60, 93, 1),
    "exit_group": (EXIT_GROUP, 231, 94, 252),
    "open": (OPEN, 2, None, 5),
    "openat": (OPEN_AT, 257, 56, 295),
    "openat2": (OPEN_AT2, 437, 437, 437),
    "creat": (CREAT, 85, None, 8),
    "write": (WRITE, 1, 64, 4),
    "pwrite64": (WRITE, 18, 68, 181),
    "writev": (WRITE, 20, 66, 146),
    "pwritev": (WRITE, 296, 70, 334),
    "pwritev2": (WRITE, 328, 287, 379),
    # Writes that name their output fd elsewhere: sendfile(out, in, ...) in a0,
    # splice and copy_file_range(in, off, out, ...) in a2. busybox cat copies
    # with sendfile: without these, `cat a > b` wrote nothing to b.
    "sendfile": (WRITE, 40, 71, 187),
    "sendfile64": (WRITE, None, None, 239),
    "splice": (WRITE_A2, 275, 76, 313),
    "copy_file_range": (WRITE_A2, 326, 285, 377),
    "close": (CLOSE, 3, 57, 6),
    "close_range": (CLOSE_RANGE, 436, 436, 436),
    "dup": (DUP, 32, 23, 41),
    "dup2": (DUP2, 33, None, 63),
    "dup3": (DUP3, 292, 24, 330),
    "fcntl": (FCNTL, 72, 25, 55),
    "fcntl64": (FCNTL, None, None, 221),
    "pivot_root": (PIVOT_ROOT, 155, 41, 217),
    "chdir": (CHDIR, 80, 49, 12),
    "fchdir": (FCHDIR, 81, 50, 133),
    "rename": (RENAME, 82, None, 38),
    "renameat": (RENAME_AT, 264, 38, 302),
    "renameat2": (RENAME_AT, 316, 276, 353),
    "unlink": (UNLINK, 87, None, 10),
    "rmdir": (UNLINK, 84, None, 40),
    "unlinkat": (UNLINK_AT, 263, 35, 301),
    "kill": (KILL, 62, 129, 37),
    "tkill": (TKILL, 200, 130, 238),
    "tgkill": (TGKILL, 234, 131, 270),
}

# The call -> kind rules. The kind of activity each call makes; fcntl and
# close_range make `cloexec` instead when their arguments say so.
KINDS = {
    SPAWN_CLONE: "spawn", SPAWN_CLONE3: "spawn", SPAWN_FORK: "spawn",
    EXEC: "exec", EXEC_AT: "exec", EXIT: "exit", EXIT_GROUP: "exit",
    OPEN: "open", OPEN_AT: "open", OPEN_AT2: "open", CREAT: "open",
    WRITE: "write", WRITE_A2: "write", CLOSE: "close", CLOSE_RANGE: "close",
    DUP: "dup", DUP2: "dup", DUP3: "dup", FCNTL: "dup", PIVOT_ROOT: "pivot_root",
    CHDIR: "chdir", FCHDIR: "chdir", RENAME: "rename", RENAME_AT: "rename",
    UNLINK: "unlink", UNLINK_AT: "unlink", KILL: "kill", TKILL: "kill", TGKILL: "kill",
}
# The kind fcntl(F_SETFD) and close_range(CLOSE_RANGE_CLOEXEC) make: marks, not copies.
CLOEXEC_KIND = "cloexec"
# A call that failed makes an activity only when it tried to open or run a file;
# exit and exit_group never return, so they have no result to fail with.
COOKED_WHEN_FAILED = frozenset({OPEN, OPEN_AT, OPEN_AT2, CREAT, EXEC, EXEC_AT, EXIT, EXIT_GROUP})
# Calls whose activity (or none) depends on their result or arguments: a spawn
# only with a child (exit > 0), fcntl only for the commands below, close_range
# with CLOSE_RANGE_CLOEXEC marks instead of closing.
DECIDED_BY_ARGUMENTS = frozenset({SPAWN_CLONE, SPAWN_CLONE3, SPAWN_FORK, FCNTL, CLOSE_RANGE})

# How the rules group the calls: processes always; opens even when they fail (a
# failed open is worth seeing); fd bookkeeping only when it succeeded.
PROCESS_CALLS = ("clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group",
                 "pivot_root", "chdir", "fchdir", "rename", "renameat", "renameat2",
                 "unlink", "rmdir", "unlinkat", "kill", "tkill", "tgkill")
OPEN_CALLS = ("open", "openat", "openat2", "creat")
FD_CALLS = ("write", "pwrite64", "writev", "pwritev", "pwritev2",
            "sendfile", "sendfile64", "splice", "copy_file_range",
            "close", "close_range", "dup", "dup2", "dup3")
# fcntl is only worth a record for the commands that duplicate or mark close-on-exec.
F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC = 0, 2, 1030
FCNTL_COMMANDS = (F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD)
FCNTL_CALLS = ("fcntl", "fcntl64")


def table(arch: int) -> dict[int, tuple[str, int]]:
    """number -> (name, cook code) for one architecture; {} for one godo does not know."""
    column = _ARCH_COLUMN.get(arch)
    if column is None:
        return {}
    return {entry[column]: (name, entry[0]) for name, entry in SYSCALLS.items() if entry[column] is not None}


def numbers(arch: int, names) -> frozenset[int]:
    """The numbers of the named calls on `arch` (the ones it has)."""
    column = _ARCH_COLUMN[arch]
    return frozenset(SYSCALLS[n][column] for n in names if SYSCALLS[n][column] is not None)


# -- kernel values the cook reads arguments with --------------------------------

# The generic values (x86_64, i386 and aarch64 alike), but O_TMPFILE's: its
# O_DIRECTORY part is arm's on aarch64 (`o_tmpfile` below).
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
FD_CLOEXEC = 1  # fcntl(F_SETFD)'s flag
EXIT_CODE_MASK = 0xFF  # exit_group(status): the parent sees status & 0xff


# -- frames and bounds ----------------------------------------------------------

NLMSGHDR_SIZE = 16
MAX_DATAGRAM = 10240  # receive buffer per datagram; the kernel's MAX_AUDIT_MESSAGE_LENGTH is 8970

# Bounds that keep a pipeline's memory finite whatever it is fed, the same in both
# twins so they agree on every input.
MAX_LINE = 1 << 16  # the kernel's longest record is 8970 bytes; ENRICHED adds less
MAX_BYTES = 64 << 20  # default budget of the record text held by events in flight
RECORD_COST = 64  # what keeping one record costs besides its text
MAX_ERRORS_KEPT = 100

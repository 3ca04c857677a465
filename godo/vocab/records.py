"""Audit records as the kernel writes them: types, the fields godo reads, frames.

Record types and how `parse_record` types a field; the SYSCALL fields the cook reads,
in the one order both cooks check them and the compiled parser lays them out in (its
enum and key lookup are written from SYSCALL_FIELDS at build time); netlink sizes.
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


# -- fields ---------------------------------------------------------------------

# How `parse_record` types a field: decoded text, decimal, hex number or raw.
TEXT_FIELDS = frozenset({"comm", "exe", "name", "cwd", "proctitle", "key", "new_root", "put_old"})
DECIMAL_FIELDS = frozenset({
    "syscall", "exit", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid",
    "fsuid", "egid", "sgid", "fsgid", "ses", "item", "inode", "ouid", "ogid", "argc",
})
HEX_FIELDS = frozenset({"arch", "a0", "a1", "a2", "a3"})

# The SYSCALL fields the cook reads, in the order it checks them (a record read
# the general way reports the first bad one): the call's, then the task's, then
# the ids, read when the record has them (the kernel always writes them) and
# checked when it does. SYSCALL_FIELDS is the compiled parser's layout: its
# F_ARCH... enum and its key lookup are written from it at build time
# (_ext/godo/hotpath/vocab_pxi.py), and the compiled module says which it was
# built from, so a stale build fails a test.
SYSCALL_CALL_FIELDS = ("arch", "syscall", "success", "exit", "a0", "a1", "a2", "a3")
SYSCALL_TASK_FIELDS = ("pid", "ppid", "uid", "auid", "comm", "exe")
SYSCALL_ID_FIELDS = ("euid", "suid", "gid", "egid", "ses", "tty")
SYSCALL_FIELDS = SYSCALL_CALL_FIELDS + SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS
# tty= when the process has no terminal; the activity's tty is None then.
NO_TTY = "(none)"

# ENRICHED logs (auditd's log_format = ENRICHED) append to a record, after a 0x1d
# byte, what auditd made of its numbers: `UID="root" AUID="alice" SYSCALL=openat`.
# The names an activity keeps (`names`, keyed in lower case), from the SYSCALL record.
ENRICHED_NAMES = {"AUID": "auid", "UID": "uid", "EUID": "euid", "SUID": "suid", "GID": "gid",
                  "EGID": "egid", "SYSCALL": "syscall", "ARCH": "arch"}


# -- netlink frames -------------------------------------------------------------

NLMSGHDR_SIZE = 16
MAX_DATAGRAM = 10240  # receive buffer per datagram; the kernel's MAX_AUDIT_MESSAGE_LENGTH is 8970

"""Record types and the fields godo reads: the facts both twins share.

Kept apart from either twin so the compiled and pure-Python hot paths, the
fixture tools and the tests read the same table.
"""

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


def is_multi_record(rtype: int) -> bool:
    """Whether a record is one part of a syscall event (which later records or
    an EOE complete) rather than a whole event on its own."""
    return 1300 <= rtype < 1500 and rtype != EOE


# How `parse_record` types a field: decoded text, decimal, hex number or raw.
TEXT_FIELDS = frozenset({"comm", "exe", "name", "cwd", "proctitle", "key", "new_root", "put_old"})
DECIMAL_FIELDS = frozenset({
    "syscall", "exit", "items", "ppid", "pid", "auid", "uid", "gid", "euid", "suid",
    "fsuid", "egid", "sgid", "fsgid", "ses", "item", "inode", "ouid", "ogid", "argc",
})
HEX_FIELDS = frozenset({"arch", "a0", "a1", "a2", "a3"})


# Kernel values the cooks read syscall arguments with. They are the generic
# (x86_64 and aarch64 alike) values except O_TMPFILE, whose O_DIRECTORY part is
# 0o40000 on aarch64: an aarch64 log's tmpfile opens lose their mode.
AT_FDCWD = -100
CLONE_THREAD = 0x10000
O_ACCMODE, O_WRONLY, O_RDWR = 0o3, 0o1, 0o2
O_CREAT, O_TRUNC, O_APPEND, O_CLOEXEC, O_TMPFILE = 0o100, 0o1000, 0o2000, 0o2000000, 0o20200000
CLOSE_RANGE_CLOEXEC = 4
NLMSGHDR_SIZE = 16
MAX_DATAGRAM = 10240  # receive buffer per datagram; the kernel's MAX_AUDIT_MESSAGE_LENGTH is 8970

# Bounds that keep a pipeline's memory finite whatever it is fed, the same in both
# twins so they agree on every input.
MAX_LINE = 1 << 16  # the kernel's longest record is 8970 bytes; ENRICHED adds less
MAX_BYTES = 64 << 20  # default budget of the record text held by events in flight
RECORD_COST = 64  # what keeping one record costs besides its text
MAX_ERRORS_KEPT = 100

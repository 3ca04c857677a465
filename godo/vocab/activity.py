"""The cooked-event contract's fields, in its order: what `Activity.to_dict()` gives
and `godo replay --jsonl` prints. Both twins' Activity classes are written from
these names (the compiled one at build time, by _ext/godo/hotpath/vocab_pxi.py).
"""

from .records import SYSCALL_ID_FIELDS, SYSCALL_TASK_FIELDS

# The head comes from the SYSCALL record and is the constructor's arguments (its
# last twelve the task's, in SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS order); the
# rest are what a kind adds, and `names`, what an ENRICHED log named (absent in a
# RAW one).
ACTIVITY_HEAD = ("kind", "ts", "serial", "syscall", "arch", "success", "exit") + (
    SYSCALL_TASK_FIELDS + SYSCALL_ID_FIELDS)
ACTIVITY_FIELDS = ACTIVITY_HEAD + (
    "argv", "argc", "cwd", "path", "dirfd", "fd", "flags", "mode", "created", "bytes", "new_fd",
    "max_fd", "cloexec", "child", "thread", "code", "new_root", "put_old", "new_path", "new_dirfd",
    "target", "signal", "proctitle", "names",
)

"""Writes what the compiled twin must know of the vocabulary (godo/vocab) at compile
time, so that it is stated once for both twins:

- activity_fields.pxi (for _hotpath_c.pxd) and activity.pxi (for _hotpath_c.pyx): the
  Activity class, from vocab.activity's ACTIVITY_HEAD and ACTIVITY_FIELDS
- syscall_fields.pxi (for _hotpath_c.pxd): the F_ARCH... enum, the SYSCALL fields'
  places in a Record, from vocab.records.SYSCALL_FIELDS
- syscall_keys.pxi (for parse.pxi): which field a SYSCALL key is, and the field list
  the module was built from (`SYSCALL_FIELDS`, which a test holds to the vocabulary's)

setup.py runs it before Cython; the files it writes are build output, like the .c files.

    python _ext/godo/hotpath/vocab_pxi.py ROOT _ext/godo/hotpath

ROOT is the checkout (where godo/vocab is): the vocabulary imports nothing else of godo.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HEADER = "# Written by _ext/godo/hotpath/vocab_pxi.py from godo/vocab: do not edit.\n"

# Included by _hotpath_c.pxd: the fields, so that other compiled modules (the
# tracker) read an activity's fields as the C struct they are.
DECLARATION = HEADER + '''
cdef class Activity:
{declarations}
'''

# Included by _hotpath_c.pyx: the methods.
DEFINITION = HEADER + '''
cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)

# Holds only str, int, float, bool and lists of str: it cannot close a reference
# cycle, and untracked it costs the cyclic GC nothing however many a batch holds.
# A batch's activities die together and the next batch's are made at once: kept on
# a free list, their memory is reused instead of freed and allocated again.
@cython.no_gc
@cython.freelist(2048)
cdef class Activity:
    """One cooked audit event: what a process did, in the cooked-event contract."""

    def __init__(self, {head}):
{assignments}

    def to_dict(self) -> dict:
        """The contract's JSON object: every field that has a value, in order."""
        # Sized for every field at once: grown one key at a time, a dict of this
        # many keys is resized twice on the way.
        cdef dict out = _PyDict_NewPresized({count})
{copies}
        return out

    def __repr__(self) -> str:
        return f"Activity({{self.to_dict()!r}})"
'''


def render(head: tuple, fields: tuple) -> tuple[str, str]:
    """(the declaration, the definition)."""
    declarations = "\n".join(f"    cdef public object {name}" for name in fields)
    assignments = "\n".join(f"        self.{name} = {name}" for name in head)
    copies = "\n".join(f"        if self.{name} is not None:\n            out[{name!r}] = self.{name}"
                       for name in fields)
    return (DECLARATION.format(declarations=declarations),
            DEFINITION.format(head=", ".join(head), assignments=assignments, copies=copies,
                              count=len(fields)))


# Included by _hotpath_c.pxd: a Record keeps one slice per field, in this order.
FIELDS_ENUM = HEADER + """
cdef enum:
{members}
    NSYS
"""

# Included by parse.pxi: a key -> its field, by length then bytes (no object made).
KEYS = HEADER + """
SYSCALL_FIELDS = {fields!r}


cdef inline int _sys_field(const char* k, Py_ssize_t n) noexcept:
    \"\"\"Which SYSCALL field a key is, or -1 for the ones the cook never reads.\"\"\"
{branches}
    return -1
"""


def render_syscall(fields: tuple) -> tuple[str, str]:
    """(the enum, the key lookup) of the SYSCALL fields."""
    members = "\n".join(f"    F_{name.upper()}" for name in fields)
    branches = []
    for size in sorted({len(name) for name in fields}):
        branches.append(f"    {'if' if not branches else 'elif'} n == {size}:")
        for name in (n for n in fields if len(n) == size):
            branches.append(f"        if memcmp(k, b\"{name}\", {size}) == 0:\n"
                            f"            return F_{name.upper()}")
    return (FIELDS_ENUM.format(members=members),
            KEYS.format(fields=tuple(fields), branches="\n".join(branches)))


def write(root: Path, directory: Path) -> None:
    """The four files in `directory`, from the vocabulary under `root`; each rewritten
    only when it changes (the build goes by their mtimes)."""
    sys.path.insert(0, str(root))
    try:
        activity = importlib.import_module("godo.vocab.activity")
        records = importlib.import_module("godo.vocab.records")
    finally:
        sys.path.remove(str(root))
    texts = render(activity.ACTIVITY_HEAD, activity.ACTIVITY_FIELDS) + render_syscall(records.SYSCALL_FIELDS)
    for name, text in zip(("activity_fields.pxi", "activity.pxi", "syscall_fields.pxi",
                           "syscall_keys.pxi"), texts):
        out = directory / name
        if not out.exists() or out.read_text() != text:
            out.write_text(text)


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]))

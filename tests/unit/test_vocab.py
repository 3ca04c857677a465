"""The audit vocabulary (godo.vocab): written once, read by every stage, and what the
compiled hot path was built from is what the vocabulary says."""

from __future__ import annotations

import ast
import importlib
import runpy
from pathlib import Path

import pytest

from godo import twins
from godo.vocab import activity, calls, records, syscalls

ROOT = Path(__file__).resolve().parents[2]
VOCAB = ROOT / "godo" / "vocab"
GEN = runpy.run_path(str(ROOT / "scripts" / "gen-syscalls.py"))


def test_vocab_imports_nothing_else_of_godo():
    for module in VOCAB.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or not (node.module or "").startswith("godo"), module.name
                assert node.level <= 1, f"{module.name} reaches out of godo.vocab"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("godo") for a in node.names), module.name


def test_compiled_hot_path_was_built_from_this_vocabulary():
    """The compiled parser's F_ARCH... layout and key lookup are written from
    SYSCALL_FIELDS at build time: a build older than the vocabulary fails here."""
    if twins.NO_EXTENSIONS:
        pytest.skip("GODO_NO_EXTENSIONS is set: no compiled twin to hold to the vocabulary")
    compiled = importlib.import_module(twins.TWINS["hotpath"][0])
    assert compiled.SYSCALL_FIELDS == records.SYSCALL_FIELDS
    fields = compiled.Activity(*[None] * len(activity.ACTIVITY_HEAD))
    assert all(hasattr(fields, name) for name in activity.ACTIVITY_FIELDS)


def test_syscall_fields_are_three_parts_of_one_order():
    assert records.SYSCALL_FIELDS == (records.SYSCALL_CALL_FIELDS + records.SYSCALL_TASK_FIELDS
                                      + records.SYSCALL_ID_FIELDS)
    assert len(set(records.SYSCALL_FIELDS)) == len(records.SYSCALL_FIELDS)
    assert activity.ACTIVITY_HEAD[-12:] == records.SYSCALL_TASK_FIELDS + records.SYSCALL_ID_FIELDS


# -- the kernel's numbers ----------------------------------------------------------

TABLE = """\
# <number> <abi> <name> <entry point>
0\tcommon\tread\t\t\tsys_read
1\tcommon\twrite\t\t\tsys_write
59\t64\texecve\t\t\tsys_execve
520\tx32\texecve\t\t\tcompat_sys_execve
4\ttime32\tio_getevents\t\tsys_io_getevents_time32
5\t64\tio_getevents\t\tsys_io_getevents
"""


def test_gen_syscalls_takes_the_rows_of_its_abis():
    assert GEN["read_table"](TABLE, {"common", "64"}) == {"read": 0, "write": 1, "execve": 59,
                                                         "io_getevents": 5}
    assert GEN["read_table"](TABLE, {"x32"}) == {"execve": 520}


def test_gen_syscalls_refuses_a_call_with_two_numbers():
    with pytest.raises(SystemExit, match="execve has two numbers"):
        GEN["read_table"](TABLE, {"64", "x32"})


def test_gen_syscalls_writes_once_the_rows_every_arch_numbers_alike():
    tables = {"a": {"read": 0, "clone3": 435, "openat2": 437, "odd": 450},
              "b": {"read": 3, "clone3": 435, "openat2": 437, "odd": 451, "old": 424}}
    common, own = GEN["split"](tables)
    assert common == {"clone3": 435, "openat2": 437}
    assert own == {"a": {"read": 0, "odd": 450}, "b": {"read": 3, "odd": 451, "old": 424}}
    # Below 424 a name and number alike on every arch is chance, not the kernel's rule.
    assert GEN["split"]({"a": {"x": 7}, "b": {"x": 7}}) == ({}, {"a": {"x": 7}, "b": {"x": 7}})


def test_committed_numbers_are_what_the_script_writes():
    """Each _numbers_*.py is the script's rendering of its own numbers: nobody edited
    it by hand (a row added by hand would not be the kernel's)."""
    common = importlib.import_module("godo.vocab._numbers_common")
    tables = {arch: importlib.import_module(f"godo.vocab._numbers_{arch}").NUMBERS for arch in GEN["TABLES"]}
    assert GEN["split"](tables)[0] == common.NUMBERS
    assert (VOCAB / "_numbers_common.py").read_text() == GEN["render_common"](common.KERNEL, common.NUMBERS)
    for arch, (table, abis) in GEN["TABLES"].items():
        module = importlib.import_module(f"godo.vocab._numbers_{arch}")
        own = {name: number for name, number in module.NUMBERS.items() if name not in common.NUMBERS}
        text = (VOCAB / f"_numbers_{arch}.py").read_text()
        assert (module.KERNEL, text) == (common.KERNEL, GEN["render"](arch, table, abis, module.KERNEL, own))


def test_each_arch_resolves_its_own_numbers_and_the_shared_ones():
    """The shared rows (_numbers_common) are in every arch's table, and each arch
    keeps its own: the numbers are the kernel's, before and after the tables were
    split."""
    x86, i386, arm = (syscalls.NUMBERS[a] for a in (syscalls.ARCH_X86_64, syscalls.ARCH_I386,
                                                    syscalls.ARCH_AARCH64))
    names = ("read", "openat", "renameat2", "execveat", "clone3", "openat2", "memfd_secret", "mseal")
    assert [x86[n] for n in names] == [0, 257, 316, 322, 435, 437, 447, 462]
    assert [i386[n] for n in names] == [3, 295, 353, 358, 435, 437, 447, 462]
    assert [arm[n] for n in names] == [63, 56, 276, 281, 435, 437, 447, 462]


def test_every_arch_has_the_calls_godos_rules_name_but_its_legacy_ones():
    lacking = {arch: [c.name for c in calls.CALLS if c.name not in table]
               for arch, table in syscalls.NUMBERS.items()}
    assert lacking == {
        syscalls.ARCH_X86_64: ["sendfile64", "fcntl64"],  # 32-bit names of sendfile, fcntl
        syscalls.ARCH_I386: [],
        # The generic table (arm64's) has only the *at calls and clone for these.
        syscalls.ARCH_AARCH64: ["fork", "vfork", "open", "creat", "sendfile64", "dup2", "fcntl64",
                                "rename", "unlink", "rmdir"]}


def test_the_kernels_numbers_of_calls_godo_cooks():
    # As the kernel's tables have them (and as godo typed them by hand before).
    x86, i386, arm = (syscalls.table(a) for a in (syscalls.ARCH_X86_64, syscalls.ARCH_I386,
                                                 syscalls.ARCH_AARCH64))
    assert (x86[257][0], x86[59][0], x86[435][0], x86[56][0]) == ("openat", "execve", "clone3", "clone")
    assert (i386[295][0], i386[11][0], i386[221][0], i386[239][0]) == ("openat", "execve", "fcntl64",
                                                                       "sendfile64")
    assert (arm[56][0], arm[221][0], arm[38][0]) == ("openat", "execve", "renameat")
    assert 2 not in arm  # aarch64 has no open(2)
    assert syscalls.table(0x1234) == {}


def test_every_row_is_a_call_of_some_architecture():
    known = set().union(*syscalls.NUMBERS.values())
    assert [c.name for c in calls.CALLS if c.name not in known] == []


# -- the rows ---------------------------------------------------------------------------

def test_a_row_placing_a_field_nobody_reads_is_refused(monkeypatch):
    bad = calls.call("write", "write", calls.FDS, fd=calls.arg(0), bytes=calls.arg(2))
    monkeypatch.setattr(calls, "CALLS", (bad,))
    with pytest.raises(ValueError, match="bytes is not a field a row places"):
        calls.check()


def test_a_row_of_an_unknown_kind_or_register_is_refused(monkeypatch):
    monkeypatch.setattr(calls, "CALLS", (calls.call("mkdir", "mkdir", calls.PROCESS),))
    with pytest.raises(ValueError, match="kind 'mkdir'"):
        calls.check()
    monkeypatch.setattr(calls, "CALLS", (calls.call("write", "write", calls.FDS, fd=calls.arg(4)),))
    with pytest.raises(ValueError, match="register 4"):
        calls.check()


def test_rule_groups_cover_every_row_once():
    groups = [calls.names(rule) for rule in (calls.PROCESS, calls.OPENS, calls.FDS, calls.FCNTL)]
    assert sorted(n for group in groups for n in group) == sorted(c.name for c in calls.CALLS)

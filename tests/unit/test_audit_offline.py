"""The audit control plane without the kernel: rules packed and unpacked as the
kernel takes them, every cooked syscall covered once, the session's state file."""

from __future__ import annotations

from godo.vocab import calls
from godo.vocab import syscalls as S
from godo.source import audit as A
from godo.source import rules as R
from godo.source.session import SessionState, Settings


ARCH = S.ARCH_X86_64


def test_rule_packs_and_unpacks_to_the_same_rule():
    for rule in R.build_rules(ARCH, exclude_pids={42, 7}, session=9):
        back = A.AuditRule.unpack(rule.pack())
        assert back.syscalls == rule.syscalls
        assert back.fields == [(f, o, v if isinstance(v, str) else v & 0xFFFFFFFF) for f, o, v in rule.fields]
        assert back.keys == ["godo"]


def _arch_of(rule):
    return next(v for f, _o, v in rule.fields if f == A.FIELD_ARCH)


def test_rules_cover_every_cooked_syscall_once_for_each_table():
    rules = R.build_rules(ARCH, exclude_pids={42})
    assert {_arch_of(r) for r in rules} == {S.ARCH_X86_64, S.ARCH_I386}
    for arch in (S.ARCH_X86_64, S.ARCH_I386):
        mine = [r for r in rules if _arch_of(r) == arch]
        assert len(mine) == 3 + len(calls.FCNTL_COMMANDS)
        covered = [nr for rule in mine[:3] for nr in rule.syscalls]
        assert len(covered) == len(set(covered))
        assert set(covered) | S.numbers(arch, calls.names(calls.FCNTL)) == set(S.table(arch))
        assert all((A.FIELD_PID, A.OP_NOT_EQUAL, 42) in r.fields for r in mine), "exclusions too"
    assert S.numbers(S.ARCH_I386, ["open", "creat", "execve", "openat"]) == {5, 8, 11, 295}
    # aarch64 has no compat table of godo's yet: its own rules only
    assert {_arch_of(r) for r in R.build_rules(S.ARCH_AARCH64)} == {S.ARCH_AARCH64}


def test_rules_are_described_with_their_own_table():
    rules = R.build_rules(ARCH, exclude_pids={42})
    native, compat = rules[1], rules[1 + len(rules) // 2]
    assert R.describe(native, ARCH) == ("-a always,exit -F arch=b64 "
                                        "-S creat,memfd_create,open,openat,openat2 "
                                        "-F pid!=42 -F key=godo")
    assert R.describe(compat, ARCH) == ("-a always,exit -F arch=b32 "
                                        "-S creat,memfd_create,open,openat,openat2 "
                                        "-F pid!=42 -F key=godo")
    fcntl64 = R.describe(rules[-1], ARCH)
    assert fcntl64.startswith("-a always,exit -F arch=b32 -S fcntl,fcntl64 ") and "-F a1=2" in fcntl64


def test_state_file_is_private(tmp_path):
    path = tmp_path / "state.json"
    SessionState(1, "b", Settings(0, 64, 0), rules=["00"]).save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SessionState.load(path).rules == ["00"]
    path.write_text("{not json")
    assert SessionState.load(path) is None
    assert SessionState.load(tmp_path / "missing.json") is None

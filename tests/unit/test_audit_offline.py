"""The audit control plane without the kernel: rules packed and unpacked as the
kernel takes them, every cooked syscall covered once, the session's state file."""

from __future__ import annotations

from godo.hotpath import contract as S
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


def test_rules_cover_every_cooked_syscall_once():
    rules = R.build_rules(ARCH)
    covered = [nr for rule in rules[:3] for nr in rule.syscalls]
    assert len(covered) == len(set(covered))
    assert set(covered) | S.numbers(ARCH, ["fcntl"]) == set(S.table(ARCH))


def test_state_file_is_private(tmp_path):
    path = tmp_path / "state.json"
    SessionState(1, "b", Settings(0, 64, 0), rules=["00"]).save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SessionState.load(path).rules == ["00"]
    path.write_text("{not json")
    assert SessionState.load(path) is None
    assert SessionState.load(tmp_path / "missing.json") is None

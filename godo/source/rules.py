"""The syscall rules godo installs: which calls, for whom, all carrying the key `godo`.

Rules are built here and nowhere else, so the rules godo adds and the rules it
removes are the same objects.
"""

from __future__ import annotations

from ..errors import AuditError
from ..vocab import calls
from ..vocab import syscalls as S
from . import audit as A


def build_rules(arch: int, *, exclude_pids=(), session: int | None = None) -> list[A.AuditRule]:
    """Exit-filter rules for `arch`, and the same for the 32-bit table it also runs
    (i386 on x86_64): a 32-bit program's calls have other numbers and arch=b32.

    `exclude_pids` are processes whose own syscalls must never be audited (godo,
    a local database server it writes to) or their writes feed back into the
    stream. `session`, when given, limits every rule to one audit session: the
    kernel then drops everything outside `godo record -- CMD` before it is sent.
    """
    rules = []
    for table in (arch,) + S.COMPAT_ARCHES.get(arch, ()):
        rules += _table_rules(table, exclude_pids, session)
    return rules


def _table_rules(arch: int, exclude_pids, session: int | None) -> list[A.AuditRule]:
    """The rules of one syscall table (one arch= value)."""
    common: list[tuple[int, int, int | str]] = [(A.FIELD_ARCH, A.OP_EQUAL, arch)]
    for pid in sorted(set(exclude_pids)):
        common.append((A.FIELD_PID, A.OP_NOT_EQUAL, pid))
    if session is not None:
        common.append((A.FIELD_SESSIONID, A.OP_EQUAL, session))
    key = (A.FIELD_FILTERKEY, A.OP_EQUAL, A.GODO_KEY)
    success = (A.FIELD_SUCCESS, A.OP_EQUAL, 1)

    rules = [
        A.AuditRule(S.numbers(arch, calls.names(calls.PROCESS)), common + [key]),
        A.AuditRule(S.numbers(arch, calls.names(calls.OPENS)), common + [key]),
        A.AuditRule(S.numbers(arch, calls.names(calls.FDS)), common + [success, key]),
    ]
    fcntl = S.numbers(arch, calls.names(calls.FCNTL))
    for command in calls.FCNTL_COMMANDS:
        rules.append(A.AuditRule(fcntl, common + [(A.FIELD_ARG0 + 1, A.OP_EQUAL, command), success, key]))
    return rules


def describe(rule: A.AuditRule, arch: int) -> str:
    """A rule the way auditctl -l prints it, for `godo status` and run documents; its
    calls named by the table of its own arch= (else `arch`'s)."""
    arch = next((value for fid, _op, value in rule.fields if fid == A.FIELD_ARCH), arch)
    names = {nr: name for nr, (name, _code) in S.table(arch).items()}
    calls = "all" if rule.all_syscalls else ",".join(
        sorted(names.get(nr, str(nr)) for nr in rule.syscalls))
    parts = ["-a always,exit" if rule.flags == A.FILTER_EXIT else f"-a list{rule.flags}"]
    field_names = {A.FIELD_ARCH: "arch", A.FIELD_PID: "pid", A.FIELD_PPID: "ppid",
                   A.FIELD_SESSIONID: "ses", A.FIELD_SUCCESS: "success",
                   A.FIELD_ARG0: "a0", A.FIELD_ARG0 + 1: "a1", A.FIELD_ARG0 + 2: "a2",
                   A.FIELD_ARG0 + 3: "a3", A.FIELD_FILTERKEY: "key", A.FIELD_LOGINUID: "auid",
                   A.FIELD_EXE: "exe"}
    ops = {A.OP_EQUAL: "=", A.OP_NOT_EQUAL: "!="}
    for fid, op, value in rule.fields:
        if fid == A.FIELD_ARCH:
            value = _ARCH_WORDS.get(value, hex(value))
        if fid == A.FIELD_ARCH and not calls:
            continue
        parts.append(f"-F {field_names.get(fid, f'field{fid}')}{ops.get(op, '?')}{value}")
        if fid == A.FIELD_ARCH:
            parts.append(f"-S {calls}")
    return " ".join(parts)


# auditctl's words for the arches: b64 the native tables, b32 the compat ones.
_ARCH_WORDS = {S.ARCH_X86_64: "b64", S.ARCH_AARCH64: "b64", S.ARCH_I386: "b32"}


def native_arch() -> int:
    """The audit architecture of this machine, whose syscall table the rules use."""
    import platform
    machine = platform.machine()
    if machine == "x86_64":
        return S.ARCH_X86_64
    if machine in ("aarch64", "arm64"):
        return S.ARCH_AARCH64
    raise AuditError(f"godo does not know the syscall table of {machine}")

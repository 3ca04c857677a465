"""The architectures godo reads audit records of, and their syscall numbers.

The numbers are the kernel's own (`_numbers_<arch>.py`, written from its syscall_*.tbl
by scripts/gen-syscalls.py, each extending `_numbers_common.py`: the calls numbered
alike on every architecture); which of those calls godo cooks, and how, is `calls`.
"""

from __future__ import annotations

from . import _numbers_aarch64, _numbers_i386, _numbers_x86_64
from .calls import CODES

ARCH_X86_64 = 0xC000003E
ARCH_AARCH64 = 0xC00000B7
ARCH_I386 = 0x40000003  # 32-bit programs on x86_64 (IA32 emulation), and i386 itself
ARCH_NAMES = {ARCH_X86_64: "x86_64", ARCH_AARCH64: "aarch64", ARCH_I386: "i386"}
# arch -> the kernel's numbers by call name
NUMBERS = {ARCH_X86_64: _numbers_x86_64.NUMBERS, ARCH_AARCH64: _numbers_aarch64.NUMBERS,
           ARCH_I386: _numbers_i386.NUMBERS}
# The 32-bit table a native architecture also runs, whose calls the rules cover too.
# (aarch64's, arm's EABI table, is not here yet.)
COMPAT_ARCHES = {ARCH_X86_64: (ARCH_I386,)}


def table(arch: int) -> dict[int, tuple[str, int]]:
    """number -> (name, cook code) of the calls godo cooks on `arch`; {} for an arch
    godo does not know."""
    numbers = NUMBERS.get(arch, {})
    return {numbers[name]: (name, code) for name, code in CODES.items() if name in numbers}


def numbers(arch: int, names) -> frozenset[int]:
    """The numbers of the named calls on `arch` (the ones it has)."""
    table = NUMBERS[arch]
    return frozenset(table[n] for n in names if n in table)

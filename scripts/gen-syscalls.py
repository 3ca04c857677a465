#!/usr/bin/env python3
"""Write godo's syscall numbers (godo/vocab/_numbers_*.py) from the kernel's own tables.

    python3 scripts/gen-syscalls.py LINUX_SOURCE_DIR

LINUX_SOURCE_DIR is an unpacked kernel source tree. The committed tables were written
from Debian's linux-source-6.12 package, version 6.12.118-1~deb12u1 (kernel 6.12.118):

    apt-get download linux-source-6.12=6.12.118-1~deb12u1
    dpkg-deb --fsys-tarfile linux-source-6.12_*.deb | tar -x ./usr/src/linux-source-6.12.tar.xz
    tar -xJf usr/src/linux-source-6.12.tar.xz --wildcards 'linux-source-6.12/Makefile' \\
        'linux-source-6.12/arch/x86/entry/syscalls/*.tbl' 'linux-source-6.12/scripts/syscall.tbl'
    python3 scripts/gen-syscalls.py linux-source-6.12

Each table is `<number> <abi> <name> [<entry point> ...]`, one call a line; a table
names several ABIs and an architecture takes the calls of its own:

  x86_64   arch/x86/entry/syscalls/syscall_64.tbl, abi common and 64 (not x32)
  i386     arch/x86/entry/syscalls/syscall_32.tbl, abi i386: also the table a 32-bit
           program runs on x86_64 (IA32 emulation, arch=40000003)
  aarch64  scripts/syscall.tbl, abi common and 64 and the ones arm64 asks for in
           arch/arm64/kernel/Makefile.syscalls (renameat rlimit memfd_secret)

Since Linux 5.1 every architecture numbers a new call alike, from 424 on: the rows
numbered so that all three tables hold alike are written once, to _numbers_common.py,
which each architecture's table extends with its own.

A call's numbers never change once a kernel is released, so a newer kernel only adds
rows: rerun this with its source to take them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "godo" / "vocab"

# arch -> (table in the kernel's source, the ABIs it takes)
TABLES = {
    "x86_64": ("arch/x86/entry/syscalls/syscall_64.tbl", {"common", "64"}),
    "i386": ("arch/x86/entry/syscalls/syscall_32.tbl", {"i386"}),
    "aarch64": ("scripts/syscall.tbl", {"common", "64", "renameat", "rlimit", "memfd_secret"}),
}


def read_table(text: str, abis: set[str]) -> dict[str, int]:
    """name -> number for the rows of `abis`."""
    numbers: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 3 or fields[1] not in abis:
            continue
        number, name = int(fields[0]), fields[2]
        if numbers.setdefault(name, number) != number:
            raise SystemExit(f"{name} has two numbers ({numbers[name]} and {number})")
    return numbers


def kernel_version(source: Path) -> str:
    head = (source / "Makefile").read_text()[:2000]
    parts = [re.search(rf"^{key} = (\S*)", head, re.M) for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL")]
    if not all(parts):
        raise SystemExit(f"{source}/Makefile does not say the kernel's version")
    return ".".join(part[1] for part in parts)


# Calls numbered from here on have one number on every architecture (Linux 5.1's
# io_uring and pidfd calls were the first).
FIRST_SHARED = 424


def split(tables: dict[str, dict[str, int]]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """(the rows from FIRST_SHARED on that every arch holds alike, each arch's other rows)."""
    rows = [{(name, number) for name, number in numbers.items() if number >= FIRST_SHARED}
            for numbers in tables.values()]
    common = dict(set.intersection(*rows))
    own = {arch: {name: number for name, number in numbers.items() if common.get(name) != number}
           for arch, numbers in tables.items()}
    return common, own


def _rows(numbers: dict[str, int]) -> str:
    by_number = sorted(numbers.items(), key=lambda kv: kv[1])
    return "".join(f"    {name!r}: {number},\n" for name, number in by_number)


def render_common(version: str, common: dict[str, int]) -> str:
    return (f'"""The syscall numbers every architecture shares, from Linux {version}\'s tables: the\n'
            f'calls numbered {FIRST_SHARED} on, alike everywhere since Linux 5.1. Each _numbers_<arch>.py\n'
            f'extends them with its own.\n\n'
            f'Written by scripts/gen-syscalls.py: do not edit."""\n\n'
            f"KERNEL = {version!r}\n\nNUMBERS = {{\n{_rows(common)}}}\n")


def render(arch: str, table: str, abis: set[str], version: str, own: dict[str, int]) -> str:
    """The arch's table: its own rows (`own`) and the shared ones."""
    return (f'"""{arch} syscall numbers, from Linux {version}\'s {table} (abi {", ".join(sorted(abis))}).\n\n'
            f'Written by scripts/gen-syscalls.py: do not edit."""\n\n'
            f"from . import _numbers_common\n\n"
            f"KERNEL = {version!r}\n\nNUMBERS = {{\n{_rows(own)}    **_numbers_common.NUMBERS,\n}}\n")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[0])
    version = kernel_version(source)
    tables = {arch: read_table((source / table).read_text(), abis) for arch, (table, abis) in TABLES.items()}
    common, own = split(tables)
    out = OUT / "_numbers_common.py"
    out.write_text(render_common(version, common))
    print(f"{out}: {len(common)} calls")
    for arch, (table, abis) in TABLES.items():
        out = OUT / f"_numbers_{arch}.py"
        out.write_text(render(arch, table, abis, version, own[arch]))
        print(f"{out}: {len(own[arch])} calls of its own, {len(tables[arch])} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

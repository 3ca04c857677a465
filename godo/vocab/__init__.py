"""The audit vocabulary, as data written once: what the kernel's audit records say
and what godo makes of them. Every stage reads it; it imports nothing from godo.

- `records`: record types, the SYSCALL fields the cook reads (one table, from which
  the compiled parser's layout is written at build time), netlink frame sizes
- `activity`: the cooked-event contract's fields, in order
- `kernel`: the kernel's values that arguments are read with (open flags, ...)
- `syscalls`: the architectures, and each one's syscall numbers, generated from the
  kernel's own `syscall_*.tbl` by scripts/gen-syscalls.py (`_numbers_*.py`)
- `calls`: each call godo cooks as one row: the kind of activity it makes, the audit
  rule it goes in, and which argument holds which field; both cooks interpret them
"""

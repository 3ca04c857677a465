# The compiled receiver (_ext/godo/source/_receive_c.pyx), as type checkers see it:
# the same names and signatures as its pure-Python twin, godo/source/_receive_py.py.

MAX_DATAGRAM: int

class Receiver:
    """Batches of audit datagrams from a netlink socket it does not own."""

    calls: int
    datagrams: int
    interrupted: int
    empty: int
    overruns: int
    def __init__(self, fd: int, slots: int = 64) -> None: ...
    def receive(self, timeout_ms: int) -> bytes: ...
    def detach(self) -> None: ...

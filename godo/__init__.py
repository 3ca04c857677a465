"""godo: records which processes ran in a host's containers, from which parent,
with which arguments, and which files each opened, wrote and closed, from the
kernel's audit stream into MongoDB."""

__version__ = "0.1.0"

"""The live source: the kernel side of one live run.

`AuditSession` owns it. It writes down what it is
about to change before changing it (a state file), so that every exit path, and
the next start after a SIGKILL, puts back exactly what it found: its rules
removed, the daemon pid released, `enabled`, backlog and wait restored. It also
tells how far audit reaches on this boot (`coverage`): an enable that is the
first of the boot is written down, as only tasks forked after it are audited.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AuditError, GodoError
from ..paths import boot_id
from . import audit as A
from . import coverage
from .receive import Receiver

SO_RCVBUFFORCE = 33
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
RECEIVE_BUFFER = 64 << 20  # the kernel doubles it: 128 MiB of queued datagrams
DRAIN_MARKER = b"godo-drain-"


@dataclass
class Settings:
    """The audit settings a run may change, and the values it found."""

    enabled: int
    backlog_limit: int
    backlog_wait_time: int

    @classmethod
    def of(cls, status: A.AuditStatus) -> "Settings":
        return cls(status.enabled, status.backlog_limit, status.backlog_wait_time)


@dataclass
class SessionState:
    """What a live run changed, written to disk before it changes it."""

    pid: int
    boot_id: str
    found: Settings
    registered: bool = False
    rules: list[str] = field(default_factory=list)  # packed rules, hex

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": self.pid, "boot_id": self.boot_id, "found": self.found.__dict__,
                       "registered": self.registered, "rules": self.rules}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "SessionState | None":
        try:
            raw = json.loads(path.read_text())
            return cls(raw["pid"], raw["boot_id"], Settings(**raw["found"]),
                       raw.get("registered", False), list(raw.get("rules", [])))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # A state file cut short by a crash: nothing in it can be trusted.
            return None


def require_root() -> None:
    """Live recording changes the kernel's audit rules and settings: root only.
    Asked by `godo record` before anything else, and by the session itself."""
    if os.geteuid() != 0:
        raise AuditError("live recording needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ)")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AuditSession:
    """The kernel side of one live run, as a context manager."""

    def __init__(self, state_path: Path, *, multicast: bool = False,
                 backlog_limit: int = 65536, backlog_wait_time: int = 0,
                 receive_slots: int = 256):
        self.state_path = state_path
        self.multicast = multicast
        self.backlog_limit = backlog_limit
        self.backlog_wait_time = backlog_wait_time
        self.receive_slots = receive_slots
        self.control: A.AuditControl | None = None
        self.sock: socket.socket | None = None
        self.receiver = None
        self.state: SessionState | None = None
        self.found: A.AuditStatus | None = None
        # Audit's reach on this boot (coverage.Coverage), and when this run turned
        # audit on (the boot clock's seconds; None: it was on already).
        self.coverage: coverage.Coverage | None = None
        self.enabled_at: float | None = None
        self.recovered = 0
        self._added: list[bytes] = []

    # -- start --------------------------------------------------------------

    def __enter__(self) -> "AuditSession":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Take the audit stream; on any failure put back what was changed."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        require_root()
        self.control = A.AuditControl()
        self.recovered = recover_stale(self.control, self.state_path)
        status = self.control.status()
        if status.locked:
            raise AuditError("the kernel's audit configuration is locked (enabled=2): "
                             "rules cannot be changed until reboot")
        if not self.multicast and status.pid and pid_alive(status.pid) and status.pid != os.getpid():
            raise A.AuditBusyError(
                f"the audit stream is owned by another daemon ({A.describe_pid(status.pid)}); "
                "use --multicast to record beside it")
        self.found = status
        self.state = SessionState(os.getpid(), boot_id(), Settings.of(status))
        self.state.save(self.state_path)

        self.sock = self._open_data_socket()
        wanted = {}
        if status.enabled != 1:
            wanted["enabled"] = 1
        if status.backlog_limit < self.backlog_limit:
            wanted["backlog_limit"] = self.backlog_limit
        if status.backlog_wait_time != self.backlog_wait_time:
            wanted["backlog_wait_time"] = self.backlog_wait_time
        self.coverage = coverage.decide(coverage.read_cmdline(), status.enabled,
                                        coverage.read_marker(self.state_path.parent),
                                        self.state.boot_id)
        if wanted:
            self.control.set_status(**wanted)
        if "enabled" in wanted:
            # Taken once the kernel has it: a task forked from now on is audited.
            self.enabled_at = coverage.boot_clock()
            if self.coverage.kind == coverage.FIRST:
                self.coverage = coverage.remember(self.state_path.parent, self.state.boot_id,
                                                  self.enabled_at, time.time())
        if not self.multicast:
            self.state.registered = True
            self.state.save(self.state_path)
            self.control.set_status(pid=os.getpid(), sock=self.sock)
        self.receiver = Receiver(self.sock.fileno(), self.receive_slots)

    def _open_data_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, A.NETLINK_AUDIT)
        try:
            sock.bind((0, 1 << (A.AUDIT_NLGRP_READLOG - 1) if self.multicast else 0))
        except OSError as exc:
            sock.close()
            raise AuditError(f"cannot bind the audit socket: {exc.strerror}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        try:
            # Losses show up in the kernel's `lost` counter; ENOBUFS on recv would
            # only interrupt the reader without telling it more.
            sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        except OSError:
            pass
        return sock

    def add_rules(self, rules: list[A.AuditRule]) -> None:
        """Install rules, writing each down before it goes in."""
        assert self.control is not None and self.state is not None
        for rule in rules:
            packed = rule.pack()
            self.state.rules.append(packed.hex())
            self.state.save(self.state_path)
            try:
                self.control.add_rule(rule)
            except AuditError as exc:
                if exc.errno != errno.EEXIST:
                    raise
            self._added.append(packed)

    def lost(self) -> int:
        assert self.control is not None
        return self.control.status().lost

    def status(self) -> A.AuditStatus:
        assert self.control is not None
        return self.control.status()

    # -- draining -----------------------------------------------------------

    def send_drain_marker(self) -> bytes:
        """Queue a user record behind everything the kernel holds for us: once it
        arrives, every record queued before it has been received."""
        assert self.control is not None
        marker = DRAIN_MARKER + os.urandom(6).hex().encode()
        try:
            self.control.send_user_message(marker)
        except AuditError:
            return b""
        return marker

    # -- stop ---------------------------------------------------------------

    def remove_rules(self) -> None:
        if self.control is None:
            return
        for packed in self._added:
            try:
                self.control.delete_rule(packed)
            except AuditError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        self._added.clear()
        if self.state is not None:
            self.state.rules.clear()
            self.state.save(self.state_path)

    def stop(self) -> None:
        """Put back what this run changed. Safe to call more than once."""
        if self.control is None:
            return
        errors = []
        for step in (self.remove_rules, self._release, self._restore):
            try:
                step()
            except (OSError, AuditError) as exc:
                errors.append(str(exc))
        if self.receiver is not None:
            self.receiver.detach()
            self.receiver = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if not errors:
            try:
                self.state_path.unlink()
            except FileNotFoundError:
                pass
        self.control.close()
        self.control = None
        if errors:
            raise AuditError("could not restore the audit settings: " + "; ".join(errors))

    def _release(self) -> None:
        if self.state is not None and self.state.registered and self.sock is not None:
            if self.control.status().pid == os.getpid():
                self.control.set_status(pid=0, sock=self.sock)
            self.state.registered = False

    def _restore(self) -> None:
        if self.state is None:
            return
        _restore_settings(self.control, self.state.found)


def _restore_settings(control: A.AuditControl, found: Settings) -> None:
    now = control.status()
    wanted = {}
    if now.backlog_limit != found.backlog_limit:
        wanted["backlog_limit"] = found.backlog_limit
    if now.backlog_wait_time != found.backlog_wait_time:
        wanted["backlog_wait_time"] = found.backlog_wait_time
    if now.enabled != found.enabled and now.enabled != 2:
        wanted["enabled"] = found.enabled
    if wanted:
        control.set_status(**wanted)


def recover_stale(control: A.AuditControl, state_path: Path) -> int:
    """Clean up after a godo run that died without stopping (SIGKILL, power cut):
    its rules out, its settings back. Returns how many stale rules were removed.
    Refuses to run beside a live godo that owns the state file."""
    state = SessionState.load(state_path)
    removed = 0
    if state is not None:
        if state.pid != os.getpid() and pid_alive(state.pid) and _is_godo(state.pid):
            raise GodoError(f"another godo is recording (pid {state.pid}); stop it first")
        for hexed in state.rules:
            try:
                control.delete_rule(bytes.fromhex(hexed))
                removed += 1
            except AuditError:
                pass
        if state.boot_id == boot_id():
            status = control.status()
            if state.registered and status.pid == state.pid:
                # The dead run's registration: the kernel lets a new daemon replace
                # a dead one, and releasing it needs its own socket, so only note it.
                pass
            _restore_settings(control, state.found)
        state_path.unlink(missing_ok=True)
    else:
        # No run wrote down any state, so no godo is live: rules with godo's key
        # are stale all the same (a run whose state file was lost with its disk).
        removed += control.delete_rules_with_key()
    return removed


def _is_godo(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"godo" in cmdline


def wait_for_marker(session: AuditSession, marker: bytes, on_batch, timeout: float = 5.0,
                    idle: float = 0.3) -> bool:
    """Receive until `marker` arrives (True), or nothing came for `idle` seconds
    after `timeout` (False). Every batch is handed to `on_batch`."""
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while True:
        batch = session.receiver.receive(50)
        now = time.monotonic()
        if batch:
            on_batch(batch)
            last = now
            if marker and marker in batch:
                return True
        elif now > deadline and now - last > idle:
            return False
        elif not marker and now - last > idle:
            return False

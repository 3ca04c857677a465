"""The command `godo record -- CMD` runs: forked with an audit session of its own,
once audit is on (a task forked before audit's first enable of a boot is never
audited), and held before its exec until godo's rules are in."""

from __future__ import annotations

import os
import shutil
import signal
import time

from ..errors import GodoError
from ..fds import open_fds

_UNSET_LOGINUID = 4294967295  # (uid_t)-1: no login uid was ever set


def check_command(argv: list[str]) -> None:
    """A command that can be run, or GodoError saying why not."""
    if not argv:
        raise GodoError("no command given after --")
    if shutil.which(argv[0]) is None:
        raise GodoError(f"command not found: {argv[0]}")


class Command:
    """CMD forked with its own audit session, held before exec until the rules
    that select that session are in."""

    def __init__(self, argv: list[str]):
        check_command(argv)
        self.argv = argv
        # What the command inherits: godo's stdio (everything else godo opens is
        # close-on-exec).
        self.inherited = {fd: path for fd, path in open_fds("self").items() if fd <= 2}
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: only plain syscalls until exec
            try:
                # The command's own dispositions from the start: a signal godo passes
                # on before the exec ends it, as it would end the command.
                for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                os.close(ready_r)
                os.close(go_w)
                os.write(ready_w, _new_audit_session())
                os.close(ready_w)
                os.read(go_r, 1)
                os.close(go_r)
                os.execvp(argv[0], argv)
            except BaseException as exc:  # noqa: BLE001 - the child must never return
                os.write(2, f"godo: cannot run {argv[0]}: {exc}\n".encode())
            os._exit(127)
        self.started = time.time()
        os.close(ready_w)
        os.close(go_r)
        answer = os.read(ready_r, 64)
        os.close(ready_r)
        self.session = int(answer) if answer.strip().isdigit() else None
        self._go = go_w
        self.status: int | None = None     # godo's own exit code: the shell's convention
        self.exit_code: int | None = None  # what waitpid said: the exit code ...
        self.signal: int | None = None     # ... or the signal that killed it
        self.reaped: float | None = None

    def go(self) -> None:
        try:
            os.write(self._go, b"g")
        except BrokenPipeError:
            pass  # it died before its exec (a signal passed on): the loop sees it gone
        os.close(self._go)
        self._go = None

    def abandon(self) -> None:
        if self._go is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.close(self._go)
            self._go = None
        self.wait(block=True)

    def wait(self, block: bool = False) -> bool:
        if self.status is not None:
            return True
        pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.reaped = time.time()
        if os.WIFSIGNALED(status):
            self.signal = os.WTERMSIG(status)
            self.status = 128 + self.signal  # killed by a signal: the shell's convention
        else:
            self.exit_code = self.status = os.WEXITSTATUS(status)
        return True


def _new_audit_session() -> bytes:
    """Write our loginuid (the same one, or our uid when unset) so the kernel gives
    this process a fresh audit session id; returns it, or b"-" if not allowed."""
    try:
        with open("/proc/self/loginuid") as f:
            loginuid = int(f.read())
        if loginuid == _UNSET_LOGINUID:
            loginuid = os.getuid()
        with open("/proc/self/loginuid", "w") as f:
            f.write(str(loginuid))
        with open("/proc/self/sessionid") as f:
            return f.read().strip().encode()
    except (OSError, ValueError):
        return b"-"

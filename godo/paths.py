"""Where godo keeps its data: one private directory, created 0700, and the checks
that keep other users out of it.

godo runs as root and writes an audit trail, so what it reads and writes must be
no one else's to change: a directory or file is used only when it is owned by
root or the user running godo, no group or other can write it, and it is not a
symlink; a directory above it that others can write (the sticky /tmp aside)
would let them swap it, so every directory above is checked too (OpenSSH's
`safe_path`).

pathlib is imported only where a data directory is named: every godo command
imports this module, and pathlib (with urllib and ipaddress under it) would be a
tenth of a replay's start-up."""

from __future__ import annotations

import errno
import os
import re
import stat

from .errors import ConfigError, GodoError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path


class UnsafePath(ConfigError):
    """A path another user could change: refused, with one line saying why."""


def _trusted(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _who_writes(mode: int) -> str:
    return "everyone" if mode & stat.S_IWOTH else "its group"


def check_owned(path: Path | str, st: os.stat_result, what: str) -> None:
    """Refuse `path` (its lstat/fstat `st`) unless root or we own it and neither
    group nor other can write it."""
    if not _trusted(st.st_uid):
        raise UnsafePath(f"{what} {path} is owned by uid {st.st_uid}, not root or uid "
                         f"{os.geteuid()}: refusing it")
    if st.st_mode & 0o022:
        raise UnsafePath(f"{what} {path} is writable by {_who_writes(st.st_mode)} "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}): refusing it; chmod go-w {path}")


def check_parents(path: Path | str, what: str) -> None:
    """Every directory above `path` (resolved) owned by root or us and writable by
    no one else, unless sticky (others cannot rename what is not theirs there)."""
    parent = os.path.dirname(os.fspath(path).rstrip("/")) or "."
    for directory in _up_to_root(os.path.realpath(parent)):
        try:
            st = os.stat(directory)
        except FileNotFoundError:
            continue  # made by godo, 0700, when it makes the directory below
        except OSError as exc:
            raise UnsafePath(f"cannot check {directory} above {what} {path}: {exc.strerror}") from None
        if not _trusted(st.st_uid):
            why = f"which uid {st.st_uid} owns"
        elif st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            why = f"which others can write to (mode {stat.S_IMODE(st.st_mode):04o})"
        else:
            continue
        raise UnsafePath(f"{what} {path} is in {directory}, {why}: refusing it")


def _up_to_root(directory: str):
    """`directory` (absolute), then each one above it, to the root."""
    while True:
        yield directory
        above = os.path.dirname(directory)
        if above == directory:
            return
        directory = above


def check_private_dir(path: Path, what: str = "directory", *, create: bool = True,
                      parents: bool = False) -> bool:
    """A directory of godo's: a real directory (never a symlink), ours or root's,
    that no group or other can write. With `create` it is made 0700 when missing
    and made 0700 when others may read it; without, nothing on disk changes (a
    read-only command). Returns whether it exists. `parents`: check the
    directories above it too."""
    if parents:
        check_parents(path, what)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return False
        # Every missing directory 0700 (Path.mkdir gives the parents it makes
        # the umask's mode), from the top down.
        for directory in (*reversed(path.parents), path):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass  # there already, or made meanwhile: the leaf is checked below
            except OSError as exc:
                raise GodoError(f"cannot make {what} {path}: {exc.strerror}") from None
        st = os.lstat(path)
    except OSError as exc:
        raise GodoError(f"cannot use {what} {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{what} {path} is a symlink (to {os.readlink(path)}): refusing it; "
                         "give the directory itself")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{what} {path} is not a directory")
    check_owned(path, st, what)
    if create and st.st_mode & 0o077 and st.st_uid == os.geteuid():
        try:
            _chmod_dir(path)
        except OSError as exc:
            raise GodoError(f"cannot make {what} {path} private: {exc.strerror}") from None
    return True


def _chmod_dir(path: Path) -> None:
    # Through an fd opened without following a symlink: the directory checked is
    # the directory changed.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def open_private(path: Path, flags: int, what: str, mode: int = 0o600) -> int:
    """os.open of a file of godo's, never through a symlink, refused unless it is a
    regular file that we or root own and no one else can write."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{what} {path} is a symlink: refusing it") from None
        raise GodoError(f"cannot use {what} {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{what} {path} is not a regular file")
        check_owned(path, st, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _configured_data_dir() -> Path:
    from pathlib import Path
    configured = os.environ.get("GODO_DATA_DIR")
    if configured:
        return Path(os.path.abspath(configured))
    if os.geteuid() == 0:
        return Path("/var/lib/godo")
    return Path.home() / ".local/share/godo"


def data_dir(create: bool = False) -> Path:
    """GODO_DATA_DIR, else /var/lib/godo for root, else ~/.local/share/godo,
    checked. `create` for a command that writes: made 0700 when missing."""
    return private_dir(_configured_data_dir(), create=create)


def run_dir(*, create: bool = True) -> Path:
    """Where a live run writes down what it changed in the kernel: one place per
    host (GODO_RUN_DIR, else /run/godo), whatever data directory a run uses, so
    the next start finds a dead run's state and never mistakes a live one's
    rules for stale. /run is emptied at boot, as the kernel's rules are. A
    command that only reads (`status`) makes nothing: `create` False."""
    from pathlib import Path
    configured = os.environ.get("GODO_RUN_DIR")
    if configured:
        return private_dir(Path(os.path.abspath(configured)), create=create)
    if os.geteuid() == 0:
        return private_dir(Path("/run/godo"), create=create)
    return data_dir(create=create)


def private_dir(path: Path, *, create: bool = True) -> Path:
    """A data directory of godo's (see `check_private_dir`), with the directories
    above it checked."""
    check_private_dir(path, "data directory", create=create, parents=True)
    return path


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown-boot"


def hostname() -> str:
    return os.uname().nodename


# A host name as a run and its documents name their host: a DNS name, an address
# (auditd's name_format numeric, IPv6 too) or a short user-set name; no spaces,
# no control or other bytes a terminal would act on.
_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]{0,252}")


def is_host_name(name: str) -> bool:
    return bool(_HOST_NAME.fullmatch(name))

"""A real container without Docker, for live tests and golden fixtures.

`build(base)` lays out, under `base`:

- `rootfs/`: a busybox-static root (every applet a symlink to /bin/busybox) with
  an `/init.sh` workload that writes, appends, renames and removes files in `/data`;
- `containerd-shim-runc-v2`: a copy of /bin/sh (dash). godo takes any process whose
  executable is named like a runtime shim for one, and its `-id` argument for the
  container id, exactly as it would for containerd's real shim.

The shim is run as `containerd-shim-runc-v2 -c SCRIPT -id <64 hex>`: dash reads
`-id` and the id as $0 and $1. SCRIPT forks `unshare --mount --pid --fork`, whose
child (pid 1 of the new pid namespace) bind-mounts the rootfs onto itself (pivot_root
wants a mount point), pivots into it, drops the old root and execs busybox's shell
on `/init.sh`. Everything happens for real, so the kernel audits the same syscalls
it would for a runc container.

Tests import this module as `support.containers` (`from support import containers`);
`python -m tests.support.capture container --container` captures it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = "/bin/busybox"
SHELL = "/bin/sh"
SHIM_NAME = "containerd-shim-runc-v2"

# What the container does, in busybox sh: each line one kind of activity the
# tracker attributes to the container (open+write, append, rename, unlink, a
# file opened by a child process and written through an inherited fd). The PATH
# has a directory the rootfs lacks, so each external command costs one failed
# execve first, as in images whose PATH names more than they hold.
INIT_SCRIPT = """\
export PATH=/usr/bin:/bin
cd /data
echo hello > a.txt
echo more >> a.txt
mv a.txt b.txt
cat b.txt > c.txt
rm b.txt
mkdir sub
echo nested > sub/d.txt
ls -la /data > /data/listing.txt
echo "$CONTAINER_ID" > /data/id.txt
"""

# Run by the shim (dash) with $1 = the container id. The `exit` keeps dash from
# exec'ing unshare in place of itself (dash execs the last command of `-c`): the
# shim must stay the parent, as a real shim does.
SHIM_SCRIPT = """\
CONTAINER_ID=$1 unshare --mount --pid --fork {sh} -c '
mount --bind "$0" "$0" && cd "$0" && pivot_root . .oldroot || exit 111
exec /bin/busybox sh -c "umount -l /.oldroot; exec /bin/busybox sh /init.sh"
' {rootfs}
exit $?
"""


@dataclass(frozen=True)
class Container:
    """What a test needs to run one container and to check what godo made of it."""

    argv: list[str]          # run this (as root) to start the container and wait for it
    rootfs: Path             # the host path of the container's `/`
    id: str                  # the 64-hex container id the shim is given
    shim: Path               # the shim executable (a copy of dash)

    @property
    def data(self) -> Path:
        """The host directory the workload writes to (`/data` inside)."""
        return self.rootfs / "data"


def build(base: Path, container_id: str | None = None, init_script: str = INIT_SCRIPT) -> Container:
    """Lay out a container under `base` (which must exist and be empty or absent),
    whose `/init.sh` is `init_script`."""
    base = Path(base)
    cid = container_id or secrets.token_hex(32)
    if len(cid) != 64 or any(c not in "0123456789abcdef" for c in cid):
        raise ValueError("a container id is 64 lowercase hex digits")
    rootfs = base / "rootfs"
    for sub in ("bin", "data", "proc", "tmp", ".oldroot"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (rootfs / "init.sh").write_text(init_script)
    shim = base / SHIM_NAME
    shutil.copy2(os.path.realpath(SHELL), shim)
    shim.chmod(0o755)
    script = SHIM_SCRIPT.format(sh=SHELL, rootfs=_quote(str(rootfs)))
    return Container([str(shim), "-c", script, "-id", cid], rootfs, cid, shim)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def expected_files(container: Container) -> dict[str, bytes]:
    """What the workload leaves in /data (host paths relative to it -> contents)."""
    return {
        "c.txt": b"hello\nmore\n",
        "sub/d.txt": b"nested\n",
        "id.txt": container.id.encode() + b"\n",
    }


if __name__ == "__main__":
    import sys
    import tempfile

    # `python -m tests.support.containers`: build one in a temp dir and run it (as root).
    with tempfile.TemporaryDirectory(prefix="godo-container-") as tmp:
        box = build(Path(tmp))
        status = subprocess.run(box.argv).returncode
        for name in sorted(p.relative_to(box.data) for p in box.data.rglob("*")):
            print(name)
        sys.exit(status)

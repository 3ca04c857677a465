"""32-bit system calls on x86_64 (IA32 emulation): godo installs its rules for
arch=b32 too, with the i386 numbers, and cooks the records the kernel writes for
them (arch=40000003), so what a 32-bit program does is recorded like the rest."""

from __future__ import annotations

import os
import platform
import subprocess

import pytest
from pymongo import MongoClient

from godo.cli import main
from support.paths import PROGRAMS

O_WRONLY_CREAT_TRUNC = 0o1101


@pytest.fixture
def compat32(tmp_path):
    """tests/programs/compat32.c built for this machine; skipped where the kernel
    cannot run 32-bit calls (the program tells: exit status 77)."""
    if platform.machine() != "x86_64":
        pytest.skip(f"32-bit compat calls are tested on x86_64; this is {platform.machine()}")
    binary = tmp_path / "compat32"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary),
                    str(PROGRAMS / "compat32.c")], check=True)
    probe = subprocess.run([str(binary), str(tmp_path / "probe.a"), str(tmp_path / "probe.b"),
                            "/bin/true"], capture_output=True, text=True, timeout=30)
    if probe.returncode == 77:
        pytest.skip("the kernel has no IA32 emulation (int $0x80 gave ENOSYS)")
    assert probe.returncode == 0, probe.stderr
    return binary


def test_a_32_bit_programs_files_and_exec_are_recorded(live_audit, godo_env, store_uri, db,
                                                       tmp_path, compat32):
    written, created = tmp_path / "written.txt", tmp_path / "created.txt"
    true = os.path.realpath("/bin/true")
    argv = [str(compat32), str(written), str(created), true]
    rc = main(["record", "--mongo", store_uri, "--", *argv])
    assert rc == 0
    with MongoClient(store_uri, serverSelectionTimeoutMS=5000) as client:
        run = client.get_default_database().runs.find_one({"command": argv})
    assert run["status"] == "finished" and run["kernel_lost"] == 0
    assert any("-F arch=b32 -S creat,memfd_create,open,openat,openat2" in rule for rule in run["rules"]), run["rules"]
    assert written.read_bytes() == b"32-bit\n"

    files = {f["path"]: f for f in db.files.find({"run": run["_id"]})}
    out = files[str(written)]
    assert (out["writes"], out["bytes"], out["created"], out["status"]) == (1, 7, True, "closed")
    assert out["flags"] == O_WRONLY_CREAT_TRUNC and out["mode"] == 0o644
    assert out["flag_names"] == ["O_WRONLY", "O_CREAT", "O_TRUNC"]
    made = files[str(created)]
    assert (made["created"], made["writes"], made["mode"]) == (True, 0, 0o600)

    proc = db.processes.find_one({"_id": out["process"]})
    assert proc["argv"] == [true] and proc["exe"] == true, "its 32-bit execve, cooked"
    assert [(e["exe"], e["arch"]) for e in proc["execs"]] == [(str(compat32), "x86_64"), (true, "i386")]
    assert proc["status"] == "exited" and proc["exit_code"] == 0
    assert proc["uid"] == proc["euid"] == os.getuid() and proc["ses"] == run["audit_session"]

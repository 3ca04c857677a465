"""godo against libauparse, live: a workload made up at test time (names and
arguments nobody has seen, odd bytes and all) is recorded with `godo record
--store null --raw-log`, then `godo replay --jsonl` of that log must agree with an
oracle built on libauparse (tests/programs/auparse_oracle.c, whose comment gives
its output) on every exec's argv, argument for argument, and on every successful
open's path, path for path.

Opens whose openat a0 is a real directory fd are left out: their names are
relative to that directory, which only a tracker of fd tables (godo's) knows.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import orjson

from support import capture

# Bytes a file name or argument may hold that the kernel (and a shell) must carry
# exactly: the kernel hex-encodes any value with one of the first eight.
ODD = [b" ", b"\n", b'"', b"\t", b"\xff", b"\xfe\x80", b"\xc3\xa9", b"\x7f", b"\\", b"'", b"$", b"*"]
PLAIN = b"abcdefghijklmnopqrstuvwxyz0123456789_.-"
# Longer than the ~7.5 KB the kernel puts in one EXECVE field: it splits them.
LONG = (9000, 12000, 21000)


def _word(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += rng.choice(ODD) if rng.random() < 0.3 else bytes([rng.choice(PLAIN)])
    if out[:1] == b"-":
        out[:1] = b"x"
    return bytes(out)


def _q(word: bytes) -> bytes:
    """One shell word, any bytes but NUL."""
    return b"'" + word.replace(b"'", b"'\\''") + b"'"


def workload(rng: random.Random, bin_dir) -> tuple[bytes, dict]:
    """A /bin/sh script of random blocks, and what it is meant to exercise."""
    lines = [b"umask 022", b"mkdir -p one 'two dirs' three"]
    made = {"names": [], "long": 0}
    blocks = ["shell_write", "child_write", "env_exec", "busybox_exec", "sh_args", "long_args",
              "failed_opens", "relative_after_cd", "dirfd", "script_exec", "dots", "open_calls",
              "long_name"]
    order = blocks + [rng.choice(blocks) for _ in range(6)]
    rng.shuffle(order)
    for block in order:
        name = _word(rng, rng.randint(200, 250) if block == "long_name" else rng.randint(3, 14))
        args = [_word(rng, rng.randint(1, 20)) for _ in range(rng.randint(1, 6))]
        if block == "shell_write":
            lines.append(b"printf '%s\\n' " + _q(args[0]) + b" > " + _q(name))
        elif block == "child_write":
            lines.append(b"/bin/echo " + b" ".join(map(_q, args)) + b" > one/" + _q(name))
            lines.append(b"/bin/cat one/" + _q(name) + b" >> two\\ dirs/" + _q(name))
        elif block == "env_exec":
            lines.append(b"env GODO_TEST=" + _q(args[0]) + b" cat one/" + _q(name) + b" 2>/dev/null"
                         b" > three/" + _q(name))
        elif block == "busybox_exec":
            lines.append(b"busybox sh -c 'cd \"$1\" && echo \"$2\" > \"$3\"' sh 'two dirs' "
                         + _q(args[0]) + b" " + _q(name))
            lines.append(b"busybox cat 'two dirs'/" + _q(name) + b" > /dev/null")
        elif block == "sh_args":
            lines.append(b"sh -c 'printf \"%s\\n\" \"$@\" > \"$0\"' " + _q(name) + b" "
                         + b" ".join(map(_q, args)))
        elif block == "long_args":
            size = rng.choice(LONG)
            made["long"] += 1
            lines.append(b"/bin/true " + _q(_word(rng, size)) + b" " + _q(args[0]))
        elif block == "failed_opens":
            lines.append(b"cat " + _q(b"missing-" + name) + b" 2>/dev/null")
            lines.append(b"( : < " + _q(b"one/no/such/" + name) + b" ) 2>/dev/null")
        elif block == "relative_after_cd":
            lines.append(b"cd 'two dirs' && printf x > " + _q(name) + b" && cat ./" + _q(name)
                         + b" ../one/../three/../" + b"*" + b" > /dev/null 2>&1; cd ..")
        elif block == "dirfd":
            # fts walks by directory fd (openat(fd, name)); the dirfd program too.
            lines.append(b"find . -type f > /dev/null")
            lines.append(b"cd three && " + _q(str(bin_dir / "dirfd").encode()) + b" " + _q(name)
                         + b"; cd ..")
        elif block == "script_exec":
            # A #! script: the EXECVE record holds the interpreter's argv.
            lines.append(b"printf '#!/bin/sh\\nprintf \"%%s\\\\n\" \"$@\" > \"$1\"\\n' > run.sh"
                         b" && chmod +x run.sh && ./run.sh " + _q(name) + b" " + b" ".join(map(_q, args)))
        elif block == "dots":
            lines.append(b"printf x > one/" + _q(name) + b" && cat ./one/.//../one/" + _q(name)
                         + b" 'two dirs'/../one//" + _q(name) + b" > /dev/null")
        elif block == "open_calls":
            lines.append(_q(str(bin_dir / "opencalls").encode()) + b" " + _q(name))
        elif block == "long_name":
            # One component of 200+ bytes, two levels down.
            lines.append(b"mkdir -p 'three/deep/er' && printf x > 'three/deep/er'/" + _q(name)
                         + b" && cat three/deep/er/" + _q(name) + b" > /dev/null")
        if block not in ("long_args", "failed_opens"):
            # A block that opens (one of) its files relative to its cwd.
            made["names"].append(name + b".creat" if block == "open_calls" else name)
    lines.append(b"exit 0")
    return b"\n".join(lines) + b"\n", made


def _oracle(tmp_path, log) -> list[dict]:
    binary = capture.compile_program("auparse_oracle", tmp_path / "bin")
    result = subprocess.run([str(binary), str(log)], capture_output=True, check=True, timeout=120)
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def _godo_replay(twin, log) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "GODO_NO_EXTENSIONS"}
    if twin.name == "pure":
        env["GODO_NO_EXTENSIONS"] = "1"
    result = subprocess.run([sys.executable, "-m", "godo", "replay", "--jsonl", str(log)], env=env,
                            capture_output=True, timeout=120)
    assert result.returncode == 0 and not result.stderr, result.stderr.decode(errors="replace")
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def _text(hexed: str) -> str:
    """The oracle's bytes as godo's contract writes them."""
    return bytes.fromhex(hexed).decode("utf-8", "backslashreplace")


def test_godo_agrees_with_libauparse(live_audit, twin, tmp_path):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    bin_dir = capture.compile_programs(tmp_path / "bin")
    work = tmp_path / "work"
    work.mkdir()
    script, made = workload(rng, bin_dir)
    (tmp_path / "workload.sh").write_bytes(script)
    log = tmp_path / "raw.log"
    result = capture.record(["/bin/sh", str(tmp_path / "workload.sh")], log, cwd=work)
    summary = result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"seed {seed}: {summary}"
    assert capture.kernel_lost(summary) == 0, summary

    oracle = _oracle(tmp_path, log)
    godo = _godo_replay(twin, log)
    where = f"seed {seed}, workload {tmp_path / 'workload.sh'}, log {log}"

    # Every exec, failed ones too (a PATH walk), and each argv argument for argument.
    oracle_execs = {e["serial"]: e for e in oracle if e["kind"] == "exec"}
    godo_execs = {a["serial"]: a for a in godo if a["kind"] == "exec"}
    assert sorted(godo_execs) == sorted(oracle_execs), where
    for serial, want in oracle_execs.items():
        got = godo_execs[serial]
        assert got["success"] is want["success"], (where, serial)
        if "argv" not in want:
            assert got.get("argv") is None, (where, serial)
            continue
        assert None not in want["argv"] and want["argc"] == len(want["argv"]), (where, serial)
        assert got["argv"] == [_text(a) for a in want["argv"]], (where, serial)

    # Every successful open whose name is relative to the cwd (or absolute).
    oracle_opens = {e["serial"]: e for e in oracle if e["kind"] == "open"}
    at_cwd = {s for s, e in oracle_opens.items() if e["atcwd"]}
    godo_opens = {a["serial"]: a for a in godo if a["kind"] == "open" and a["success"]}
    assert set(godo_opens) == set(oracle_opens), where
    for serial in at_cwd:
        want, got = oracle_opens[serial], godo_opens[serial]
        assert (got["syscall"], got["fd"]) == (want["syscall"], want["fd"]), (where, serial)
        assert got["path"] == _text(want["path"]), (where, serial)

    # The comparison covered what the workload was made to exercise.
    compared = {_text(oracle_opens[s]["path"]) for s in at_cwd}
    for name in made["names"]:
        shown = name.decode("utf-8", "backslashreplace")
        assert any(p.endswith("/" + shown) for p in compared), (where, name)
    args = [arg for e in oracle_execs.values() for arg in e.get("argv", [])]
    assert sum(len(a) // 2 > 7500 for a in args) == made["long"], where
    assert len(at_cwd) < len(oracle_opens), "dirfd-relative opens were made, and left out"
    assert {oracle_opens[s]["syscall"] for s in at_cwd} == {"open", "creat", "openat", "openat2"}
    assert any(e.get("argv", [""])[0] == "2f62696e2f7368" and len(e["argv"]) > 2
               and bytes.fromhex(e["argv"][1]) == b"./run.sh" for e in oracle_execs.values()), \
        "a #! script, whose EXECVE record holds its interpreter's argv"
    assert len([e for e in oracle_execs.values() if not e["success"]]) > 0, "a PATH walk"

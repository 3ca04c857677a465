"""Record the offline benchmark's corpus: a RAW audit.log of a real, mixed
workload on this machine, taken by godo itself.

    sudo .venv/bin/python benchmarks/record_corpus.py [--records 600000] [--out benchmarks/data/corpus.log]

Each pass runs `godo record --store null --raw-log OUT -- bash workload.sh`,
which gives the workload an audit session of its own, so the corpus holds the
workload's records and nothing else on the machine. The workload (written into
a temp dir) compiles C, runs Python doing file IO, tars and gzips a tree, runs
find/grep/sed/awk over /usr/share, creates/renames/removes files in shell loops
and commits to a throwaway git repo. Passes repeat until OUT holds --records
records. Takes /run/lock/godo-live.lock for each pass.

Prints the record count, size and type mix, and godo's own summary (kernel lost
among it) for each pass.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, LIVE_LOCK, godo_command

WORKLOAD = r"""#!/bin/bash
# One pass of the corpus workload. $1: a scratch dir; $2: a python interpreter.
set -u
W=$1
PY=$2
cd "$W"

# -- C builds: cc1/as/ld fork and exec, open many headers, write objects
mkdir -p cbuild && cd cbuild
for i in $(seq 1 6); do
  cat > unit$i.c <<EOF
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
int work$i(const char *p) { struct stat st; return stat(p, &st) == 0 ? (int)st.st_size % $i : -1; }
EOF
  gcc -O1 -c unit$i.c -o unit$i.o
done
cat > main.c <<'EOF'
#include <stdio.h>
int work1(const char *);
int main(int argc, char **argv) { printf("%d\n", work1(argc > 1 ? argv[1] : "/etc/passwd")); return 0; }
EOF
gcc -O1 main.c unit*.o -o prog && ./prog /etc/hostname > out.txt
cd "$W"

# -- Python doing file IO: many small files, rewrites, a JSON index
"$PY" - "$W/pyio" <<'EOF'
import json, os, sys, hashlib
root = sys.argv[1]
os.makedirs(root, exist_ok=True)
index = {}
for i in range(400):
    path = os.path.join(root, f"item{i:04d}.txt")
    with open(path, "w") as f:
        f.write(f"item {i}\n" * (i % 17 + 1))
    with open(path, "rb") as f:
        index[path] = hashlib.sha1(f.read()).hexdigest()
    if i % 3 == 0:
        os.rename(path, path + ".old")
    if i % 5 == 0:
        with open(path + ".log", "a") as f:
            for j in range(8):
                f.write(f"line {j}\n")
                f.flush()
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump(index, f)
for name in os.listdir(root):
    if name.endswith(".old"):
        os.unlink(os.path.join(root, name))
EOF

# -- tar + gzip of a directory tree, and back
tar czf doc.tgz -C /usr/share/doc . 2>/dev/null
mkdir -p untar && tar xzf doc.tgz -C untar 2>/dev/null
rm -rf untar doc.tgz

# -- find / grep / sed / awk over /usr/share
find /usr/share/doc -maxdepth 3 -type f -name 'copyright' | head -400 > copyrights.txt
xargs -a copyrights.txt grep -l -i 'gpl' > gpl.txt 2>/dev/null
grep -r -l -s 'License' /usr/share/common-licenses /usr/share/doc/base-files > lic.txt
find /usr/share/man/man1 -name '*.gz' | head -200 | while read -r f; do zcat "$f" | head -5 > /dev/null; done
sed -n 's/^Files: //p' $(head -100 copyrights.txt) > files.txt 2>/dev/null
awk -F: '{ n[$1]++ } END { for (k in n) print k, n[k] }' /etc/passwd /etc/group > users.txt
for f in $(head -60 copyrights.txt); do wc -l "$f" >> counts.txt; done

# -- shell loops: create, rename, append, remove
mkdir -p churn && cd churn
for i in $(seq 1 250); do
  echo "$i" > "f$i"
  mv "f$i" "g$i"
  echo more >> "g$i"
done
for i in $(seq 1 250); do cat "g$i" > /dev/null; done
rm -f g*
cd "$W"

# -- git: init, add, commit, log, a branch
git init -q repo && cd repo
git config user.email bench@example.invalid && git config user.name bench
cp "$W"/cbuild/*.c . && git add -A && git commit -q -m one
for i in $(seq 1 5); do echo "change $i" >> unit1.c; git commit -q -am "change $i"; done
git checkout -q -b side && echo side > side.txt && git add side.txt && git commit -q -m side
git log --oneline > /dev/null && git gc -q 2>/dev/null
cd "$W"
rm -rf repo cbuild pyio churn
"""


def count_records(path: Path) -> tuple[int, collections.Counter]:
    mix: collections.Counter = collections.Counter()
    total = 0
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"type="):
                total += 1
                mix[line[5:line.find(b" ")].decode(errors="replace")] += 1
    return total, mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=600_000, help="at least this many (default 600000)")
    parser.add_argument("--out", default=str(DATA_DIR / "corpus.log"))
    parser.add_argument("--append", action="store_true", help="add to OUT instead of starting afresh")
    parser.add_argument("--max-passes", type=int, default=200)
    parser.add_argument("--backlog-wait", type=int, default=0,
                        help="passed to godo record: >0 makes the kernel hold the workload "
                        "back instead of losing records when godo falls behind")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("record_corpus needs root: godo record changes the kernel's audit rules", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.append:
        out.unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="godo-corpus-") as tmp:
        tmp_path = Path(tmp)
        script = tmp_path / "workload.sh"
        script.write_text(WORKLOAD)
        env = dict(os.environ, GODO_DATA_DIR=str(tmp_path / "godo-data"))
        total = count_records(out)[0] if out.exists() else 0
        passes = 0
        start = time.monotonic()
        while total < args.records and passes < args.max_passes:
            passes += 1
            scratch = tmp_path / f"pass{passes}"
            scratch.mkdir()
            cmd = ["flock", LIVE_LOCK, *godo_command(), "record", "--store", "null",
                   "--backlog-wait", str(args.backlog_wait), "--raw-log", str(out),
                   "--", "bash", str(script), str(scratch), sys.executable]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"pass {passes}: godo record exited {done.returncode}:\n{done.stderr}", file=sys.stderr)
                return 1
            before, total = total, count_records(out)[0]
            summary = " | ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
            print(f"pass {passes}: +{total - before:,} records (total {total:,})   godo: {summary}", flush=True)
    total, mix = count_records(out)
    size = out.stat().st_size
    print(f"\n{out}: {total:,} records, {size / 1e6:.1f} MB, {passes} pass(es) in "
          f"{time.monotonic() - start:.0f} s")
    for name, n in mix.most_common():
        print(f"  {name:<16} {n:>9,}  {100 * n / total:5.1f}%")
    return 0 if total >= args.records else 1


if __name__ == "__main__":
    sys.exit(main())

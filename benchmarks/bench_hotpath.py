"""pytest-benchmark: the hot path (parse -> assemble -> cook) over a log, both twins.

    .venv/bin/python -m pytest benchmarks/bench_hotpath.py

Not part of the default run (`testpaths` is tests). Inputs are built once, at
import, and each is a benchmark group with both twins in it:

  fixtures  the records of tests/data/*.log (captured live), repeated under fresh
            serials to 8 MiB: always there, so any checkout can run this
  corpus    the first 32 MiB of benchmarks/data/corpus.log, a recorded mixed
            workload (benchmarks/record_corpus.py), when one has been recorded

Each run feeds its input as `godo replay` feeds a file: feed_log() in 1 MiB
chunks, each batch of activities dropped once returned, then flush(). Records/s
(best round) is printed and kept in each result's extra_info. For the contest
with libauparse on the whole corpus, in fresh processes, see offline.py.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHUNK = 1 << 20
STAMP = re.compile(rb"msg=audit\((\d+\.\d+):(\d+)\)")


def _fixtures(size: int) -> bytes:
    logs = b"".join(p.read_bytes() for p in sorted((HERE.parent / "tests" / "data").glob("*.log")))
    copies = []
    for copy in range(size // len(logs) + 1):
        shift = copy * 10_000_000  # past every serial of the fixtures: no two copies share one
        copies.append(STAMP.sub(lambda m, shift=shift: b"msg=audit(%s:%d)" % (m[1], int(m[2]) + shift), logs))
    return b"".join(copies)


def _corpus(size: int) -> bytes | None:
    path = HERE / "data" / "corpus.log"
    if not path.exists():
        return None
    with open(path, "rb") as f:
        head = f.read(size)
    return head[:head.rfind(b"\n") + 1]


INPUTS = {"fixtures": _fixtures(8 << 20), "corpus": _corpus(32 << 20)}
CHUNKS = {name: [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
          for name, data in INPUTS.items() if data}


def _replay(Pipeline, chunks) -> int:
    pipeline = Pipeline()
    for chunk in chunks:
        pipeline.feed_log(chunk, "bench.log")
    pipeline.flush()
    return pipeline.records


@pytest.mark.parametrize("twin", ["compiled", "pure"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_replay(benchmark, name, twin):
    if name not in CHUNKS:
        pytest.skip("no corpus recorded at benchmarks/data/corpus.log (benchmarks/record_corpus.py)")
    try:
        module = importlib.import_module({"compiled": "godo.hotpath._hotpath_c", "pure": "godo.hotpath._pipeline_py"}[twin])
    except ImportError as exc:
        pytest.fail(f"the compiled twin is not built: {exc}")
    chunks = CHUNKS[name]
    benchmark.group = f"replay {name} ({len(INPUTS[name]) >> 20} MiB)"
    rounds = 5 if twin == "compiled" else 2
    records = benchmark.pedantic(_replay, args=(module.Pipeline, chunks), rounds=rounds, warmup_rounds=1)
    assert records == INPUTS[name].count(b"\n")
    per_second = records / benchmark.stats.stats.min
    benchmark.extra_info.update(records=records, records_per_second=round(per_second))
    print(f"\n{name} {twin}: {per_second / 1e6:.2f} M records/s (best of {rounds})")

"""Long fuzz of `godo replay` and of the spill journal: whatever the file, replay
ends (a GodoError at worst, for an unreadable or cut gzip), and whatever happens
to a journal's bytes, opening and reading it never raises and gives back a prefix
of what was appended. Not part of the default run; see README.md here."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godo.errors import GodoError
from godo.store.journal import Journal
from godo.run.replay import replay
from godo.store.base import NullStore

from fuzz_hotpath import LINES, mutated_line

EXAMPLES = int(os.environ.get("GODO_FUZZ_EXAMPLES", "20000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(LINES), mutated_line(), st.binary(max_size=200)),
                max_size=80),
       st.booleans(), st.floats(0, 1))
def test_replay_never_crashes(lines, gzipped, keep):
    text = b"\n".join(lines)
    if gzipped:
        text = gzip.compress(text)
        text = text[:int(len(text) * keep) or len(text)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.log"
        path.write_bytes(text)
        try:
            report = replay(str(path), NullStore(host="h"))
        except GodoError as exc:
            assert gzipped and "\n" not in str(exc)
            return
        assert report.pipeline["records"] + report.pipeline["malformed"] >= 0
        assert len(report.errors) <= 101


def _entries(start: int, n: int) -> list:
    return [("files", f"h:{i}", f"h:{i}", bson.encode({"_id": f"h:{i}", "n": i}))
            for i in range(start, start + n)]


@FUZZ
@given(st.lists(st.integers(1, 20), min_size=1, max_size=12),
       st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
       st.floats(0, 1))
def test_a_damaged_journal_gives_back_a_prefix(batches, flips, cut):
    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(Path(tmp) / "j", segment_bytes=1 << 20)
        appended, start = [], 0
        for n in batches:
            entries = _entries(start, n)
            j.append(entries)
            appended += [e[1] for e in entries]
            start += n
        j.close()
        (segment,) = sorted((Path(tmp) / "j").glob("*.seg"))
        data = bytearray(segment.read_bytes())
        for where, value in flips:
            data[int(where * (len(data) - 1))] = value
        segment.write_bytes(bytes(data[:max(1, int(len(data) * cut))] if cut < 1 else data))
        again = Journal(Path(tmp) / "j")
        got = []
        while (record := again.read()) is not None:
            entries, position = record
            got += [e[1] for e in entries]
            again.release(position)
        again.close()
        # A flipped byte inside a document that still checks out is impossible (crc32),
        # so what comes back is exactly the first records appended.
        assert got == appended[:len(got)]

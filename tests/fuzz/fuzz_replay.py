"""Long fuzz of `godo replay` and of the spill journal: whatever the file, replay
ends, every non-empty line is a record or is counted malformed, and a GodoError
comes only for a cut gzip or a log in which nothing parsed; whatever happens to a
journal's bytes, opening and reading it never raises and gives back what was
appended, less the documents it counts as lost. Not part of the default run; see README.md here."""

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


class _RunKeeper(NullStore):
    """A store that keeps nothing but the last `runs` document written: what the
    run says it saw, even when replay ends in an error."""

    run: dict | None = None

    def write(self, mutations, *, dense=False):
        super().write(mutations, dense=dense)
        for name, doc in mutations:
            if name == "runs":
                self.run = dict(doc)


def _whole_gzip(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError):
        return None


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(LINES), mutated_line(), st.binary(max_size=200)),
                max_size=80),
       st.booleans(), st.floats(0, 1))
def test_replay_accounts_for_every_line(lines, gzipped, keep):
    """Every non-empty line is a record or is counted malformed (none is dropped
    unsaid); replay raises only
    a one-line GodoError, and only for a gzip cut short or a log in which nothing
    parsed (which its run document then says, records 0)."""
    data = b"\n".join(lines)
    if gzipped:
        data = gzip.compress(data)
        data = data[:int(len(data) * keep) or len(data)]
    if data.startswith(b"\x1f\x8b"):
        whole = _whole_gzip(data)
    else:
        whole = data    # too short a cut to be gzip: plain text
    store = _RunKeeper(host="h")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.log"
        path.write_bytes(data)
        try:
            report = replay(str(path), store)
        except GodoError as exc:
            message = str(exc)
            assert "\n" not in message
            if whole is None:                  # a cut gzip: what came before it counts
                assert gzipped and "cannot read" in message
                return
            assert message.startswith("nothing in fuzz.log parsed as an audit record")
            assert whole and store.run["records"] == 0
            run = store.run
        else:
            assert whole is not None, "a cut gzip went unnoticed"
            run = report.document()
            assert run["records"] > 0 or not whole
            assert len(report.errors) <= 101
        # A line is a record or malformed; an event of records that cannot be cooked
        # is counted malformed too (one count an event at most).
        lines = sum(1 for line in whole.split(b"\n") if line)
        assert run["records"] <= lines <= run["records"] + run["malformed"]
        assert run["malformed"] <= lines - run["records"] + run["events"]


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
        appended, start, records = [], 0, []
        for n in batches:
            entries = _entries(start, n)
            records.append((j.size or 20, n))   # where its record starts (after the 20-byte head)
            j.append(entries)
            appended += [e[1] for e in entries]
            start += n
        j.close()
        (segment,) = sorted((Path(tmp) / "j").glob("*.seg"))
        data = bytearray(segment.read_bytes())
        for where, value in flips:
            data[int(where * (len(data) - 1))] = value
        kept = max(1, int(len(data) * cut)) if cut < 1 else len(data)
        segment.write_bytes(bytes(data[:kept]))
        # Records cut away whole left no trace: what can be asked back is what the
        # file still holds a header of (24 bytes: the header up to its checksum).
        present = sum(n for at, n in records if at + 24 <= kept)
        ends = [at for at, _n in records[1:]] + [len(data)]
        straddled = any(at < kept < end for (at, _n), end in zip(records, ends))
        again = Journal(Path(tmp) / "j")
        got = []
        while (record := again.read()) is not None:
            entries, position = record
            got += [e[1] for e in entries]
            again.release(position)
        again.close()
        # A flipped byte inside a document that still checks out is impossible (crc32),
        # so what comes back is what was appended, in order, less whole records; and
        # every document that does not come back is counted lost, unless the record
        # it was in cannot even say how many it held (then that is counted).
        assert got == [i for i in appended if i in set(got)]
        if again.unknown_records == 0:
            assert len(got) + again.lost_mutations == present
        else:
            assert len(got) + again.lost_mutations < present or present < len(appended)
        # Flips that only hit a segment's own header lose nothing; a cut at a record's
        # end is invisible.
        assert (again.lost_records > 0) == (len(got) < present or straddled)

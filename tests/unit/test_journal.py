"""The spill journal on its own: records in order, checksums, a torn tail after a
crash, a damaged record skipped to the next good one and counted, damaged segments
kept aside, godo's first format still read, the size bound, segment deletion,
file modes. No database needed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

import bson
import pytest

from godo.store.journal import (DAMAGED, MAGIC, Journal, JournalFull, decode_payload,
                                encode_record)
from support.journal import read_all, write_old_segment


def _entries(n: int, start: int = 0, collection: str = "files", pad: int = 0) -> list:
    out = []
    for i in range(start, start + n):
        doc = {"_id": f"h:{i}", "n": i, "at": datetime(2026, 1, 2, 3, 4, 5, 678000, timezone.utc),
               "pad": "x" * pad}
        out.append((collection, doc["_id"], doc["_id"], bson.encode(doc)))
    return out


def _drain(journal: Journal) -> list:
    out = []
    while (record := journal.read()) is not None:
        entries, position = record
        out.extend(entries)
        journal.release(position)
    return out


def _segments(path) -> list[str]:
    return sorted(name for name in os.listdir(path) if name.endswith(".seg"))


def test_batches_come_back_in_order_byte_for_byte(tmp_path):
    j = Journal(tmp_path / "j")
    batches = [_entries(3, 0), _entries(1, 3, "processes"), _entries(5, 4, "runs")]
    for batch in batches:
        j.append(batch)
    assert (j.unread_records, j.unread_mutations) == (3, 9)
    got = _drain(j)
    assert got == [e for batch in batches for e in batch]
    assert bson.decode(got[0][3])["at"] == datetime(2026, 1, 2, 3, 4, 5, 678000)
    assert not j and _segments(tmp_path / "j") == [], "an acknowledged journal leaves nothing"
    j.close()


def test_compound_ids_keep_their_type_and_key(tmp_path):
    j = Journal(tmp_path / "j")
    _id = {"host": "h", "pid": 7}
    raw = bson.encode({"_id": _id})
    j.append([("containers", _id, bson.encode({"": _id}), raw)])
    ((name, got_id, key, got_raw),) = _drain(j)
    assert (name, got_id, got_raw) == ("containers", _id, raw)
    assert key == bson.encode({"": _id})
    j.close()


def test_a_journal_left_behind_is_found_by_the_next_open(tmp_path):
    j = Journal(tmp_path / "j")
    j.append(_entries(10))
    j.append(_entries(10, 10))
    # Half read and acknowledged, then the process "dies" without closing.
    entries, position = j.read()
    j.release(position)
    del j
    again = Journal(tmp_path / "j")
    # A record is only gone once its whole segment is; the first is found again.
    assert (again.found_records, again.found_mutations) == (2, 20)
    assert [e[1] for e in _drain(again)] == [f"h:{i}" for i in range(20)]
    again.close()


def _damaged(path) -> list[str]:
    return sorted(os.listdir(path / DAMAGED)) if (path / DAMAGED).exists() else []


def test_a_torn_last_record_is_skipped_counted_and_its_segment_kept(tmp_path):
    j = Journal(tmp_path / "j")
    j.append(_entries(4))
    j.append(_entries(4, 4))
    j.close()
    (segment,) = _segments(tmp_path / "j")
    path = tmp_path / "j" / segment
    whole = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(whole - 7)  # a crash in the middle of the second write
    again = Journal(tmp_path / "j")
    assert (again.found_records, again.found_mutations) == (1, 4)
    # Its header checks out: it tells how many documents went with it.
    assert (again.lost_records, again.lost_mutations, again.unknown_records) == (1, 4, 0)
    assert again.damaged == [segment] and again.dropped_bytes > 0
    # Appends go to a segment of this run's own, after the damaged one.
    again.append(_entries(2, 100))
    assert [e[1] for e in _drain(again)] == ["h:0", "h:1", "h:2", "h:3", "h:100", "h:101"]
    assert _segments(tmp_path / "j") == [] and _damaged(tmp_path / "j") == [segment], \
        "a damaged segment is kept aside once its good records are acknowledged, never deleted"
    assert (tmp_path / "j" / DAMAGED / segment).stat().st_size == whole - 7
    again.close()


@pytest.mark.parametrize("where", ["payload", "header", "zeros", "magic"])
def test_a_damaged_record_is_skipped_to_the_next_good_one(tmp_path, where):
    j = Journal(tmp_path / "j", segment_bytes=1 << 20)
    j.append(_entries(3))
    second = j.size
    j.append(_entries(4, 3))
    third = j.size
    j.append(_entries(3, 7))
    j.close()
    (segment,) = _segments(tmp_path / "j")
    path = tmp_path / "j" / segment
    data = bytearray(path.read_bytes())
    if where == "payload":
        data[second + 60] ^= 0xFF
    elif where == "header":
        data[second + 4:second + 8] = (10 ** 9).to_bytes(4, "little")
    elif where == "zeros":
        data[second:third] = bytes(third - second)
    else:
        data[second] ^= 0x01
    path.write_bytes(bytes(data))
    again = Journal(tmp_path / "j")
    assert again.found_mutations == 6
    # The sequence numbers of the records around it say exactly what was lost.
    assert (again.lost_records, again.lost_mutations, again.unknown_records) == (1, 4, 0)
    assert [e[1] for e in _drain(again)] == ["h:0", "h:1", "h:2", "h:7", "h:8", "h:9"]
    assert _damaged(tmp_path / "j") == [segment]
    again.close()


def test_one_flipped_byte_in_a_big_segment_loses_one_record(tmp_path):
    """The issue's case: one byte of a many-record segment flipped. Before, the rest
    of the segment was cut off and deleted; now one record's documents are lost and
    counted, exactly."""
    j = Journal(tmp_path / "j", segment_bytes=64 << 20, max_bytes=1 << 30)
    for start in range(0, 20_000, 1000):
        j.append(_entries(1000, start, pad=200))
    appended = j.appended_mutations
    j.close()
    (segment,) = _segments(tmp_path / "j")
    path = tmp_path / "j" / segment
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x20
    path.write_bytes(bytes(data))
    again = Journal(tmp_path / "j")
    got = [e[1] for e in _drain(again)]
    assert (again.lost_records, again.lost_mutations) == (1, 1000)  # one batch a record
    assert len(got) + again.lost_mutations == appended == 20_000
    assert len(set(got)) == len(got)
    again.close()


def test_a_file_that_is_not_a_journal_is_set_aside_and_counted(tmp_path):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "000000000001.seg").write_bytes(b"not a journal at all, and longer than a segment head")
    (tmp_path / "j" / "notes.txt").write_text("ignored")
    j = Journal(tmp_path / "j")
    assert j.damaged == ["000000000001.seg"] and not j
    assert (j.lost_records, j.unknown_records) == (1, 1)
    assert _damaged(tmp_path / "j") == ["000000000001.seg"]
    j.append(_entries(1))
    assert _segments(tmp_path / "j") == ["000000000002.seg"], "numbering goes past the bad file"
    j.close()


def test_a_segment_of_the_first_format_is_read(tmp_path):
    (tmp_path / "j").mkdir()
    write_old_segment(tmp_path / "j" / "000000000001.seg", [_entries(3), _entries(2, 3)])
    j = Journal(tmp_path / "j")
    assert (j.found_records, j.found_mutations, j.lost_records) == (2, 5, 0)
    j.append(_entries(1, 5))
    assert [e[1] for e in _drain(j)] == [f"h:{i}" for i in range(6)]
    assert _segments(tmp_path / "j") == [] and _damaged(tmp_path / "j") == []
    j.close()


def test_a_damaged_record_of_the_first_format_is_skipped_and_counted(tmp_path):
    (tmp_path / "j").mkdir()
    path = tmp_path / "j" / "000000000001.seg"
    offsets = write_old_segment(path, [_entries(3), _entries(4, 3), _entries(2, 7)])
    data = bytearray(path.read_bytes())
    data[offsets[1] + 40] ^= 0xFF
    path.write_bytes(bytes(data))
    j = Journal(tmp_path / "j")
    assert (j.found_mutations, j.lost_records, j.lost_mutations, j.unknown_records) == (5, 1, 4, 0)
    assert [e[1] for e in _drain(j)] == ["h:0", "h:1", "h:2", "h:7", "h:8"]
    assert _damaged(tmp_path / "j") == ["000000000001.seg"]
    j.close()


def test_segments_rotate_and_go_once_acknowledged(tmp_path):
    j = Journal(tmp_path / "j", segment_bytes=1 << 20, max_bytes=64 << 20)
    for start in range(0, 40, 10):
        j.append(_entries(10, start, pad=100_000))  # ~1 MB a batch: a segment each
    assert len(_segments(tmp_path / "j")) >= 3
    first = _segments(tmp_path / "j")[0]
    read = []
    while len(read) < 20:
        entries, position = j.read()
        read.extend(entries)
        j.release(position)
    assert first not in _segments(tmp_path / "j"), "a fully acknowledged segment is deleted"
    assert [e[1] for e in _drain(j)] == [f"h:{i}" for i in range(20, 40)]
    assert _segments(tmp_path / "j") == []
    j.close()


def test_unacknowledged_records_keep_their_segment(tmp_path):
    j = Journal(tmp_path / "j", segment_bytes=1 << 20)
    j.append(_entries(10, pad=150_000))
    j.append(_entries(10, 10, pad=150_000))
    before = _segments(tmp_path / "j")
    while j.read() is not None:
        pass  # read, never released: the database did not acknowledge
    assert _segments(tmp_path / "j") == before
    j.close()
    assert Journal(tmp_path / "j").found_mutations == 20


def test_the_size_bound_refuses_a_batch_whole(tmp_path):
    j = Journal(tmp_path / "j", max_bytes=200_000, segment_bytes=1 << 20)
    j.append(_entries(100, pad=1000))
    size = j.size
    with pytest.raises(JournalFull):
        j.append(_entries(100, 100, pad=1000))
    assert j.size == size and j.unread_mutations == 100, "a refused batch leaves nothing"
    _drain(j)
    j.append(_entries(100, 100, pad=1000))  # room again once acknowledged
    j.close()


def test_a_batch_is_split_into_records_of_about_a_mebibyte(tmp_path):
    j = Journal(tmp_path / "j")
    j.append(_entries(40, pad=100_000))
    assert 3 <= j.unread_records <= 5 and j.unread_mutations == 40
    j.close()


def test_modes_are_private(tmp_path):
    (tmp_path / "j").mkdir(mode=0o755)
    os.chmod(tmp_path / "j", 0o755)
    j = Journal(tmp_path / "j")
    j.append(_entries(1))
    assert (tmp_path / "j").stat().st_mode & 0o777 == 0o700
    (segment,) = _segments(tmp_path / "j")
    assert (tmp_path / "j" / segment).stat().st_mode & 0o777 == 0o600
    j.close()


def test_fsync_at_most_once_an_interval(tmp_path):
    j = Journal(tmp_path / "j", fsync_interval=3600)
    for start in range(0, 50, 5):
        j.append(_entries(5, start))
    assert j.syncs <= 1
    j.close()
    assert j.syncs >= 1, "close syncs"
    every = Journal(tmp_path / "k", fsync_interval=0)
    for start in range(0, 10, 5):
        every.append(_entries(5, start))
    assert every.syncs == 2
    every.close()


def test_a_record_survives_sigkill_mid_stream(tmp_path):
    # A writer killed at an arbitrary point: whatever it appended whole comes back,
    # a record it was cut in the middle of is dropped, nothing raises.
    code = (
        "import sys, bson\n"
        "from godo.store.journal import Journal\n"
        "j = Journal(sys.argv[1], fsync_interval=None)\n"
        "i = 0\n"
        "while True:\n"
        "    j.append([('files', f'h:{i}', f'h:{i}', bson.encode({'_id': f'h:{i}', 'pad': 'x' * 5000}))])\n"
        "    if i == 200: print('ready', flush=True)\n"
        "    i += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "j")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    j = Journal(tmp_path / "j")
    ids = [e[1] for e in _drain(j)]
    assert len(ids) > 200 and ids == [f"h:{i}" for i in range(len(ids))]
    assert j.lost_records <= 1 and j.unknown_records == 0
    j.close()


def test_records_decode_only_as_a_whole():
    record = encode_record(_entries(3))
    payload = record[28:]
    assert [e[1] for e in decode_payload(payload, 3)] == ["h:0", "h:1", "h:2"]
    with pytest.raises(ValueError):
        decode_payload(payload, 4)
    with pytest.raises(ValueError):
        decode_payload(payload + b"\x00", 3)


def test_read_all_leaves_the_journal_as_it_was(tmp_path):
    j = Journal(tmp_path / "j")
    j.append(_entries(3))
    j.close()
    assert [e[1] for e in read_all(tmp_path / "j")] == ["h:0", "h:1", "h:2"]
    assert Journal(tmp_path / "j").found_mutations == 3


def test_magic_starts_every_segment(tmp_path):
    j = Journal(tmp_path / "j")
    j.append(_entries(1))
    j.close()
    (segment,) = _segments(tmp_path / "j")
    assert (tmp_path / "j" / segment).read_bytes()[:len(MAGIC)] == MAGIC


def test_an_append_that_fails_part_way_leaves_nothing(tmp_path):
    # A disk that fills in the middle of a batch of several records (here a file
    # size limit: EFBIG, as ENOSPC would be): the batch is all or nothing, or the
    # store, which offers it again, would journal its first records twice.
    code = (
        "import resource, signal, sys, bson\n"
        "from godo.store.journal import Journal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (3_500_000, 3_500_000))\n"
        "j = Journal(sys.argv[1], segment_bytes=64 << 20)\n"
        "batch = lambda s: [('files', f'h:{i}', f'h:{i}', bson.encode({'_id': f'h:{i}', 'pad': 'x' * 100_000}))\n"
        "                   for i in range(s, s + 25)]\n"
        "j.append(batch(0))\n"
        "try:\n"
        "    j.append(batch(25))\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno, j.unread_mutations, j.appended_mutations, j.size)\n"
        "j.close()\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "j")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[:1] == ["refused"] and words[2:4] == ["25", "25"]
    (segment,) = _segments(tmp_path / "j")
    assert (tmp_path / "j" / segment).stat().st_size == int(words[4])
    again = Journal(tmp_path / "j")
    assert [e[1] for e in _drain(again)] == [f"h:{i}" for i in range(25)]
    assert again.lost_records == 0
    again.close()

"""Long fuzz of both hot-path twins: real captured records, mutated, cut into
random chunks, fed to the compiled and the pure-Python Pipeline alike. Both must
agree on every activity, count and error, never raise, and keep their state
bounded. Not part of the default run; see README.md here."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godo.hotpath import _hotpath_c
from godo.hotpath import _pipeline_py

EXAMPLES = int(os.environ.get("GODO_FUZZ_EXAMPLES", "20000"))
DATA = Path(__file__).resolve().parent.parent / "data"
LINES = [line for log in sorted(DATA.glob("*.log")) for line in log.read_bytes().split(b"\n") if line]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))


@st.composite
def mutated_line(draw) -> bytes:
    line = bytearray(draw(st.sampled_from(LINES)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "splice", "dup"]))
        if not line:
            break
        at = draw(st.integers(0, len(line) - 1))
        if op == "flip":
            line[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del line[at:at + draw(st.integers(1, 64))]
        elif op == "insert":
            line[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif op == "splice":
            other = draw(st.sampled_from(LINES))
            line[at:] = other[draw(st.integers(0, len(other) - 1)):]
        else:
            line[at:at] = line[at:at + draw(st.integers(1, 200))]
    return bytes(line)


@st.composite
def log_and_cuts(draw):
    lines = draw(st.lists(st.one_of(st.sampled_from(LINES), mutated_line(),
                                    st.binary(max_size=300)), min_size=1, max_size=60))
    text = b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    return text, cuts


def _run_log(module, text: bytes, cuts: list[int]):
    pipe = module.Pipeline(window=8, max_in_flight=64)
    out = []
    start = 0
    for cut in cuts + [len(text)]:
        out += pipe.feed_log(text[start:cut], "fuzz.log")
        start = cut
        assert pipe.in_flight <= 64
    out += pipe.flush()
    return [a.to_dict() for a in out], pipe.stats(), list(pipe.errors)


@FUZZ
@given(log_and_cuts())
def test_twins_agree_on_mutated_logs(case):
    text, cuts = case
    assert _run_log(_hotpath_c, text, cuts) == _run_log(_pipeline_py, text, cuts)


def _frames(lines: list[bytes]) -> bytes:
    out = bytearray()
    for line in lines:
        rtype, _, rest = line.partition(b" msg=")
        number = {b"type=SYSCALL": 1300, b"type=PATH": 1302, b"type=CWD": 1307, b"type=EXECVE": 1309,
                  b"type=PROCTITLE": 1327}.get(rtype, 1320)
        body = rest
        datagram = struct.pack("=IHHII", 16 + len(body), number, 0, 0, 0) + body
        out += struct.pack("=I", len(datagram)) + datagram
    return bytes(out)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(LINES), mutated_line()), min_size=1, max_size=40),
       st.binary(max_size=64))
def test_twins_agree_on_mutated_frames(lines, junk):
    data = _frames(lines) + junk

    def run(module):
        pipe = module.Pipeline(max_in_flight=64)
        out = pipe.feed_frames(data, 1.0) + pipe.expire(100.0) + pipe.flush()
        return [a.to_dict() for a in out], pipe.stats(), list(pipe.errors)

    assert run(_hotpath_c) == run(_pipeline_py)

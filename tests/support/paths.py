"""Where the tests' own files are: defined once, for every tier."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
DATA = TESTS / "data"          # the golden fixtures: NAME.log, NAME.expected.jsonl, NAME.md
PROGRAMS = TESTS / "programs"  # the C workload programs, compiled at test time

"""`Run`: one wiring of pipeline, tracker, store and report, whatever feeds it."""

from __future__ import annotations

from support.capture import DocStore
from support.frames import lines_to_frames
from support.paths import DATA

from godo.run.wiring import Run
from godo.tracker import Scope

LOG = DATA / "container.log"


def _run(twin, store, **kw) -> Run:
    return Run(store, "replay", Scope("host"), command=[str(LOG)], host="h", boot="b", twin=twin,
               **kw)


def test_a_log_and_its_frames_make_the_same_run(twin):
    by_log, by_frames = DocStore(), DocStore()
    seen_log, seen_frames = [], []
    run = _run(twin, by_log, on_activities=seen_log.extend)
    run.feed_log(LOG.read_bytes(), LOG.name)
    logged = run.finish()
    run = _run(twin, by_frames, on_activities=seen_frames.extend)
    run.feed_frames(lines_to_frames(LOG.read_bytes()), 0.0)
    framed = run.finish()
    assert [a.to_dict() for a in seen_log] == [a.to_dict() for a in seen_frames] != []
    assert logged.tracker == framed.tracker and logged.tracker["processes"] > 0
    for collection in ("processes", "files", "containers"):  # the run ids differ, alone
        assert (_but_run(by_log.docs(collection), logged.run_id)
                == _but_run(by_frames.docs(collection), framed.run_id) != [])
    (document,) = by_log.docs("runs")
    assert document["_id"] == logged.run_id and document["status"] == "finished"
    assert document["activities"] == len(seen_log) == logged.tracker["activities"]


def _but_run(docs: list[dict], run_id: str) -> list[dict]:
    return [{k: (v.replace(run_id, "RUN") if isinstance(v, str) else v) for k, v in doc.items()}
            for doc in docs]


def test_an_interrupted_run_writes_what_it_saw_and_says_why(twin):
    store = DocStore()
    handed = []
    run = _run(twin, store, on_activities=handed.extend)
    run.record()
    data = LOG.read_bytes()
    run.feed_log(data[:len(data) // 2], LOG.name)
    before = len(handed)
    run.interrupt(KeyboardInterrupt())
    (document,) = store.docs("runs")
    assert (document["status"], document["interrupted"]) == ("interrupted", "stopped by SIGINT")
    assert document["activities"] >= before > 0
    # What the pipeline still held went to the tracker, not to the callback.
    assert len(handed) == before
    # A second interrupt (the CLI's, after the driver's) changes nothing.
    ended = run.report.ended
    run.interrupt(RuntimeError("later"))
    assert run.report.ended == ended and store.docs("runs")[0]["interrupted"] == "stopped by SIGINT"


def test_untracked_runs_count_activities_and_write_nothing(twin):
    store = DocStore()
    run = Run(store, "replay", Scope("host"), host="h", twin=twin, track=False)
    run.feed_log(LOG.read_bytes(), LOG.name)
    report = run.finish()
    assert report.tracker["activities"] == report.pipeline["activities"] > 0
    assert store.latest == {}

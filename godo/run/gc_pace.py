"""How often Python's cyclic garbage collector runs while a run streams records."""

from __future__ import annotations

import gc


class RareFullCollections:
    """Python's full garbage collections made rare for the `with` block, then the
    thresholds put back. While the store holds documents back, its inbox grows by a
    dict a document, and every full collection, which the interpreter runs each
    time the old generation grew by a quarter, walks all of them on the live thread
    (measured on the storm: a quarter of the tracker's time); a replay's tracker
    holds every open file and process alike (5-7% of a replay's CPU). What godo
    allocates makes few cycles, and the young generations are still collected as
    before."""

    def __init__(self, threshold2: int = 1000):
        self.threshold2 = threshold2
        self.old = None

    def __enter__(self):
        self.old = gc.get_threshold()
        gc.set_threshold(self.old[0], self.old[1], max(self.old[2], self.threshold2))
        return self

    def __exit__(self, *exc) -> None:
        gc.set_threshold(*self.old)

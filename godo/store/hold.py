"""Holding the store back while the kernel's stream is dense, so that the live
thread has the interpreter and the CPUs to itself while a storm lasts."""

from __future__ import annotations


class LiveHold:
    """When the live stream last said it was dense, and how long the store held.

    Set by the live thread alone and read by the others: plain floats, no lock on
    the live thread's way (a reader sees the last value or the one before).
    """

    def __init__(self, calm: float):
        self.calm = calm        # seconds after the last dense batch that the hold ends
        self.until = 0.0
        self._began = 0.0
        self.times = 0
        self._seconds = 0.0     # of holds that are over
        self.forced = 0         # mutations encoded into the journal while held

    def dense(self, now: float) -> None:
        """A dense batch came at `now` (time.monotonic()): hold until `calm` after it."""
        if now >= self.until:
            if self.times:
                self._seconds += self.until - self._began
            self.times += 1
            self._began = now
        self.until = now + self.calm

    def on(self, now: float) -> bool:
        return now < self.until

    def seconds(self, now: float) -> float:
        """Seconds held in all, the hold going on included."""
        held = self._seconds
        if self.times:
            held += min(now, self.until) - self._began
        return held

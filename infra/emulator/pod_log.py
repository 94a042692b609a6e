"""A pod's log as RunPod keeps it: container and system lines with timestamps, across restarts.

Each line gets a sequence number; REST v2's SSE log stream (`GET /v2/pods/{id}/logs`) backfills
from it and follows it, and a reconnecting client resumes after the last event it saw.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Lines kept per pod; older ones are dropped, as a log service keeps a bounded backlog.
MAX_LINES = 20_000
CONTAINER = "container"
SYSTEM = "system"


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: float
    """Simulated seconds (see `Clock`)."""
    source: str
    """`container` (stdout/stderr) or `system` (pull, start, exit, restart)."""
    line: str


class PodLog:
    """Append-only, bounded, and waitable: followers block until a line arrives or the pod is gone."""

    def __init__(self) -> None:
        self._lines: list[LogLine] = []
        self._next = 1
        self._closed = False
        self._changed = threading.Condition()

    def append(self, source: str, line: str, at: float) -> None:
        with self._changed:
            self._lines.append(LogLine(self._next, at, source, line))
            self._next += 1
            if len(self._lines) > MAX_LINES:
                del self._lines[: len(self._lines) - MAX_LINES]
            self._changed.notify_all()

    def close(self) -> None:
        """The pod is gone: followers finish."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def lines(self) -> list[LogLine]:
        with self._changed:
            return list(self._lines)

    def after(self, seq: int, wait_seconds: float = 0.0) -> list[LogLine]:
        """Lines with a sequence number above `seq`, waiting up to `wait_seconds` for one to arrive."""
        with self._changed:
            if wait_seconds > 0 and not self._closed and (not self._lines or self._lines[-1].seq <= seq):
                self._changed.wait(wait_seconds)
            return [line for line in self._lines if line.seq > seq]

    def tail(self, n: int, source: str | None = None) -> list[str]:
        with self._changed:
            chosen = [line.line for line in self._lines if source is None or line.source == source]
        return chosen[-n:] if n > 0 else []

"""Simulated time for the emulator: delays and billing run in simulated seconds.

A `time_scale` of 600 means one real second stands for ten simulated minutes, so a
benchmark can rehearse a 40-minute model load in four seconds while billing what the
real load would cost.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Clock:
    """Maps real monotonic time to simulated seconds since the emulator started."""

    time_scale: float = 1.0
    _start: float = field(default_factory=time.monotonic)
    _wall_start: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> float:
        """Simulated seconds elapsed since the clock was created."""
        return (time.monotonic() - self._start) * self.time_scale

    def set_scale(self, time_scale: float) -> None:
        """Change the pace from now on; simulated time stays continuous (a benchmark zooms in)."""
        with self._lock:
            now = self.now()
            self.time_scale = time_scale
            self._start = time.monotonic() - now / time_scale

    def real_seconds(self, simulated: float) -> float:
        """How long `simulated` seconds take in real time."""
        return max(0.0, simulated / self.time_scale)

    def wall(self, simulated: float) -> datetime:
        """The wall-clock instant a simulated time stands for (API timestamps run at the simulated pace)."""
        return datetime.fromtimestamp(self._wall_start + simulated, tz=UTC)

    def rfc3339(self, simulated: float) -> str:
        return self.wall(simulated).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def simulated(self, instant: datetime) -> float:
        """Inverse of `wall`: the simulated seconds of a wall-clock instant."""
        return instant.timestamp() - self._wall_start

    def sleep(self, simulated: float) -> None:
        time.sleep(self.real_seconds(simulated))

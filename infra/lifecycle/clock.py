"""The time the lifecycle waits on: the `time` module in a command, a fake that never sleeps in tests."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """The time the lifecycle waits on (the `time` module; tests pass a fake that never sleeps)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...

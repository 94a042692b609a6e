"""A clock the test moves by hand, for driving the account and its containers without real waits."""

from __future__ import annotations

from dataclasses import dataclass

from infra.emulator.clock import Clock


@dataclass
class StoppedClock(Clock):
    """Simulated time stands still at `at` until the test sets it."""

    at: float = 0.0

    def now(self) -> float:
        return self.at

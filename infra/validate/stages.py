"""The result every validation stage returns, and the findings a stage collects on the way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One problem a check found, as a sentence a user can act on."""

    check: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class StageResult:
    """Outcome of one validation stage; `reason` is one line, `details` is JSON-friendly."""

    name: str
    passed: bool
    seconds: float
    reason: str
    details: Mapping[str, object] = field(default_factory=dict)

    def one_line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name}: {verdict} in {self.seconds:.1f} s: {self.reason}"

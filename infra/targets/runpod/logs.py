"""A pod's container log read through REST v2 (`GET /v2/pods/{id}/logs`), no SSH needed.

It serves the engine-health stage's `read_new()` protocol: each call returns the lines that
arrived since the last one, resuming from the last event's timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.targets.runpod.client import RunPodClient


@dataclass
class PodLogSource:
    client: RunPodClient
    pod_id: str
    tail: int = 500
    _since: str | None = field(default=None, init=False)
    _seen_at_since: set[str] = field(default_factory=set, init=False)

    def read_new(self) -> list[str]:
        # Short reads: a chattering stream (a crash loop) must not hold the caller past its next poll.
        entries = self.client.pod_logs(
            self.pod_id, tail=self.tail, since=self._since, idle_seconds=0.5, max_seconds=3.0
        )
        fresh = []
        for entry in entries:
            key = f"{entry.ts}\0{entry.line}"
            # `since` is inclusive of its own second: drop what the last call already returned.
            if entry.ts == self._since and key in self._seen_at_since:
                continue
            if entry.ts != self._since:
                self._since, self._seen_at_since = entry.ts or self._since, set()
            self._seen_at_since.add(key)
            fresh.append(entry.line)
        return fresh

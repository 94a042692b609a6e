"""Noticing a crash loop: RunPod restarts a container whose command exits, endlessly, and keeps billing.

A crashing vLLM (out of memory at load, a bad flag, an old image) never turns the pod EXITED on its
own (dstack#1142, shared/reference/runpod.md): the pod stays RUNNING while `runtime.uptime` starts
again from 0 and the log repeats the failure. The younger container is the sign watched here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.targets.runpod.types import Pod
from infra.validate.diagnosis import Diagnosis


@dataclass
class RestartWatch:
    """Fed every pod view while waiting; says when the container has restarted."""

    restarts: int = 0
    _last_uptime: int | None = field(default=None, init=False)

    def observe(self, pod: Pod) -> bool:
        """True when this view shows the container younger than the last one did."""
        uptime = pod.uptime_seconds
        restarted = uptime is not None and self._last_uptime is not None and uptime < self._last_uptime
        if uptime is not None:
            self._last_uptime = uptime
        if restarted:
            self.restarts += 1
        return restarted


def crash_loop_message(pod_id: str, restarts: int, diagnosis: Diagnosis | None, last_line: str | None) -> str:
    cause = (
        diagnosis.one_line()
        if diagnosis
        else (f"last log line: {last_line}" if last_line else "no log lines")
    )
    return (
        f"pod {pod_id} is crash-looping (RunPod restarted its container {restarts} time(s) and keeps billing); "
        f"terminated it: {cause}"
    )

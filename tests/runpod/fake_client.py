"""A strict recording fake of the RunPod client: it answers only the calls a test scripted, in order.

It implements the client verbs that failover.py's `PodCreator` protocol and the runtime wait use
(`create_gpu_pod`, `create_cpu_pod`, `pods_named`, `terminate_pod`, `get_pod`, `pod_logs`), records
every call, and raises `UnscriptedCall` on any call that is not the next one scripted, so ordering,
retry and clean-up logic is tested in milliseconds. Any other client verb does not exist on it. The
emulator stays the integration judge (SkyPilot tests its RunPod edge the same way:
tests/unit_tests/test_sky/provision/test_runpod_utils.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.targets.runpod.types import LogLine, Pod, PodRequest


class UnscriptedCall(AssertionError):
    """The code under test made a call the test did not script (or in another order)."""


@dataclass
class Expected:
    verb: str
    check: Callable[..., bool] | None
    answer: Any
    """What the call returns, or an exception it raises, or a callable of the call's arguments."""


@dataclass
class ScriptedRunPod:
    """Expect calls with `expect(...)`; each call must be the next expected one."""

    script: list[Expected] = field(default_factory=list)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def expect(
        self, verb: str, answer: Any = None, *, check: Callable[..., bool] | None = None
    ) -> ScriptedRunPod:
        self.script.append(Expected(verb, check, answer))
        return self

    def done(self) -> None:
        """Every scripted call was made."""
        left = [e.verb for e in self.script]
        assert not left, f"scripted calls never made: {left}"

    def _answer(self, verb: str, *args: Any) -> Any:
        self.calls.append((verb, args))
        if not self.script:
            raise UnscriptedCall(f"unscripted call {verb}{args!r}: nothing more was expected")
        expected = self.script[0]
        if expected.verb != verb or (expected.check is not None and not expected.check(*args)):
            raise UnscriptedCall(f"unscripted call {verb}{args!r}: expected {expected.verb}")
        self.script.pop(0)
        answer = expected.answer
        if isinstance(answer, BaseException):
            raise answer
        return answer(*args) if callable(answer) else answer

    # ---- the client verbs it stands in for ------------------------------------------------------

    def create_gpu_pod(self, request: PodRequest) -> Pod:
        return self._answer("create_gpu_pod", request)

    def create_cpu_pod(self, request: PodRequest) -> Pod:
        return self._answer("create_cpu_pod", request)

    def pods_named(self, name: str) -> list[Pod]:
        return self._answer("pods_named", name)

    def terminate_pod(self, pod_id: str) -> None:
        self._answer("terminate_pod", pod_id)

    def get_pod(self, pod_id: str) -> Pod | None:
        return self._answer("get_pod", pod_id)

    def pod_logs(self, pod_id: str, **options: Any) -> list[LogLine]:
        return self._answer("pod_logs", pod_id)


def pod(
    pod_id: str,
    name: str,
    *,
    status: str = "RUNNING",
    gpu: str | None = "NVIDIA H200",
    data_center: str | None = "US-TX-3",
    uptime: int | None = 10,
    ssh: tuple[str, int] | None = None,
) -> Pod:
    """A pod as the client returns it."""
    return Pod(
        id=pod_id,
        name=name,
        status=status,
        actions=("stop", "terminate"),
        gpu_type_id=gpu,
        gpu_count=4 if gpu else 0,
        cost_per_hr=14.36 if gpu else 0.06,
        image="vllm/vllm-openai:v0.25.0",
        data_center_id=data_center,
        network_volume_id=None,
        ssh=ssh,
        http_ports={},
        env_keys=(),
        uptime_seconds=uptime if status == "RUNNING" else None,
    )

"""What the engine pod's status says to the health wait: alive while it loads, dead once the engine exits."""

from __future__ import annotations

from typing import Any

import pytest

from infra.targets.kubernetes.engine_pods import EnginePod


def pod(
    state: dict[str, Any], *, phase: str = "Running", restarts: int = 0, last: Any = None
) -> dict[str, Any]:
    status = {"name": "vllm", "restartCount": restarts, "state": state}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return {
        "metadata": {"name": "vllm-5d9c7-abcde"},
        "spec": {
            "nodeName": "gpu-node-1",
            "containers": [{"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": "4"}}}],
        },
        "status": {"phase": phase, "containerStatuses": [status]},
    }


def test_a_loading_engine_is_alive_and_counts_its_gpus() -> None:
    engine = EnginePod.from_api(pod({"running": {"startedAt": "2026-11-30T05:00:00Z"}}))
    assert not engine.dead
    assert (engine.node, engine.gpus, engine.restarts) == ("gpu-node-1", 4, 0)


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (
            pod(
                {"waiting": {"reason": "CrashLoopBackOff"}},
                restarts=2,
                last={"exitCode": 1, "reason": "Error"},
            ),
            "Error (exit code 1)",
        ),
        (pod({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), "OOMKilled (exit code 137)"),
        (pod({"running": {}}, restarts=1, last={"exitCode": 1, "reason": "Error"}), "Error (exit code 1)"),
    ],
    ids=["crash-loop", "oom-killed", "restarted-once"],
)
def test_an_engine_that_exited_is_dead_and_says_how(status: dict[str, Any], why: str) -> None:
    engine = EnginePod.from_api(status)
    assert engine.dead and engine.terminated == why


def test_an_image_that_cannot_be_pulled_is_dead() -> None:
    assert EnginePod.from_api(pod({"waiting": {"reason": "ImagePullBackOff"}}, phase="Pending")).dead

"""The pod runtime wait (runtime.py) on the strict recording fake: what a failing start raises, and why."""

from __future__ import annotations

import pytest
from fake_client import ScriptedRunPod, pod

from infra.errors import PodFailedError, StartTimeoutError
from infra.targets.runpod import runtime
from infra.targets.runpod.types import LogLine

NAME = "v4i-flash-4xh200-0123456789-pod-abc123"
OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "POLL_SECONDS", 0.0)


def log(*lines: str) -> list[LogLine]:
    return [LogLine("", "container", line) for line in lines]


def test_a_running_pod_is_returned_once_it_runs() -> None:
    client = (
        ScriptedRunPod()
        .expect("get_pod", pod("p1", NAME, status="STARTING"))
        .expect("get_pod", pod("p1", NAME))
    )
    assert runtime.wait_for_runtime(client, "p1", needs_ssh=False).status == "RUNNING"
    client.done()


def test_a_younger_container_is_a_crash_loop_with_its_cause_from_the_log() -> None:
    client = (
        ScriptedRunPod()
        .expect("get_pod", pod("p1", NAME, uptime=40))
        .expect("get_pod", pod("p1", NAME, uptime=3))
        .expect("pod_logs", log("loading weights", OOM))
    )
    # A running pod that is not yet reachable over SSH is polled again, so the restart is seen.
    with pytest.raises(PodFailedError) as caught:
        runtime.wait_for_runtime(client, "p1", needs_ssh=True)
    client.done()
    assert "crash-looping" in str(caught.value) and "restarted its container 1 time" in str(caught.value)
    assert caught.value.resource == "p1"


def test_an_error_status_fails_at_once_with_the_log_hint() -> None:
    client = (
        ScriptedRunPod()
        .expect("get_pod", pod("p1", NAME, status="ERROR"))
        .expect("pod_logs", log("pull access denied for registry.invalid/vllm"))
    )
    with pytest.raises(
        PodFailedError, match=r"GPU pod p1 is ERROR while starting \(last log line: pull access"
    ):
        runtime.wait_for_runtime(client, "p1", needs_ssh=False, what="GPU pod")
    client.done()


def test_a_pod_that_vanishes_while_starting_fails() -> None:
    client = ScriptedRunPod().expect("get_pod", None).expect("pod_logs", log())
    with pytest.raises(PodFailedError, match="pod p1 disappeared while starting; its log is empty"):
        runtime.wait_for_runtime(client, "p1", needs_ssh=False)
    client.done()


def test_a_pod_that_never_runs_within_its_budget_is_a_start_timeout() -> None:
    client = ScriptedRunPod().expect("get_pod", pod("p1", NAME, status="STARTING")).expect("pod_logs", log())
    with pytest.raises(
        StartTimeoutError, match=r"^pod p1 had no running container after -1 s; its log is empty$"
    ):
        runtime.wait_for_runtime(client, "p1", needs_ssh=False, timeout=-1)
    client.done()

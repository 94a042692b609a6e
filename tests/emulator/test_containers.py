"""Containers in simulated time: started, exited and restarted as RunPod does, killed out of band."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import runpod
from recording_runtime import RecordingRuntime, wait_for
from sdk_pods import H200, IMAGE, h200_pod, running_runtime
from stopped_clock import StoppedClock

from infra.emulator import Emulator, Faults, Timing
from infra.emulator.account import Account
from infra.emulator.containers import UNPULLABLE_REGISTRY, Containers
from infra.emulator.resources import PodRequest


def test_an_exited_container_is_restarted_and_the_pod_stays_running(
    make_emulator: Callable[..., Emulator], runtimes: list[RecordingRuntime]
) -> None:
    # RunPod restarts a container whose command exits and keeps the pod up and billed (dstack#1142).
    emulator = make_emulator(timing=Timing(start_seconds=30.0, load_seconds=30.0, restart_seconds=200.0))
    first = h200_pod()["id"]
    running_runtime(first)
    runtimes[0].alive = False  # the container's main process ended
    wait_for(lambda: runpod.get_pod(first)["uptimeSeconds"] == 0)
    assert runpod.get_pod(first)["desiredStatus"] == "RUNNING"
    wait_for(lambda: runtimes[0].alive)  # the same container, started again
    assert len(runtimes) == 1
    assert emulator.inventory()["pods"][0]["restarts"] == 1

    answer = httpx.post(f"{emulator.url}/_emulator/pods/{first}/die")
    assert answer.json()["desiredStatus"] == "RUNNING"
    assert runtimes[0].killed
    wait_for(lambda: emulator.inventory()["pods"][0]["restarts"] == 2)

    emulator.set_faults(Faults(restart_delay_seconds=0.0))  # an injected delay wins over Timing's
    runtimes[0].alive = False
    wait_for(lambda: emulator.inventory()["pods"][0]["restarts"] == 3)
    assert "Container exited; restarting in 0s" in emulator.state.pod(first).log.tail(10, "system")

    emulator.set_faults(Faults(never_restart=True))  # the canary's "never restart" break
    second = h200_pod()["id"]
    running_runtime(second)
    runtimes[1].alive = False
    wait_for(lambda: runpod.get_pod(second)["desiredStatus"] == "EXITED")
    assert runpod.get_pod(second)["runtime"] is None


# ---- the ticker itself, on a clock the test moves -------------------------------------------------------


def ticked(
    tmp_path: Path, image: str
) -> tuple[StoppedClock, Account, Containers, list[RecordingRuntime], str]:
    clock = StoppedClock()
    account = Account(clock, Timing(start_seconds=20.0, restart_seconds=10.0), Faults(), tmp_path)
    made: list[RecordingRuntime] = []

    def factory(*args: Any) -> RecordingRuntime:
        made.append(RecordingRuntime(*args))
        return made[-1]

    pod = account.create_pod(PodRequest(name="p", image_name=image, gpu_type_id=H200, ports="8000/http"))
    return clock, account, Containers(account, factory), made, pod.id


def test_an_image_that_cannot_be_pulled_is_error_and_never_starts(tmp_path: Path) -> None:
    clock, account, containers, made, pod_id = ticked(tmp_path, UNPULLABLE_REGISTRY + "vllm:v1")
    clock.at = 9.0
    containers.tick()
    assert account.pod(pod_id).status == "PROVISIONING", "the pull starts halfway through the start delay"
    clock.at = 10.0
    containers.tick()
    clock.at = 30.0
    containers.tick()
    pod = account.pod(pod_id)
    assert pod.status == "ERROR" and made == []
    assert any("pull access denied" in line for line in pod.log.tail(5, "system"))


def test_a_started_container_that_exits_is_restarted_after_the_delay_in_place(tmp_path: Path) -> None:
    clock, account, containers, made, pod_id = ticked(tmp_path, IMAGE)
    for at in (10.0, 20.0):
        clock.at = at
        containers.tick()
    wait_for(lambda: account.pod(pod_id).status == "RUNNING")
    pod = account.pod(pod_id)
    assert made[0].launch.env["RUNPOD_POD_ID"] == pod_id and pod.container_up
    made[0].alive = False
    containers.tick()
    assert not pod.container_up and pod.restart_due == 30.0 and pod.status == "RUNNING"
    clock.at = 30.0
    containers.tick()
    wait_for(lambda: pod.container_up)
    assert len(made) == 1 and made[0].alive and pod.restarts == 1

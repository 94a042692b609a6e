"""Real containers behind REST v2: crash loops as RunPod runs them, ERROR, the SSE log stream, secrets.

Each test runs its pods' start commands for real (`infra.emulator.pod.PodRuntime`) and reads the
pod through REST v2 with httpx, every answer judged by RunPod's OpenAPI v2 file.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from recording_runtime import wait_for
from v2_client import V2

from infra.emulator import Emulator, Faults, Timing

H200 = "NVIDIA H200"
BASE = "runpod/base:0.6.2"


@pytest.fixture
def real() -> Iterator[Emulator]:
    # One real second is 100 simulated ones; a crashed container comes back 5 simulated seconds later.
    timing = Timing(start_seconds=4.0, load_seconds=4.0, restart_seconds=5.0)
    with Emulator(time_scale=100.0, timing=timing) as emulator:
        yield emulator


def cpu_pod(args: str, **overrides: Any) -> dict[str, Any]:
    return {"name": "probe", "image": BASE, "cpu": {"id": "cpu3c", "vcpuCount": 2}, "args": args, **overrides}


def events(
    emulator: Emulator, pod_id: str, until: int, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Read the pod's SSE log stream until `until` events came (or it ended); each event with its id."""
    found: list[dict[str, Any]] = []
    url = f"{emulator.url}/v2/pods/{pod_id}/logs"
    auth = {"Authorization": f"Bearer {emulator.api_key}", **(headers or {})}
    with httpx.stream("GET", url, params=params, headers=auth, timeout=30.0) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        event: dict[str, Any] = {}
        for line in response.iter_lines():
            if line.startswith("id: "):
                event["id"] = line[4:]
            elif line.startswith("data: "):
                event.update(json.loads(line[6:]))
            elif not line and "line" in event:
                assert event["id"].startswith(event["ts"])
                found.append(event)
                event = {}
                if len(found) >= until:
                    break
    return found


def test_a_crashing_container_is_restarted_endlessly_and_billed(real: Emulator) -> None:
    with V2(real) as v2:
        body = {
            "name": "crashes", "image": "runpod/pytorch:2.8.0", "gpu": {"id": H200, "count": 1},
            "args": "bash -c 'echo loading weights; sleep 1; echo CUDA out of memory >&2; exit 3'",
        }  # fmt: skip
        pod_id = v2.post("/v2/pods", body).json()["id"]
        seen: list[dict[str, Any]] = []

        def restarted_twice() -> bool:
            pod = v2.pod(pod_id)
            seen.append(pod)
            return real.inventory()["pods"][0]["restarts"] >= 2

        wait_for(restarted_twice, timeout=60)
        running = [pod for pod in seen if pod["status"] == "RUNNING"]
        # The pod never leaves RUNNING on its own and keeps billing; only the uptime starts again.
        assert {pod["status"] for pod in seen} <= {"PROVISIONING", "STARTING", "RUNNING"}
        assert all(pod["cost"] == pytest.approx(3.59) for pod in seen)
        uptimes = [pod["runtime"]["uptime"] for pod in running]
        assert any(later < earlier for earlier, later in itertools.pairwise(uptimes)), uptimes
        billed = real.inventory()["pods"][0]["usd"]
        wait_for(lambda: real.inventory()["pods"][0]["usd"] > billed)

        # The log accumulates across restarts: the same failure, once per attempt.
        lines = [event["line"] for event in events(real, pod_id, until=12, tail=100)]
        assert lines.count("CUDA out of memory") >= 2
        assert sum("Container exited with code 3; restarting in 5s" in line for line in lines) >= 2
        assert v2.post(f"/v2/pods/{pod_id}/action", {"action": "terminate"}).status_code == 204
    after = real.inventory()
    assert after["pods"] == [] and after["history"][0]["usd"] > 0
    wait_for(lambda: real.inventory()["now"] > after["now"] + 100)
    assert real.inventory()["totals"]["usd"] == after["totals"]["usd"]  # nothing bills after the terminate


def test_never_restart_is_the_canarys_break(real: Emulator) -> None:
    real.set_faults(Faults(never_restart=True))
    with V2(real) as v2:
        pod_id = v2.post("/v2/pods", cpu_pod("bash -c 'exit 1'")).json()["id"]
        exited = wait_for(lambda: (pod := v2.pod(pod_id))["status"] == "EXITED" and pod, timeout=60)
        assert exited["cost"] == 0.0 and exited["actions"] == ["start", "terminate"]


def test_an_image_that_cannot_be_pulled_is_error(real: Emulator) -> None:
    with V2(real) as v2:
        pod_id = v2.post("/v2/pods", cpu_pod("", image="registry.invalid/nope:1")).json()["id"]
        failed = wait_for(lambda: (pod := v2.pod(pod_id))["status"] == "ERROR" and pod, timeout=60)
        assert failed["actions"] == ["start", "terminate"] and failed["runtime"] is None
        lines = [event["line"] for event in events(real, pod_id, until=3, source="system")]
        assert any("pull access denied for registry.invalid/nope:1" in line for line in lines)
        real.set_faults(Faults(unpullable_images=[BASE]))
        other = v2.post("/v2/pods", cpu_pod("sleep 60")).json()["id"]
        wait_for(lambda: v2.pod(other)["status"] == "ERROR", timeout=60)


def test_logs_stream_as_sse_with_tail_source_and_resume(real: Emulator) -> None:
    with V2(real) as v2:
        args = "bash -c 'for i in 1 2 3 4 5; do echo line-$i; sleep 0.1; done; sleep 600'"
        pod_id = v2.post("/v2/pods", cpu_pod(args)).json()["id"]
        wait_for(lambda: "line-5" in real.state.log_tail(pod_id), timeout=60)
        container = wait_for(
            lambda: (
                (found := events(real, pod_id, until=5, source="container")) and len(found) == 5 and found
            ),
            timeout=60,
        )
        assert [event["line"] for event in container] == [f"line-{i}" for i in range(1, 6)]
        assert {event["source"] for event in container} == {"container"}

        assert [e["line"] for e in events(real, pod_id, until=2, source="container", tail=2)] == [
            "line-4",
            "line-5",
        ]
        # Resume after the second line: Last-Event-ID beats tail, and `since` resumes by time.
        resumed = events(
            real, pod_id, until=3, headers={"Last-Event-ID": container[1]["id"]}, source="container", tail=1
        )
        assert [event["line"] for event in resumed] == ["line-3", "line-4", "line-5"]
        since = events(real, pod_id, until=2, since=container[3]["ts"], source="container")
        assert [event["line"] for event in since] == ["line-4", "line-5"]

        # Following: a line that appears after the stream opened arrives on it.
        with httpx.stream(
            "GET", f"{real.url}/v2/pods/{pod_id}/logs", params={"tail": 0, "source": "system"},
            headers={"Authorization": f"Bearer {real.api_key}"}, timeout=30.0,
        ) as response:  # fmt: skip
            lines = response.iter_lines()
            assert next(lines).startswith(":")  # the stream is open
            assert v2.post(f"/v2/pods/{pod_id}/action", {"action": "restart"}).status_code == 200
            data = next(line for line in lines if line.startswith("data: "))
            assert json.loads(data[6:])["line"] == "Container restart requested"

        assert v2.get(f"/v2/pods/{pod_id}/logs", tail=6000).status_code == 422
        real.set_faults(Faults(no_log_stream=True))  # the canary's "logs do not stream" break
        assert events(real, pod_id, until=1) == []


def test_a_pod_log_stream_ends_when_the_pod_is_terminated(real: Emulator) -> None:
    with V2(real) as v2:
        pod_id = v2.post("/v2/pods", cpu_pod("sleep 600")).json()["id"]
        with httpx.stream(
            "GET", f"{real.url}/v2/pods/{pod_id}/logs", headers={"Authorization": f"Bearer {real.api_key}"},
            timeout=30.0,
        ) as response:  # fmt: skip
            lines = response.iter_lines()
            next(lines)
            assert v2.delete(f"/v2/pods/{pod_id}").status_code == 204
            assert all(isinstance(line, str) for line in lines)  # the stream finishes


def test_the_json_start_command_runs_the_script_not_the_entrypoint(real: Emulator) -> None:
    form = json.dumps({"entrypoint": ["bash", "-c"], "cmd": ["echo json-form-ran; sleep 600"]})
    with V2(real) as v2:
        body = {"name": "json", "image": "vllm/vllm-openai:v0.20.0", "gpu": {"id": H200}, "args": form}
        pod_id = v2.post("/v2/pods", body).json()["id"]
        wait_for(lambda: "json-form-ran" in real.state.log_tail(pod_id), timeout=60)
        assert v2.pod(pod_id)["status"] == "RUNNING"


def test_secrets_never_reach_the_emulators_own_output(
    real: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    canaries = {"HF_TOKEN": "hf_CANARY_f1a9", "VLLM_API_KEY": "sk-CANARY-77c2"}
    with V2(real) as v2:
        body = cpu_pod("bash -c 'exit 2'", env=canaries)
        pod_id = v2.post("/v2/pods", body).json()["id"]
        wait_for(lambda: real.inventory()["pods"][0]["restarts"] >= 1, timeout=60)
        system = [e["line"] for e in events(real, pod_id, until=6, source="system")]
        real.set_faults(Faults(rate_limit=1))
        assert v2.get("/v2/pods").status_code == 429
        assert v2.delete(f"/v2/pods/{pod_id}").status_code == 204
    output = capfd.readouterr()
    written = [output.out, output.err, json.dumps(real.inventory()), *system]
    written += [path.read_text(errors="replace") for path in real.state_dir.rglob("*.json")]
    for canary in [*canaries.values(), real.api_key]:
        assert not any(canary in text for text in written), canary


def test_a_network_volume_mounts_at_the_path_asked_unless_that_assumption_is_broken(real: Emulator) -> None:
    with V2(real) as v2:
        volume = v2.post("/v2/network-volumes", {"name": "hf", "size": 10, "dataCenter": "EU-RO-1"}).json()
        (real.state_dir / "volumes" / volume["id"] / "marker").write_text("weights-are-here\n")
        mounts = {"network": [{"volumeId": volume["id"], "path": "/cache"}]}
        probe = "bash -c 'cat /cache/marker || echo no-volume-at-cache; sleep 600'"
        mounted = v2.post("/v2/pods", cpu_pod(probe, mounts=mounts)).json()["id"]
        wait_for(lambda: "weights-are-here" in real.state.log_tail(mounted), timeout=60)

        real.set_faults(Faults(ignore_mount_path=True))  # the canary's "custom mount path" break
        ignored = v2.post("/v2/pods", cpu_pod(probe, mounts=mounts)).json()["id"]
        wait_for(lambda: "no-volume-at-cache" in real.state.log_tail(ignored), timeout=60)
        assert v2.pod(ignored)["mounts"] == mounts  # the API still says /cache: only the container differs

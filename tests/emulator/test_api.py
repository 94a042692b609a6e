"""The emulated RunPod API, driven by the real `runpod` SDK and httpx over real HTTP.

Network volumes go through REST v2 (`V2`: RunPod's OpenAPI v2 file judges each body and answer);
REST v1 is retired and answers 410. Pod containers are stood in for by `RecordingRuntime` (the pod
runtime has its own tests); one end-to-end test runs a real start command through `PodRuntime`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import runpod
from recording_runtime import PodHttp, RecordingRuntime, wait_for
from runpod.error import AuthenticationError, QueryError
from v2_client import V2

from infra.emulator import Emulator, Faults, Timing

NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
H200 = "NVIDIA H200"
IMAGE = "vllm/vllm-openai:v0.20.0"
VOLUMES = "/v2/network-volumes"


def volume_body(name: str, size: int, data_center: str) -> dict[str, Any]:
    return {"name": name, "size": size, "dataCenter": data_center}


def graphql(emulator: Emulator, query: str, key: str | None = None) -> httpx.Response:
    return httpx.post(
        emulator.graphql_base_url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {key or emulator.api_key}"},
    )


def h200_pod(name: str = "v4-flash", **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": name, "image_name": IMAGE, "gpu_type_id": H200, "cloud_type": "SECURE",
        "data_center_id": "EU-RO-1", "gpu_count": 2, "ports": "8000/http,22/tcp",
        "docker_args": "bash -c 'sleep 30'", "volume_mount_path": "/workspace",
        "env": {"VLLM_API_KEY": "sk-test"},
    }  # fmt: skip
    args.update(kwargs)
    return runpod.create_pod(**args)


def running_runtime(pod_id: str) -> dict[str, Any]:
    return wait_for(lambda: (runpod.get_pod(pod_id) or {}).get("runtime"))


# ---- GPU types -----------------------------------------------------------------------------------


def test_gpus_list_types_and_one_type_has_prices(emulator: Emulator) -> None:
    gpus = {gpu["id"]: gpu for gpu in runpod.get_gpus()}
    assert gpus[H200] == {"id": H200, "displayName": "H200 SXM", "memoryInGb": 141}
    assert "NVIDIA H100 80GB HBM3" in gpus

    gpu = runpod.get_gpu(H200, 8)
    assert gpu["securePrice"] == 3.59
    assert gpu["secureSpotPrice"] == 2.29
    assert gpu["maxGpuCount"] == 8
    assert gpu["lowestPrice"]["uninterruptablePrice"] == 3.59
    assert gpu["cudaCores"] is not None and gpu["oneMonthPrice"] is None

    with pytest.raises(ValueError, match="No GPU found"):
        runpod.get_gpu("NVIDIA H300")


# ---- pods ----------------------------------------------------------------------------------------


def test_gpu_pod_create_get_list_terminate(
    make_emulator: Callable[..., Emulator], runtimes: list[RecordingRuntime]
) -> None:
    emulator = make_emulator(start_seconds=100.0)
    created = h200_pod()
    pod_id = created["id"]
    assert created["imageName"] == IMAGE
    assert created["machine"]["podHostId"].startswith(pod_id)

    pod = runpod.get_pod(pod_id)
    assert pod["desiredStatus"] == "RUNNING"
    assert pod["runtime"] is None  # the container has not started yet
    assert pod["costPerHr"] == pytest.approx(2 * 3.59)
    assert pod["gpuCount"] == 2
    assert pod["machine"]["gpuDisplayName"] == "H200 SXM"
    assert pod["env"] == ["VLLM_API_KEY=sk-test"]
    assert pod["ports"] == "8000/http,22/tcp"

    ports = {port["privatePort"]: port for port in running_runtime(pod_id)["ports"]}
    runtime = runtimes[0]
    assert ports[8000] == {
        "ip": "127.0.0.1", "isIpPublic": True, "privatePort": 8000,
        "publicPort": runtime.port_map[8000], "type": "http",
    }  # fmt: skip
    assert ports[22]["type"] == "tcp"
    launch = runtime.launch
    assert (launch.pod_id, launch.gpu_type_id, launch.gpu_count) == (pod_id, H200, 2)
    assert launch.docker_args == "bash -c 'sleep 30'"
    assert launch.ports == ["8000/http", "22/tcp"]
    assert launch.env["RUNPOD_POD_ID"] == pod_id
    assert launch.env["RUNPOD_API_KEY"] not in ("", emulator.api_key)
    assert launch.env["EMULATOR_GPU_TYPE"] == H200
    assert launch.env["RUNPOD_API_BASE_URL"] == emulator.graphql_base_url
    assert float(launch.env["EMULATOR_LOAD_SECONDS"]) == pytest.approx(0.3)
    assert launch.env["VLLM_API_KEY"] == "sk-test"

    twin = h200_pod()  # names are not unique on RunPod
    assert {p["id"] for p in runpod.get_pods() if p["name"] == "v4-flash"} == {pod_id, twin["id"]}
    assert emulator.inventory()["stock"]["EU-RO-1"][H200] == 12

    runpod.terminate_pod(pod_id)
    assert runpod.get_pod(pod_id) is None
    assert runtime.killed
    assert [p["id"] for p in runpod.get_pods()] == [twin["id"]]
    inventory = emulator.inventory()
    assert [entry["id"] for entry in inventory["history"]] == [pod_id]
    assert inventory["stock"]["EU-RO-1"][H200] == 14
    with pytest.raises(QueryError, match="not found"):
        runpod.terminate_pod(pod_id)


def test_cpu_pod_uses_deploy_cpu_pod(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    created = runpod.create_pod("watchdog", "ubuntu:24.04", instance_id="cpu3c-2-4", docker_args="sleep 60")
    pod = runpod.get_pod(created["id"])
    assert pod["costPerHr"] == 0.06
    assert pod["gpuCount"] == 0
    assert pod["machine"]["gpuDisplayName"] is None
    running_runtime(created["id"])
    assert runtimes[0].launch.gpu_type_id is None
    assert emulator.inventory()["pods"][0]["kind"] == "cpu"

    with pytest.raises(QueryError, match="Invalid instance id"):
        runpod.create_pod("watchdog", "ubuntu:24.04", instance_id="cpu9z-1-1")


def test_unknown_gpu_type_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="No GPU found"):
        runpod.create_pod("x", IMAGE, "NVIDIA H300")
    answer = graphql(
        emulator,
        'mutation { podFindAndDeployOnDemand(input: {name: "x", imageName: "i", gpuTypeId: "NVIDIA H300", '
        "cloudType: SECURE, gpuCount: 1}) { id } }",
    )
    assert answer.status_code == 200
    assert "NVIDIA H300" in answer.json()["errors"][0]["message"]
    assert answer.json()["data"] == {"podFindAndDeployOnDemand": None}
    assert emulator.inventory()["pods"] == []


def test_no_capacity_speaks_runpods_message(emulator: Emulator) -> None:
    emulator.set_faults(Faults(capacity_errors=1, capacity_gpu_types=["NVIDIA H100 80GB HBM3"]))
    with pytest.raises(QueryError) as caught:
        h200_pod()
    assert str(caught.value) == NO_CAPACITY
    assert h200_pod()["id"]  # only the first create failed
    with pytest.raises(QueryError, match="no longer any instances"):
        h200_pod(gpu_type_id="NVIDIA H100 80GB HBM3")

    # Real stock: EU-RO-1 has 4 RTX A6000; a fifth GPU is not there until one is given back.
    first = h200_pod(gpu_type_id="NVIDIA RTX A6000", gpu_count=4)
    with pytest.raises(QueryError, match="no longer any instances"):
        h200_pod(gpu_type_id="NVIDIA RTX A6000", gpu_count=1)
    runpod.terminate_pod(first["id"])
    assert h200_pod(gpu_type_id="NVIDIA RTX A6000", gpu_count=1)["id"]


def test_balance_too_low(emulator: Emulator) -> None:
    emulator.set_faults(Faults(balance_too_low=True))
    with pytest.raises(QueryError, match="balance is too low"):
        h200_pod()


def test_wrong_key_is_401(emulator: Emulator) -> None:
    runpod.api_key = "not-the-key"
    with pytest.raises(AuthenticationError):
        runpod.get_gpus()
    assert graphql(emulator, "{ gpuTypes { id } }", key="nope").status_code == 401
    with V2(emulator, key="nope") as v2:
        assert v2.get(VOLUMES).status_code == 401


def test_stop_and_resume(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    pod_id = h200_pod()["id"]
    running_runtime(pod_id)
    stopped = runpod.stop_pod(pod_id)
    assert stopped["desiredStatus"] == "EXITED"
    assert runtimes[0].killed
    pod = runpod.get_pod(pod_id)
    assert pod["desiredStatus"] == "EXITED" and pod["runtime"] is None
    assert emulator.inventory()["stock"]["EU-RO-1"][H200] == 16

    resumed = runpod.resume_pod(pod_id, 1)
    assert resumed["desiredStatus"] == "RUNNING"
    running_runtime(pod_id)
    assert len(runtimes) == 2
    assert runpod.get_pod(pod_id)["costPerHr"] == pytest.approx(3.59)


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


def test_terminate_behind_the_clients_back(emulator: Emulator) -> None:
    pod_id = h200_pod()["id"]
    assert httpx.post(f"{emulator.url}/_emulator/pods/{pod_id}/terminate").status_code == 200
    assert runpod.get_pod(pod_id) is None


# ---- network volumes ------------------------------------------------------------------------------


def test_volume_crud_and_data_center_constraint(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    with V2(emulator) as v2:
        bad = v2.post(VOLUMES, volume_body("w", 100, "MARS-1"))
        assert bad.status_code == 400 and "MARS-1" in bad.json()["detail"]
        assert emulator.inventory()["volumes"] == []

        created = v2.post(VOLUMES, volume_body("weights", 100, "US-TX-3"))
        assert created.status_code == 201
        volume = created.json()
        assert volume == {
            "id": volume["id"], "name": "weights", "size": 100, "dataCenter": "US-TX-3", "type": "STANDARD",
        }  # fmt: skip
        path = f"{VOLUMES}/{volume['id']}"
        assert v2.get(VOLUMES).json() == {"networkVolumes": [volume]}
        assert v2.get(path).json() == volume
        assert v2.patch(path, {"size": 50}).status_code == 400  # volumes only grow
        assert v2.patch(path, {"size": 200}).json()["size"] == 200
        directory = Path(emulator.state_dir) / "volumes" / volume["id"]
        assert directory.is_dir()

        with pytest.raises(QueryError, match="US-TX-3"):
            h200_pod(network_volume_id=volume["id"], data_center_id="EU-RO-1")
        with pytest.raises(QueryError, match="Secure Cloud"):
            h200_pod(network_volume_id=volume["id"], data_center_id=None, cloud_type="COMMUNITY")
        # Without a data center the SDK looks the volume up (myself.networkVolumes) and uses its one.
        pod_id = h200_pod(network_volume_id=volume["id"], data_center_id=None)["id"]
        assert emulator.inventory()["pods"][0]["dataCenterId"] == "US-TX-3"
        running_runtime(pod_id)
        assert runtimes[0].launch.volume_dir == directory
        assert runtimes[0].launch.volume_mount_path == "/workspace"

        in_use = v2.delete(path)
        assert in_use.status_code == 409 and pod_id in in_use.json()["detail"]
        runpod.terminate_pod(pod_id)
        assert v2.delete(path).status_code == 204
        assert v2.get(path).status_code == 404
        assert not directory.exists()


def test_volumes_survive_a_restart_with_a_state_dir(
    make_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    first = make_emulator(state_dir=tmp_path)
    with V2(first) as v2:
        volume = v2.post(VOLUMES, volume_body("hf", 10, "EU-SE-1")).json()
    (tmp_path / "volumes" / volume["id"] / "weights.bin").write_bytes(b"w")
    first.stop()
    second = make_emulator(state_dir=tmp_path)
    with V2(second) as v2:
        assert v2.get(VOLUMES).json() == {"networkVolumes": [volume]}
    assert (tmp_path / "volumes" / volume["id"] / "weights.bin").read_bytes() == b"w"


# ---- billing ---------------------------------------------------------------------------------------


def test_billing_follows_simulated_time_and_stops_at_terminate(
    make_emulator: Callable[..., Emulator],
) -> None:
    # One real second is ten hours here: amounts are asserted in simulated units only.
    emulator = make_emulator(time_scale=36000.0)
    with V2(emulator) as v2:
        assert v2.post(VOLUMES, volume_body("weights", 1000, "EU-RO-1")).status_code == 201
    pod_id = h200_pod()["id"]
    wait_for(lambda: emulator.inventory()["pods"][0]["gpu_seconds"] >= 2 * 3600)
    live = emulator.inventory()["pods"][0]
    assert live["gpu_seconds"] == pytest.approx(2 * live["seconds"], rel=1e-3)
    assert live["usd"] == pytest.approx(live["seconds"] / 3600 * 2 * 3.59, rel=1e-3)

    runpod.terminate_pod(pod_id)
    final = emulator.inventory()["history"][0]
    wait_for(lambda: emulator.inventory()["now"] > final["terminatedAt"] + 3600)
    later = emulator.inventory()
    assert later["history"][0]["usd"] == final["usd"] >= live["usd"]
    assert later["totals"]["gpu_seconds"] == final["gpu_seconds"]
    volume = later["volumes"][0]
    # 1000 GB bills at the large-volume rate, $0.05/GB/month, from its creation to now.
    age = later["now"] - volume["createdAt"]
    assert volume["usd"] == pytest.approx(1000 * 0.05 * age / (30 * 24 * 3600), rel=1e-3)
    assert later["totals"]["usd"] == pytest.approx(final["usd"] + volume["usd"], rel=1e-6)


def test_stopped_pod_stops_billing(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(time_scale=36000.0)
    pod_id = h200_pod()["id"]
    runpod.stop_pod(pod_id)
    stopped = emulator.inventory()["pods"][0]
    wait_for(lambda: emulator.inventory()["now"] > stopped["seconds"] + 3600)
    assert emulator.inventory()["pods"][0]["usd"] == stopped["usd"]


def test_error_after_create_leaves_a_billed_pod(emulator: Emulator) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json={"error_after_create": 1}).raise_for_status()
    with pytest.raises(QueryError, match="Something went wrong"):
        h200_pod(name="v4-run-7")
    pods = emulator.inventory()["pods"]
    assert [(pod["name"], pod["desiredStatus"]) for pod in pods] == [("v4-run-7", "RUNNING")]
    assert [pod["name"] for pod in runpod.get_pods()] == ["v4-run-7"]  # the client can find it by name


# ---- edge faults ------------------------------------------------------------------------------------


def test_rate_limit_and_bad_gateway_are_injected(emulator: Emulator) -> None:
    httpx.post(
        f"{emulator.url}/_emulator/faults", json={"rate_limit": 1, "server_errors": 1}
    ).raise_for_status()
    limited = graphql(emulator, "{ gpuTypes { id } }")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    with V2(emulator) as v2:
        bad = v2.get(VOLUMES)
        assert bad.status_code == 502 and "502 Bad Gateway" in bad.text
        assert v2.get(VOLUMES).status_code == 200
    assert graphql(emulator, "{ gpuTypes { id } }").status_code == 200
    unknown = httpx.post(f"{emulator.url}/_emulator/faults", json={"rate_limits": 1})
    assert unknown.status_code == 400 and "rate_limits" in unknown.json()["error"]
    mistyped = httpx.post(f"{emulator.url}/_emulator/faults", json={"capacity_errors": "2"})
    assert mistyped.status_code == 400 and "capacity_errors" in mistyped.json()["error"]


def test_retired_rest_v1_answers_410_naming_v2_and_touches_nothing(emulator: Emulator) -> None:
    # RunPod retired REST v1 on 2026-11-15; every v1 call has failed since (shared/reference/runpod.md).
    emulator.set_faults(Faults(rate_limit=1))
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    calls = [
        ("GET", "/v1/networkvolumes", None),
        ("POST", "/v1/networkvolumes", {"name": "w", "size": 10, "dataCenterId": "EU-RO-1"}),
        ("POST", "/v1/pods", {"name": "p", "imageName": IMAGE, "gpuTypeIds": [H200], "gpuCount": 1}),
        ("DELETE", "/v1/pods/abc", None),
        ("GET", "/v1", None),
    ]
    for method, path, body in calls:
        answer = httpx.request(method, emulator.url + path, json=body, headers=headers)
        assert answer.status_code == 410, (method, path)
        message = answer.json()["error"]
        assert "\n" not in message and "retired on 2026-11-15" in message
        assert "https://api.runpod.io/v2" in message
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == []
    assert emulator.faults.rate_limit == 1  # a retired API is not rate limited: nothing was counted


# ---- proxy ---------------------------------------------------------------------------------------------


def test_proxy_forwards_and_streams(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator(start_seconds=100.0)
    pod_id = h200_pod()["id"]
    base = emulator.proxy_url_template.format(pod_id=pod_id, port=8000)
    assert httpx.get(base + "/v1/models").status_code == 502  # not running yet
    running_runtime(pod_id)

    echo = httpx.post(
        base + "/v1/chat/completions?x=1", content=b'{"a":1}', headers={"Authorization": "Bearer k"}
    )
    assert echo.json() == {
        "method": "POST",
        "path": "/v1/chat/completions?x=1",
        "auth": "Bearer k",
        "body": '{"a":1}',
    }

    PodHttp.first_event_seen.clear()
    with httpx.stream("GET", base + "/stream", timeout=20) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                PodHttp.first_event_seen.set()
    assert events == ["one", "two"]

    closed = emulator.proxy_url_template.format(pod_id=pod_id, port=22)
    assert httpx.get(closed + "/").status_code == 502  # mapped, but nothing listens
    assert httpx.get(emulator.proxy_url_template.format(pod_id="nosuchpod", port=8000)).status_code == 404
    runpod.stop_pod(pod_id)
    assert httpx.get(base + "/v1/models").status_code == 502


# ---- the pod-scoped key ---------------------------------------------------------------------------------


def test_pod_key_terminates_only_its_own_pod(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    mine = h200_pod(name="mine")["id"]
    other = h200_pod(name="other")["id"]
    wait_for(lambda: len(runtimes) == 2)
    pod_key = next(r.launch.env["RUNPOD_API_KEY"] for r in runtimes if r.launch.pod_id == mine)

    with pytest.raises(AuthenticationError):
        runpod.api.ctl_commands.run_graphql_query(
            f'mutation {{ podTerminate(input: {{ podId: "{other}" }}) }}', api_key=pod_key
        )
    assert graphql(emulator, "{ myself { pods { id } } }", key=pod_key).status_code == 401
    assert runpod.get_pod(other) is not None
    runpod.api.ctl_commands.run_graphql_query(
        f'mutation {{ podTerminate(input: {{ podId: "{mine}" }}) }}', pod_key
    )
    assert runpod.get_pod(mine) is None
    assert runpod.get_pod(other) is not None


def test_graphql_fields_aliases_and_unknown_fields(emulator: Emulator) -> None:
    pod_id = h200_pod()["id"]
    answer = graphql(
        emulator,
        f'query {{ p: pod(input: {{podId: "{pod_id}"}}) {{ id status: desiredStatus ...F }} }} '
        "fragment F on Pod { machine { dataCenterId } }",
    ).json()
    assert answer == {
        "data": {"p": {"id": pod_id, "status": "RUNNING", "machine": {"dataCenterId": "EU-RO-1"}}}
    }
    # Validated against the served schema: a field it lacks is refused, in graphql-core's words.
    misspelt = graphql(emulator, f'{{ pod(input: {{podId: "{pod_id}"}}) {{ id desiredStatuss }} }}')
    assert misspelt.status_code == 400
    assert misspelt.json()["errors"][0]["message"] == (
        "Cannot query field 'desiredStatuss' on type 'Pod'. Did you mean 'desiredStatus'?"
    )
    bad_enum = graphql(
        emulator,
        'mutation { podFindAndDeployOnDemand(input: {name: "x", imageName: "i", gpuTypeId: "NVIDIA H200", '
        "cloudType: PRIVATE}) { id } }",
    )
    assert bad_enum.status_code == 400 and "PRIVATE" in bad_enum.json()["errors"][0]["message"]
    assert [pod["id"] for pod in emulator.inventory()["pods"]] == [pod_id]  # nothing made
    unknown = graphql(emulator, "{ nothing { id } }")
    assert unknown.status_code == 400 and "nothing" in unknown.json()["errors"][0]["message"]
    broken = graphql(emulator, "{ gpuTypes { id ")
    assert "Syntax Error" in broken.json()["errors"][0]["message"]


def test_reset_forgets_everything(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    h200_pod()
    with V2(emulator) as v2:
        assert v2.post(VOLUMES, volume_body("w", 10, "EU-RO-1")).status_code == 201
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    inventory = emulator.inventory()
    assert inventory["pods"] == [] and inventory["volumes"] == [] and inventory["history"] == []
    assert inventory["stock"]["EU-RO-1"][H200] == 16


def test_env_names_what_a_client_needs(emulator: Emulator) -> None:
    env = emulator.env()
    assert env["RUNPOD_API_BASE_URL"] == emulator.url
    assert "RUNPOD_REST_BASE_URL" not in env  # REST v1 is retired: nothing may be pointed at it
    assert (
        env["RUNPOD_PROXY_URL_TEMPLATE"].format(pod_id="abc", port=8000) == emulator.url + "/_proxy/abc-8000"
    )
    assert env["RUNPOD_API_KEY"] == "emulator-key"


# ---- end to end with the real pod runtime -------------------------------------------------------------


def test_real_runtime_runs_the_start_command(monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(time_scale=100.0, timing=Timing(start_seconds=10, load_seconds=10)) as emulator:
        monkeypatch.setenv("RUNPOD_API_BASE_URL", emulator.graphql_base_url)
        monkeypatch.setattr(runpod, "api_key", emulator.api_key)
        pod_id = runpod.create_pod(
            "hello", "ubuntu:24.04", instance_id="cpu3c-2-4", docker_args="bash -c 'echo hello; sleep 30'",
            ports="22/tcp",
        )["id"]  # fmt: skip
        logs_url = f"{emulator.url}/_emulator/pods/{pod_id}/logs"
        wait_for(lambda: any("hello" in line for line in httpx.get(logs_url).json()["logs"]), timeout=30)
        assert runpod.get_pod(pod_id)["desiredStatus"] == "RUNNING"
        runpod.terminate_pod(pod_id)
        assert runpod.get_pod(pod_id) is None


def test_the_sdk_meets_graphql_validation(emulator: Emulator) -> None:
    # What a user's script that still uses the SDK sees for a field the schema lacks.
    with pytest.raises(QueryError, match="Cannot query field 'pubKeys' on type 'User'"):
        runpod.api.ctl_commands.run_graphql_query("query { myself { id pubKeys } }")
    assert runpod.api.ctl_commands.run_graphql_query("query { myself { id pubKey } }")["data"]["myself"]["id"]

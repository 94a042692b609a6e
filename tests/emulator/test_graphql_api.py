"""The emulated RunPod GraphQL API, driven by the real `runpod` SDK and httpx over real HTTP.

Network volumes go through REST v2 (`V2`: RunPod's OpenAPI v2 file judges each body and answer);
REST v1 is retired and answers 410. Pod containers are stood in for by `RecordingRuntime` (the pod
runtime has its own tests); one end-to-end test runs a real start command through `PodRuntime`.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import runpod
from recording_runtime import RecordingRuntime, wait_for
from runpod.error import AuthenticationError, QueryError
from sdk_pods import H200, IMAGE, NO_CAPACITY, VOLUMES, graphql, h200_pod, running_runtime
from v2_client import V2

from infra.emulator import Emulator, Faults, Timing

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

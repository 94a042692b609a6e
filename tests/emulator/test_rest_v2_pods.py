"""REST v2 pods over real HTTP (httpx), every request and answer judged by RunPod's OpenAPI v2 file.

Containers are `RecordingRuntime` doubles; tests/emulator/test_rest_v2_runtime.py runs real ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from recording_runtime import RecordingRuntime, wait_for
from v2_client import V2

from infra.emulator import Emulator, Faults

H200 = "NVIDIA H200"
VLLM = "vllm/vllm-openai:v0.20.0"


def gpu_pod(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "v4-flash",
        "image": VLLM,
        "gpu": {"id": H200, "count": 2},
        "dataCenterIds": ["EU-RO-1"],
        "ports": ["8000/http", "22/tcp"],
        "env": {"VLLM_API_KEY": "sk-test"},
        "args": "deepseek-ai/DeepSeek-V4-Flash --tensor-parallel-size 2",
        "disk": 50,
    }
    body.update(overrides)
    return body


def create(v2: V2, body: dict[str, Any]) -> dict[str, Any]:
    answer = v2.post("/v2/pods", body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_pod_lifecycle_statuses_actions_and_views(
    make_emulator: Callable[..., Emulator], runtimes: list[RecordingRuntime]
) -> None:
    # PROVISIONING, then STARTING for 2 real seconds each: long enough to be seen on a busy machine.
    emulator = make_emulator(start_seconds=400.0)
    with V2(emulator) as v2:
        pod = create(v2, gpu_pod())
        assert pod["status"] == "PROVISIONING" and pod["actions"] == ["stop", "terminate"]
        assert pod["gpu"] == {"id": H200, "count": 2} and "cpu" not in pod
        assert pod["cost"] == pytest.approx(2 * 3.59) and pod["runtime"] is None
        assert pod["ssh"] == {"proxy": None, "direct": None}
        assert pod["dataCenterId"] == "EU-RO-1" and pod["cudaVersion"] == "13.0"
        assert pod["startedAt"] is None

        wait_for(lambda: v2.pod(pod["id"])["status"] == "STARTING")
        running = wait_for(lambda: (p := v2.pod(pod["id"]))["status"] == "RUNNING" and p)
        assert running["actions"] == ["stop", "restart", "terminate"]
        ports = {port["private"]: port for port in running["runtime"]["ports"]}
        assert ports[8000] == {
            "private": 8000,
            "public": runtimes[0].port_map[8000],
            "type": "http",
            "ip": "127.0.0.1",
        }
        assert running["ssh"]["direct"]["port"] == runtimes[0].port_map[22]
        assert len(running["runtime"]["gpus"]) == 2
        assert running["startedAt"] is not None

        listed = v2.get("/v2/pods").json()
        assert [p["id"] for p in listed["pods"]] == [pod["id"]]

        # An action the status does not allow is a 409 naming what would be allowed.
        refused = v2.post(f"/v2/pods/{pod['id']}/action", {"action": "start"})
        assert refused.status_code == 409 and "stop, restart, terminate" in refused.json()["detail"]

        stopped = v2.post(f"/v2/pods/{pod['id']}/action", {"action": "stop"}).json()
        assert stopped["status"] == "EXITED" and stopped["cost"] == 0.0 and stopped["runtime"] is None
        assert stopped["actions"] == ["start", "terminate"]
        assert runtimes[0].killed
        assert emulator.inventory()["stock"]["EU-RO-1"][H200] == 16

        started = v2.post(f"/v2/pods/{pod['id']}/action", {"action": "start"}).json()
        assert started["status"] == "PROVISIONING" and started["cost"] > 0
        wait_for(lambda: v2.pod(pod["id"])["status"] == "RUNNING")
        assert len(runtimes) == 2

        assert v2.post(f"/v2/pods/{pod['id']}/action", {"action": "terminate"}).status_code == 204
        assert v2.get(f"/v2/pods/{pod['id']}").status_code == 404
        assert v2.delete(f"/v2/pods/{pod['id']}").status_code == 404
    assert emulator.inventory()["pods"] == []


def test_restart_action_restarts_the_container_in_place(
    make_emulator: Callable[..., Emulator], runtimes: list[RecordingRuntime]
) -> None:
    emulator = make_emulator()
    with V2(emulator) as v2:
        pod_id = create(v2, gpu_pod())["id"]
        wait_for(lambda: v2.pod(pod_id)["status"] == "RUNNING")
        assert v2.post(f"/v2/pods/{pod_id}/action", {"action": "restart"}).status_code == 200
        assert runtimes[0].killed
        wait_for(lambda: emulator.inventory()["pods"][0]["restarts"] == 1)
        assert runtimes[0].alive and len(runtimes) == 1  # the same container, on the same machine
        assert v2.pod(pod_id)["status"] == "RUNNING"


def test_misspelt_and_unknown_fields_are_refused_by_name_and_nothing_is_created(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        for body, named in (
            ({**gpu_pod(), "imageName": VLLM}, "'imageName' was unexpected"),
            (gpu_pod(gpu={"id": H200, "cout": 2}), "'cout' was unexpected"),
            (gpu_pod(cloud="PRIVATE"), "'PRIVATE' is not one of ['SECURE', 'COMMUNITY']"),
            (gpu_pod(mounts={"network": [{"volumeId": "v", "mountPath": "/w"}]}), "'mountPath'"),
            ({k: v for k, v in gpu_pod().items() if k != "image"}, "'image' is a required property"),
        ):
            answer = v2.post("/v2/pods", body, valid=False)
            assert answer.status_code == 422
            problem = answer.json()
            assert problem["title"] == "Unprocessable Entity"
            assert any(named in error for error in problem["errors"]), problem
            assert named in problem["detail"]
    assert emulator.inventory()["pods"] == []


def test_rules_the_schema_leaves_to_the_handler_are_400s(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        volume = v2.post("/v2/network-volumes", {"name": "w", "size": 10, "dataCenter": "EU-RO-1"}).json()
        network = {"network": [{"volumeId": volume["id"], "path": "/cache"}]}
        for body, says in (
            ({**gpu_pod(), "cpu": {"id": "cpu3c", "vcpuCount": 2}}, "exactly one of gpu or cpu"),
            ({k: v for k, v in gpu_pod().items() if k != "gpu"}, "exactly one of gpu or cpu"),
            (gpu_pod(mounts={**network, "persistent": {"size": 20, "path": "/p"}}), "at most one"),
            (
                gpu_pod(gpu={"id": H200, "allowedCudaVersions": ["12.8"], "minCudaVersion": "12.1"}),
                "exclusive",
            ),
            (gpu_pod(gpu={"id": "NVIDIA H300"}), "NVIDIA H300"),
            (gpu_pod(dataCenterIds=["MARS-1"]), "MARS-1"),
            (gpu_pod(dataCenterIds=["US-TX-3"], mounts=network), "EU-RO-1"),
            (gpu_pod(gpu={"id": H200, "allowedCudaVersions": ["11.8"]}), "no longer any instances"),
            (gpu_pod(gpu=None, cpu={"id": "cpu3c", "vcpuCount": 3}), "power of two"),
            (gpu_pod(gpu=None, cpu={"id": "cpu9z", "vcpuCount": 2}), "cpu9z"),
        ):
            body = {k: v for k, v in body.items() if v is not None}
            answer = v2.post("/v2/pods", body)
            assert answer.status_code == 400, (body, answer.text)
            assert says in answer.json()["detail"]
        assert v2.post("/v2/pods", gpu_pod(templateId="tpl-none")).status_code == 404
    assert emulator.inventory()["pods"] == []


def test_network_mount_at_a_custom_path_and_cpu_pods(
    emulator: Emulator, runtimes: list[RecordingRuntime]
) -> None:
    with V2(emulator) as v2:
        volume = v2.post("/v2/network-volumes", {"name": "hf", "size": 200, "dataCenter": "US-TX-3"}).json()
        pod = create(
            v2,
            gpu_pod(dataCenterIds=[], mounts={"network": [{"volumeId": volume["id"], "path": "/cache"}]}),
        )
        assert pod["dataCenterId"] == "US-TX-3"  # a network volume pins its pod's data center
        assert pod["mounts"] == {"network": [{"volumeId": volume["id"], "path": "/cache"}]}
        cpu = create(
            v2,
            {"name": "prefill", "image": "runpod/base:0.6.2", "cpu": {"id": "cpu3c", "vcpuCount": 4},
             "mounts": {"network": [{"volumeId": volume["id"], "path": "/cache"}]}},
        )  # fmt: skip
        assert cpu["cpu"] == {"id": "cpu3c", "vcpuCount": 4, "memory": 8} and "gpu" not in cpu
        assert cpu["cost"] == pytest.approx(0.12)
        wait_for(lambda: len(runtimes) == 2)
        launches = {runtime.launch.pod_id: runtime.launch for runtime in runtimes}
        assert launches[pod["id"]].volume_mount_path == "/cache"
        assert launches[cpu["id"]].volume_dir == launches[pod["id"]].volume_dir
        assert v2.delete(f"/v2/network-volumes/{volume['id']}").status_code == 409


def test_args_take_the_json_start_command_or_go_to_the_image_entrypoint(
    emulator: Emulator, runtimes: list[RecordingRuntime]
) -> None:
    form = json.dumps({"entrypoint": ["bash", "-c"], "cmd": ["exec /workspace/start.sh"]})
    with V2(emulator) as v2:
        create(v2, gpu_pod(name="json-form", args=form))
        create(v2, gpu_pod(name="plain", args="deepseek-ai/DeepSeek-V4-Flash --port 8000"))
        create(v2, gpu_pod(name="cmd-only", args=json.dumps({"cmd": ["deepseek-ai/DeepSeek-V4-Flash"]})))
        wait_for(lambda: len(runtimes) == 3)
        launches = {runtime.launch.name: runtime.launch for runtime in runtimes}
        assert launches["json-form"].docker_args == "exec bash -c 'exec /workspace/start.sh'"
        assert launches["json-form"].image_entrypoint is False
        # Plain args are arguments for the image's ENTRYPOINT (`vllm serve` in vllm/vllm-openai).
        assert launches["plain"].docker_args == "deepseek-ai/DeepSeek-V4-Flash --port 8000"
        assert launches["plain"].image_entrypoint is True
        # Only `cmd`: the image's ENTRYPOINT stays, as Docker does.
        assert launches["cmd-only"].docker_args == "exec vllm serve deepseek-ai/DeepSeek-V4-Flash"

        # The canary's break: a RunPod that refuses the JSON form (the one unconfirmed assumption).
        emulator.set_faults(Faults(json_start_command="refuse"))
        refused = v2.post("/v2/pods", gpu_pod(name="refused", args=form))
        assert refused.status_code == 400 and "JSON start-command form" in refused.json()["detail"]
        emulator.set_faults(Faults(json_start_command="ignore"))
        create(v2, gpu_pod(name="ignored", args=form))
        wait_for(lambda: len(runtimes) == 4)
        assert runtimes[3].launch.docker_args == form and runtimes[3].launch.image_entrypoint is True


def test_auth_and_the_pods_own_key(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    with V2(emulator, key="") as anonymous:
        missing = anonymous.get("/v2/pods")
        assert missing.status_code == 401 and missing.json()["detail"] == "missing bearer token"
    with V2(emulator, key="wrong") as wrong:
        assert wrong.get("/v2/pods").status_code == 401
    with V2(emulator) as v2:
        mine = create(v2, gpu_pod(name="mine"))["id"]
        other = create(v2, gpu_pod(name="other"))["id"]
        wait_for(lambda: len(runtimes) == 2)
        pod_key = next(r.launch.env["RUNPOD_API_KEY"] for r in runtimes if r.launch.pod_id == mine)
        with V2(emulator, key=pod_key) as own:
            assert own.get(f"/v2/pods/{other}").status_code == 403
            assert own.get("/v2/pods").status_code == 403
            assert own.post(f"/v2/pods/{other}/action", {"action": "terminate"}).status_code == 403
            assert own.post(f"/v2/pods/{mine}/action", {"action": "restart"}).status_code == 403
            assert own.get(f"/v2/pods/{mine}").json()["id"] == mine
            assert own.delete(f"/v2/pods/{mine}").status_code == 204
        assert v2.get(f"/v2/pods/{mine}").status_code == 404
        assert v2.get(f"/v2/pods/{other}").status_code == 200

        # The canary's break: the pod's own key refused, so a pod cannot end itself (its TTL).
        third = create(v2, gpu_pod(name="third"))["id"]
        wait_for(lambda: len(runtimes) == 3)
        emulator.set_faults(Faults(reject_pod_key=True))
        with V2(emulator, key=runtimes[2].launch.env["RUNPOD_API_KEY"]) as own:
            assert own.delete(f"/v2/pods/{third}").status_code == 401
        assert v2.get(f"/v2/pods/{third}").status_code == 200


def test_patch_renames_locks_and_keeps_the_mount_kind(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        volume = v2.post("/v2/network-volumes", {"name": "w", "size": 10, "dataCenter": "EU-RO-1"}).json()
        pod = create(v2, gpu_pod(mounts={"network": [{"volumeId": volume["id"], "path": "/w"}]}))
        path = f"/v2/pods/{pod['id']}"
        renamed = v2.patch(path, {"name": "v4-renamed", "locked": True, "env": {"A": "1"}}).json()
        assert renamed["name"] == "v4-renamed" and renamed["locked"] is True and renamed["env"] == {"A": "1"}
        assert renamed["actions"] == ["terminate"]  # a locked pod cannot be stopped
        moved = v2.patch(path, {"mounts": {"network": [{"volumeId": volume["id"], "path": "/cache"}]}})
        assert moved.json()["mounts"]["network"][0]["path"] == "/cache"
        other = v2.post("/v2/network-volumes", {"name": "x", "size": 10, "dataCenter": "EU-RO-1"}).json()
        swapped = v2.patch(path, {"mounts": {"network": [{"volumeId": other["id"], "path": "/w"}]}})
        assert swapped.status_code == 400 and "immutable" in swapped.json()["detail"]
        assert v2.patch(path, {"mounts": {"network": []}}).status_code == 400
        assert v2.patch(path, {"gpu": {"id": H200}}, valid=False).status_code == 422


def test_a_dropped_field_is_the_canarys_break(emulator: Emulator) -> None:
    emulator.set_faults(Faults(drop_pod_field="runtime"))
    with V2(emulator) as v2:
        answer = v2.client.post("/v2/pods", json=gpu_pod())
        assert answer.status_code == 201 and "runtime" not in answer.json()


def test_an_unserved_operation_and_a_wrong_method(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        assert v2.get("/v2/templates").status_code == 501
        wrong = v2.client.put("/v2/pods")
        assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, POST"
        assert v2.client.get("/v2/nothing").status_code == 404

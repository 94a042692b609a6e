"""Drivers that fit the image: a GPU pod create asks for the host CUDA versions that run its image, as
REST v2's `gpu.allowedCudaVersions`, judged by RunPod's OpenAPI schema; the emulator places the pod only
on such a host; a cluster, whose create takes no CUDA constraint, is judged member by member."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from clients import client_for, gpu_request
from v2_fake import FakeRunPod, pod_view

from infra.errors import PodFailedError
from infra.planner import PlanRequest, plan
from infra.targets.runpod.cluster_providers import check_member_hosts
from infra.targets.runpod.failover import Placement
from infra.targets.runpod.props import ClusterInputs, PodInputs
from infra.targets.runpod.providers import with_cuda
from infra.targets.runpod.types import ClusterMember, GpuOffer, Pod

H200 = "NVIDIA H200"
CONNECTION = {
    "api_key": "k",
    "api_base_url": "http://127.0.0.1:9/v2",
    "proxy_url_template": "http://{pod_id}-{port}",
}


def test_the_create_body_carries_allowed_cuda_versions_and_the_schema_accepts_it() -> None:
    fake = FakeRunPod().on("POST", "/v2/pods", (201, pod_view("p1", "v4i-flash-4xh200-pod-abc123"), {}))
    client, _ = client_for(fake)
    client.create_pod(gpu_request(allowed_cuda_versions=("13.0", "13.1")))
    body = fake.calls[0][2]
    assert body["gpu"] == {"id": H200, "count": 4, "allowedCudaVersions": ["13.0", "13.1"]}
    assert fake.contract_violations == []


def _inputs(**over: Any) -> PodInputs[str]:
    p = plan(PlanRequest("flash", "H200", 4))
    fields: dict[str, Any] = {
        **CONNECTION,
        "name": "v4i-x-pod-1",
        "image": p.engine.image,
        "gpu_type_ids": [H200],
        "gpu_count": 4,
        "data_center_ids": ["US-TX-3"],
        "args": "",
        "ports": ["8000/http"],
        "container_disk_gb": 50,
        "image_cuda": p.engine.cuda,
        "image_min_driver": p.engine.min_driver,
    }
    fields.update(over)
    return PodInputs.from_props(fields)


def _offer(versions: tuple[str, ...]) -> GpuOffer:
    return GpuOffer(H200, H200, 141, 3.59, None, 8, "HIGH", {"US-TX-3": "HIGH"}, versions)


def test_each_placement_asks_for_the_catalog_versions_that_run_the_image() -> None:
    placed = with_cuda(_inputs(), [_offer(("12.4", "12.8", "13.0", "13.1"))], [Placement(H200, "US-TX-3")])
    assert placed[0].allowed_cuda_versions == ("13.0", "13.1")
    cu129 = _inputs(image="vllm/vllm-openai:v0.31.0-cu129", image_cuda="12.9", image_min_driver=525)
    placed = with_cuda(cu129, [_offer(("12.4", "12.8", "13.0"))], [Placement(H200, "US-TX-3")])
    assert placed[0].allowed_cuda_versions == ("12.4", "12.8", "13.0")
    # The stack's own list wins (the planner checked it against the image already).
    own = with_cuda(_inputs(allowed_cuda_versions=["13.1"]), [_offer(("13.0", "13.1"))], [Placement(H200)])
    assert own[0].allowed_cuda_versions == ("13.1",)


def test_the_emulator_places_the_pod_on_a_host_that_runs_the_image(emulator: Any) -> None:
    from infra.targets.runpod import runtime
    from infra.targets.runpod.types import RunPodSettings

    client = runtime.runpod_client(
        RunPodSettings(emulator.api_key, emulator.url, emulator.proxy_url_template)
    )
    offer = next(o for o in client.gpu_catalog(4) if o.id == H200)
    assert offer.cuda_versions, "the catalog lists the CUDA versions its hosts report"
    needs_13 = client.create_pod(
        gpu_request(image="vllm/vllm-openai:v0.31.0", network_volume_id=None, allowed_cuda_versions=("13.0",))
    )
    assert (client.get_pod(needs_13.id) or needs_13).cuda_version == "13.0"
    needs_12 = client.create_pod(
        gpu_request(
            name="v4i-flash-4xh200-pod-def456",
            image="vllm/vllm-openai:v0.31.0-cu129",
            network_volume_id=None,
            allowed_cuda_versions=("12.8",),
        )
    )
    assert (client.get_pod(needs_12.id) or needs_12).cuda_version == "12.8"
    client.terminate_pod(needs_13.id)
    client.terminate_pod(needs_12.id)


def test_a_cluster_member_on_an_old_driver_fails_the_create_in_one_line() -> None:
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2))
    inputs = ClusterInputs.from_props(
        {
            **CONNECTION, "name": "v4i-c", "image": p.engine.image, "gpu_type_ids": ["h100"],
            "gpu_count": 8, "pod_count": 2, "data_center_ids": ["US-TX-3"], "args": "", "ports": [],
            "container_disk_gb": 50, "image_cuda": p.engine.cuda, "image_min_driver": p.engine.min_driver,
        }
    )  # fmt: skip
    base = Pod("m0", "v4i-c-0", "RUNNING", (), "h100", 8, 2.69, p.engine.image, "US-TX-3", None, None, {}, ())
    members = [
        ClusterMember(dataclasses.replace(base, cuda_version="13.0"), 0, "10.0.0.1"),
        ClusterMember(dataclasses.replace(base, id="m1", cuda_version="12.8"), 1, "10.0.0.2"),
    ]
    with pytest.raises(PodFailedError) as err:
        check_member_hosts(inputs, members)
    text = str(err.value)
    assert (
        "\n" not in text and "m1 (rank 1)" in text and "CUDA 12.8" in text and "built for CUDA 13.0" in text
    )
    check_member_hosts(inputs, members[:1])

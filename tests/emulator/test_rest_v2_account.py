"""REST v2 catalog, stock, network volume tiers, edge faults and random fault schedules.

httpx against the emulator; every request and answer judged by RunPod's OpenAPI v2 file.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
from recording_runtime import RecordingRuntime
from v2_client import V2

from infra.emulator import Emulator, Faults

H200 = "NVIDIA H200"
H100 = "NVIDIA H100 80GB HBM3"
H100_NVL = "NVIDIA H100 NVL"


def gpu_pod(gpu: str, data_centers: list[str], count: int = 8) -> dict[str, Any]:
    return {"name": "v4", "image": "vllm/vllm-openai:v0.20.0", "gpu": {"id": gpu, "count": count},
            "dataCenterIds": data_centers}  # fmt: skip


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def test_catalog_shows_stock_only_in_the_third_gpu_type(emulator: Emulator) -> None:
    emulator.set_stock({"EUR-IS-1": {H200: 0, H100: 0, H100_NVL: 8}})
    with V2(emulator) as v2:
        gpus = by_id(
            v2.get("/v2/catalog/gpus", include="AVAILABILITY", product="POD", count=8).json()["gpus"]
        )
        assert gpus[H200]["availability"] == "NONE" and "dataCenters" not in gpus[H200]
        assert gpus[H100]["availability"] == "NONE"
        assert gpus[H100_NVL]["availability"] == "MEDIUM"
        assert gpus[H100_NVL]["dataCenters"] == [
            {"id": "EUR-IS-1", "name": "EU Iceland 1", "availability": "MEDIUM"}
        ]
        assert gpus[H100_NVL]["cudaVersions"] == [
            {"version": v, "available": True} for v in ("12.8", "12.9", "13.0")
        ]
        assert gpus[H200]["price"] == {"secure": 3.59, "community": 3.39}

        # v2 places one GPU type and never falls back: the first two are refused for capacity.
        for gpu in (H200, H100):
            refused = v2.post("/v2/pods", gpu_pod(gpu, []))
            assert refused.status_code == 400 and "no longer any instances" in refused.json()["detail"]
        placed = v2.post("/v2/pods", gpu_pod(H100_NVL, []))
        assert placed.status_code == 201 and placed.json()["dataCenterId"] == "EUR-IS-1"
        after = v2.get(f"/v2/catalog/gpus/{H100_NVL}", include="AVAILABILITY", product="POD").json()
        assert after["availability"] == "NONE"

        # Without include the catalog has no availability; the filters alone are refused (400).
        plain = v2.get(f"/v2/catalog/gpus/{H200}").json()
        assert "availability" not in plain and plain["maxCount"] == {"secure": 8, "community": 8}
        assert v2.get("/v2/catalog/gpus", include="AVAILABILITY").status_code == 400
        assert v2.get("/v2/catalog/gpus", product="POD").status_code == 400
        assert v2.get("/v2/catalog/gpus", include="AVAILABILITY", product="PODS").status_code == 422
        assert v2.get("/v2/catalog/gpus/NVIDIA H300").status_code == 404


def test_stock_only_in_the_second_data_center(emulator: Emulator) -> None:
    httpx.post(f"{emulator.url}/_emulator/stock", json={"EU-SE-1": {H200: 8}}).raise_for_status()
    with V2(emulator) as v2:
        centers = by_id(v2.get("/v2/catalog/datacenters", include="GPU_AVAILABILITY").json()["dataCenters"])
        assert centers["EU-SE-1"]["gpuAvailability"] == [
            {"id": H200, "name": "H200 SXM", "availability": "MEDIUM"}
        ]
        assert "gpuAvailability" not in centers["EU-RO-1"]
        assert v2.post("/v2/pods", gpu_pod(H200, ["EU-RO-1"])).status_code == 400
        pod = v2.post("/v2/pods", gpu_pod(H200, ["EU-RO-1", "EU-SE-1"])).json()
        assert pod["dataCenterId"] == "EU-SE-1"
        gpu = v2.get(
            f"/v2/catalog/gpus/{H200}", include="AVAILABILITY", product="POD", countryCodes="SE"
        ).json()
        assert gpu["availability"] == "NONE"
        swedish = v2.get("/v2/catalog/gpus", include="AVAILABILITY", product="POD", countryCodes="SE").json()
        assert [gpu["id"] for gpu in swedish["gpus"]] == [H200]  # only what a Swedish data center stocks
        europe = v2.get("/v2/catalog/datacenters", regions="EUROPE").json()["dataCenters"]
        assert {dc["id"] for dc in europe} == {"EU-RO-1", "EU-SE-1", "EUR-IS-1"}
    bad = httpx.post(f"{emulator.url}/_emulator/stock", json={"MARS-1": {H200: 1}})
    assert bad.status_code == 400 and "MARS-1" in bad.json()["error"]


def test_cpu_catalog(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        cpus = by_id(v2.get("/v2/catalog/cpus", include="AVAILABILITY", product="POD").json()["cpus"])
        assert cpus["cpu3c"]["price"]["securePerVcpu"] == 0.03 and cpus["cpu3c"]["availability"] == "HIGH"
        assert v2.get("/v2/catalog/cpus/cpu3c").json()["vcpu"] == {"min": 2, "max": 32}


def test_volume_tiers_follow_what_each_data_center_offers(emulator: Emulator) -> None:
    with V2(emulator) as v2:
        centers = by_id(v2.get("/v2/catalog/datacenters").json()["dataCenters"])
        assert centers["EU-RO-1"]["networkVolumeTypes"] == ["STANDARD", "HIGH_PERFORMANCE"]
        assert centers["US-KS-2"]["networkVolumeTypes"] == ["STANDARD"]
        assert centers["CA-MTL-1"]["networkVolumeTypes"] == []
        hpc = v2.get("/v2/catalog/datacenters", networkVolumeTypes="HIGH_PERFORMANCE").json()["dataCenters"]
        assert {dc["id"] for dc in hpc} == {"EU-RO-1", "EUR-IS-1", "US-TX-3"}

        fast = v2.post(
            "/v2/network-volumes",
            {"name": "hf", "size": 900, "dataCenter": "EU-RO-1", "type": "HIGH_PERFORMANCE"},
        )
        assert fast.status_code == 201 and fast.json()["type"] == "HIGH_PERFORMANCE"
        default = v2.post("/v2/network-volumes", {"name": "hf", "size": 10, "dataCenter": "EUR-IS-1"}).json()
        assert default["type"] == "HIGH_PERFORMANCE"  # the data center's primary tier
        lacking = v2.post(
            "/v2/network-volumes",
            {"name": "hf", "size": 10, "dataCenter": "US-KS-2", "type": "HIGH_PERFORMANCE"},
        )
        assert lacking.status_code == 400 and "offers STANDARD" in lacking.json()["detail"]
        assert (
            v2.post("/v2/network-volumes", {"name": "hf", "size": 10, "dataCenter": "CA-MTL-1"}).status_code
            == 400
        )
        assert (
            v2.post(
                "/v2/network-volumes",
                {"name": "hf", "size": 10, "dataCenter": "EU-RO-1", "type": "FAST"},
                valid=False,
            ).status_code
            == 422
        )
        assert (
            v2.post(
                "/v2/network-volumes", {"name": "hf", "size": 5, "dataCenter": "EU-RO-1"}, valid=False
            ).status_code
            == 422
        )

        path = f"/v2/network-volumes/{fast.json()['id']}"
        assert v2.patch(path, {"type": "STANDARD"}, valid=False).status_code == 422  # the tier is immutable
        assert v2.patch(path, {}, valid=False).status_code == 422
        assert v2.patch(path, {"size": 100}).status_code == 400  # volumes only grow
        assert v2.patch(path, {"size": 1000, "name": "hf-2"}).json() == {
            **fast.json(),
            "size": 1000,
            "name": "hf-2",
        }
        listed = v2.get("/v2/network-volumes").json()["networkVolumes"]
        assert {v["id"] for v in listed} == {fast.json()["id"], default["id"]}
        assert v2.delete(path).status_code == 204
        assert v2.get(path).status_code == 404
    assert [v["type"] for v in emulator.inventory()["volumes"]] == ["HIGH_PERFORMANCE"]


def test_rate_limits_carry_retry_after_and_edge_errors_pass(emulator: Emulator) -> None:
    emulator.set_faults(Faults(rate_limit=1, server_errors=1, retry_after_seconds=7))
    with V2(emulator) as v2:
        limited = v2.get("/v2/pods")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert limited.json()["title"] == "Too Many Requests"
        assert "RateLimit" in limited.headers
        bad = v2.client.get("/v2/pods")
        assert bad.status_code == 502 and "502 Bad Gateway" in bad.text
        ok = v2.get("/v2/pods")
        assert ok.status_code == 200 and "RateLimit-Policy" in ok.headers


def test_balance_too_low_is_402(emulator: Emulator) -> None:
    emulator.set_faults(Faults(balance_too_low=True))
    with V2(emulator) as v2:
        answer = v2.post("/v2/pods", gpu_pod(H200, ["EU-RO-1"]))
        assert answer.status_code == 402 and "balance is too low" in answer.json()["detail"]


def test_error_after_create_leaves_a_pod_to_find_by_name(emulator: Emulator) -> None:
    emulator.set_faults(Faults(error_after_create=1))
    with V2(emulator) as v2:
        answer = v2.post("/v2/pods", gpu_pod(H200, ["EU-RO-1"]))
        assert answer.status_code == 500
        assert [pod["name"] for pod in v2.get("/v2/pods").json()["pods"]] == ["v4"]


def _with_retries(v2: V2, method: str, path: str, body: Any = None) -> Any:
    """What a careful client does: retry 429 and 5xx; give up on anything else."""
    for _ in range(50):
        answer = v2.call(method, path, body)
        if answer.status_code in (429, 500, 502):
            continue
        return answer
    raise AssertionError(f"{method} {path} never got through")


def test_random_fault_schedules_end_with_an_empty_inventory(
    emulator: Emulator, runtimes: list[RecordingRuntime]
) -> None:
    """Property: whatever faults hit the calls, terminating by name and deleting volumes leaves nothing billed."""
    for seed in range(8):
        rng = random.Random(seed)
        with V2(emulator) as v2:
            for step in range(6):
                emulator.set_faults(
                    Faults(
                        rate_limit=rng.randint(0, 2),
                        server_errors=rng.randint(0, 2),
                        error_after_create=rng.randint(0, 1),
                        capacity_errors=rng.randint(0, 1),
                    )
                )
                if rng.random() < 0.3:
                    _with_retries(v2, "POST", "/v2/network-volumes",
                                  {"name": f"vol-{seed}-{step}", "size": 10, "dataCenter": "EU-RO-1"})  # fmt: skip
                else:
                    body = gpu_pod(
                        rng.choice([H200, H100]), rng.choice([[], ["EU-RO-1"], ["US-TX-3", "EU-RO-1"]]), 1
                    )
                    _with_retries(v2, "POST", "/v2/pods", {**body, "name": f"pod-{seed}-{step}"})
                if rng.random() < 0.3:
                    pods = _with_retries(v2, "GET", "/v2/pods").json()["pods"]
                    if pods:
                        pod = rng.choice(pods)
                        action = rng.choice(pod["actions"])
                        _with_retries(v2, "POST", f"/v2/pods/{pod['id']}/action", {"action": action})
            emulator.set_faults(Faults(rate_limit=rng.randint(0, 3), server_errors=rng.randint(0, 3)))
            for pod in _with_retries(v2, "GET", "/v2/pods").json()["pods"]:
                assert _with_retries(v2, "DELETE", f"/v2/pods/{pod['id']}").status_code in (204, 404)
            for volume in _with_retries(v2, "GET", "/v2/network-volumes").json()["networkVolumes"]:
                assert _with_retries(v2, "DELETE", f"/v2/network-volumes/{volume['id']}").status_code in (
                    204,
                    404,
                )
        inventory = emulator.inventory()
        assert inventory["pods"] == [] and inventory["volumes"] == [], seed
        assert inventory["stock"]["EU-RO-1"][H200] == 16, seed

"""REST v2's catalog: GPU and CPU types and data centers, with the availability filters the schema defines."""

from __future__ import annotations

from typing import Any

from infra.emulator import catalog
from infra.emulator.errors import Invalid, NotFound
from infra.emulator.rest_v2_http import Answer, Call
from infra.emulator.rest_v2_views import cpu_type_view, data_center_view, gpu_type_view


def _availability(call: Call) -> dict[str, Any] | None:
    """The include=AVAILABILITY filters, with the 400s the parameters' descriptions promise."""
    query = call.query
    include = "AVAILABILITY" in (query.get("include") or [])
    scoped = [
        name for name in ("count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion") if name in query
    ]
    if not include:
        if "product" in query or scoped:
            names = ", ".join(["product", *scoped] if "product" in query else scoped)
            raise Invalid(f"{names} is valid only with include=AVAILABILITY")
        return None
    if not query.get("product"):
        raise Invalid("product is required with include=AVAILABILITY (POD, CLUSTER or SERVERLESS)")
    if query.get("cudaVersions") and "minCudaVersion" in query:
        raise Invalid("cudaVersions and minCudaVersion are mutually exclusive")
    exact = set(query.get("cudaVersions") or [])
    floor = query.get("minCudaVersion")

    def wanted(version: str) -> bool:
        if exact:
            return version in exact
        if floor:
            parts = [int(p) for p in floor.split(".")]
            have = [int(p) for p in version.split(".")]
            return have[: len(parts)] >= parts
        return True

    return {
        "count": query.get("count", 1),
        "cloud": query.get("cloud", "SECURE"),
        "products": query["product"],
        "countries": set(query.get("countryCodes") or []),
        "cuda": wanted,
    }


def list_gpus(call: Call) -> Answer:
    availability = _availability(call)
    with call.state.lock:
        views = [gpu_type_view(call.state, gpu, availability) for gpu in catalog.GPU_TYPES.values()]
    if availability is not None and availability["countries"]:
        # With countryCodes a GPU type with no data center in those countries drops out of the list.
        countries = availability["countries"]
        with call.state.lock:
            offered = {
                gpu_id
                for dc in catalog.DATA_CENTERS.values()
                if catalog.COUNTRY_CODES[dc.location] in countries
                for gpu_id in call.state.stock.get(dc.id, {})
            }
        views = [view for view in views if view["id"] in offered]
    return Answer(200, {"gpus": views})


def get_gpu(call: Call) -> Answer:
    gpu = catalog.GPU_TYPES.get(call.ids[0])
    if gpu is None:
        raise NotFound("GPU type", call.ids[0])
    availability = _availability(call)
    with call.state.lock:
        return Answer(200, gpu_type_view(call.state, gpu, availability))


def _cpu_availability(call: Call) -> bool:
    include = "AVAILABILITY" in (call.query.get("include") or [])
    if include and not call.query.get("product"):
        raise Invalid("product is required with include=AVAILABILITY (POD or SERVERLESS)")
    if not include and ("product" in call.query or "vcpuCount" in call.query):
        raise Invalid("product and vcpuCount are valid only with include=AVAILABILITY")
    return include


def list_cpus(call: Call) -> Answer:
    availability = _cpu_availability(call)
    with call.state.lock:
        return Answer(
            200, {"cpus": [cpu_type_view(call.state, c, availability) for c in catalog.CPU_TYPES.values()]}
        )


def get_cpu(call: Call) -> Answer:
    cpu = catalog.CPU_TYPES.get(call.ids[0])
    if cpu is None:
        raise NotFound("CPU type", call.ids[0])
    availability = _cpu_availability(call)
    with call.state.lock:
        return Answer(200, cpu_type_view(call.state, cpu, availability))


def _data_center_matches(dc: catalog.DataCenter, query: dict[str, Any]) -> bool:
    if query.get("regions") and dc.region not in query["regions"]:
        return False
    if not set(query.get("networkVolumeTypes") or []) <= set(dc.volume_types):
        return False
    if not set(query.get("compliance") or []) <= set(dc.compliance):
        return False
    return query.get("globalNetwork") is not True


def list_data_centers(call: Call) -> Answer:
    include = set(call.query.get("include") or [])
    with call.state.lock:
        views = [
            data_center_view(call.state, dc, include)
            for dc in catalog.DATA_CENTERS.values()
            if _data_center_matches(dc, call.query)
        ]
    return Answer(200, {"dataCenters": views})


def get_data_center(call: Call) -> Answer:
    dc = catalog.DATA_CENTERS.get(call.ids[0])
    if dc is None:
        raise NotFound("data center", call.ids[0])
    with call.state.lock:
        return Answer(200, data_center_view(call.state, dc, set(call.query.get("include") or [])))

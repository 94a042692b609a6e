"""REST v2's object shapes (Pod, NetworkVolume, GpuType, CpuType, DataCenter, Cluster) from the account model.

Field names and required keys follow RunPod's OpenAPI v2 schema (infra/contracts); the tests
validate every view against it. Call with the state lock held.
"""

from __future__ import annotations

from typing import Any

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.resources import (
    ERROR,
    EXITED,
    HOLDING,
    PROVISIONING,
    RUNNING,
    STARTING,
    TERMINATED,
    Cluster,
    Pod,
    Volume,
    member_ip,
    parse_ports,
)

# The roles REST v2 assigns to SLURM and RAY members (rank 0 first); none for TRAINING/APPLICATION.
CLUSTER_ROLES = {"SLURM": ("SLURM_CONTROLLER", "SLURM_COMPUTE"), "RAY": ("RAY_HEAD", "RAY_WORKER")}
VXLAN_PORT = 4789
# REST v2 `podAction`: which actions each status allows.
ACTIONS = {
    PROVISIONING: ("stop", "terminate"),
    STARTING: ("stop", "terminate"),
    RUNNING: ("stop", "restart", "terminate"),
    EXITED: ("start", "terminate"),
    ERROR: ("start", "terminate"),
    TERMINATED: (),
}


def pod_actions(pod: Pod) -> list[str]:
    """The pod's `actions[]`: what its status allows, less stop and restart while it is locked."""
    allowed = ACTIONS[pod.status]
    # A locked pod cannot be stopped or reset (REST v2 UpdatePodRequest.locked).
    return [a for a in allowed if not (pod.locked and a in ("stop", "restart"))]


def pod_view(state: Account, pod: Pod) -> dict[str, Any]:
    now = state.clock.now()
    request = pod.request
    view: dict[str, Any] = {
        "id": pod.id,
        "name": pod.name,
        "status": pod.status,
        "actions": pod_actions(pod),
        "image": request.image_name,
        "args": request.docker_args,
        "disk": request.container_disk_in_gb,
        "mounts": _mounts(pod),
        "ports": parse_ports(request.ports),
        "env": dict(request.env),
        "registry": None,
        "cloud": pod.cloud_type if pod.cloud_type in ("SECURE", "COMMUNITY") else "SECURE",
        "dataCenterId": pod.data_center_id,
        "cudaVersion": pod.cuda_version,
        "ssh": {"proxy": None, "direct": _ssh_direct(pod)},
        "template": None,
        # REST v2: "Current cost in USD per hour (0.0 when EXITED or TERMINATED)".
        "cost": pod.price_per_hour if pod.status in HOLDING else 0.0,
        "locked": pod.locked,
        "globalNetworking": {"enabled": False},
        "runtime": _runtime(pod, now),
        "createdAt": state.clock.rfc3339(pod.created_at),
        "startedAt": state.clock.rfc3339(pod.started_at) if pod.started_at is not None else None,
    }
    if pod.kind == "gpu" and pod.gpu_type_id is not None:
        view["gpu"] = {"id": pod.gpu_type_id, "count": pod.gpu_count}
    else:
        flavor, vcpus, memory = _cpu_size(request.instance_id or catalog.DEFAULT_CPU_FLAVOR)
        view["cpu"] = {"id": flavor, "vcpuCount": vcpus, "memory": memory}
    if pod.cluster_id is not None:
        view["cluster"] = _membership(state, pod)
    dropped = state.faults.drop_pod_field
    if dropped:
        view.pop(dropped, None)
    return view


def _mounts(pod: Pod) -> dict[str, Any]:
    request = pod.request
    if request.network_volume_id is not None:
        return {"network": [{"volumeId": request.network_volume_id, "path": request.volume_mount_path}]}
    if request.volume_in_gb > 0:
        return {"persistent": {"size": request.volume_in_gb, "path": request.volume_mount_path}}
    return {}


def _ports(pod: Pod) -> dict[int, int]:
    return pod.runtime.port_map if pod.runtime is not None and pod.status == RUNNING else {}


def _ssh_direct(pod: Pod) -> dict[str, Any] | None:
    public = _ports(pod).get(22)
    if public is None or "22/tcp" not in parse_ports(pod.request.ports):
        return None
    return {
        "host": "127.0.0.1",
        "port": public,
        "username": "root",
        "command": f"ssh root@127.0.0.1 -p {public}",
    }


def _runtime(pod: Pod, now: float) -> dict[str, Any] | None:
    if pod.status != RUNNING:
        return None
    kinds = {int(p.partition("/")[0]): p.partition("/")[2] or "tcp" for p in parse_ports(pod.request.ports)}
    ports = [
        {"private": private, "public": public, "type": kinds.get(private, "tcp"), "ip": "127.0.0.1"}
        for private, public in sorted(_ports(pod).items())
    ]
    return {
        "uptime": pod.uptime(now),
        "gpus": [{"util": 0, "memoryUtil": 0} for _ in range(pod.gpu_count if pod.kind == "gpu" else 0)],
        "cpu": {"util": 0},
        "memory": {"util": 0},
        "ports": ports,
    }


def _cpu_size(instance_id: str) -> tuple[str, int, int]:
    flavor, vcpus, memory = instance_id.split("-")
    return flavor, int(vcpus), int(memory)


def _membership(state: Account, pod: Pod) -> dict[str, Any]:
    cluster = state.clusters.get(pod.cluster_id or "")
    rank = pod.cluster_rank or 0
    view: dict[str, Any] = {"id": pod.cluster_id, "rank": rank}
    if cluster is not None:
        view["ip"] = member_ip(cluster, rank)
        roles = CLUSTER_ROLES.get(cluster.cluster_type)
        if roles:
            view["role"] = roles[0] if rank == 0 else roles[1]
    return view


def volume_view(volume: Volume) -> dict[str, Any]:
    return {
        "id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "dataCenter": volume.data_center_id,
        "type": volume.volume_type,
    }


def cluster_view(state: Account, cluster: Cluster) -> dict[str, Any]:
    members = [state.pods[pod_id] for pod_id in cluster.pod_ids if pod_id in state.pods]
    by_status: dict[str, int] = {}
    for pod in members:
        by_status[pod.status] = by_status.get(pod.status, 0) + 1
    view: dict[str, Any] = {
        "id": cluster.id,
        "name": cluster.name,
        "type": cluster.cluster_type,
        "compute": {
            "gpuTypeId": cluster.gpu_type_id,
            "gpuCountPerPod": cluster.gpu_count_per_pod,
            "podCount": cluster.pod_count,
        },
        "dataCenterId": cluster.data_center_id,
        "pods": {"total": len(members), "byStatus": by_status},
        "network": {"cidr": cluster.cidr, "vxlanId": cluster.vxlan_id, "vxlanPort": VXLAN_PORT},
        "createdAt": state.clock.rfc3339(cluster.created_at),
    }
    primary = state.pods.get(cluster.pod_ids[0]) if cluster.pod_ids else None
    if primary is not None:
        view["primary"] = {"podId": primary.id, "status": primary.status}
        ssh = _ssh_direct(primary)
        if ssh is not None:
            view["primary"]["sshEndpoint"] = f"{ssh['host']}:{ssh['port']}"
    return view


# ---- the catalog --------------------------------------------------------------------------------


def gpu_type_view(
    state: Account, gpu: catalog.GpuType, availability: dict[str, Any] | None
) -> dict[str, Any]:
    """`availability` (when include=AVAILABILITY): {count, cloud, products, countries, cuda}."""
    view: dict[str, Any] = {
        "id": gpu.id,
        "name": gpu.display_name,
        "pool": None,
        "manufacturer": gpu.manufacturer.upper(),
        "memory": gpu.memory_in_gb,
        "secure": gpu.secure_price is not None,
        "community": gpu.community_price is not None,
        "price": {"secure": gpu.secure_price or 0.0, "community": gpu.community_price or 0.0},
        "maxCount": {
            "secure": gpu.max_gpu_count if gpu.secure_price is not None else 0,
            "community": gpu.max_gpu_count if gpu.community_price is not None else 0,
        },
    }
    if availability is None:
        return view
    count = availability["count"]
    sold = (gpu.secure_price if availability["cloud"] == "SECURE" else gpu.community_price) is not None
    pods_or_clusters = bool({"POD", "CLUSTER"} & set(availability["products"]))
    levels: list[dict[str, Any]] = []
    for dc in catalog.DATA_CENTERS.values():
        countries = availability["countries"]
        if gpu.id not in state.stock.get(dc.id, {}) or (
            countries and catalog.COUNTRY_CODES[dc.location] not in countries
        ):
            continue
        free = state.stock[dc.id][gpu.id] if dc.id not in state.faults.capacity_data_centers else 0
        level = catalog.availability_level(free, count) if sold and pods_or_clusters else "NONE"
        levels.append({"id": dc.id, "name": dc.name, "availability": level})
    usable = [entry for entry in levels if entry["availability"] != "NONE"]
    order = ["NONE", "LOW", "MEDIUM", "HIGH"]
    view["availability"] = max((entry["availability"] for entry in levels), key=order.index, default="NONE")
    if usable:
        view["dataCenters"] = levels
    wanted_cuda = availability["cuda"]
    view["cudaVersions"] = [
        {"version": version, "available": bool(usable)}
        for version in gpu.cuda_versions
        if wanted_cuda(version)
    ]
    return view


def cpu_type_view(state: Account, cpu: catalog.CpuType, availability: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": cpu.id,
        "name": cpu.name,
        "group": cpu.group,
        "vcpu": {"min": cpu.vcpu_min, "max": cpu.vcpu_max},
        "ramGbPerVcpu": float(cpu.ram_gb_per_vcpu),
        "price": {"securePerVcpu": cpu.secure_per_vcpu, "serverlessPerVcpu": cpu.serverless_per_vcpu},
    }
    if availability:
        # CPU capacity is not scarce in the emulator: every data center not faulted out has it.
        places = [
            dc for dc in catalog.DATA_CENTERS.values() if dc.id not in state.faults.capacity_data_centers
        ]
        view["availability"] = "HIGH" if places else "NONE"
        if places:
            view["dataCenters"] = [{"id": dc.id, "name": dc.name, "availability": "HIGH"} for dc in places]
    return view


def data_center_view(state: Account, dc: catalog.DataCenter, include: set[str]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": dc.id,
        "name": dc.name,
        "region": dc.region,
        "globalNetwork": False,
        "networkVolumeTypes": list(dc.volume_types),
        "compliance": list(dc.compliance),
    }
    if "GPU_AVAILABILITY" in include and state.stock.get(dc.id):
        faulted = dc.id in state.faults.capacity_data_centers
        view["gpuAvailability"] = [
            {
                "id": gpu_id,
                "name": catalog.GPU_TYPES[gpu_id].display_name,
                "availability": catalog.availability_level(0 if faulted else free),
            }
            for gpu_id, free in state.stock[dc.id].items()
        ]
    if "CPU_AVAILABILITY" in include:
        level = "NONE" if dc.id in state.faults.capacity_data_centers else "HIGH"
        view["cpuAvailability"] = [
            {"id": cpu.id, "name": cpu.name, "availability": level} for cpu in catalog.CPU_TYPES.values()
        ]
    return view

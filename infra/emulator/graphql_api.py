"""RunPod's GraphQL API as the `runpod` 1.12 SDK uses it.

Documents are parsed with graphql-core and validated against the SDL in `graphql_schema` (an
unknown field, argument or enum value is refused with graphql-core's own message, HTTP 400); each
top-level field has a resolver, and its result is projected onto the requested selection set
(aliases and fragments honoured). RunPod retires GraphQL in early 2027 (shared/reference/runpod.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)
from graphql.utilities import value_from_ast_untyped

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.errors import CreatedButFailed, DomainError, Invalid
from infra.emulator.graphql_schema import schema
from infra.emulator.resources import EXITED, RUNNING, TERMINATED, Pod, PodRequest, Volume, parse_ports

Resolver = Callable[[Account, dict[str, Any]], Any]
Fragments = dict[str, FragmentDefinitionNode]
# What a pod-scoped key (a pod's own RUNPOD_API_KEY) may do, and only to its own pod.
POD_KEY_MUTATIONS = frozenset({"podTerminate", "podStop"})


class Unauthorized(Exception):
    """The key may not run this document (answered with HTTP 401)."""


def execute(state: Account, request: dict[str, Any], pod_scope: str | None) -> tuple[int, dict[str, Any]]:
    """Run one GraphQL request; `pod_scope` is the pod id when the caller used a pod-scoped key."""
    query = request.get("query")
    if not isinstance(query, str):
        return 400, {"errors": [{"message": "Must provide query string."}]}
    try:
        document = parse(query)
    except GraphQLError as exc:
        return 400, {"errors": [exc.formatted]}
    problems = validate(schema(), document)
    if problems:
        return 400, {"errors": [problem.formatted for problem in problems]}
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operation = _pick_operation(document.definitions, request.get("operationName"))
    if operation is None:
        return 400, {"errors": [{"message": "Must provide a single operation or a valid operationName."}]}
    variables = request.get("variables") or {}
    if operation.operation == OperationType.QUERY:
        resolvers, root = QUERY_FIELDS, "Query"
    elif operation.operation == OperationType.MUTATION:
        resolvers, root = MUTATION_FIELDS, "Mutation"
    else:
        return 400, {"errors": [{"message": "Subscriptions are not supported."}]}
    fields = list(_collect(operation.selection_set, fragments))
    unknown = [f for f in fields if f.name.value not in resolvers and f.name.value != "__typename"]
    if unknown:
        name = unknown[0].name.value
        return 400, {"errors": [{"message": f'Cannot query field "{name}" on type "{root}".'}]}
    if pod_scope is not None:
        _check_pod_scope(operation, fields, variables, pod_scope)
    status = 200
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for field in fields:
        key = field.alias.value if field.alias else field.name.value
        if field.name.value == "__typename":
            data[key] = root
            continue
        try:
            value = resolvers[field.name.value](state, _arguments(field, variables))
            with state.lock:
                data[key] = _project(value, field.selection_set, fragments, variables)
        except DomainError as exc:
            data[key] = None
            code = "INTERNAL_SERVER_ERROR" if isinstance(exc, CreatedButFailed) else "BAD_USER_INPUT"
            errors.append(_error(exc.message, field, key, code))
            if isinstance(exc, CreatedButFailed):
                status = 500
    body: dict[str, Any] = {"data": data}
    if errors:
        body = {"errors": errors, "data": data}
    return status, body


def _pick_operation(definitions: Any, name: object) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if isinstance(name, str):
        return next((op for op in operations if op.name and op.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


def _check_pod_scope(
    operation: OperationDefinitionNode, fields: list[FieldNode], variables: dict[str, Any], pod_id: str
) -> None:
    if operation.operation != OperationType.MUTATION:
        raise Unauthorized("a pod's API key may only stop or terminate that pod")
    for field in fields:
        target = (_arguments(field, variables).get("input") or {}).get("podId")
        if field.name.value not in POD_KEY_MUTATIONS or target != pod_id:
            raise Unauthorized("a pod's API key may only stop or terminate that pod")


def _error(message: str, field: FieldNode, key: str, code: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "path": [key], "extensions": {"code": code}}
    if field.loc is not None:
        line, column = _line_column(field.loc.source.body, field.loc.start)
        error["locations"] = [{"line": line, "column": column}]
    return error


def _line_column(body: str, offset: int) -> tuple[int, int]:
    before = body[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _collect(selection_set: SelectionSetNode | None, fragments: Fragments) -> Iterator[FieldNode]:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _collect(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _collect(fragments[selection.name.value].selection_set, fragments)


def _arguments(field: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    return {arg.name.value: value_from_ast_untyped(arg.value, variables) for arg in field.arguments}


def _project(value: Any, selection_set: SelectionSetNode | None, fragments: Fragments, variables: Any) -> Any:
    """Keep what the selection set asks for; call lazy fields with their arguments."""
    if value is None or selection_set is None:
        return value
    if isinstance(value, list):
        return [_project(item, selection_set, fragments, variables) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for field in _collect(selection_set, fragments):
        key = field.alias.value if field.alias else field.name.value
        raw = value.get(field.name.value)
        if callable(raw):
            raw = raw(_arguments(field, variables))
        result[key] = _project(raw, field.selection_set, fragments, variables)
    return result


# ---- views: RunPod's object shapes -----------------------------------------------------------


def desired_status(pod: Pod) -> str:
    """GraphQL's coarse status (`desiredStatus`): RUNNING while the pod holds compute, else EXITED or TERMINATED."""
    return pod.status if pod.status in (EXITED, TERMINATED) else RUNNING


def volume_view(volume: Volume) -> dict[str, Any]:
    """A network volume as `myself { networkVolumes }` and `pod { networkVolume }` answer it."""
    return {"id": volume.id, "name": volume.name, "size": volume.size, "dataCenterId": volume.data_center_id}


def _last_status_change(pod: Pod) -> str:
    """RunPod's `lastStatusChange`: the reason and when, in its JavaScript date form."""
    when = time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(pod.status_changed_wall)
    )
    return f"{pod.status_reason}: {when}" if pod.status_reason else ""


def gpu_type_view(state: Account, gpu: catalog.GpuType) -> dict[str, Any]:
    def lowest_price(args: dict[str, Any]) -> dict[str, Any]:
        wanted = args.get("input") or {}
        count = int(wanted.get("gpuCount") or 1)
        dc = wanted.get("dataCenterId")
        free = [gpus.get(gpu.id, 0) for center, gpus in state.stock.items() if dc is None or center == dc]
        fits = [n for n in free if n >= count]
        price = gpu.secure_price if gpu.secure_price is not None else gpu.community_price
        spot = [p for p in (gpu.secure_spot_price, gpu.community_spot_price) if p is not None]
        return {
            "__typename": "LowestPrice",
            "gpuName": gpu.display_name,
            "gpuTypeId": gpu.id,
            "minimumBidPrice": min(spot) if spot else None,
            "uninterruptablePrice": price,
            "minMemory": None,
            "minVcpu": None,
            "stockStatus": catalog.stock_status(max(fits, default=0)) if price is not None else None,
            "maxUnreservedGpuCount": max(free, default=0),
            "availableGpuCounts": [n for n in (1, 2, 4, 8) if n <= max(free, default=0)],
        }

    return {
        "__typename": "GpuType",
        "id": gpu.id,
        "displayName": gpu.display_name,
        "manufacturer": gpu.manufacturer,
        "memoryInGb": gpu.memory_in_gb,
        "cudaCores": 0,
        "secureCloud": gpu.secure_price is not None,
        "communityCloud": gpu.community_price is not None,
        "securePrice": gpu.secure_price,
        "communityPrice": gpu.community_price,
        "secureSpotPrice": gpu.secure_spot_price,
        "communitySpotPrice": gpu.community_spot_price,
        "oneMonthPrice": None,
        "threeMonthPrice": None,
        "oneWeekPrice": None,
        "maxGpuCount": gpu.max_gpu_count,
        "maxGpuCountSecureCloud": gpu.max_gpu_count if gpu.secure_price is not None else 0,
        "maxGpuCountCommunityCloud": gpu.max_gpu_count if gpu.community_price is not None else 0,
        "lowestPrice": lowest_price,
    }


def pod_view(state: Account, pod: Pod) -> dict[str, Any]:
    """A pod as `pod(input)` and `myself { pods }` answer it (call with the state lock held)."""
    now = state.clock.now()
    request = pod.request
    gpu = catalog.GPU_TYPES.get(pod.gpu_type_id) if pod.gpu_type_id else None
    volume = state.volumes.get(request.network_volume_id) if request.network_volume_id else None
    vcpus, memory = _pod_size(pod)
    return {
        "__typename": "Pod",
        "id": pod.id,
        "name": pod.name,
        "imageName": request.image_name,
        "desiredStatus": desired_status(pod),
        "podType": "RESERVED",
        "cloudType": pod.cloud_type,
        "interruptible": False,
        "locked": False,
        "containerDiskInGb": request.container_disk_in_gb,
        "volumeInGb": request.volume_in_gb,
        "volumeMountPath": request.volume_mount_path,
        "volumeEncrypted": False,
        "costPerHr": pod.price_per_hour,
        "adjustedCostPerHr": pod.price_per_hour,
        "gpuCount": pod.gpu_count,
        "vcpuCount": vcpus,
        "memoryInGb": memory,
        "dockerArgs": request.docker_args,
        "dockerId": None,
        "env": [f"{key}={value}" for key, value in request.env.items()],
        "ports": ",".join(parse_ports(request.ports)),
        "port": None,
        "templateId": request.template_id,
        "machineId": pod.machine_id,
        "lastStatusChange": _last_status_change(pod),
        "uptimeSeconds": pod.uptime(now),
        "networkVolumeId": request.network_volume_id,
        "networkVolume": volume_view(volume) if volume is not None else None,
        "dataCenterId": pod.data_center_id,
        "machine": {
            "__typename": "Machine",
            "podHostId": f"{pod.id}-{pod.machine_id[:8]}",
            "gpuDisplayName": gpu.display_name if gpu else None,
            "gpuTypeId": pod.gpu_type_id,
            "gpuType": gpu_type_view(state, gpu) if gpu else None,
            "dataCenterId": pod.data_center_id,
            "location": catalog.DATA_CENTERS[pod.data_center_id].location,
            "secureCloud": pod.cloud_type == "SECURE",
        },
        "runtime": _runtime_view(pod, now),
    }


def _pod_size(pod: Pod) -> tuple[int, int]:
    request = pod.request
    if pod.kind == "cpu":
        parts = (request.instance_id or catalog.DEFAULT_CPU_FLAVOR).split("-")
        return int(parts[1]), int(parts[2])
    return max(request.min_vcpu_count, 16 * pod.gpu_count), max(request.min_memory_in_gb, 125 * pod.gpu_count)


def _runtime_view(pod: Pod, now: float) -> dict[str, Any] | None:
    if pod.runtime is None or pod.status != "RUNNING":
        return None
    kinds = {int(p.partition("/")[0]): p.partition("/")[2] or "tcp" for p in parse_ports(pod.request.ports)}
    ports = [
        {
            "__typename": "PodRuntimePorts",
            "ip": "127.0.0.1",
            "isIpPublic": True,
            "privatePort": private,
            "publicPort": public,
            "type": kinds.get(private, "tcp"),
        }
        for private, public in sorted(pod.runtime.port_map.items())
    ]
    gpus = [
        {"__typename": "GpuTelemetry", "id": f"GPU-{pod.machine_id[:8]}-{i}", "gpuUtilPercent": 0,
         "memoryUtilPercent": 0}
        for i in range(pod.gpu_count)
    ]  # fmt: skip
    uptime = pod.uptime(now)
    return {
        "__typename": "PodRuntime",
        "uptimeInSeconds": uptime,
        "ports": ports,
        "gpus": gpus,
        "container": {"__typename": "PodRuntimeContainer", "cpuPercent": 0, "memoryPercent": 0},
    }


# ---- query resolvers -------------------------------------------------------------------------


def _gpu_types(state: Account, args: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = args.get("input") or {}
    ids = wanted.get("ids") or ([wanted["id"]] if wanted.get("id") else None)
    with state.lock:
        return [gpu_type_view(state, g) for g in catalog.GPU_TYPES.values() if ids is None or g.id in ids]


def _pod(state: Account, args: dict[str, Any]) -> dict[str, Any] | None:
    pod_id = (args.get("input") or {}).get("podId")
    with state.lock:
        pod = state.pods.get(pod_id) if isinstance(pod_id, str) else None
        return pod_view(state, pod) if pod is not None else None


def _myself(state: Account, args: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        pods = [pod_view(state, pod) for pod in state.pods.values()]
        spend = sum(pod.price_per_hour for pod in state.pods.values() if desired_status(pod) == RUNNING)
        return {
            "__typename": "User",
            "id": "user_emulator",
            "email": "emulator@localhost",
            "pubKey": "",
            "clientBalance": 0.0 if state.faults.balance_too_low else 1000.0,
            "currentSpendPerHr": round(spend, 4),
            "spendLimit": 80,
            "pods": pods,
            "networkVolumes": [volume_view(volume) for volume in state.volumes.values()],
        }


def _data_centers(state: Account, args: dict[str, Any]) -> list[dict[str, Any]]:
    with state.lock:
        return [
            {
                "__typename": "DataCenter",
                "id": dc.id,
                "name": dc.name,
                "location": dc.location,
                "storageSupport": True,
                "gpuAvailability": [
                    {
                        "__typename": "DataCenterGpuAvailability",
                        "id": gpu_id,
                        "gpuTypeId": gpu_id,
                        "displayName": catalog.GPU_TYPES[gpu_id].display_name,
                        "gpuTypeDisplayName": catalog.GPU_TYPES[gpu_id].display_name,
                        "available": free > 0,
                        "stockStatus": catalog.stock_status(free),
                    }
                    for gpu_id, free in state.stock.get(dc.id, {}).items()
                ],
            }
            for dc in catalog.DATA_CENTERS.values()
        ]


QUERY_FIELDS: dict[str, Resolver] = {
    "gpuTypes": _gpu_types,
    "pod": _pod,
    "myself": _myself,
    "dataCenters": _data_centers,
}


# ---- mutation resolvers ------------------------------------------------------------------------


def _pod_request(args: dict[str, Any], gpu: bool) -> PodRequest:
    data = args.get("input")
    if not isinstance(data, dict):
        raise Invalid("input is required")
    env_items = data.get("env") or []
    if not isinstance(env_items, list) or not all(isinstance(item, dict) for item in env_items):
        raise Invalid("env must be a list of {key, value}")
    gpu_type_id = data.get("gpuTypeId")
    if gpu and not isinstance(gpu_type_id, str):
        raise Invalid("gpuTypeId is required")
    if not gpu and gpu_type_id is not None:
        raise Invalid("deployCpuPod takes no gpuTypeId")
    try:
        return PodRequest(
            name=str(data.get("name") or ""),
            image_name=str(data.get("imageName") or ""),
            gpu_type_id=gpu_type_id if gpu else None,
            gpu_count=int(data.get("gpuCount") or 1),
            cloud_type=str(data.get("cloudType") or "ALL"),
            data_center_id=data.get("dataCenterId"),
            network_volume_id=data.get("networkVolumeId"),
            docker_args=str(data.get("dockerArgs") or ""),
            env={str(item.get("key")): str(item.get("value") or "") for item in env_items},
            ports=str(data.get("ports") or ""),
            volume_in_gb=int(data.get("volumeInGb") or 0),
            container_disk_in_gb=int(data.get("containerDiskInGb") or 10),
            volume_mount_path=str(data.get("volumeMountPath") or "/workspace"),
            min_vcpu_count=int(data.get("minVcpuCount") or 1),
            min_memory_in_gb=int(data.get("minMemoryInGb") or 1),
            instance_id=data.get("instanceId"),
            template_id=data.get("templateId"),
        )
    except (TypeError, ValueError) as exc:
        raise Invalid(f"invalid input: {exc}") from exc


def _create_pod(state: Account, args: dict[str, Any], gpu: bool) -> dict[str, Any]:
    pod = state.create_pod(_pod_request(args, gpu))
    with state.lock:
        return pod_view(state, pod)


def _pod_id(args: dict[str, Any]) -> str:
    pod_id = (args.get("input") or {}).get("podId")
    if not isinstance(pod_id, str):
        raise Invalid("podId is required")
    return pod_id


def _stop(state: Account, args: dict[str, Any]) -> dict[str, Any]:
    pod = state.stop_pod(_pod_id(args))
    with state.lock:
        return pod_view(state, pod)


def _resume(state: Account, args: dict[str, Any]) -> dict[str, Any]:
    count = (args.get("input") or {}).get("gpuCount")
    pod = state.resume_pod(_pod_id(args), int(count) if count is not None else None)
    with state.lock:
        return pod_view(state, pod)


def _terminate(state: Account, args: dict[str, Any]) -> None:
    state.terminate_pod(_pod_id(args))


MUTATION_FIELDS: dict[str, Resolver] = {
    "podFindAndDeployOnDemand": lambda state, args: _create_pod(state, args, gpu=True),
    "deployCpuPod": lambda state, args: _create_pod(state, args, gpu=False),
    "podStop": _stop,
    "podResume": _resume,
    "podTerminate": _terminate,
}

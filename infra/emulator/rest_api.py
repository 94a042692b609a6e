"""RunPod REST v1 (RETIRED by RunPod on 2026-11-15): network volumes and pods, kept until our client moves to v2.

Pods are created here when the image's ENTRYPOINT must be replaced (`dockerEntrypoint`), which the
GraphQL mutation the SDK sends cannot do. Delete this module (and its route in server.py) with v1.
"""

from __future__ import annotations

from typing import Any

from infra.emulator.errors import CreatedButFailed, DomainError, Invalid, NoCapacity, NotFound
from infra.emulator.state import NO_CAPACITY, AccountState, Pod, PodRequest

PREFIX = "/v1/networkvolumes"
PODS = "/v1/pods"
NO_CAPACITY_REST = "create pod: There are no instances currently available"


class ApiError(Exception):
    """A v1 answer other than 2xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def handle(state: AccountState, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Answer one REST request: (status, JSON body or None for 204)."""
    try:
        return _route(state, method, path.rstrip("/"), body)
    except ApiError as exc:
        return exc.status, error_body(exc.message, exc.status)
    except DomainError as exc:
        status = _status(exc)
        return status, error_body(exc.message, status)


def _status(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    # REST v1 answered no capacity with 500 (shared/reference/runpod.md, "Errors seen in the wild").
    if isinstance(exc, NoCapacity | CreatedButFailed):
        return 500
    return 400


def error_body(message: str, status: int) -> dict[str, Any]:
    return {"error": message, "status": status}


def _route(state: AccountState, method: str, path: str, body: Any) -> tuple[int, Any]:
    if path == PODS or path.startswith(PODS + "/"):
        return _pods(state, method, path, body)
    if path == PREFIX:
        if method == "GET":
            with state.lock:
                return 200, [volume.view() for volume in state.volumes.values()]
        if method == "POST":
            data = _object(body)
            name = data.get("name")
            if not isinstance(name, str) or not name:
                raise Invalid("name is required")
            volume = state.create_volume(name, _size(data.get("size")), str(data.get("dataCenterId") or ""))
            return 200, volume.view()
        raise ApiError(f"method {method} not allowed on {PREFIX}", 405)
    if not path.startswith(PREFIX + "/") or "/" in path[len(PREFIX) + 1 :]:
        raise ApiError(f"no route for {method} {path}", 404)
    volume_id = path[len(PREFIX) + 1 :]
    if method == "GET":
        return 200, state.get_volume(volume_id).view()
    if method == "PATCH":
        data = _object(body)
        size = _size(data["size"]) if data.get("size") is not None else None
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise ApiError("name must be a non-empty string")
        return 200, state.update_volume(volume_id, name, size).view()
    if method == "DELETE":
        state.delete_volume(volume_id)
        return 204, None
    raise ApiError(f"method {method} not allowed on {PREFIX}/{{id}}", 405)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    return body


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"size must be an integer number of GB, got {value!r}")
    return value


def _pods(state: AccountState, method: str, path: str, body: Any) -> tuple[int, Any]:
    if path == PODS:
        if method == "GET":
            with state.lock:
                return 200, [_pod_view(pod) for pod in state.pods.values()]
        if method == "POST":
            request = _pod_request(_object(body))
            try:
                return 201, _pod_view(state.create_pod(request))
            except DomainError as exc:
                # REST words its create errors as "create pod: ..." (shared/reference/runpod.md).
                message = NO_CAPACITY_REST if exc.message == NO_CAPACITY else f"create pod: {exc.message}"
                raise ApiError(message, _status(exc)) from None
        raise ApiError(f"method {method} not allowed on {PODS}", 405)
    pod_id = path[len(PODS) + 1 :]
    if "/" in pod_id:
        raise ApiError(f"no route for {method} {path}", 404)
    if method == "GET":
        pod = state.get_pod(pod_id)
        if pod is None:
            raise ApiError(f"pod {pod_id} not found", 404)
        return 200, _pod_view(pod)
    if method == "DELETE":
        if state.get_pod(pod_id) is None:
            raise ApiError(f"pod {pod_id} not found", 404)
        state.terminate_pod(pod_id)
        return 204, None
    raise ApiError(f"method {method} not allowed on {PODS}/{{id}}", 405)


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(f"{key} must be a list of strings")
    return value


def _pod_request(data: dict[str, Any]) -> PodRequest:
    """REST field names to the emulator's request; one GPU type and data center per call is enough here."""
    gpu_types = _strings(data, "gpuTypeIds")
    data_centers = _strings(data, "dataCenterIds")
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ApiError("env must be an object of strings")
    cpu = data.get("computeType") == "CPU"
    if not cpu and not gpu_types:
        raise ApiError("gpuTypeIds is required for a GPU pod")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError("name is required")
    return PodRequest(
        name=name,
        image_name=str(data.get("imageName") or ""),
        gpu_type_id=None if cpu else gpu_types[0],
        gpu_count=int(data.get("gpuCount") or 1),
        cloud_type=str(data.get("cloudType") or "SECURE"),
        data_center_id=data_centers[0] if data_centers else None,
        network_volume_id=data.get("networkVolumeId"),
        env=dict(env),
        ports=",".join(_strings(data, "ports")),
        container_disk_in_gb=int(data.get("containerDiskInGb") or 50),
        volume_mount_path=str(data.get("volumeMountPath") or "/workspace"),
        docker_entrypoint=_strings(data, "dockerEntrypoint") or None,
        docker_start_cmd=_strings(data, "dockerStartCmd") or None,
    )


def _pod_view(pod: Pod) -> dict[str, Any]:
    ports = pod.runtime.port_map if pod.runtime is not None and pod.desired_status == "RUNNING" else {}
    return {
        "id": pod.id,
        "name": pod.name,
        "desiredStatus": pod.desired_status,
        "imageName": pod.request.image_name,
        "gpuCount": pod.gpu_count,
        "costPerHr": pod.price_per_hour,
        "machineId": pod.machine_id,
        "networkVolumeId": pod.request.network_volume_id,
        "publicIp": "127.0.0.1" if ports else "",
        "portMappings": {str(private): public for private, public in ports.items()},
    }

"""REST v2's pods: create, read, update, act on and delete them, and follow their logs as an event stream.

Every body has already passed RunPod's schema; these handlers add the rules the schema's descriptions
leave to the handler (400/404/409) and answer with `rest_v2_views`.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.errors import Conflict, Invalid, NotFound
from infra.emulator.pod_log import PodLog
from infra.emulator.resources import Pod, PodRequest
from infra.emulator.rest_v2_http import Answer, Call, Problem
from infra.emulator.rest_v2_views import pod_actions, pod_view

# How long an SSE follower waits for a line before sending a keep-alive comment (real seconds).
FOLLOW_WAIT_SECONDS = 1.0


def _pod(call: Call) -> Pod:
    return call.state.pod(call.ids[0])


def _not_a_member(pod: Pod, verb: str) -> None:
    if pod.cluster_id is not None:
        raise Conflict(
            f"pod {pod.id} belongs to cluster {pod.cluster_id} and cannot be {verb} via the pod endpoints; "
            "use /v2/clusters/{id}"
        )


def list_pods(call: Call) -> Answer:
    include_members = call.query.get("includeClusterPods") is True
    with call.state.lock:
        pods = [
            pod_view(call.state, p)
            for p in call.state.pods.values()
            if include_members or p.cluster_id is None
        ]
    return Answer(200, {"pods": pods})


def get_pod(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, pod_view(call.state, _pod(call)))


def create_pod(call: Call) -> Answer:
    request = _pod_request(call.state, call.body)
    pod = call.state.create_pod(request)
    with call.state.lock:
        return Answer(201, pod_view(call.state, pod))


def container_rules(state: Account, body: dict[str, Any]) -> None:
    """Rules the schema's descriptions leave to the handler, shared by pods and clusters (400/404)."""
    if body.get("templateId") is not None:
        raise NotFound("template", str(body["templateId"]))
    if body.get("registry") is not None:
        raise NotFound("registry credential", str(body["registry"]))
    if body.get("globalNetworking") is True:
        raise Invalid(
            "globalNetworking requires a global-networking-enabled data center; none is offered here"
        )
    mounts = body.get("mounts") or {}
    if "persistent" in mounts and "network" in mounts:
        raise Invalid("mounts: at most one of persistent or network may be set")


def _pod_request(state: Account, body: dict[str, Any]) -> PodRequest:
    container_rules(state, body)
    gpu, cpu = body.get("gpu"), body.get("cpu")
    if (gpu is None) == (cpu is None):
        raise Invalid("exactly one of gpu or cpu must be set")
    mounts = body.get("mounts") or {}
    request = container(state, body, PodRequest(name=body["name"], image_name=body.get("image", "")))
    request.cloud_type = body.get("cloud", "SECURE")
    request.data_center_ids = list(body.get("dataCenterIds") or [])
    if gpu is not None:
        if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
            raise Invalid("gpu: a non-empty allowedCudaVersions is mutually exclusive with minCudaVersion")
        request.gpu_type_id = gpu["id"]
        request.gpu_count = gpu.get("count", 1)
        request.allowed_cuda_versions = gpu.get("allowedCudaVersions") or None
        request.min_cuda_version = gpu.get("minCudaVersion")
    elif isinstance(cpu, dict):
        if "persistent" in mounts:
            raise Invalid("mounts.persistent is invalid on a CPU pod; use a network volume")
        request.instance_id = _cpu_instance(cpu["id"], cpu["vcpuCount"])
    return request


def container(state: Account, body: dict[str, Any], request: PodRequest) -> PodRequest:
    """The container settings every create takes: image, args, env, ports, disk, mounts, startSsh."""
    env = dict(body.get("env") or {})
    if body.get("startSsh") and "PUBLIC_KEY" not in env:
        with state.lock:
            keys = list(state.ssh_keys)
        # The flag injects the account's registered keys; with none registered it does nothing (schema).
        if keys:
            env["PUBLIC_KEY"] = "\n".join(keys)
    if body.get("startJupyter") and "JUPYTER_PASSWORD" not in env:
        env["JUPYTER_PASSWORD"] = secrets.token_urlsafe(12)
    request.docker_args = body.get("args", "")
    request.env = env
    request.ports = ",".join(body.get("ports") or [])
    request.container_disk_in_gb = body.get("disk", 50)
    mounts = body.get("mounts") or {}
    network = mounts.get("network") or []
    if network:
        request.network_volume_id = network[0]["volumeId"]
        request.volume_mount_path = network[0]["path"]
    elif "persistent" in mounts:
        request.volume_in_gb = mounts["persistent"]["size"]
        request.volume_mount_path = mounts["persistent"]["path"]
    return request


def _cpu_instance(flavor: str, vcpus: int) -> str:
    cpu = catalog.CPU_TYPES.get(flavor)
    if cpu is None:
        raise Invalid(f"cpu.id {flavor!r} is not a CPU flavor; known: {', '.join(catalog.CPU_TYPES)}")
    if vcpus & (vcpus - 1) or not cpu.vcpu_min <= vcpus <= cpu.vcpu_max:
        raise Invalid(
            f"cpu.vcpuCount {vcpus} must be a power of two between {cpu.vcpu_min} and {cpu.vcpu_max} for {flavor}"
        )
    return catalog.cpu_instance_id(flavor, vcpus)


def update_pod(call: Call) -> Answer:
    body = call.body
    with call.state.lock:
        pod = _pod(call)
        _not_a_member(pod, "modified")
        container_rules(call.state, {k: v for k, v in body.items() if k != "mounts"})
        request = pod.request
        mounts = body.get("mounts") or {}
        if mounts:
            _patch_mounts(request, mounts)
        updated = dataclasses.replace(request, env=dict(request.env))
        for key, attribute in (
            ("name", "name"),
            ("image", "image_name"),
            ("args", "docker_args"),
            ("disk", "container_disk_in_gb"),
        ):
            if key in body:
                setattr(updated, attribute, body[key])
        if "ports" in body:
            updated.ports = ",".join(body["ports"])
        if "env" in body:
            updated.env = dict(body["env"])
        # Container settings apply at the next start or restart; the name and the lock at once.
        pod.request = updated
        if "locked" in body:
            pod.locked = body["locked"]
        return Answer(200, pod_view(call.state, pod))


def _patch_mounts(request: PodRequest, mounts: dict[str, Any]) -> None:
    """REST v2 Mounts PATCH semantics: the kind and the volume are fixed at create; the path may move."""
    if "network" in mounts:
        network = mounts["network"]
        if not network:
            raise Invalid("mounts.network: [] is rejected; clearing mounts is not supported")
        if request.network_volume_id is None:
            raise Invalid("mounts.network: the mount kind is fixed at create")
        if network[0]["volumeId"] != request.network_volume_id:
            raise Invalid("mounts.network[0].volumeId is immutable")
        request.volume_mount_path = network[0]["path"]
    if "persistent" in mounts:
        if request.volume_in_gb <= 0 or request.network_volume_id is not None:
            raise Invalid("mounts.persistent: the mount kind is fixed at create")
        request.volume_in_gb = mounts["persistent"]["size"]
        request.volume_mount_path = mounts["persistent"]["path"]


def delete_pod(call: Call) -> Answer:
    pod = _pod(call)
    _not_a_member(pod, "deleted")
    call.state.terminate_pod(pod.id)
    return Answer(204)


def pod_action(call: Call) -> Answer:
    action = call.body["action"]
    state = call.state
    with state.lock:
        pod = _pod(call)
        _not_a_member(pod, "acted on")
        actions = pod_actions(pod)
        if action not in actions:
            raise Conflict(
                f"action {action!r} is not valid for pod {pod.id} in status {pod.status}; "
                f"valid: {', '.join(actions) or 'none'}"
            )
    if action == "terminate":
        state.terminate_pod(pod.id)
        return Answer(204)
    if action == "stop":
        state.stop_pod(pod.id)
    elif action == "start":
        state.resume_pod(pod.id, None)
    else:
        state.restart_pod(pod.id)
    with state.lock:
        return Answer(200, pod_view(state, pod))


def pod_logs(call: Call) -> Answer:
    state = call.state
    pod = _pod(call)
    headers = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
    if state.faults.no_log_stream:
        return Answer(200, None, "text/event-stream", headers, iter([b""]))
    source = call.query.get("source")
    tail = call.query.get("tail", 100)
    stream = _events(state, pod.log, source, _cursor(state, call), tail)
    return Answer(200, None, "text/event-stream", headers, stream)


def _cursor(state: Account, call: Call) -> tuple[int | None, str | None, bool]:
    """Where a stream resumes: (sequence to go past, timestamp, inclusive). Last-Event-ID beats since beats tail."""
    last = call.headers.get("Last-Event-ID")
    if last:
        stamp, _, seq = last.partition("/")
        if seq.isdigit():
            return int(seq), None, False
        return None, _instant(state, stamp, "Last-Event-ID"), False
    since = call.query.get("since")
    if since:
        return None, _instant(state, since, "since"), True
    return None, None, False


def _instant(state: Account, text: str, what: str) -> str:
    """A timestamp in the form the events carry, so that it compares with theirs as text."""
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(
            422, f"{what} must be an RFC 3339 timestamp, got {text!r}", [f"{what}: not a date-time"]
        ) from None
    return state.clock.rfc3339(state.clock.simulated(instant))


def _events(
    state: Account,
    log: PodLog,
    source: str | None,
    cursor: tuple[int | None, str | None, bool],
    tail: int,
) -> Iterator[bytes]:
    after, stamp, inclusive = cursor
    lines = [line for line in log.lines() if source is None or line.source == source]
    if after is not None:
        backlog = [line for line in lines if line.seq > after]
    elif stamp is not None:
        stamps = [(line, state.clock.rfc3339(line.at)) for line in lines]
        backlog = [line for line, ts in stamps if ts > stamp or (inclusive and ts == stamp)]
    else:
        backlog = lines[-tail:] if tail > 0 else []
    every = log.lines()
    last = every[-1].seq if every else 0
    yield b": stream of pod log events\n\n"
    for line in backlog:
        yield _event(state, line.seq, line.at, line.source, line.line)
    while True:
        fresh = log.after(last, FOLLOW_WAIT_SECONDS)
        for line in fresh:
            last = line.seq
            if source is None or line.source == source:
                yield _event(state, line.seq, line.at, line.source, line.line)
        if not fresh:
            if log.closed:
                return
            yield b": keep-alive\n\n"


def _event(state: Account, seq: int, at: float, source: str, line: str) -> bytes:
    ts = state.clock.rfc3339(at)
    data = json.dumps({"ts": ts, "source": source, "line": line}, ensure_ascii=False)
    # Event ids are the timestamp plus a sequence number, as the schema's example shows, so resume is exact.
    return f"id: {ts}/{seq:012d}\ndata: {data}\n\n".encode()

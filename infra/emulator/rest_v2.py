"""RunPod REST v2 (`https://api.runpod.io/v2/...`, served at `http://127.0.0.1:PORT/v2/...`).

The wire layer only: routes, Bearer auth, validation of every request against RunPod's OpenAPI v2
file (`infra.contracts`: a body that breaks the schema is a 422 problem whose `errors` name each
violation, an unknown or misspelt field included), the cross-field rules the schema leaves to the
handler (400), status codes, RFC 9457 problem objects and the views in `rest_v2_views`.
"""

from __future__ import annotations

import dataclasses
import http
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote

from infra import contracts
from infra.emulator import catalog, volumes
from infra.emulator.account import Account
from infra.emulator.clusters import cluster, cluster_pods, create_cluster, delete_cluster, rename_cluster
from infra.emulator.errors import (
    BalanceTooLow,
    Conflict,
    CreatedButFailed,
    DomainError,
    Forbidden,
    Invalid,
    NoCapacity,
    NotFound,
)
from infra.emulator.pod_log import PodLog
from infra.emulator.resources import Pod, PodRequest
from infra.emulator.rest_v2_views import (
    cluster_view,
    cpu_type_view,
    data_center_view,
    gpu_type_view,
    pod_actions,
    pod_view,
    volume_view,
)

PROBLEM = "application/problem+json"
# Published with every authenticated answer, as RunPod does (components/headers in the schema).
RATE_LIMIT_POLICY = '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400'
# How long an SSE follower waits for a line before sending a keep-alive comment (real seconds).
FOLLOW_WAIT_SECONDS = 1.0


@dataclass
class Answer:
    """What the server sends back: a JSON body, no body (None), or an event stream."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None


class Problem(Exception):
    """An RFC 9457 problem answer."""

    def __init__(
        self, status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def answer(self) -> Answer:
        body: dict[str, Any] = {
            "title": http.HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return Answer(self.status, body, PROBLEM, dict(self.headers))


def rate_limited(retry_after: int) -> Answer:
    """The 429 of an injected rate limit: problem object, `Retry-After` in integer seconds."""
    headers = {
        "Retry-After": str(retry_after),
        "RateLimit": f'"minute";r=0;t={retry_after}',
        "RateLimit-Policy": RATE_LIMIT_POLICY,
    }
    return Problem(429, "rate limit exceeded for the minute window", headers=headers).answer()


@dataclass
class Call:
    """One v2 request, authenticated and matched to its OpenAPI operation."""

    state: Account
    method: str
    path: str
    template: str
    operation: dict[str, Any]
    ids: list[str]
    query: dict[str, Any]
    headers: Message
    body: Any
    pod_scope: str | None


def handle(
    state: Account, api_key: str, method: str, raw_path: str, query: str, headers: Message, body: bytes
) -> Answer:
    try:
        answer = _handle(state, api_key, method, raw_path.rstrip("/") or raw_path, query, headers, body)
    except Problem as problem:
        answer = problem.answer()
    if answer.status != 401:
        answer.headers.setdefault("RateLimit-Policy", RATE_LIMIT_POLICY)
    return answer


def _handle(
    state: Account, api_key: str, method: str, path: str, query: str, headers: Message, body: bytes
) -> Answer:
    pod_scope = _authenticate(state, api_key, headers)
    try:
        template, operation = contracts.operation(method, path)
    except KeyError:
        allowed = _allowed_methods(path)
        if allowed:
            raise Problem(
                405, f"{method} is not allowed on {path}", headers={"Allow": ", ".join(allowed)}
            ) from None
        raise Problem(404, f"no route for {method} {path}") from None
    ids = [
        unquote(part)
        for part, slot in zip(path.split("/"), template.split("/"), strict=True)
        if slot.startswith("{")
    ]
    params = _query(template, method, operation, query)
    data = _body(method, path, body)
    call = Call(state, method, path, template, operation, ids, params, headers, data, pod_scope)
    if pod_scope is not None:
        _check_pod_scope(call)
    handler = HANDLERS.get(operation.get("operationId", ""))
    if handler is None:
        raise Problem(501, f"the emulator does not serve {method} {template}")
    try:
        return handler(call)
    except DomainError as exc:
        raise Problem(_status(exc), exc.message) from None


def _status(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, BalanceTooLow):
        return 402
    if isinstance(exc, CreatedButFailed):
        return 500
    # createPod: "400 covers both 'your request breaks a rule' and 'no capacity'" (the schema's description).
    if isinstance(exc, NoCapacity | Invalid):
        return 400
    return 400


def _authenticate(state: Account, api_key: str, headers: Message) -> str | None:
    """None for the account key, a pod id for a pod's own key; 401 otherwise."""
    header = headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise Problem(401, "missing bearer token")
    key = header[7:].strip()
    if secrets.compare_digest(key, api_key):
        return None
    pod = state.pod_for_key(key)
    if pod is None:
        raise Problem(401, "invalid bearer token")
    return pod.id


def _check_pod_scope(call: Call) -> None:
    """A pod's own key may read, stop and terminate that pod, and nothing else (403 otherwise)."""
    own = call.ids[:1] == [call.pod_scope]
    action = call.body.get("action") if isinstance(call.body, dict) else None
    allowed = own and (
        (call.template == "/v2/pods/{id}" and call.method in ("GET", "DELETE"))
        or (call.template == "/v2/pods/{id}/action" and action in ("stop", "terminate"))
    )
    if not allowed:
        raise Problem(403, "access denied: a pod's API key may only read, stop or terminate that pod")


def _allowed_methods(path: str) -> list[str]:
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            contracts.operation(method, path)
        except KeyError:
            continue
        allowed.append(method)
    return allowed


def _body(method: str, path: str, raw: bytes) -> Any:
    data = None
    if raw.strip():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Problem(400, f"request body is not valid JSON: {exc}") from None
    errors = contracts.request_errors(method, path, data)
    if errors:
        raise Problem(422, "Request validation failed: " + "; ".join(errors), errors)
    return data


def _resolve(node: Any) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not isinstance(ref, str):
        return node
    target: Any = contracts.runpod_v2()
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return _resolve(target)


def _query(template: str, method: str, operation: dict[str, Any], query: str) -> dict[str, Any]:
    """The operation's declared query and header parameters, coerced from text and validated (422)."""
    item = contracts.runpod_v2()["paths"][template]
    declared = [_resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
    raw = parse_qs(query, keep_blank_values=True)
    values: dict[str, Any] = {}
    errors: list[str] = []
    for param in declared:
        name = param["name"]
        if param.get("in") != "query" or name not in raw:
            continue
        schema = param.get("schema", {})
        value = _coerce(raw[name][-1], _resolve(schema))
        problems = contracts.schema_errors(schema, value)  # the same judge the bodies get
        errors.extend(f"query.{name}{problem[1:]}" for problem in problems)
        values[name] = value
    if errors:
        raise Problem(422, "Request validation failed: " + "; ".join(errors), errors)
    return values


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        return [part for part in text.split(",") if part != ""]
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


# ---- pods -----------------------------------------------------------------------------------------


def _pod(call: Call) -> Pod:
    return call.state.pod(call.ids[0])


def _not_a_member(pod: Pod, verb: str) -> None:
    if pod.cluster_id is not None:
        raise Conflict(
            f"pod {pod.id} belongs to cluster {pod.cluster_id} and cannot be {verb} via the pod endpoints; "
            "use /v2/clusters/{id}"
        )


def _list_pods(call: Call) -> Answer:
    include_members = call.query.get("includeClusterPods") is True
    with call.state.lock:
        pods = [
            pod_view(call.state, p)
            for p in call.state.pods.values()
            if include_members or p.cluster_id is None
        ]
    return Answer(200, {"pods": pods})


def _get_pod(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, pod_view(call.state, _pod(call)))


def _create_pod(call: Call) -> Answer:
    request = _pod_request(call.state, call.body)
    pod = call.state.create_pod(request)
    with call.state.lock:
        return Answer(201, pod_view(call.state, pod))


def _container_rules(state: Account, body: dict[str, Any]) -> None:
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
    _container_rules(state, body)
    gpu, cpu = body.get("gpu"), body.get("cpu")
    if (gpu is None) == (cpu is None):
        raise Invalid("exactly one of gpu or cpu must be set")
    mounts = body.get("mounts") or {}
    request = _container(state, body, PodRequest(name=body["name"], image_name=body.get("image", "")))
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


def _container(state: Account, body: dict[str, Any], request: PodRequest) -> PodRequest:
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


def _update_pod(call: Call) -> Answer:
    body = call.body
    with call.state.lock:
        pod = _pod(call)
        _not_a_member(pod, "modified")
        _container_rules(call.state, {k: v for k, v in body.items() if k != "mounts"})
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


def _delete_pod(call: Call) -> Answer:
    pod = _pod(call)
    _not_a_member(pod, "deleted")
    call.state.terminate_pod(pod.id)
    return Answer(204)


def _pod_action(call: Call) -> Answer:
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


def _pod_logs(call: Call) -> Answer:
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


# ---- network volumes ------------------------------------------------------------------------------


def _list_volumes(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, {"networkVolumes": [volume_view(v) for v in call.state.volumes.values()]})


def _create_volume(call: Call) -> Answer:
    body = call.body
    volume = volumes.create_volume(
        call.state, body["name"], body["size"], body["dataCenter"], body.get("type")
    )
    return Answer(201, volume_view(volume))


def _get_volume(call: Call) -> Answer:
    return Answer(200, volume_view(volumes.get_volume(call.state, call.ids[0])))


def _update_volume(call: Call) -> Answer:
    body = call.body
    return Answer(
        200, volume_view(volumes.update_volume(call.state, call.ids[0], body.get("name"), body.get("size")))
    )


def _delete_volume(call: Call) -> Answer:
    volumes.delete_volume(call.state, call.ids[0])
    return Answer(204)


# ---- catalog --------------------------------------------------------------------------------------


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


def _list_gpus(call: Call) -> Answer:
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


def _get_gpu(call: Call) -> Answer:
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


def _list_cpus(call: Call) -> Answer:
    availability = _cpu_availability(call)
    with call.state.lock:
        return Answer(
            200, {"cpus": [cpu_type_view(call.state, c, availability) for c in catalog.CPU_TYPES.values()]}
        )


def _get_cpu(call: Call) -> Answer:
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


def _list_data_centers(call: Call) -> Answer:
    include = set(call.query.get("include") or [])
    with call.state.lock:
        views = [
            data_center_view(call.state, dc, include)
            for dc in catalog.DATA_CENTERS.values()
            if _data_center_matches(dc, call.query)
        ]
    return Answer(200, {"dataCenters": views})


def _get_data_center(call: Call) -> Answer:
    dc = catalog.DATA_CENTERS.get(call.ids[0])
    if dc is None:
        raise NotFound("data center", call.ids[0])
    with call.state.lock:
        return Answer(200, data_center_view(call.state, dc, set(call.query.get("include") or [])))


# ---- account ---------------------------------------------------------------------------------------


def _get_ssh_keys(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, {"keys": list(call.state.ssh_keys)})


def _put_ssh_keys(call: Call) -> Answer:
    with call.state.lock:
        call.state.ssh_keys = list(call.body["keys"])
        return Answer(200, {"keys": list(call.state.ssh_keys)})


# ---- clusters ---------------------------------------------------------------------------------------


def _list_clusters(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, {"clusters": [cluster_view(call.state, c) for c in call.state.clusters.values()]})


def _create_cluster(call: Call) -> Answer:
    body = call.body
    _container_rules(call.state, body)
    compute = body["compute"]
    template = _container(call.state, body, PodRequest(name=body["name"], image_name=body.get("image", "")))
    template.cloud_type = "SECURE"
    created = create_cluster(
        call.state,
        body["name"],
        body["type"],
        compute["gpuTypeId"],
        compute["gpuCountPerPod"],
        compute["podCount"],
        template,
        list(body.get("dataCenterIds") or []),
    )
    with call.state.lock:
        return Answer(201, cluster_view(call.state, created))


def _get_cluster(call: Call) -> Answer:
    with call.state.lock:
        return Answer(200, cluster_view(call.state, cluster(call.state, call.ids[0])))


def _rename_cluster(call: Call) -> Answer:
    renamed = rename_cluster(call.state, call.ids[0], call.body["name"])
    with call.state.lock:
        return Answer(200, cluster_view(call.state, renamed))


def _delete_cluster(call: Call) -> Answer:
    delete_cluster(call.state, call.ids[0])
    return Answer(204)


def _cluster_pods(call: Call) -> Answer:
    with call.state.lock:
        pods = cluster_pods(call.state, call.ids[0])
        return Answer(200, {"pods": [pod_view(call.state, pod) for pod in pods]})


HANDLERS: dict[str, Callable[[Call], Answer]] = {
    "listPods": _list_pods,
    "createPod": _create_pod,
    "getPod": _get_pod,
    "updatePod": _update_pod,
    "deletePod": _delete_pod,
    "podAction": _pod_action,
    "getPodLogs": _pod_logs,
    "listNetworkVolumes": _list_volumes,
    "createNetworkVolume": _create_volume,
    "getNetworkVolume": _get_volume,
    "updateNetworkVolume": _update_volume,
    "deleteNetworkVolume": _delete_volume,
    "listGpuTypes": _list_gpus,
    "getGpuType": _get_gpu,
    "listCpuTypes": _list_cpus,
    "getCpuType": _get_cpu,
    "listDataCenters": _list_data_centers,
    "getDataCenter": _get_data_center,
    "getSshKeys": _get_ssh_keys,
    "updateSshKeys": _put_ssh_keys,
    "listClusters": _list_clusters,
    "createCluster": _create_cluster,
    "getCluster": _get_cluster,
    "updateCluster": _rename_cluster,
    "deleteCluster": _delete_cluster,
    "listClusterPods": _cluster_pods,
}

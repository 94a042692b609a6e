"""RunPod REST v2 (`https://api.runpod.io/v2/...`, served at `http://127.0.0.1:PORT/v2/...`).

The wire layer only: routes, Bearer auth, validation of every request against RunPod's OpenAPI v2
file (`infra.contracts`: a body that breaks the schema is a 422 problem whose `errors` name each
violation, an unknown or misspelt field included), the cross-field rules the schema leaves to the
handler (400), status codes, RFC 9457 problem objects and the views in `rest_v2_views`. Pods are served
by `rest_v2_pods`, the catalog by `rest_v2_catalog`; volumes, SSH keys and clusters here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote

from infra import contracts
from infra.emulator import rest_v2_billing, rest_v2_catalog, rest_v2_pods, volumes
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
from infra.emulator.resources import PodRequest
from infra.emulator.rest_v2_http import RATE_LIMIT_POLICY, Answer, Call, Problem
from infra.emulator.rest_v2_pods import container, container_rules
from infra.emulator.rest_v2_views import (
    cluster_view,
    pod_view,
    volume_view,
)


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
    container_rules(call.state, body)
    compute = body["compute"]
    template = container(call.state, body, PodRequest(name=body["name"], image_name=body.get("image", "")))
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
    "listPods": rest_v2_pods.list_pods,
    "createPod": rest_v2_pods.create_pod,
    "getPod": rest_v2_pods.get_pod,
    "updatePod": rest_v2_pods.update_pod,
    "deletePod": rest_v2_pods.delete_pod,
    "podAction": rest_v2_pods.pod_action,
    "getPodLogs": rest_v2_pods.pod_logs,
    "listNetworkVolumes": _list_volumes,
    "createNetworkVolume": _create_volume,
    "getNetworkVolume": _get_volume,
    "updateNetworkVolume": _update_volume,
    "deleteNetworkVolume": _delete_volume,
    "listGpuTypes": rest_v2_catalog.list_gpus,
    "getGpuType": rest_v2_catalog.get_gpu,
    "listCpuTypes": rest_v2_catalog.list_cpus,
    "getCpuType": rest_v2_catalog.get_cpu,
    "listDataCenters": rest_v2_catalog.list_data_centers,
    "getDataCenter": rest_v2_catalog.get_data_center,
    "getSshKeys": _get_ssh_keys,
    "updateSshKeys": _put_ssh_keys,
    "listClusters": _list_clusters,
    "createCluster": _create_cluster,
    "getCluster": _get_cluster,
    "updateCluster": _rename_cluster,
    "deleteCluster": _delete_cluster,
    "listClusterPods": _cluster_pods,
    "listPodBilling": rest_v2_billing.list_pod_billing,
    "listNetworkVolumeBilling": rest_v2_billing.list_volume_billing,
    "listClusterBilling": rest_v2_billing.list_cluster_billing,
}

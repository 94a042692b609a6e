"""The emulator's own API, `/_emulator/...`: the bill, faults, stock, reset, and pods hurt out of band.

A wire module like `rest_v2` and `graphql_api`: it owns these routes' shapes and status codes; the
account behind them only raises domain errors (docs/emulator.md lists the routes).
"""

from __future__ import annotations

import json
from typing import Any

from infra.emulator.account import Account
from infra.emulator.errors import DomainError, NotFound
from infra.emulator.faults import Faults
from infra.emulator.graphql_api import desired_status
from infra.emulator.resources import Pod, Volume


def handle(account: Account, command: str, route: str, body: bytes) -> tuple[int, Any]:
    """One control request (`route` is the path after `/_emulator/`): (status, JSON body)."""
    parts = route.split("/")
    try:
        if route == "inventory" and command == "GET":
            return 200, inventory(account)
        if route == "faults" and command == "GET":
            return 200, account.faults.to_dict()
        if route == "faults" and command == "POST":
            faults = Faults.from_dict(json.loads(body or b"{}"))
            with account.lock:
                account.faults = faults
            return 200, faults.to_dict()
        if route == "stock" and command == "GET":
            return 200, inventory(account)["stock"]
        if route == "stock" and command == "POST":
            account.set_stock(json.loads(body or b"{}"))
            return 200, inventory(account)["stock"]
        if route == "reset" and command == "POST":
            account.reset()
            return 200, {"reset": True}
        if len(parts) == 3 and parts[0] == "pods" and command == "POST" and parts[2] == "die":
            pod = account.kill_container(parts[1])
            return 200, {"id": pod.id, "desiredStatus": desired_status(pod), "status": pod.status}
        if len(parts) == 3 and parts[0] == "pods" and command == "POST" and parts[2] == "terminate":
            account.terminate_pod(parts[1])
            return 200, {"id": parts[1], "desiredStatus": "TERMINATED"}
        if len(parts) == 3 and parts[0] == "pods" and command == "GET" and parts[2] == "logs":
            return 200, {"id": parts[1], "logs": account.log_tail(parts[1])}
        return 404, {"error": f"no route for {command} /_emulator/{route}"}
    except DomainError as exc:
        return (404 if isinstance(exc, NotFound) else 400), {"error": exc.message}
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


def inventory(account: Account) -> dict[str, Any]:
    """Every live pod, cluster and volume with its accrued cost, what is gone, the stock and the totals."""
    with account.lock:
        now = account.accrue_all()
        pods = [pod_record(pod) for pod in account.pods.values()]
        volumes = [
            {**volume_record(v), "createdAt": round(v.created_at, 3), "usd": round(v.billed_usd, 6)}
            for v in account.volumes.values()
        ]
        history = [
            {**pod_record(pod), "terminatedAt": round(pod.terminated_at or 0.0, 3)} for pod in account.history
        ]
        volume_history = [{**volume_record(v), "usd": round(v.billed_usd, 6)} for v in account.volume_history]
        everything = [*pods, *history]
        usd = sum(item["usd"] for item in [*everything, *volumes, *volume_history])
        return {
            "now": round(now, 3),
            "pods": pods,
            "volumes": volumes,
            "clusters": [
                {"id": c.id, "name": c.name, "podIds": list(c.pod_ids)} for c in account.clusters.values()
            ],
            "history": history,
            "volume_history": volume_history,
            "stock": {dc: dict(gpus) for dc, gpus in account.stock.items()},
            "totals": {
                "gpu_seconds": round(sum(item["gpu_seconds"] for item in everything), 3),
                "usd": round(usd, 6),
            },
        }


def pod_record(pod: Pod) -> dict[str, Any]:
    return {
        "id": pod.id,
        "name": pod.name,
        "kind": pod.kind,
        "gpuTypeId": pod.gpu_type_id,
        "gpuCount": pod.gpu_count,
        "dataCenterId": pod.data_center_id,
        "desiredStatus": desired_status(pod),
        "status": pod.status,
        "restarts": pod.restarts,
        "clusterId": pod.cluster_id,
        "networkVolumeId": pod.request.network_volume_id,
        "costPerHr": pod.price_per_hour,
        "createdAt": round(pod.created_at, 3),
        "seconds": round(pod.billed_seconds, 3),
        "gpu_seconds": round(pod.gpu_seconds, 3),
        "usd": round(pod.usd, 6),
    }


def volume_record(volume: Volume) -> dict[str, Any]:
    return {
        "id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "dataCenterId": volume.data_center_id,
        "type": volume.volume_type,
    }

"""What the controller reads off a live pod: a leader or a worker, ready, ended, restarted or going.
The [tags] cite LWS v0.8.0's sources as listed in lws_controller.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.emulator.lws_names import WORKER_INDEX_LABEL


def is_leader(pod: Mapping[str, Any]) -> bool:
    """[env] LeaderPod: worker index 0."""
    return bool(pod["metadata"]["labels"].get(WORKER_INDEX_LABEL) == "0")


def has_ended(pod: Mapping[str, Any]) -> bool:
    """Failed or Succeeded: its containers will not run again."""
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def ready(pod: Mapping[str, Any]) -> bool:
    """[env] PodRunningAndReady."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def restarted_or_gone(pod: Mapping[str, Any]) -> bool:
    """[env] ContainerRestarted (a restart count while Running or Pending) or PodDeleted; and a pod
    that ended (Failed/Succeeded), which its StatefulSet controller would delete."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if pod["metadata"].get("deletionTimestamp") or has_ended(pod):
        return True
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return phase in ("Running", "Pending") and any(int(s.get("restartCount") or 0) > 0 for s in statuses)

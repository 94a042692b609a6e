"""A LeaderWorkerSet's status from its pods, as LWS v0.8.0 reports it: groups made, ready and updated, the
HPA selector, and the Available/Progressing conditions. The [tags] cite LWS's sources as listed in
lws_controller.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.emulator.lws_group import GroupSpec
from infra.emulator.lws_names import GROUP_INDEX_LABEL, NAME_LABEL, REVISION_LABEL, WORKER_INDEX_LABEL
from infra.emulator.lws_pod_state import is_leader, ready


def status_of(
    group: GroupSpec, pods: Iterable[Mapping[str, Any]], now: str, was: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """[lws] updateStatus/updateConditions: replicas (leaders), ready and updated groups, the HPA
    selector, and Available (every group ready) or else Progressing."""
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        by_group.setdefault(pod["metadata"]["labels"].get(GROUP_INDEX_LABEL, ""), []).append(pod)
    leaders = [p for members in by_group.values() for p in members if is_leader(p)]
    ready_groups = updated_groups = 0
    for members in by_group.values():
        if not any(is_leader(p) for p in members):
            continue
        if len(members) == group.size and all(ready(p) for p in members):
            ready_groups += 1
        if all(p["metadata"]["labels"].get(REVISION_LABEL) == group.revision for p in members):
            updated_groups += 1
    available = ready_groups >= group.replicas
    before = {str(c.get("type")): c for c in was}

    def condition(kind: str, reason: str, message: str, on: bool) -> dict[str, str]:
        state = "True" if on else "False"
        old = before.get(kind) or {}
        # A condition's lastTransitionTime changes only when its status does (metav1.Condition).
        since = str(old["lastTransitionTime"]) if old.get("status") == state else now
        return {
            "type": kind,
            "status": state,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }

    return {
        "replicas": len(leaders),
        "readyReplicas": ready_groups,
        "updatedReplicas": updated_groups,
        "hpaPodSelector": f"{NAME_LABEL}={group.name},{WORKER_INDEX_LABEL}=0",
        # [lws] makeCondition: Available and Progressing exclude each other.
        "conditions": [
            condition("Available", "AllGroupsReady", "All replicas are ready", available),
            condition("Progressing", "GroupsProgressing", "Replicas are progressing", not available),
        ],
    }

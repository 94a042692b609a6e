"""What the controller decides for a group, given its live pods: the changes to make (create a missing
leader, then its workers; recreate a group one of whose members broke or whose template changed; replace a
pod that ended). Pure: the loop in lws_controller.py carries them out. The [tags] cite LWS v0.8.0's sources
as listed in lws_controller.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.emulator.lws_group import GroupSpec
from infra.emulator.lws_names import RECREATE_GROUP, REVISION_LABEL, leader_name, worker_name
from infra.emulator.lws_objects import leader_pod, worker_pod
from infra.emulator.lws_pod_state import has_ended, is_leader, ready, restarted_or_gone


def group_members(group: GroupSpec, pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of this LeaderWorkerSet object: leaders it owns, workers those leaders own (pods left by
    an older object of the same name are the garbage collector's)."""
    pods = list(pods)

    def owned_by(pod: Mapping[str, Any], uids: set[str]) -> bool:
        return any(o.get("uid") in uids for o in pod["metadata"].get("ownerReferences") or [])

    leaders = [p for p in pods if is_leader(p) and owned_by(p, {group.uid})]
    uids = {str(p["metadata"]["uid"]) for p in leaders}
    return leaders + [p for p in pods if not is_leader(p) and owned_by(p, uids)]


@dataclass(frozen=True)
class Action:
    """One change the controller makes: create a pod, or delete one (foreground: its workers first)."""

    verb: str
    """`create` or `delete`."""
    pod: Mapping[str, Any]
    reason: str


def plan_group(
    group: GroupSpec, index: int, pods: Mapping[str, Mapping[str, Any]], lost: Iterable[str] = ()
) -> list[Action]:
    """What to do for group `index`, given its live pods by name and the names of members that vanished
    since they were seen (a poll can miss a deletion that took a moment)."""
    leader = pods.get(leader_name(group.name, index))
    members = [p for name, p in pods.items() if name != leader_name(group.name, index)]
    if leader is None:
        # [lws] the leader StatefulSet recreates a missing leader; its workers come after it.
        return [Action("create", leader_pod(group, index), "leader missing")]
    if leader["metadata"].get("deletionTimestamp"):
        return []  # the group is being removed: nothing new until the leader is gone
    broken = [p for p in [leader, *members] if restarted_or_gone(p)]
    stale = [p for p in [leader, *members] if p["metadata"]["labels"].get(REVISION_LABEL) != group.revision]
    gone = sorted(lost)
    if group.restart_policy == RECREATE_GROUP and (broken or gone):
        # [pod] handleRestartPolicy: delete the leader (foreground): the whole group is recreated.
        what = broken[0]["metadata"]["name"] if broken else gone[0]
        return [Action("delete", leader, f"pod {what} failed or was restarted: recreating the group")]
    if stale:
        # No rolling update here: a changed template recreates the group.
        return [Action("delete", leader, "the LeaderWorkerSet's template changed: recreating the group")]
    # restartPolicy None: the kubelet restarts containers in place; only a pod that ended is replaced.
    ended = [p for p in broken if not p["metadata"].get("deletionTimestamp") and has_ended(p)]
    actions = [Action("delete", p, "pod ended: replacing it") for p in ended]
    if group.size > 1 and (group.startup_policy != "LeaderReady" or ready(leader)):
        # [pod] workers once the leader exists (LeaderCreated) or is ready (LeaderReady).
        for worker in range(1, group.size):
            if worker_name(str(leader["metadata"]["name"]), worker) not in pods:
                actions.append(Action("create", worker_pod(group, leader, worker), "worker missing"))
    return actions

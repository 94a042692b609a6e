"""What the engine's pods say, for the health wait and the diagnosis: their logs, Warning events and, for
a LeaderWorkerSet group, what happened to its members."""

from __future__ import annotations

from infra.errors import ProviderError
from infra.targets.base import LineSource
from infra.targets.kubernetes.engine_pods import ENGINE_CONTAINER, EnginePod
from infra.targets.kubernetes.engine_view import EngineView


class PodLogs:
    """New lines of the engine pods' logs (a worker's prefixed with its pod name), their Warning events
    (`event Reason: message`) and, for a group, what happened to its members (GroupNotes)."""

    def __init__(self, target: EngineView) -> None:
        self.target = target
        self.seen_lines: dict[str, int] = {}
        self.seen_events: set[str] = set()
        self.notes = GroupNotes(target)

    def read_new(self) -> list[str]:
        lines = self._events() + self.notes.read_new()
        group = self.target.engine_group()
        for pod in group.live if self.target.context.plan.nodes > 1 else (group.leader,):
            if pod is not None and pod.phase != "Pending":
                prefix = "" if pod.worker_index in (0, None) else f"[{pod.name}] "
                lines += [prefix + line for line in self._pod_lines(pod)]
        return lines

    def _pod_lines(self, pod: EnginePod) -> list[str]:
        kubectl, ns = self.target.kubectl, self.target.namespace
        lines: list[str] = []
        for previous in ([True] if pod.restarts else []) + [False]:
            key = f"{pod.uid or pod.name}/{pod.restarts - 1 if previous else pod.restarts}"
            try:
                text = kubectl(
                    "logs", "-n", ns, pod.name, "-c", ENGINE_CONTAINER, *(["--previous"] if previous else [])
                )
            except ProviderError:
                continue  # not started yet, or the runtime kept no log
            all_lines = text.splitlines()
            lines += all_lines[self.seen_lines.get(key, 0) :]
            self.seen_lines[key] = len(all_lines)
        return lines

    def _events(self) -> list[str]:
        try:
            found = self.target.kubectl.json(
                "get", "events", "-n", self.target.namespace, "--field-selector", "type=Warning"
            )
        except ProviderError:
            return []
        lines = []
        for event in found.get("items") or []:
            uid = str(event["metadata"].get("uid"))
            involved = (event.get("involvedObject") or {}).get("name", "")
            if uid in self.seen_events or not str(involved).startswith(self.target.deployment_name):
                continue
            self.seen_events.add(uid)
            lines.append(f"event {event.get('reason')}: {' '.join(str(event.get('message', '')).split())}")
        return lines


def scheduling_event(target: EngineView) -> str | None:
    """The scheduler's last word on the engine's pods (`event FailedScheduling: ...`), if it said any."""
    lines = [line for line in PodLogs(target)._events() if "FailedScheduling" in line]
    return lines[-1] if lines else None


class GroupNotes:
    """For a LeaderWorkerSet group, once each: a member that stopped, and a group whose pods were replaced
    (RecreateGroupOnPodRestart) since the GPU preflight judged them. The leader's log cannot say either."""

    def __init__(self, target: EngineView) -> None:
        self.target = target
        self.said: set[str] = set()

    def read_new(self) -> list[str]:
        if self.target.context.plan.nodes < 2:
            return []
        group = self.target.engine_group()
        lines = []
        for pod in group.pods:
            if (pod.dead or pod.deleting) and pod.uid not in self.said:
                self.said.add(pod.uid)
                why = pod.why_dead() if pod.dead else "deleted"
                lines.append(f"event MemberStopped: {pod.role} pod {pod.name}: {why}")
        judged = self.target.judged_members
        if judged and group.uids() != judged and "recreated" not in self.said:
            self.said.add("recreated")
            lines.append(
                f"event GroupRecreated: the LeaderWorkerSet replaced the group's pods "
                f"({len(group.live)} of {group.size} back): the engine restarted from scratch"
            )
        return lines


class JoinedLines:
    """Several line sources read as one, in order."""

    def __init__(self, *sources: LineSource) -> None:
        self.sources = sources

    def read_new(self) -> list[str]:
        return [line for source in self.sources for line in source.read_new()]

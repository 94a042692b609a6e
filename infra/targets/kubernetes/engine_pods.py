"""The engine's pods as the API server reports them: one Deployment pod, or a LeaderWorkerSet's group.

A two-node stack's engine is one LeaderWorkerSet group: the leader (worker index 0, the only pod with the
HTTP port) and its workers. The LWS controller labels each pod with its group and worker index
(sigs.k8s.io/lws v0.8.0, api/leaderworkerset/v1/leaderworkerset_types.go) and, with
RecreateGroupOnPodRestart, replaces the whole group when a member fails: a group whose members changed
is an engine that restarted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.targets.kubernetes.manifests import LWS_WORKER_INDEX_LABEL

ENGINE_CONTAINER = "vllm"
GPU_RESOURCE = "nvidia.com/gpu"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
# A container the kubelet will not (re)start, whatever the restart policy says.
STUCK_REASONS = ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError")


@dataclass
class EnginePod:
    """An engine pod as its status says (None fields while it is not scheduled or not started)."""

    name: str
    node: str | None
    phase: str
    restarts: int
    waiting: str | None
    terminated: str | None
    gpus: int
    uid: str = ""
    worker_index: int | None = None
    """Its index in a LeaderWorkerSet group (0: the leader); None for a Deployment's pod."""
    deleting: bool = False
    image_id: str = ""
    """The engine container's image as the kubelet resolved it (`repo@sha256:...`), once it started."""

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> EnginePod:
        meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
        container: Mapping[str, Any] = next(
            (c for c in spec.get("containers") or [] if c.get("name") == ENGINE_CONTAINER), {}
        )
        limits = (container.get("resources") or {}).get("limits") or {}
        state: Mapping[str, Any] = next(
            (s for s in status.get("containerStatuses") or [] if s.get("name") == ENGINE_CONTAINER), {}
        )
        current = state.get("state") or {}
        last = (state.get("lastState") or {}).get("terminated")
        ended = current.get("terminated") or last
        index = (meta.get("labels") or {}).get(LWS_WORKER_INDEX_LABEL)
        return cls(
            name=str(meta["name"]),
            node=spec.get("nodeName"),
            phase=str(status.get("phase") or "Pending"),
            restarts=int(state.get("restartCount") or 0),
            waiting=(current.get("waiting") or {}).get("reason"),
            terminated=None
            if not ended
            else f"{ended.get('reason') or 'exited'} (exit code {ended.get('exitCode', '?')})",
            gpus=int(limits.get(GPU_RESOURCE) or 0),
            uid=str(meta.get("uid") or ""),
            worker_index=int(index) if index is not None and str(index).isdigit() else None,
            deleting=bool(meta.get("deletionTimestamp")),
            image_id=str(state.get("imageID") or ""),
        )

    @property
    def dead(self) -> bool:
        """The engine stopped: it exited or crashed (vLLM's start failures repeat; a restart is no cure)."""
        return (
            self.phase in ("Failed", "Succeeded")
            or self.terminated is not None
            or self.waiting in STUCK_REASONS
        )

    @property
    def role(self) -> str:
        if self.worker_index is None:
            return "engine"
        return "leader" if self.worker_index == 0 else f"worker {self.worker_index}"

    def why_dead(self) -> str:
        return self.terminated or self.waiting or self.phase


@dataclass(frozen=True)
class EngineGroup:
    """Every pod of the engine, the leader first; `size` is how many the plan runs (its nodes)."""

    pods: tuple[EnginePod, ...]
    size: int

    @classmethod
    def of(cls, items: Iterable[Mapping[str, Any]], size: int) -> EngineGroup:
        pods = [EnginePod.from_api(i) for i in items]
        # The leader first, then the workers by index; a Deployment's pods keep the API server's order.
        pods.sort(key=lambda p: -1 if p.worker_index is None else p.worker_index)
        return cls(tuple(pods), size)

    @property
    def live(self) -> tuple[EnginePod, ...]:
        return tuple(p for p in self.pods if not p.deleting)

    @property
    def leader(self) -> EnginePod | None:
        """The pod that serves the API: the group's worker index 0, or the Deployment's pod."""
        return next((p for p in self.live if p.worker_index in (0, None)), None)

    @property
    def complete(self) -> bool:
        """Every member the plan runs is there (a group being recreated is not)."""
        if self.size < 2:
            return self.leader is not None
        indices = {p.worker_index for p in self.live}
        return indices >= set(range(self.size))

    def dead_member(self) -> EnginePod | None:
        return next((p for p in self.pods if p.dead or (self.size > 1 and p.deleting)), None)

    def uids(self) -> frozenset[str]:
        return frozenset(p.uid for p in self.live)


def kubelet_expand(value: str, env: Mapping[str, str]) -> str:
    """`$(VAR)` in a container's command, args and env, as the kubelet expands it: a defined variable's
    value, `$$` for a literal `$`, anything else left as written (k8s third_party/forked/golang/expansion)."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            if value[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if value[i + 1] == "(":
                end = value.find(")", i + 2)
                name = value[i + 2 : end] if end != -1 else ""
                if end != -1 and name in env:
                    out.append(env[name])
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)

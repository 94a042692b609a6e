"""What a LeaderWorkerSet object asks for, with LWS v0.8.0's defaults filled in, and the owner reference
that ties what the controller makes to it. The [tags] cite LWS's sources as listed in lws_controller.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.emulator.lws_names import API_VERSION, KIND, RECREATE_GROUP


@dataclass(frozen=True)
class GroupSpec:
    """The fields of a LeaderWorkerSet the controller acts on, with LWS's defaults filled in."""

    name: str
    namespace: str
    uid: str
    replicas: int
    size: int
    restart_policy: str
    startup_policy: str
    leader_template: Mapping[str, Any]
    worker_template: Mapping[str, Any]
    revision: str
    conditions: tuple[Mapping[str, Any], ...] = ()
    """The status conditions it has now (their transition times carry over)."""

    @classmethod
    def of(cls, lws: Mapping[str, Any]) -> GroupSpec:
        meta, spec = lws["metadata"], lws.get("spec") or {}
        template = spec.get("leaderWorkerTemplate") or {}
        worker = template.get("workerTemplate") or {}
        # [lws] the leader template is optional: the leader then runs the worker template.
        leader = template.get("leaderTemplate") or worker
        # [hook] LeaderWorkerSetWebhook.Default: RecreateGroupOnPodRestart when unset; "Default" means None.
        policy = template.get("restartPolicy") or RECREATE_GROUP
        return cls(
            name=str(meta["name"]),
            namespace=str(meta["namespace"]),
            uid=str(meta["uid"]),
            replicas=int(spec.get("replicas", 1)),  # [api] +kubebuilder:default=1
            size=int(template.get("size", 1)),  # [api] +kubebuilder:default=1
            restart_policy="None" if policy == "Default" else str(policy),
            startup_policy=str(spec.get("startupPolicy") or "LeaderCreated"),  # [api] default LeaderCreated
            leader_template=leader,
            worker_template=worker,
            revision=revision_hash(template),
            conditions=tuple((lws.get("status") or {}).get("conditions") or ()),
        )

    def owner(self) -> dict[str, Any]:
        return owner_reference(API_VERSION, KIND, self.name, self.uid)


def revision_hash(template: Mapping[str, Any]) -> str:
    """A short hash of the leaderWorkerTemplate: pods of another revision belong to an older template."""
    digest = hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    # controller + blockOwnerDeletion, as controller-runtime's SetControllerReference sets them: a
    # foreground delete of the owner waits for its pods.
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }

"""A stand-in for the LeaderWorkerSet controller (sigs.k8s.io/lws v0.8.0) on the local control plane.

The real controller cannot be built here (the Go module proxy does not serve sigs.k8s.io/lws), so this
small one makes a LeaderWorkerSet's pods as LWS v0.8.0 documents and implements it; kwok then "runs"
them and the real scheduler places them. Each behaviour cites where LWS says it does the same:

    [api]   api/leaderworkerset/v1/leaderworkerset_types.go        (labels, annotations, env names, defaults)
    [ref]   site/content/en/docs/reference/labels-annotations-and-environment-variables.md
    [lws]   pkg/controllers/leaderworkerset_controller.go          (leader StatefulSet, headless Service, status)
    [pod]   pkg/controllers/pod_controller.go                      (worker StatefulSet, RecreateGroupOnPodRestart)
    [hook]  pkg/webhooks/pod_webhook.go, leaderworkerset_webhook.go (group index/key labels, env, defaults)
    [env]   pkg/utils/pod/pod_utils.go                             (LWS_* environment, restart detection)

What it does not do (README, "Against a real API server, locally"): no StatefulSets (it creates the
pods a leader and a worker StatefulSet would, with their names, hostname and subdomain), no admission
webhooks (a LeaderWorkerSet is judged by LWS's CRD schema only), no rolling update (a changed template
recreates the group), no exclusive placement, subgroups, TPU variables or volumeClaimTemplates.

    python -m infra.emulator.lws_controller --kubeconfig PATH   # runs until SIGTERM or the API server is gone

This module is the reconcile loop and the process; its parts, one concept each:

    lws_names.py      LWS's label, annotation and environment names, and its pods' names
    lws_group.py      what a LeaderWorkerSet asks for (GroupSpec), defaults filled in
    lws_objects.py    the leader and worker pods and the headless Service it implies
    lws_pod_state.py  what a live pod says: leader or worker, ready, ended, restarted
    lws_decisions.py  what to do for a group, given its live pods (plan_group)
    lws_status.py     the status it reports (status_of)
    lws_api.py        the few API server calls it makes
    lws_launch.py     installing the CRD and starting this process with a local control plane
"""

from __future__ import annotations

import argparse
import datetime
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra.emulator.lws_api import ApiServer
from infra.emulator.lws_decisions import Action, group_members, plan_group
from infra.emulator.lws_group import GroupSpec, owner_reference, revision_hash
from infra.emulator.lws_launch import PROCESS_NAME, ControlPlane, start
from infra.emulator.lws_names import (
    API_VERSION,
    CRD_NAME,
    FIELD_MANAGER,
    GROUP_INDEX_LABEL,
    GROUP_KEY_LABEL,
    GROUP_SIZE_ENV,
    KIND,
    LEADER_ADDRESS_ENV,
    LEADER_NAME_ANNOTATION,
    NAME_LABEL,
    PATH,
    RECREATE_GROUP,
    REVISION_LABEL,
    SIZE_ANNOTATION,
    STS_POD_INDEX_LABEL,
    STS_POD_NAME_LABEL,
    WORKER_INDEX_ENV,
    WORKER_INDEX_LABEL,
    group_key,
    leader_name,
    worker_name,
)
from infra.emulator.lws_objects import add_lws_env, headless_service, leader_pod, worker_pod
from infra.emulator.lws_pod_state import ready, restarted_or_gone
from infra.emulator.lws_status import status_of

# The stand-in's names, importable from here as before the split (tests and the Kubernetes rehearsal).
__all__ = [
    "API_VERSION",
    "CRD_NAME",
    "FIELD_MANAGER",
    "GROUP_INDEX_LABEL",
    "GROUP_KEY_LABEL",
    "GROUP_SIZE_ENV",
    "KIND",
    "LEADER_ADDRESS_ENV",
    "LEADER_NAME_ANNOTATION",
    "NAME_LABEL",
    "PATH",
    "PROCESS_NAME",
    "RECREATE_GROUP",
    "REVISION_LABEL",
    "SIZE_ANNOTATION",
    "STS_POD_INDEX_LABEL",
    "STS_POD_NAME_LABEL",
    "WORKER_INDEX_ENV",
    "WORKER_INDEX_LABEL",
    "Action",
    "ApiServer",
    "ControlPlane",
    "Controller",
    "GroupSpec",
    "add_lws_env",
    "group_key",
    "headless_service",
    "leader_name",
    "leader_pod",
    "main",
    "owner_reference",
    "plan_group",
    "ready",
    "restarted_or_gone",
    "revision_hash",
    "run",
    "start",
    "status_of",
    "worker_name",
    "worker_pod",
]

POLL_SECONDS = 0.5
# The control plane was stopped: a controller that outlived it exits on its own.
GONE_AFTER_SECONDS = 30.0


@dataclass
class Controller:
    """Reconciles every LeaderWorkerSet in the cluster, once per poll (level-triggered, like LWS)."""

    api: ApiServer
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    _seen: dict[str, set[str]] = field(default_factory=dict)
    """Per group (`ns/lws/index`): the member pods seen alive, to notice one that vanished between polls."""
    _status: dict[str, str] = field(default_factory=dict)

    def reconcile(self) -> None:
        for lws in self.api.list(f"{PATH}/leaderworkersets"):
            if lws["metadata"].get("deletionTimestamp"):
                continue  # [lws] nothing for a LeaderWorkerSet on its way out: the garbage collector acts
            group = GroupSpec.of(lws)
            try:
                self._reconcile(group)
            except httpx.HTTPStatusError as err:
                self.say(
                    f"{group.namespace}/{group.name}: {err.response.status_code} {err.response.text[:200]}"
                )

    def _reconcile(self, group: GroupSpec) -> None:
        ns_path = f"/api/v1/namespaces/{group.namespace}"
        service = headless_service(group)
        if self.api.get(f"{ns_path}/services/{group.name}") is None:
            self.api.create(f"{ns_path}/services", service)
        pods = group_members(group, self.api.list(f"{ns_path}/pods", f"{NAME_LABEL}={group.name}"))
        by_group: dict[int, dict[str, dict[str, Any]]] = {}
        for pod in pods:
            index = pod["metadata"]["labels"].get(GROUP_INDEX_LABEL, "")
            if index.isdigit():
                by_group.setdefault(int(index), {})[pod["metadata"]["name"]] = pod
        for index in range(group.replicas):
            members = by_group.get(index, {})
            key = f"{group.namespace}/{group.name}/{index}"
            lost = self._seen.get(key, set()) - set(members)
            for action in plan_group(group, index, members, lost):
                self._act(group, action)
            alive = {n for n, p in members.items() if not p["metadata"].get("deletionTimestamp")}
            leader = members.get(leader_name(group.name, index))
            self._seen[key] = (
                set() if leader is None or leader["metadata"].get("deletionTimestamp") else alive
            )
        for index, members in by_group.items():
            if index >= group.replicas:  # scaled down: the highest groups go
                leader = members.get(leader_name(group.name, index))
                if leader is not None and not leader["metadata"].get("deletionTimestamp"):
                    self._act(group, Action("delete", leader, "replicas lowered"))
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = status_of(group, pods, now, group.conditions)
        digest = json.dumps({k: v for k, v in status.items() if k != "conditions"}, sort_keys=True)
        digest += json.dumps([c["status"] for c in status["conditions"]])
        if self._status.get(group.uid) != digest:
            self.api.patch_status(
                f"{PATH}/namespaces/{group.namespace}/leaderworkersets/{group.name}", status
            )
            self._status[group.uid] = digest

    def _act(self, group: GroupSpec, action: Action) -> None:
        name = str(action.pod["metadata"]["name"])
        path = f"/api/v1/namespaces/{group.namespace}/pods"
        if action.verb == "create":
            if not self.api.create(path, action.pod):
                return
        else:
            self.api.delete(f"{path}/{name}", uid=action.pod["metadata"].get("uid"))
        self.say(f"{group.namespace}/{group.name}: {action.verb} pod {name}: {action.reason}")


def run(kubeconfig: Path, stop: threading.Event) -> int:
    """Reconcile until `stop` is set, or until the API server has not answered for GONE_AFTER_SECONDS."""
    controller = Controller(ApiServer(kubeconfig))
    controller.say(f"LeaderWorkerSet stand-in controller (LWS v0.8.0 behaviour) watching {kubeconfig}")
    last_answer = time.monotonic()
    said = ""
    while not stop.wait(POLL_SECONDS):
        try:
            controller.reconcile()
            last_answer = time.monotonic()
        except (httpx.TransportError, httpx.HTTPStatusError) as err:
            if str(err) != said:  # once per new error: the log says why nothing happens
                said = str(err)
                controller.say(f"cannot reconcile: {err}")
            if time.monotonic() - last_answer > GONE_AFTER_SECONDS:
                controller.say(f"the API server is gone ({err}); stopping")
                return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lws-controller", description="A stand-in LeaderWorkerSet controller for a local control plane."
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return run(args.kubeconfig, stop)


if __name__ == "__main__":
    sys.exit(main())

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
"""

from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import json
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

API_VERSION = "leaderworkerset.x-k8s.io/v1"
KIND = "LeaderWorkerSet"
PATH = "/apis/leaderworkerset.x-k8s.io/v1"
CRD_NAME = "leaderworkersets.leaderworkerset.x-k8s.io"
# [api] label and annotation keys.
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
GROUP_KEY_LABEL = "leaderworkerset.sigs.k8s.io/group-key"
REVISION_LABEL = "leaderworkerset.sigs.k8s.io/template-revision-hash"
SIZE_ANNOTATION = "leaderworkerset.sigs.k8s.io/size"
LEADER_NAME_ANNOTATION = "leaderworkerset.sigs.k8s.io/leader-name"
# [api] the environment every container of a group gets.
LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"
GROUP_SIZE_ENV = "LWS_GROUP_SIZE"
WORKER_INDEX_ENV = "LWS_WORKER_INDEX"
RECREATE_GROUP = "RecreateGroupOnPodRestart"
# The labels a StatefulSet controller puts on its pods (kubernetes.io/docs, StatefulSet "Pod Name Label").
STS_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
STS_POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
FIELD_MANAGER = "lws-stand-in"
POLL_SECONDS = 0.5
# The control plane was stopped: a controller that outlived it exits on its own.
GONE_AFTER_SECONDS = 30.0


# ---- what a LeaderWorkerSet implies (pure) --------------------------------------------------------------


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


def group_key(namespace: str, leader_name: str) -> str:
    """[hook] genGroupUniqueKey: the SHA-1 of `<namespace>/<leader pod name>`, shared by the group."""
    return hashlib.sha1(f"{namespace}/{leader_name}".encode()).hexdigest()


def leader_name(lws: str, group: int) -> str:
    """[lws] the leader StatefulSet is named after the LeaderWorkerSet: its pods are `<lws>-<group>`."""
    return f"{lws}-{group}"


def worker_name(leader: str, worker: int) -> str:
    """[pod] each leader's worker StatefulSet is named after it, ordinals from 1: `<leader>-<worker>`."""
    return f"{leader}-{worker}"


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


def leader_pod(group: GroupSpec, index: int) -> dict[str, Any]:
    """The leader of group `index`, as the leader StatefulSet and the pod webhook make it."""
    name = leader_name(group.name, index)
    labels = {
        # [lws] constructLeaderStatefulSetApplyConfiguration
        WORKER_INDEX_LABEL: "0",
        NAME_LABEL: group.name,
        REVISION_LABEL: group.revision,
        # [hook] Default: group index from the pod's ordinal, group key from its name
        GROUP_INDEX_LABEL: str(index),
        GROUP_KEY_LABEL: group_key(group.namespace, name),
    }
    annotations = {SIZE_ANNOTATION: str(group.size)}
    return _pod(group, group.leader_template, name, index, labels, annotations, group.owner())


def worker_pod(group: GroupSpec, leader: Mapping[str, Any], worker: int) -> dict[str, Any]:
    """Worker `worker` (1..size-1) of the leader's group, as its worker StatefulSet and the webhook make it."""
    leader_labels = leader["metadata"]["labels"]
    labels = {
        # [pod] constructWorkerStatefulSetApplyConfiguration: the leader's group index, key and revision
        GROUP_INDEX_LABEL: leader_labels[GROUP_INDEX_LABEL],
        NAME_LABEL: group.name,
        GROUP_KEY_LABEL: leader_labels[GROUP_KEY_LABEL],
        REVISION_LABEL: leader_labels[REVISION_LABEL],
        WORKER_INDEX_LABEL: str(worker),  # [hook] Default: the worker index is the pod's ordinal
    }
    leader_meta = leader["metadata"]
    annotations = {SIZE_ANNOTATION: str(group.size), LEADER_NAME_ANNOTATION: str(leader_meta["name"])}
    # [pod] the worker StatefulSet is owned by the leader pod: deleting the leader deletes its workers.
    owner = owner_reference("v1", "Pod", str(leader_meta["name"]), str(leader_meta["uid"]))
    name = worker_name(str(leader_meta["name"]), worker)
    return _pod(group, group.worker_template, name, worker, labels, annotations, owner)


def _pod(
    group: GroupSpec,
    template: Mapping[str, Any],
    name: str,
    ordinal: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    # A StatefulSet pod's hostname is its name and its subdomain the StatefulSet's Service: [pod] with
    # subdomainPolicy Shared (the default) both StatefulSets use the headless Service named after the LWS.
    spec["hostname"] = name
    spec["subdomain"] = group.name
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": group.namespace,
            "labels": {
                **(meta.get("labels") or {}),
                **labels,
                STS_POD_NAME_LABEL: name,
                STS_POD_INDEX_LABEL: str(ordinal),
            },
            "annotations": {**(meta.get("annotations") or {}), **annotations},
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }
    add_lws_env(pod)
    return pod


def add_lws_env(pod: dict[str, Any]) -> None:
    """[env] AddLWSVariables: LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX first in every
    container and init container; a container's own variable of the same name gives way to them."""
    labels, spec = pod["metadata"]["labels"], pod["spec"]
    address = (
        f"{labels[NAME_LABEL]}-{labels[GROUP_INDEX_LABEL]}.{spec['subdomain']}.{pod['metadata']['namespace']}"
    )
    injected = [
        {"name": LEADER_ADDRESS_ENV, "value": address},
        {"name": GROUP_SIZE_ENV, "value": pod["metadata"]["annotations"][SIZE_ANNOTATION]},
        {"name": WORKER_INDEX_ENV, "value": labels[WORKER_INDEX_LABEL]},
    ]
    names = {e["name"] for e in injected}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        container["env"] = [*injected, *(e for e in container.get("env") or [] if e["name"] not in names)]


def headless_service(group: GroupSpec) -> dict[str, Any]:
    """[lws] reconcileHeadlessServices (controller_utils CreateHeadlessServiceIfNotExists): the DNS name
    behind LWS_LEADER_ADDRESS, listing pods before they are ready so that workers find the leader."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": group.name,
            "namespace": group.namespace,
            "labels": {NAME_LABEL: group.name},
            "ownerReferences": [group.owner()],
        },
        "spec": {"clusterIP": "None", "selector": {NAME_LABEL: group.name}, "publishNotReadyAddresses": True},
    }


def restarted_or_gone(pod: Mapping[str, Any]) -> bool:
    """[env] ContainerRestarted (a restart count while Running or Pending) or PodDeleted; and a pod
    that ended (Failed/Succeeded), which its StatefulSet controller would delete."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if pod["metadata"].get("deletionTimestamp") or _ended(pod):
        return True
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return phase in ("Running", "Pending") and any(int(s.get("restartCount") or 0) > 0 for s in statuses)


def _ended(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def ready(pod: Mapping[str, Any]) -> bool:
    """[env] PodRunningAndReady."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def status_of(
    group: GroupSpec, pods: Iterable[Mapping[str, Any]], now: str, was: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """[lws] updateStatus/updateConditions: replicas (leaders), ready and updated groups, the HPA
    selector, and Available (every group ready) or else Progressing."""
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        by_group.setdefault(pod["metadata"]["labels"].get(GROUP_INDEX_LABEL, ""), []).append(pod)
    leaders = [p for members in by_group.values() for p in members if _is_leader(p)]
    ready_groups = updated_groups = 0
    for members in by_group.values():
        if not any(_is_leader(p) for p in members):
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


def _members(group: GroupSpec, pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of this LeaderWorkerSet object: leaders it owns, workers those leaders own (pods left by
    an older object of the same name are the garbage collector's)."""
    pods = list(pods)

    def owned_by(pod: Mapping[str, Any], uids: set[str]) -> bool:
        return any(o.get("uid") in uids for o in pod["metadata"].get("ownerReferences") or [])

    leaders = [p for p in pods if _is_leader(p) and owned_by(p, {group.uid})]
    uids = {str(p["metadata"]["uid"]) for p in leaders}
    return leaders + [p for p in pods if not _is_leader(p) and owned_by(p, uids)]


def _is_leader(pod: Mapping[str, Any]) -> bool:
    # [env] LeaderPod: worker index 0.
    return bool(pod["metadata"]["labels"].get(WORKER_INDEX_LABEL) == "0")


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
    ended = [p for p in broken if not p["metadata"].get("deletionTimestamp") and _ended(p)]
    actions = [Action("delete", p, "pod ended: replacing it") for p in ended]
    if group.size > 1 and (group.startup_policy != "LeaderReady" or ready(leader)):
        # [pod] workers once the leader exists (LeaderCreated) or is ready (LeaderReady).
        for worker in range(1, group.size):
            if worker_name(str(leader["metadata"]["name"]), worker) not in pods:
                actions.append(Action("create", worker_pod(group, leader, worker), "worker missing"))
    return actions


# ---- the loop against the API server ---------------------------------------------------------------------


class ApiServer:
    """The few calls the controller makes, with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
        user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
        tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        tls.load_cert_chain(user["client-certificate"], user["client-key"])
        self.client = httpx.Client(base_url=cluster["server"], verify=tls, timeout=20.0)

    def list(self, path: str, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        answer = self.client.get(path, params=params)
        answer.raise_for_status()
        return list(answer.json().get("items") or [])

    def create(self, path: str, obj: Mapping[str, Any]) -> bool:
        """False when the name is taken (a previous poll made it, or its predecessor is still going)."""
        answer = self.client.post(path, json=obj, params={"fieldManager": FIELD_MANAGER})
        if answer.status_code == 409:
            return False
        answer.raise_for_status()
        return True

    def delete(self, path: str, uid: str | None = None, propagation: str = "Foreground") -> None:
        """Delete (foreground: dependents first); with `uid`, only that object, not a successor of its name."""
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if uid:
            options["preconditions"] = {"uid": uid}
        answer = self.client.request("DELETE", path, json=options)
        if answer.status_code not in (404, 409):  # gone, or already replaced (the uid precondition)
            answer.raise_for_status()

    def patch_status(self, path: str, status: Mapping[str, Any]) -> None:
        answer = self.client.patch(
            f"{path}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if answer.status_code != 404:
            answer.raise_for_status()

    def get(self, path: str) -> dict[str, Any] | None:
        answer = self.client.get(path)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


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
        pods = _members(group, self.api.list(f"{ns_path}/pods", f"{NAME_LABEL}={group.name}"))
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


# ---- starting it with a local control plane --------------------------------------------------------------


class ControlPlane(Protocol):
    """What starting the stand-in needs of a local control plane (infra's LocalCluster has it)."""

    workdir: Path
    processes: dict[str, Any]

    @property
    def kubeconfig(self) -> Path: ...

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any: ...

    def _spawn(self, name: str, argv: list[str]) -> Any: ...


PROCESS_NAME = "lws-controller"


def start(cluster: ControlPlane, crd: Path, timeout_s: float = 120.0) -> None:
    """Install LWS's CRD (its schema judges every LeaderWorkerSet) and start the stand-in controller as
    one of the control plane's processes (stopped with it). Does nothing when it already runs."""
    if PROCESS_NAME in cluster.processes and cluster.processes[PROCESS_NAME].poll() is None:
        return
    # Server-side: the CRD is 1.3 MB, past the client-side last-applied annotation's 256 KiB limit.
    cluster.kubectl("apply", "--server-side", "--field-manager", FIELD_MANAGER, "-f", str(crd))
    deadline = time.monotonic() + timeout_s
    while not _established(cluster):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the LeaderWorkerSet CRD was not Established within {timeout_s:.0f}s")
        time.sleep(0.2)
    # Run as a script: it imports nothing of infra (a stand-in shares no code with what it judges).
    cluster._spawn(PROCESS_NAME, [sys.executable, __file__, "--kubeconfig", str(cluster.kubeconfig)])
    # Recorded with the other components: `kube-local.sh stop` and a later rehearsal stop it by its pid.
    save = getattr(cluster, "_save_state", None)
    if callable(save):
        save()


def _established(cluster: ControlPlane) -> bool:
    done = cluster.kubectl("get", "crd", CRD_NAME, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


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

"""The LeaderWorkerSet stand-in controller's decisions (infra/emulator/lws_controller.py), in milliseconds:
from the rendered two-node LeaderWorkerSet, the pods LWS v0.8.0 would make, and what it does when a
member fails. The same controller against a real API server is in test_live_lws.py."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import kubernetes_validate
import pytest
from test_manifests import K8S_VERSION, kubelet_expand, one, preset

from infra.emulator import lws_controller as lws

STACK = "k8s-pro-2x8xh100"
NS = "deepseek-v4-pro-2x8xh100"
UID = "11111111-2222-3333-4444-555555555555"


def group(**spec: Any) -> lws.GroupSpec:
    _spec, _plan, manifests = preset(STACK)
    obj = copy.deepcopy(one(manifests, "LeaderWorkerSet"))
    obj["metadata"]["uid"] = UID
    obj["spec"].update(spec)
    return lws.GroupSpec.of(obj)


def env(pod: dict[str, Any], container: str = "vllm") -> dict[str, str]:
    c = next(c for c in pod["spec"]["containers"] if c["name"] == container)
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def running(pod: dict[str, Any], restarts: int = 0, phase: str = "Running") -> dict[str, Any]:
    """The pod as the API server returns it once kwok (or a kubelet) runs it."""
    out = copy.deepcopy(pod)
    out["metadata"]["uid"] = hashlib.sha1(pod["metadata"]["name"].encode()).hexdigest()
    out["status"] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}],
        "containerStatuses": [{"name": "vllm", "restartCount": restarts}],
    }
    return out


def test_the_leader_is_named_labelled_and_addressed_as_lws_documents() -> None:
    g = group()
    leader = lws.leader_pod(g, 0)
    meta = leader["metadata"]
    assert meta["name"] == "vllm-group-0"
    labels = meta["labels"]
    assert labels[lws.NAME_LABEL] == "vllm-group"
    assert labels[lws.GROUP_INDEX_LABEL] == "0" and labels[lws.WORKER_INDEX_LABEL] == "0"
    # genGroupUniqueKey: SHA-1 of "<namespace>/<leader name>".
    assert labels[lws.GROUP_KEY_LABEL] == hashlib.sha1(f"{NS}/vllm-group-0".encode()).hexdigest()
    # The template's own labels stay: the engine Service selects the leader by them and worker-index 0.
    assert labels["app.kubernetes.io/instance"] == STACK
    assert meta["annotations"][lws.SIZE_ANNOTATION] == "2"
    assert (
        meta["ownerReferences"][0]["kind"] == "LeaderWorkerSet" and meta["ownerReferences"][0]["uid"] == UID
    )
    assert leader["spec"]["hostname"] == "vllm-group-0" and leader["spec"]["subdomain"] == "vllm-group"
    values = env(leader)
    assert values["LWS_LEADER_ADDRESS"] == f"vllm-group-0.vllm-group.{NS}"
    assert values["LWS_GROUP_SIZE"] == "2" and values["LWS_WORKER_INDEX"] == "0"
    # The init container gets them too, and the variables come first (pod_utils addEnvVarsIfNotExists).
    init = leader["spec"]["initContainers"][0]["env"]
    assert [e["name"] for e in init[:3]] == ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]
    # The leader's command reaches the leader through the address the kubelet expands.
    words = [kubelet_expand(w, values) for w in leader["spec"]["containers"][0]["args"]]
    assert words[words.index("--data-parallel-address") + 1] == f"vllm-group-0.vllm-group.{NS}"


def test_a_worker_carries_its_leaders_group_and_its_own_index() -> None:
    g = group()
    leader = running(lws.leader_pod(g, 0))
    worker = lws.worker_pod(g, leader, 1)
    meta = worker["metadata"]
    assert meta["name"] == "vllm-group-0-1"
    assert meta["labels"][lws.WORKER_INDEX_LABEL] == "1"
    assert meta["labels"][lws.GROUP_KEY_LABEL] == leader["metadata"]["labels"][lws.GROUP_KEY_LABEL]
    assert meta["annotations"][lws.LEADER_NAME_ANNOTATION] == "vllm-group-0"
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "vllm-group-0", leader["metadata"]["uid"])
    assert owner["blockOwnerDeletion"] is True  # a foreground delete of the leader waits for it
    values = env(worker)
    assert (
        values["LWS_WORKER_INDEX"] == "1" and values["LWS_LEADER_ADDRESS"] == f"vllm-group-0.vllm-group.{NS}"
    )
    assert "--headless" in worker["spec"]["containers"][0]["args"]  # the worker template, not the leader's
    assert not worker["spec"]["containers"][0].get("ports")


@pytest.mark.parametrize("role", ["leader", "worker"])
def test_the_pods_it_makes_are_valid_kubernetes_pods(role: str) -> None:
    g = group()
    leader = lws.leader_pod(g, 0)
    pod = leader if role == "leader" else lws.worker_pod(g, running(leader), 1)
    # Raises ValidationError on any wrong or unknown field (strict).
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_a_missing_leader_comes_first_then_its_workers() -> None:
    g = group()
    (first,) = lws.plan_group(g, 0, {})
    assert (first.verb, first.pod["metadata"]["name"]) == ("create", "vllm-group-0")
    leader = running(first.pod)
    (second,) = lws.plan_group(g, 0, {"vllm-group-0": leader})
    assert (second.verb, second.pod["metadata"]["name"]) == ("create", "vllm-group-0-1")
    worker = running(second.pod)
    assert lws.plan_group(g, 0, {"vllm-group-0": leader, "vllm-group-0-1": worker}) == []


def test_leader_ready_startup_waits_for_a_ready_leader() -> None:
    g = group(startupPolicy="LeaderReady")
    pending = running(lws.leader_pod(g, 0), phase="Pending")
    assert lws.plan_group(g, 0, {"vllm-group-0": pending}) == []
    (created,) = lws.plan_group(g, 0, {"vllm-group-0": running(lws.leader_pod(g, 0))})
    assert created.pod["metadata"]["name"] == "vllm-group-0-1"


@pytest.mark.parametrize(
    "what",
    ["worker restarted", "worker failed", "worker deleting", "worker vanished", "leader restarted"],
)
def test_recreate_group_on_pod_restart_deletes_the_leader_whatever_member_broke(what: str) -> None:
    g = group()
    leader = running(lws.leader_pod(g, 0))
    worker = running(lws.worker_pod(g, leader, 1))
    pods = {"vllm-group-0": leader, "vllm-group-0-1": worker}
    lost: list[str] = []
    if what == "worker restarted":
        pods["vllm-group-0-1"] = running(worker, restarts=1)
    elif what == "worker failed":
        pods["vllm-group-0-1"] = running(worker, phase="Failed")
    elif what == "worker deleting":
        worker["metadata"]["deletionTimestamp"] = "2026-12-02T10:00:00Z"
    elif what == "worker vanished":
        del pods["vllm-group-0-1"]
        lost = ["vllm-group-0-1"]
    else:
        pods["vllm-group-0"] = running(leader, restarts=2)
    (action,) = lws.plan_group(g, 0, pods, lost)
    # Deleting the leader (foreground) takes its workers with it; the next poll recreates the group.
    assert (action.verb, action.pod["metadata"]["name"]) == ("delete", "vllm-group-0")
    assert "recreating the group" in action.reason


def test_with_restart_policy_none_only_the_pod_that_ended_is_replaced() -> None:
    g = group()
    g = lws.GroupSpec.of(
        {
            "metadata": {"name": g.name, "namespace": g.namespace, "uid": UID},
            "spec": {
                "leaderWorkerTemplate": {
                    "size": 2,
                    "restartPolicy": "None",
                    "leaderTemplate": g.leader_template,
                    "workerTemplate": g.worker_template,
                }
            },
        }
    )
    leader = running(lws.leader_pod(g, 0))
    worker = running(lws.worker_pod(g, leader, 1))
    # A container restarted in place is the kubelet's business.
    restarted = {"vllm-group-0": leader, "vllm-group-0-1": running(worker, restarts=1)}
    assert lws.plan_group(g, 0, restarted) == []
    failed = {"vllm-group-0": leader, "vllm-group-0-1": running(worker, phase="Failed")}
    (action,) = lws.plan_group(g, 0, failed)
    assert (action.verb, action.pod["metadata"]["name"]) == ("delete", "vllm-group-0-1")
    # Once it is gone it is created again, alone.
    (again,) = lws.plan_group(g, 0, {"vllm-group-0": leader})
    assert (again.verb, again.pod["metadata"]["name"]) == ("create", "vllm-group-0-1")


def test_a_changed_template_recreates_the_group() -> None:
    g = group()
    leader = running(lws.leader_pod(g, 0))
    worker = running(lws.worker_pod(g, leader, 1))
    changed = copy.deepcopy(dict(g.worker_template))
    changed["spec"]["containers"][0]["image"] = "vllm/vllm-openai:v0.26.0"
    g2 = group(leaderWorkerTemplate={**_template(g), "workerTemplate": changed})
    assert g2.revision != g.revision
    (action,) = lws.plan_group(g2, 0, {"vllm-group-0": leader, "vllm-group-0-1": worker})
    assert (action.verb, action.pod["metadata"]["name"]) == ("delete", "vllm-group-0")


def _template(g: lws.GroupSpec) -> dict[str, Any]:
    return {
        "size": g.size,
        "restartPolicy": g.restart_policy,
        "leaderTemplate": g.leader_template,
        "workerTemplate": g.worker_template,
    }


def test_status_is_available_only_when_every_member_of_every_group_is_ready() -> None:
    g = group()
    leader = running(lws.leader_pod(g, 0))
    worker = running(lws.worker_pod(g, leader, 1))
    now = "2026-12-02T10:00:00Z"
    partial = lws.status_of(g, [leader], now)
    assert partial["replicas"] == 1 and partial["readyReplicas"] == 0
    assert {c["type"]: c["status"] for c in partial["conditions"]} == {
        "Available": "False",
        "Progressing": "True",
    }
    full = lws.status_of(g, [leader, worker], "2026-12-02T10:05:00Z", partial["conditions"])
    assert full["readyReplicas"] == 1 and full["updatedReplicas"] == 1
    conditions = {c["type"]: c for c in full["conditions"]}
    assert conditions["Available"]["status"] == "True" and conditions["Progressing"]["status"] == "False"
    # Only a condition whose status changed gets a new transition time.
    assert conditions["Available"]["lastTransitionTime"] == "2026-12-02T10:05:00Z"
    assert full["hpaPodSelector"] == f"{lws.NAME_LABEL}=vllm-group,{lws.WORKER_INDEX_LABEL}=0"


def test_the_headless_service_publishes_pods_before_they_are_ready() -> None:
    service = lws.headless_service(group())
    assert service["metadata"]["name"] == "vllm-group"
    assert service["spec"] == {
        "clusterIP": "None",
        "selector": {lws.NAME_LABEL: "vllm-group"},
        "publishNotReadyAddresses": True,
    }
    kubernetes_validate.validate(service, K8S_VERSION, strict=True)

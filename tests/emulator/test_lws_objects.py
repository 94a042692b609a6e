"""The pods and Service the LeaderWorkerSet stand-in makes (infra/emulator/lws_objects.py), from the rendered
two-node LeaderWorkerSet: named, labelled and addressed as LWS v0.8.0 makes them, and valid Kubernetes
objects. The same controller against a real API server is in tests/kubernetes/test_live_lws.py."""

from __future__ import annotations

import hashlib

import kubernetes_validate
import pytest
from kubelet import kubelet_expand
from rendered_group import K8S_VERSION, NS, STACK, UID, env, group, running

from infra.emulator import lws_controller as lws


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


def test_the_headless_service_publishes_pods_before_they_are_ready() -> None:
    service = lws.headless_service(group())
    assert service["metadata"]["name"] == "vllm-group"
    assert service["spec"] == {
        "clusterIP": "None",
        "selector": {lws.NAME_LABEL: "vllm-group"},
        "publishNotReadyAddresses": True,
    }
    kubernetes_validate.validate(service, K8S_VERSION, strict=True)

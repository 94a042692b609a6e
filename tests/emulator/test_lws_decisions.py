"""What the LeaderWorkerSet stand-in decides for a group (infra/emulator/lws_decisions.py), in milliseconds:
the pods LWS v0.8.0 would make, in its order, and what it does when a member fails or the template changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rendered_group import UID, group, running

from infra.emulator import lws_controller as lws


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

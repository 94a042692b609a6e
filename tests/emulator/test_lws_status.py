"""The status the LeaderWorkerSet stand-in reports (infra/emulator/lws_status.py): groups made and ready,
the HPA selector, and conditions whose transition time changes only with their status."""

from __future__ import annotations

from rendered_group import group, running

from infra.emulator import lws_controller as lws


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

"""What a two-node engine's pods say, against a real kube-apiserver with the stand-in LWS controller:
a dead worker ends the run as a dead pod does, with a line saying why."""

from __future__ import annotations

import json

import pytest
from kube import wait_for
from kube_target import group_running

from infra.emulator.local_cluster import LocalCluster
from infra.targets.kubernetes.target import KubernetesTarget

pytestmark = pytest.mark.kube


def test_a_dead_worker_fails_the_run_as_a_dead_pod_does(
    group: KubernetesTarget, kube_cluster: LocalCluster
) -> None:
    assert group.gpu_preflight(None, {}).passed  # type: ignore[arg-type]
    assert group.alive({})
    logs = group.logs(None, {})  # type: ignore[arg-type]
    logs.read_new()
    crashed = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "vllm", "image": "vllm/vllm-openai:v0.25.0", "imageID": "", "ready": False, "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    }  # fmt: skip
    kube_cluster.kubectl(
        "patch", "pod", "vllm-group-0-1", "-n", group.namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": crashed}),
    )  # fmt: skip
    # Dead, or already replaced with the rest of its group (RecreateGroupOnPodRestart): either way the
    # engine the checks were talking to is gone.
    wait_for("the run to see the group broken", lambda: not group.alive({}), timeout_s=60)
    lines: list[str] = []
    wait_for("a line saying why", lambda: bool(lines.extend(logs.read_new()) or _said(lines)), timeout_s=60)
    # Once the controller has made a new group, it is still not the engine that was judged.
    wait_for(
        "the group recreated",
        lambda: group_running(group) and group.engine_group().uids() != group.judged_members,
    )
    assert not group.alive({})


def _said(lines: list[str]) -> bool:
    return any(
        "MemberStopped: worker 1 pod vllm-group-0-1" in line or "GroupRecreated" in line for line in lines
    )

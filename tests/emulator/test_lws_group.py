"""What the LeaderWorkerSet stand-in reads off a LeaderWorkerSet (infra/emulator/lws_group.py): LWS v0.8.0's
defaults where a field is unset, and a revision that follows the template."""

from __future__ import annotations

import copy

from rendered_group import NS, UID, group

from infra.emulator import lws_controller as lws

WORKER = {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.25.0"}]}}


def test_unset_fields_take_lws_defaults_and_the_leader_runs_the_worker_template() -> None:
    g = lws.GroupSpec.of(
        {
            "metadata": {"name": "g", "namespace": NS, "uid": UID},
            "spec": {"leaderWorkerTemplate": {"workerTemplate": WORKER}},
        }
    )
    assert (g.replicas, g.size, g.startup_policy) == (1, 1, "LeaderCreated")
    assert g.restart_policy == lws.RECREATE_GROUP
    assert g.leader_template == g.worker_template == WORKER
    owner = g.owner()
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "LeaderWorkerSet",
        "g",
        UID,
        True,
    )


def test_restart_policy_default_means_none() -> None:
    template = {"workerTemplate": WORKER, "restartPolicy": "Default"}
    g = lws.GroupSpec.of(
        {"metadata": {"name": "g", "namespace": NS, "uid": UID}, "spec": {"leaderWorkerTemplate": template}}
    )
    assert g.restart_policy == "None"


def test_the_rendered_group_keeps_its_size_and_a_template_change_moves_the_revision() -> None:
    g = group()
    assert (g.name, g.namespace, g.size) == ("vllm-group", NS, 2)
    changed = copy.deepcopy(dict(g.worker_template))
    changed["spec"]["containers"][0]["image"] = "vllm/vllm-openai:v0.26.0"
    template = {"size": g.size, "leaderTemplate": g.leader_template, "workerTemplate": changed}
    assert lws.revision_hash(template) != g.revision
    assert group(replicas=3).revision == g.revision  # replicas are not part of the template

"""Two GPU nodes as one LeaderWorkerSet: schema-valid against LWS's own CRD, the plan's per-node commands,
the Service on the leader, a cache every node can mount, and a clear refusal of what could not run."""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from test_manifests import K8S_VERSION, WEIRD, adhoc, kubelet_expand, one, preset

from infra.errors import ConfigError
from infra.targets.kubernetes.cluster_check import StorageClass, check_storage_class
from infra.targets.kubernetes.manifests import (
    LWS_WORKER_INDEX_LABEL,
    group_name,
    render_manifests,
)

STACK = "k8s-pro-2x8xh100"
LWS_CRD = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "crds"
    / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
)
LEADER = "vllm-group-0.vllm-group.deepseek-v4-pro-2x8xh100"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD is 1.3 MB of YAML


def _strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it, but rejecting unknown fields instead of pruning them
    (a misspelt field would otherwise vanish without a word, and the pod would run without it)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        open_ended = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in out and not open_ended:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def lws_validator() -> jsonschema.Draft7Validator:
    crd = next(d for d in yaml.load_all(LWS_CRD.read_text(encoding="utf-8"), Loader=LOADER) if d)
    assert crd["spec"]["group"] == "leaderworkerset.x-k8s.io"
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(_strict(v1["schema"]["openAPIV3Schema"]))


def lws() -> tuple[Any, Any, dict[str, Any]]:
    spec, p, manifests = preset(STACK)
    return spec, p, one(manifests, "LeaderWorkerSet")


def container(obj: dict[str, Any], template: str) -> dict[str, Any]:
    c: dict[str, Any] = obj["spec"]["leaderWorkerTemplate"][template]["spec"]["containers"][0]
    return c


def argv(c: dict[str, Any], pod_env: dict[str, str]) -> list[str]:
    """What the engine is started with once the kubelet has expanded `$(VAR)` (LWS injects the env)."""
    return [kubelet_expand(w, pod_env) for w in (*c["command"], *c["args"])]


def test_the_leaderworkerset_validates_against_the_lws_crd_and_its_pods_against_kubernetes() -> None:
    _spec, _p, obj = lws()
    assert obj["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    lws_validator().validate(obj)
    for template in ("leaderTemplate", "workerTemplate"):
        # The same PodTemplateSpec, checked again by Kubernetes' own schema (strict: no unknown field).
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": template.lower(), "namespace": obj["metadata"]["namespace"]},
            "template": obj["spec"]["leaderWorkerTemplate"][template],
        }
        kubernetes_validate.validate(pod_template, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "leaderWorkerTemplate", "size"), "two"),
        (("spec", "leaderWorkerTemplate", "restartPolicy"), "Always"),
        (("spec", "leaderWorkerTemplate", "sizee"), 2),
        (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers"), [{"image": "x"}]),
    ],
)
def test_the_crd_check_is_not_vacuous(path: tuple[str, ...], value: object) -> None:
    _spec, _p, obj = lws()
    broken = copy.deepcopy(obj)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        lws_validator().validate(broken)


def test_two_nodes_render_one_group_of_two_pods_instead_of_a_deployment() -> None:
    _spec, p, manifests = preset(STACK)
    assert p.nodes == 2 and p.gpu == "H100-SXM" and p.gpu_count == 8
    assert not [m for m in manifests if m.kind == "Deployment"]
    obj = one(manifests, "LeaderWorkerSet")
    assert obj["metadata"]["name"] == group_name(p) != one(manifests, "Service")["metadata"]["name"]
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["leaderWorkerTemplate"]["size"] == p.nodes
    # A member that dies takes the engine down: the whole group is recreated, as the engine needs.
    assert obj["spec"]["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"


def test_leader_and_worker_run_the_plans_commands_with_the_leader_address_from_lws() -> None:
    _spec, p, obj = lws()
    leader_role, worker_role = p.roles
    env = {"LWS_LEADER_ADDRESS": LEADER, "LWS_GROUP_SIZE": "2"}
    assert argv(container(obj, "leaderTemplate"), {**env, "LWS_WORKER_INDEX": "0"}) == leader_role.argv(
        LEADER
    )
    assert argv(container(obj, "workerTemplate"), {**env, "LWS_WORKER_INDEX": "1"}) == worker_role.argv(
        LEADER
    )
    worker_args = container(obj, "workerTemplate")["args"]
    assert "--headless" in worker_args and "$(LWS_LEADER_ADDRESS)" in worker_args
    for template, role in (("leaderTemplate", leader_role), ("workerTemplate", worker_role)):
        values = {e["name"]: e.get("value") for e in container(obj, template)["env"]}
        assert {k: values[k] for k in role.env} == role.env
        assert values["HF_HUB_OFFLINE"] == "1" and values["HF_HOME"] == "/models"


def test_each_pod_takes_a_whole_gpu_node_and_mounts_the_shared_cache_read_only() -> None:
    _spec, _p, obj = lws()
    for template in ("leaderTemplate", "workerTemplate"):
        pod = obj["spec"]["leaderWorkerTemplate"][template]["spec"]
        c = pod["containers"][0]
        assert c["resources"]["limits"] == {"nvidia.com/gpu": 8}
        assert pod["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        (anti,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti["topologyKey"] == "kubernetes.io/hostname"
        labels = obj["spec"]["leaderWorkerTemplate"][template]["metadata"]["labels"]
        assert anti["labelSelector"]["matchLabels"].items() <= labels.items()
        volumes = {v["name"]: v for v in pod["volumes"]}
        # The claim is writable for the compile caches alone: the weights are mounted read-only.
        assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "model-cache"}
        assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Gi"}
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts["/models"]["readOnly"] is True and mounts["/dev/shm"]["name"] == "shm"
        assert mounts["/compile-cache"] == {
            "name": "model-cache",
            "mountPath": "/compile-cache",
            "subPath": ".v4infra/compile-cache",
        }
        assert pod["initContainers"][0]["name"] == "wait-for-weights"


def test_only_the_leader_serves_http_has_probes_and_reads_the_api_key() -> None:
    _spec, _p, obj = lws()
    leader, worker = container(obj, "leaderTemplate"), container(obj, "workerTemplate")
    assert leader["ports"] == [{"name": "http", "containerPort": 8000}]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= leader.keys()
    assert not {"ports", "startupProbe", "readinessProbe", "livenessProbe"} & worker.keys()
    assert any(e["name"] == "VLLM_API_KEY" and "valueFrom" in e for e in leader["env"])
    assert not any(e["name"] == "VLLM_API_KEY" for e in worker["env"])


def test_the_service_selects_the_leader_pod_and_not_the_worker() -> None:
    _spec, _p, manifests = preset(STACK)
    selector = one(manifests, "Service")["spec"]["selector"]
    tmpl = one(manifests, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    # LWS labels each pod with its worker index; the leader's is "0" (leaderworkerset_types.go).
    leader_pod = {**tmpl["leaderTemplate"]["metadata"]["labels"], LWS_WORKER_INDEX_LABEL: "0"}
    worker_pod = {**tmpl["workerTemplate"]["metadata"]["labels"], LWS_WORKER_INDEX_LABEL: "1"}
    assert selector.items() <= leader_pod.items()
    assert not selector.items() <= worker_pod.items()


def test_the_network_policy_lets_the_group_talk_to_itself_on_any_port() -> None:
    _spec, _p, manifests = preset(STACK)
    policy = one(manifests, "NetworkPolicy")["spec"]
    pod_labels = one(manifests, "LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    peer = [r for r in policy["ingress"] if "ports" not in r]
    assert len(peer) == 1
    assert (
        peer[0]["from"][0]["podSelector"]["matchLabels"].items() <= pod_labels["metadata"]["labels"].items()
    )
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels["metadata"]["labels"].items()


def test_the_cache_is_read_write_many_on_the_stacks_file_storage_class() -> None:
    _spec, _p, manifests = preset(STACK)
    pvc = one(manifests, "PersistentVolumeClaim")["spec"]
    assert (pvc["accessModes"], pvc["storageClassName"]) == (["ReadWriteMany"], "efs-sc")
    # accessMode unset: two nodes make it ReadWriteMany by themselves.
    spec, p = adhoc(model="pro", gpu="H100", gpuCount=8, nodes=2, storageClass="standard-rwx")
    assert one(render_manifests(spec, p), "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize(
    ("raw", "wrong"),
    [
        (
            {"storageClass": "efs-sc", "accessMode": "ReadWriteOnce"},
            "'deepseek-v4-infra:accessMode' is ReadWriteOnce",
        ),
        ({}, "without 'deepseek-v4-infra:storageClass' the cluster's default class is used"),
        ({"storageClass": "gp3"}, "StorageClass 'gp3' is block storage offering ReadWriteOnce only"),
        ({"storageClass": "standard-rwo"}, "StorageClass 'standard-rwo' is block storage"),
    ],
)
def test_a_cache_one_node_could_mount_is_refused_naming_classes_that_work(
    raw: dict[str, str], wrong: str
) -> None:
    spec, p = adhoc(model="pro", gpu="H100", gpuCount=8, nodes=2, **raw)
    with pytest.raises(ConfigError) as err:
        render_manifests(spec, p)
    message = str(err.value)
    assert "2 nodes read the weight cache at once" in message and wrong in message
    assert "efs-sc" in message and "standard-rwx" in message and "azurefile-csi" in message
    assert "\n" not in message


def test_more_than_two_nodes_are_refused_with_what_works() -> None:
    spec, p = adhoc(model="pro", gpu="H100", gpuCount=8, nodes=3, storageClass="efs-sc")
    with pytest.raises(ConfigError, match=r"3 nodes requested; the LeaderWorkerSet is rendered for 2 nodes"):
        render_manifests(spec, p)


def test_yaml_and_shell_metacharacters_in_role_args_and_env_arrive_exactly() -> None:
    spec, p = adhoc(model="pro", gpu="H100", gpuCount=8, nodes=2, storageClass="efs-sc")
    roles = tuple(
        replace(r, args=(*r.args, "--x", WEIRD, "multi\nline"), env={**r.env, "WEIRD": WEIRD})
        for r in p.roles
    )
    obj = one(render_manifests(spec, replace(p, roles=roles)), "LeaderWorkerSet")
    lws_validator().validate(obj)
    for template, role in (("leaderTemplate", roles[0]), ("workerTemplate", roles[1])):
        c = container(obj, template)
        pod_env = {"LWS_LEADER_ADDRESS": LEADER, "HOME": "/root"}
        assert argv(c, pod_env) == role.argv(LEADER)
        weird = next(e["value"] for e in c["env"] if e["name"] == "WEIRD")
        assert kubelet_expand(weird, pod_env) == WEIRD


def test_check_cluster_refuses_a_class_whose_provisioner_is_block_storage() -> None:
    spec, _p = adhoc(model="pro", gpu="H100", gpuCount=8, nodes=2, storageClass="efs-sc")
    efs = StorageClass("efs-sc", "efs.csi.aws.com", default=False)
    assert check_storage_class(spec, [efs]) == efs
    ebs = StorageClass("efs-sc", "ebs.csi.aws.com", default=False)
    with pytest.raises(ConfigError, match=r"'efs-sc' is provisioned by ebs.csi.aws.com, block storage"):
        check_storage_class(spec, [ebs])
    # One node mounts an EBS volume fine.
    single, _ = adhoc(model="pro", gpu="H200", gpuCount=8, storageClass="efs-sc")
    assert check_storage_class(single, [ebs]) == ebs

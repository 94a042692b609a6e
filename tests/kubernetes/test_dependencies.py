"""What each object of a Kubernetes stack waits for: declared by kind and name, checked against the render."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra import config
from infra.errors import ConfigError
from infra.planner import plan
from infra.targets.kubernetes import dependencies, gitops, manifests
from infra.targets.kubernetes.dependencies import declared, in_dependency_order, stack_object
from infra.targets.kubernetes.dependency_graph import ObjectRef
from infra.targets.kubernetes.manifests import Manifest, render_manifests

STACKS = ("k8s-flash-4xh200", "k8s-pro-8xh200", "k8s-pro-2x8xh100")
EKS = {
    "nodePool": "eks",
    "eksCluster": "ml-prod",
    "eksNodeRoleArn": "arn:aws:iam::123456789012:role/eks-gpu-nodes",
    "eksSubnetIds": ["subnet-0abc1234"],
}
GKE = {"nodePool": "gke", "gkeCluster": "ml-prod", "gkeLocation": "us-central1"}


def cloud_spec(**raw: Any) -> config.StackSpec:
    base = {"target": "kubernetes", "model": "pro", "gpu": "H200", "gpuCount": 8, "namespace": "dsv4"}
    return config.parse({**base, "permanent": True, **raw}, stack="deps-test", source="test")


def every_spec() -> Iterator[config.StackSpec]:
    yield from (config.load_stack(s) for s in STACKS)
    yield cloud_spec(**EKS)
    yield cloud_spec(**GKE)


def references(obj: Any) -> Iterator[tuple[ObjectRef, bool]]:
    """(object, optional) for everything a pod template mounts or reads by name, anywhere in `obj`."""
    if isinstance(obj, list):
        for item in obj:
            yield from references(item)
        return
    if not isinstance(obj, dict):
        return
    for key, value in obj.items():
        if key == "persistentVolumeClaim":
            yield ObjectRef("PersistentVolumeClaim", value["claimName"]), False
        elif key in ("configMap", "configMapKeyRef", "configMapRef"):
            yield ObjectRef("ConfigMap", value["name"]), bool(value.get("optional"))
        elif key in ("secretKeyRef", "secretRef"):
            yield ObjectRef("Secret", value["name"]), bool(value.get("optional"))
        elif key == "secret" and isinstance(value, dict) and "secretName" in value:
            yield ObjectRef("Secret", value["secretName"]), bool(value.get("optional"))
        elif key == "serviceAccountName":
            yield ObjectRef("ServiceAccount", value), False
        yield from references(value)


@pytest.mark.parametrize("spec", list(every_spec()), ids=lambda s: f"{s.stack}-{s.node_pool}")
def test_every_object_a_pod_reads_by_name_is_a_declared_dependency(spec: config.StackSpec) -> None:
    # A pod whose Secret, ConfigMap or claim does not exist yet sits in ContainerCreating: its object must
    # wait for them, and an optional reference is waited for only when present.
    p = plan(spec.plan_request(), spec.catalog)
    table = declared(spec, p)
    for m in render_manifests(spec, p):
        ref = stack_object(m).ref
        assert ref in table, f"{m.filename}: {ref} is not declared"
        waits = {d.on: d.required for d in table[ref]}
        for needed, optional in references(m.obj):
            assert needed in waits, f"{ref} reads {needed} but does not wait for it"
            assert waits[needed] is not optional, (
                f"{ref}: {needed} is {'optional' if optional else 'required'}"
            )


def ordered(stack: str) -> list[ObjectRef]:
    spec = config.load_stack(stack)
    p = plan(spec.plan_request(), spec.catalog)
    outside = {dependencies.secret("hf-token"), dependencies.secret("vllm-api-key")}
    return [stack_object(m).ref for m in in_dependency_order(spec, p, render_manifests(spec, p), outside)]


def test_the_download_precedes_the_engine_and_the_reapers_permissions_precede_the_reaper() -> None:
    order = ordered("k8s-flash-4xh200")
    at = {ref: i for i, ref in enumerate(order)}
    assert order[0] == ObjectRef("Namespace", "deepseek-v4-flash")
    assert at[ObjectRef("PersistentVolumeClaim", "model-cache")] < at[ObjectRef("Job", "model-download")]
    assert at[ObjectRef("ConfigMap", "weights-script")] < at[ObjectRef("Job", "model-download")]
    assert at[ObjectRef("Job", "model-download")] < at[ObjectRef("Deployment", "vllm")]
    for kind, name in (("ServiceAccount", "reaper"), ("Role", "reaper"), ("RoleBinding", "reaper")):
        assert at[ObjectRef(kind, name)] < at[ObjectRef("Job", "reaper")]
    assert at[ObjectRef("ConfigMap", "reaper-script")] < at[ObjectRef("Job", "reaper")]


def test_a_two_node_engine_waits_for_the_download_as_one_node_does() -> None:
    order = ordered("k8s-pro-2x8xh100")
    assert order.index(ObjectRef("Job", "model-download")) < order.index(
        ObjectRef("LeaderWorkerSet", "vllm-group")
    )


def test_the_engine_and_the_device_plugin_wait_for_the_cloud_pool_when_there_is_one() -> None:
    spec = cloud_spec(**EKS)
    p = plan(spec.plan_request(), spec.catalog)
    pool = dependencies.cloud_pool(spec)
    assert pool == ObjectRef("EKS NodeGroup", "dsv4-gpu")
    table = declared(spec, p)
    assert pool in {d.on for d in table[ObjectRef("Deployment", "vllm")]}
    assert pool in {d.on for d in table[ObjectRef("DaemonSet", "nvidia-device-plugin")]}
    assert dependencies.cloud_pool(config.load_stack("k8s-pro-8xh200")) is None  # Karpenter: no cloud pool


def renamed_job(found: list[Manifest]) -> list[Manifest]:
    out = []
    for m in found:
        if m.kind == "Job" and m.name == "model-download":
            obj = json.loads(json.dumps(m.obj))
            obj["metadata"]["name"] = "fetch-weights"
            m = dataclasses.replace(m, obj=obj)
        out.append(m)
    return out


def test_an_object_renamed_in_its_template_fails_the_render_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gitops, "render_manifests", lambda s, p: renamed_job(render_manifests(s, p)))
    spec = config.load_stack("k8s-flash-4xh200")
    with pytest.raises(ConfigError, match="Job fetch-weights declares nothing it waits for"):
        gitops.render_files(spec, plan(spec.plan_request(), spec.catalog))


def test_a_required_dependency_the_render_lost_fails_it_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slots = tuple(s for s in manifests.SLOTS if s[1] != "configmap-weights.yaml.j2")
    monkeypatch.setattr(manifests, "SLOTS", slots)
    spec = config.load_stack("k8s-flash-4xh200")
    with pytest.raises(ConfigError) as err:
        gitops.render_files(spec, plan(spec.plan_request(), spec.catalog))
    assert str(err.value) == (
        "stacks/Pulumi.k8s-flash-4xh200.yaml: Job model-download waits for ConfigMap weights-script, which "
        "the stack does not create (the dependencies are declared in infra/targets/kubernetes/dependencies.py)"
    )

"""GKE node pools and EKS managed node groups (`nodePool: gke|eks`).

The cloud resources are checked under Pulumi mocks only (their providers cannot run here); the Kubernetes
side (the engine's nodeSelector, the EKS device-plugin DaemonSet) is also judged by the real API server.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest_mocks import Recorder

from infra import config
from infra.emulator.local_cluster import LocalCluster
from infra.errors import ConfigError
from infra.planner import plan
from infra.targets.kubernetes.manifests import render_manifests
from infra.targets.kubernetes.node_pools import EKS_NODE_GROUP, GKE_NODE_POOL

GKE = {"nodePool": "gke", "gkeCluster": "ml-prod", "gkeLocation": "us-central1"}
EKS = {
    "nodePool": "eks",
    "eksCluster": "ml-prod",
    "eksNodeRoleArn": "arn:aws:iam::123456789012:role/eks-gpu-nodes",
    "eksSubnetIds": ["subnet-0abc1234", "subnet-0def5678"],
}


def spec_for(gpu: str, **raw: Any) -> config.StackSpec:
    # Pro needs the H200's memory; Flash fits 8x H100.
    base = {
        "target": "kubernetes",
        "model": "pro" if gpu == "H200" else "flash",
        "gpu": gpu,
        "gpuCount": 8,
        "namespace": "dsv4",
        "permanent": True,
    }
    return config.parse({**base, **raw}, stack="pool-test", source="test")


def deploy(spec: config.StackSpec) -> Any:
    from infra.targets.kubernetes.component import KubernetesDeployment, KubernetesDeploymentArgs

    p = plan(spec.plan_request(), spec.catalog)
    return KubernetesDeployment(spec.stack, KubernetesDeploymentArgs(spec=spec, plan=p))


def settled(comp: Any) -> pulumi.Output[list[Any]]:
    return pulumi.Output.all(*(r.urn for r in comp.resources.values()))


@pytest.mark.parametrize(
    ("gpu", "machine", "accelerator", "product"),
    [
        ("H200", "a3-ultragpu-8g", "nvidia-h200-141gb", "NVIDIA-H200"),
        ("H100", "a3-highgpu-8g", "nvidia-h100-80gb", "NVIDIA-H100-80GB-HBM3"),
    ],
)
@pulumi.runtime.test
def test_a_gke_stack_gets_a3_node_pool_with_driver_installation_and_the_engine_waits_for_it(
    recorder: Recorder, gpu: str, machine: str, accelerator: str, product: str
) -> pulumi.Output[Any]:
    comp = deploy(spec_for(gpu, **GKE))

    def check(_: list[Any]) -> None:
        (pool,) = [r for r in recorder.registered if r.typ == GKE_NODE_POOL]
        inputs = pool.object
        assert (inputs["cluster"], inputs["location"], inputs["name"]) == (
            "ml-prod",
            "us-central1",
            "dsv4-gpu",
        )
        node = inputs["nodeConfig"]
        assert node["machineType"] == machine
        assert node["guestAccelerators"] == [
            {"type": accelerator, "count": 8, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
        ]
        assert node["labels"] == {"nvidia.com/gpu.product": product}
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in node["taints"]
        engine = recorder.by_name("pool-test-deployment-engine")
        assert pool.urn in engine.dependencies, "the engine is applied once the node pool exists"
        selector = engine.object["spec"]["template"]["spec"]["nodeSelector"]
        assert selector == {"nvidia.com/gpu.product": product, "cloud.google.com/gke-nodepool": "dsv4-gpu"}
        # GKE runs its own device plugin: no DaemonSet of ours.
        assert not [r for r in recorder.registered if r.typ.endswith("DaemonSet")]

    return settled(comp).apply(check)


@pulumi.runtime.test
def test_an_eks_stack_gets_a_p5e_managed_node_group_and_nvidias_device_plugin_on_it(
    recorder: Recorder,
) -> pulumi.Output[Any]:
    comp = deploy(spec_for("H200", spot=True, **EKS))

    def check(_: list[Any]) -> None:
        (group,) = [r for r in recorder.registered if r.typ == EKS_NODE_GROUP]
        inputs = group.object
        assert inputs["instanceTypes"] == ["p5e.48xlarge", "p5en.48xlarge"]
        assert (inputs["amiType"], inputs["capacityType"]) == ("AL2023_x86_64_NVIDIA", "SPOT")
        assert inputs["subnetIds"] == EKS["eksSubnetIds"]
        assert inputs["nodeRoleArn"] == EKS["eksNodeRoleArn"]
        assert inputs["scalingConfig"] == {"desiredSize": 1, "minSize": 1, "maxSize": 1}
        assert inputs["labels"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
        (plugin,) = [r for r in recorder.registered if r.typ == "kubernetes:apps/v1:DaemonSet"]
        assert group.urn in plugin.dependencies
        pod = plugin.object["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"eks.amazonaws.com/nodegroup": "dsv4-gpu"}
        assert pod["containers"][0]["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:")
        engine = recorder.by_name("pool-test-deployment-engine")
        assert {group.urn, plugin.urn} <= set(engine.dependencies)

    return settled(comp).apply(check)


def test_an_h100_eks_group_is_p5() -> None:
    spec = spec_for("H100", **EKS)
    from infra.targets.kubernetes.node_pools import eks_node_group_inputs

    p = plan(spec.plan_request(), spec.catalog)
    assert eks_node_group_inputs(spec, p, spec.catalog.gpu(p.gpu))["instanceTypes"] == ["p5.48xlarge"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nodePool": "gke"}, "'deepseek-v4-infra:nodePool: gke' needs 'deepseek-v4-infra:gkeCluster'"),
        (
            {**EKS, "eksSubnetIds": []},
            "'deepseek-v4-infra:nodePool: eks' needs 'deepseek-v4-infra:eksSubnetIds'",
        ),
        ({**EKS, "eksSubnetIds": ["sn-1"]}, "entry 'sn-1' is not a subnet id"),
        ({**EKS, "eksNodeRoleArn": "eks-gpu-nodes"}, "an IAM role ARN"),
    ],
)
def test_a_cloud_pool_without_its_cluster_is_refused_naming_the_keys(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        spec_for("H200", **raw)
    assert message in str(err.value)


def test_an_ephemeral_stack_may_not_create_a_cloud_pool_the_reaper_cannot_remove() -> None:
    spec = config.parse(
        {"target": "kubernetes", "model": "pro", "gpu": "H200", "gpuCount": 8, "ttlMinutes": 120, **EKS},
        stack="s",
        source="test",
    )
    with pytest.raises(
        ConfigError, match="the time-to-live reaper cannot remove; set 'deepseek-v4-infra:permanent: true'"
    ):
        render_manifests(spec, plan(spec.plan_request(), spec.catalog))


def test_a_cloud_pool_for_fewer_than_eight_gpus_is_refused_before_rendering() -> None:
    spec = config.parse(
        {"target": "kubernetes", "model": "flash", "gpu": "H200", "gpuCount": 4, "permanent": True, **GKE},
        stack="s",
        source="test",
    )
    with pytest.raises(ConfigError, match="provisions 8-GPU machines; the plan uses 4x H200"):
        render_manifests(spec, plan(spec.plan_request(), spec.catalog))


@pytest.mark.kube
@pytest.mark.parametrize("pool", [GKE, EKS])
def test_the_cloud_pool_manifests_are_accepted_by_the_real_api_server(
    kube_cluster: LocalCluster, pool: dict[str, Any]
) -> None:
    spec = spec_for("H200", **pool, namespace=f"pool-{pool['nodePool']}")
    manifests = render_manifests(spec, plan(spec.plan_request(), spec.catalog))
    kube_cluster.kubectl("create", "namespace", spec.namespace)
    try:
        text = "---\n".join(m.text for m in manifests if m.kind != "Namespace")
        done = kube_cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=text)
        assert "serverside-applied (server dry run)" in done.stdout
        if pool is EKS:
            assert "daemonset.apps/nvidia-device-plugin" in done.stdout
    finally:
        kube_cluster.kubectl("delete", "namespace", spec.namespace, "--wait=false")

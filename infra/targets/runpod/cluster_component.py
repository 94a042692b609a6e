"""`RunPodClusterDeployment`: a multi-node plan on a RunPod Instant Cluster.

The weight cache is one network volume, pre-filled on a CPU pod like the single-pod stack; the cluster
is placed in the volume's data center (a cluster is always within one) and every member mounts it.
RunPod takes one start command for all members (CreateClusterRequest.args), so the script picks the
plan's role for its NODE_RANK at run time and reaches the leader at PRIMARY_ADDR. The time-to-live is
kept by a small CPU watchdog pod that deletes the cluster: a member cannot delete its own cluster.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

from infra.catalog import load_catalog
from infra.targets.runpod import naming
from infra.targets.runpod.component import (
    DEFAULT_DATA_CENTER,
    RunPodDeploymentArgs,
    ttl_watchdog,
    weight_prefill,
)
from infra.targets.runpod.props import ClusterInputs, VolumeInputs
from infra.targets.runpod.resources import Cluster, GeneratedSecret, NetworkVolume, SshKey
from infra.targets.runpod.start_script import (
    cluster_start_script,
    json_start_command,
)


class RunPodClusterDeployment(pulumi.ComponentResource):
    """A cluster stack; its attributes named like `ClusterStackOutputs`' fields are the stack's exports."""

    pod_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    volume_id: pulumi.Output[str]
    vllm_api_key: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str]

    def __init__(
        self, name: str, args: RunPodDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deepseek-v4-infra:runpod:ClusterDeployment", name, None, opts)
        spec, plan = args.spec, args.plan
        child = pulumi.ResourceOptions(parent=self)
        ttl = spec.ttl_minutes * 60 if spec.ttl_minutes else None
        gpu = load_catalog().gpu(spec.gpu).runpod_id
        data_centers = list(spec.data_centers) or [DEFAULT_DATA_CENTER]
        # A name per stack and plan: a changed plan gets a new cluster name, so orphans are never confused.
        run_id = hashlib.sha256(repr((spec.stack, plan.engine.to_dict(), plan.nodes)).encode()).hexdigest()[
            :6
        ]
        names = naming.for_stack(spec.stack)
        cluster_name = names.name("cluster", run_id)
        # The leader's engine log, relative to the cache's logs/ folder (templates/runpod/start-cluster.sh.j2).
        self.pod_name = f"{cluster_name}/node-0"

        self.ssh_key = SshKey(f"{name}-ssh-key", spec.stack, child)
        self.api_key_secret = GeneratedSecret(f"{name}-vllm-api-key", child)
        size = spec.cache_size_gb or plan.cost.cache_gb
        self.volume = NetworkVolume(
            f"{name}-weight-cache",
            VolumeInputs(
                connection=args.connection,
                name=names.name("cache", "v1"),
                size_gb=size,
                # The cache's data center is the cluster's: chosen by stock of every node's GPUs at creation.
                data_center_ids=data_centers,
                placement_gpu_type_ids=[gpu],
                placement_gpu_count=plan.gpu_count * plan.nodes,
                placement_product="CLUSTER",
                volume_type=spec.volume_type,
            ),
            pulumi.ResourceOptions(parent=self, retain_on_delete=spec.keep_cache),
        )
        self.prefill = weight_prefill(
            name, args, names.name("prefill", run_id), self.volume, self.ssh_key, child
        )
        self.cluster = Cluster(
            f"{name}-cluster",
            ClusterInputs(
                connection=args.connection,
                name=cluster_name,
                image=plan.engine.image,
                gpu_type_ids=[gpu],
                gpu_count=plan.gpu_count,
                pod_count=plan.nodes,
                data_center_ids=[self.volume.data_center_id],
                volume_id=self.volume.volume_id,
                args=json_start_command(
                    cluster_start_script(plan, stack=spec.stack, cluster_name=cluster_name)
                ),
                ports=["8000/http", "22/tcp"],
                container_disk_gb=50,
                ttl_seconds=ttl,
                permanent=spec.permanent,
                env={"PUBLIC_KEY": self.ssh_key.public_key, "VLLM_API_KEY": self.api_key_secret.value},
                weights_commit=self.prefill.commit,
                image_cuda=plan.engine.cuda,
                image_min_driver=plan.engine.min_driver,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.prefill]),
        )
        if ttl:
            self.watchdog = ttl_watchdog(
                name,
                args,
                names.name("watchdog", run_id),
                self.volume,
                {"V4INFRA_TARGET_CLUSTER": self.cluster.cluster_id},
                ttl,
                child,
            )
        self.pod_id = self.cluster.leader_pod_id
        self.endpoint = self.cluster.endpoint
        self.volume_id = self.volume.volume_id
        self.vllm_api_key = pulumi.Output.secret(self.api_key_secret.value)
        self.weights_skipped = self.prefill.skipped
        self.weights_bytes_downloaded = self.prefill.bytes_downloaded
        self.read_rates = self.prefill.read_rates
        self.prefill_pod_id = self.prefill.prefill_pod_id
        self.ssh_host = self.cluster.ssh_host
        self.ssh_port = self.cluster.ssh_port
        self.ssh_private_key = pulumi.Output.secret(self.ssh_key.private_key)
        self.cluster_id = self.cluster.cluster_id
        self.member_pod_ids = self.cluster.member_pod_ids
        self.member_ssh = self.cluster.member_ssh
        self.usd_per_hour = self.cluster.usd_per_hour
        outputs: dict[str, Any] = {
            "pod_id": self.pod_id,
            "cluster_id": self.cluster.cluster_id,
            "member_pod_ids": self.cluster.member_pod_ids,
            "endpoint": self.endpoint,
            "volume_id": self.volume_id,
            "ssh_host": self.cluster.ssh_host,
            "ssh_port": self.cluster.ssh_port,
            "usd_per_hour": self.cluster.usd_per_hour,
        }
        self.register_outputs(outputs)

"""Instant Clusters on the emulated account: `pod_count` identical GPU pods in one data center.

All or nothing: a cluster whose members cannot all be placed leaves nothing billed. Members learn
their rank and their peers' addresses from the environment RunPod gives Instant Cluster pods.
"""

from __future__ import annotations

import dataclasses

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.errors import Invalid, NotFound
from infra.emulator.resources import Cluster, Pod, PodRequest, member_ip, new_id


def create_cluster(
    account: Account,
    name: str,
    cluster_type: str,
    gpu_type_id: str,
    gpu_count_per_pod: int,
    pod_count: int,
    template: PodRequest,
    data_center_ids: list[str],
) -> Cluster:
    """`pod_count` identical GPU pods in ONE data center, rank 0 the primary; all or nothing."""
    with account.lock:
        gpu = catalog.GPU_TYPES.get(gpu_type_id)
        if gpu is None:
            raise Invalid(f"Invalid GPU type id: {gpu_type_id!r}")
        if gpu_count_per_pod > gpu.max_gpu_count:
            raise Invalid(f"gpuCountPerPod must be at most {gpu.max_gpu_count} for {gpu_type_id}")
        for dc in data_center_ids:
            if dc not in catalog.DATA_CENTERS:
                raise Invalid(f"Invalid data center id: {dc}")
        account.check_create_faults(gpu_type_id)
        needed = gpu_count_per_pod * pod_count
        volume_dc = None
        if template.network_volume_id is not None:
            volume = account.volumes.get(template.network_volume_id)
            if volume is None:
                raise Invalid(f"Network volume {template.network_volume_id} not found")
            volume_dc = volume.data_center_id
        candidates = [volume_dc] if volume_dc else (data_center_ids or list(catalog.DATA_CENTERS))
        if volume_dc and data_center_ids and volume_dc not in data_center_ids:
            raise Invalid(f"Network volume {template.network_volume_id} is in data center {volume_dc}")
        chosen = account.place(gpu_type_id, needed, candidates)
        cluster_id = new_id(14)
        cluster = Cluster(
            id=cluster_id,
            name=name,
            cluster_type=cluster_type,
            gpu_type_id=gpu_type_id,
            gpu_count_per_pod=gpu_count_per_pod,
            pod_count=pod_count,
            data_center_id=chosen,
            created_at=account.clock.now(),
            pod_ids=[],
            vxlan_id=1000 + len(account.clusters),
        )
        account.clusters[cluster_id] = cluster
        try:
            for rank in range(pod_count):
                member = dataclasses.replace(
                    template, name=f"{name}-node-{rank}", gpu_type_id=gpu_type_id,
                    gpu_count=gpu_count_per_pod, data_center_ids=[chosen], data_center_id=None,
                    env=dict(template.env),
                )  # fmt: skip
                pod = account.new_pod(member, cluster=(cluster_id, rank))
                cluster.pod_ids.append(pod.id)
        except Exception:
            # All or nothing: a cluster that could not place every member leaves nothing billed.
            del account.clusters[cluster_id]
            for pod_id in cluster.pod_ids:
                account.terminate_pod(pod_id)
            raise
        return cluster


def cluster(account: Account, cluster_id: str) -> Cluster:
    with account.lock:
        found = account.clusters.get(cluster_id)
        if found is None:
            raise NotFound("cluster", cluster_id)
        return found


def cluster_pods(account: Account, cluster_id: str) -> list[Pod]:
    with account.lock:
        found = cluster(account, cluster_id)
        return [account.pods[pod_id] for pod_id in found.pod_ids if pod_id in account.pods]


def rename_cluster(account: Account, cluster_id: str, name: str) -> Cluster:
    with account.lock:
        found = cluster(account, cluster_id)
        found.name = name
        return found


def delete_cluster(account: Account, cluster_id: str) -> None:
    with account.lock:
        found = cluster(account, cluster_id)
        members = [pod_id for pod_id in found.pod_ids if pod_id in account.pods]
        del account.clusters[cluster_id]
    for pod_id in members:
        account.terminate_pod(pod_id)


def member_env(account: Account, cluster: Cluster, pod: Pod) -> dict[str, str]:
    """What a member pod learns about its cluster (RunPod Instant Clusters' env); lock held."""
    primary = account.pods.get(cluster.pod_ids[0]) if cluster.pod_ids else None
    rank = pod.cluster_rank or 0
    return {
        "NODE_RANK": str(rank),
        "NUM_NODES": str(cluster.pod_count),
        "NODE_ADDR": member_ip(cluster, rank),
        "PRIMARY_ADDR": member_ip(cluster, 0),
        "MASTER_ADDR": member_ip(cluster, 0),
        "WORLD_SIZE": str(cluster.pod_count * cluster.gpu_count_per_pod),
        "RUNPOD_CLUSTER_ID": cluster.id,
        "RUNPOD_PRIMARY_POD_ID": primary.id if primary is not None else "",
    }

"""Which storage classes can hold a weight cache that pods on several nodes read at once (pure).

A multi-node stack mounts one PVC on every node, so the claim must be ReadWriteMany: the download Job
writes it, the leader and the workers read it. Block storage (EBS, Persistent Disk, Azure Disk) attaches
to one node at a time and offers ReadWriteOnce only; file storage (EFS, Filestore, Azure Files, NFS)
offers ReadWriteMany. The render cannot see the cluster, so it judges the class by its name against the
classes the clouds install or document under these names; `--check-cluster` also reads the provisioner.
"""

from __future__ import annotations

from infra.config import PROJECT, StackSpec
from infra.errors import ConfigError

# Class names the clouds' docs give to file storage, with the provisioner behind each (recorded 2026-11-30):
# EKS: efs-sc is the name in the EFS CSI driver's examples (github.com/kubernetes-sigs/aws-efs-csi-driver);
# GKE: standard-rwx, premium-rwx, enterprise-rwx are installed with the Filestore CSI driver
# (cloud.google.com/filestore/docs/csi-driver); AKS: azurefile* (learn.microsoft.com/azure/aks/concepts-storage);
# nfs-csi and nfs-client: csi-driver-nfs and nfs-subdir-external-provisioner's chart defaults.
RWX_CLASSES: dict[str, str] = {
    "efs-sc": "efs.csi.aws.com",
    "standard-rwx": "filestore.csi.storage.gke.io",
    "premium-rwx": "filestore.csi.storage.gke.io",
    "enterprise-rwx": "filestore.csi.storage.gke.io",
    "azurefile": "file.csi.azure.com",
    "azurefile-csi": "file.csi.azure.com",
    "azurefile-premium": "file.csi.azure.com",
    "azurefile-csi-premium": "file.csi.azure.com",
    "nfs-csi": "nfs.csi.k8s.io",
    "nfs-client": "cluster.local/nfs-subdir-external-provisioner",
}
# Block-storage classes the same clouds install (EKS gp2/gp3, GKE standard/standard-rwo/premium-rwo,
# AKS default/managed*): ReadWriteOnce only, one node at a time.
RWO_ONLY_CLASSES = frozenset(
    {
        "gp2",
        "gp3",
        "standard",
        "standard-rwo",
        "premium-rwo",
        "default",
        "managed",
        "managed-csi",
        "managed-csi-premium",
        "managed-premium",
    }
)
# Block-storage provisioners (CSI and in-tree names): a class behind one of these attaches to one node,
# whatever it is called. `--check-cluster` and `up` read the class's provisioner and refuse these. The
# in-tree hostPath provisioner makes a directory on one node, which no other node sees (its plugin offers
# ReadWriteOnce only: kubernetes v1.37.2 pkg/volume/hostpath/host_path.go, GetAccessModes).
RWO_PROVISIONERS = frozenset(
    {
        "ebs.csi.aws.com",
        "kubernetes.io/aws-ebs",
        "pd.csi.storage.gke.io",
        "kubernetes.io/gce-pd",
        "disk.csi.azure.com",
        "kubernetes.io/azure-disk",
        "kubernetes.io/host-path",
    }
)
# A class for volumes made in advance (kubernetes.io/docs/concepts/storage/storage-classes, "Local"):
# it provisions nothing, so a claim binds only to an existing PersistentVolume of the class.
STATIC_PROVISIONER = "kubernetes.io/no-provisioner"


def rwx_hint() -> str:
    """What would work, in one line."""
    return (
        "a ReadWriteMany class backed by file storage: efs-sc (EKS, EFS CSI driver), standard-rwx / "
        "premium-rwx / enterprise-rwx (GKE Filestore), azurefile-csi (AKS Azure Files), or an NFS-backed "
        "class such as nfs-csi"
    )


def check_multi_node_cache(spec: StackSpec, nodes: int) -> None:
    """Refuse a weight cache that pods on `nodes` nodes could not all mount, naming what would work."""
    if nodes < 2:
        return
    where = f"{spec.source}: {nodes} nodes read the weight cache at once"
    if spec.access_mode == "ReadWriteOnce":
        raise ConfigError(
            f"{where}, but '{PROJECT}:accessMode' is ReadWriteOnce (one node only). Use ReadWriteMany "
            f"(or leave it unset) with {rwx_hint()}."
        )
    if not spec.storage_class:
        raise ConfigError(
            f"{where}; without '{PROJECT}:storageClass' the cluster's default class is used, and defaults "
            f"are block storage (ReadWriteOnce) on EKS, GKE and AKS. Set it to {rwx_hint()}."
        )
    if spec.storage_class in RWO_ONLY_CLASSES:
        raise ConfigError(
            f"{where}, but StorageClass '{spec.storage_class}' is block storage offering ReadWriteOnce "
            f"only. Set '{PROJECT}:storageClass' to {rwx_hint()}."
        )


def check_class_provisioner(spec: StackSpec, nodes: int, name: str, provisioner: str) -> None:
    """Refuse a cluster's class whose provisioner is block storage when several nodes mount the cache."""
    if nodes > 1 and provisioner in RWO_PROVISIONERS:
        # hostPath is one node's directory, not block storage, but it is as unshared.
        what = "one node's directory" if provisioner == "kubernetes.io/host-path" else "block storage"
        raise ConfigError(
            f"{spec.source}: {nodes} nodes read the weight cache at once, but the cluster's StorageClass "
            f"'{name}' is provisioned by {provisioner}, {what} offering ReadWriteOnce only. Set "
            f"'{PROJECT}:storageClass' to {rwx_hint()}."
        )

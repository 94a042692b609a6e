"""RunPod's values as REST v2 shows them: settings, requests, pods, volumes, the catalog, clusters.

The client (client.py), the cluster code and the providers all import these from here, and the modules
that hold them import nothing back: `settings` (where RunPod is and the key), `offers` (the v2 catalog),
`pod_types` (pod requests, pods, volumes, log lines) and `cluster_types` (Instant Clusters). Requests
write their own v2 bodies (`body()`); answers are read by each value's `from_v2`.
"""

from __future__ import annotations

from infra.targets.runpod.cluster_types import (
    CLUSTER_TYPES,
    MAX_PODS,
    MIN_PODS,
    Cluster,
    ClusterMember,
    ClusterRequest,
)
from infra.targets.runpod.offers import CpuFlavor, DataCenter, GpuOffer
from infra.targets.runpod.pod_types import (
    DEFAULT_CPU_FLAVOR,
    DEFAULT_VCPUS,
    STATUSES,
    VOLUME_TYPES,
    LogLine,
    Pod,
    PodRequest,
    Volume,
)
from infra.targets.runpod.settings import (
    API_VERSION,
    DEFAULT_API_BASE_URL,
    DEFAULT_PROXY_URL_TEMPLATE,
    KEY_HINT,
    RunPodSettings,
    Wired,
)

__all__ = [
    "API_VERSION",
    "CLUSTER_TYPES",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_CPU_FLAVOR",
    "DEFAULT_PROXY_URL_TEMPLATE",
    "DEFAULT_VCPUS",
    "KEY_HINT",
    "MAX_PODS",
    "MIN_PODS",
    "STATUSES",
    "VOLUME_TYPES",
    "Cluster",
    "ClusterMember",
    "ClusterRequest",
    "CpuFlavor",
    "DataCenter",
    "GpuOffer",
    "LogLine",
    "Pod",
    "PodRequest",
    "RunPodSettings",
    "Volume",
    "Wired",
]

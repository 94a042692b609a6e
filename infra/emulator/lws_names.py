"""The names LeaderWorkerSet (sigs.k8s.io/lws v0.8.0) gives: its API, labels, annotations and environment
variables, and the names of a group's pods. The [tags] cite LWS's sources as listed in lws_controller.py."""

from __future__ import annotations

import hashlib

API_VERSION = "leaderworkerset.x-k8s.io/v1"
KIND = "LeaderWorkerSet"
PATH = "/apis/leaderworkerset.x-k8s.io/v1"
CRD_NAME = "leaderworkersets.leaderworkerset.x-k8s.io"
# [api] label and annotation keys.
NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
GROUP_KEY_LABEL = "leaderworkerset.sigs.k8s.io/group-key"
REVISION_LABEL = "leaderworkerset.sigs.k8s.io/template-revision-hash"
SIZE_ANNOTATION = "leaderworkerset.sigs.k8s.io/size"
LEADER_NAME_ANNOTATION = "leaderworkerset.sigs.k8s.io/leader-name"
# [api] the environment every container of a group gets.
LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"
GROUP_SIZE_ENV = "LWS_GROUP_SIZE"
WORKER_INDEX_ENV = "LWS_WORKER_INDEX"
RECREATE_GROUP = "RecreateGroupOnPodRestart"
# The labels a StatefulSet controller puts on its pods (kubernetes.io/docs, StatefulSet "Pod Name Label").
STS_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
STS_POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
FIELD_MANAGER = "lws-stand-in"


def group_key(namespace: str, leader_name: str) -> str:
    """[hook] genGroupUniqueKey: the SHA-1 of `<namespace>/<leader pod name>`, shared by the group."""
    return hashlib.sha1(f"{namespace}/{leader_name}".encode()).hexdigest()


def leader_name(lws: str, group: int) -> str:
    """[lws] the leader StatefulSet is named after the LeaderWorkerSet: its pods are `<lws>-<group>`."""
    return f"{lws}-{group}"


def worker_name(leader: str, worker: int) -> str:
    """[pod] each leader's worker StatefulSet is named after it, ordinals from 1: `<leader>-<worker>`."""
    return f"{leader}-{worker}"

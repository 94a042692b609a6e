"""The rendered two-node LeaderWorkerSet (stack k8s-pro-2x8xh100) as the LWS stand-in's input, and its pods as
the API server returns them once kwok (or a kubelet) runs them: shared by the tests of infra/emulator/lws_*.py."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

import kubernetes_validate

from infra import config
from infra.emulator import lws_controller as lws
from infra.planner import plan
from infra.targets.kubernetes.manifests import render_manifests

STACK = "k8s-pro-2x8xh100"
NS = "deepseek-v4-pro-2x8xh100"
UID = "11111111-2222-3333-4444-555555555555"
K8S_VERSION = kubernetes_validate.latest_version()


def rendered_lws(stack: str = STACK) -> dict[str, Any]:
    """The one LeaderWorkerSet the stack renders."""
    spec = config.load_stack(stack)
    manifests = render_manifests(spec, plan(spec.plan_request(), spec.catalog))
    (found,) = [m.obj for m in manifests if m.kind == "LeaderWorkerSet"]
    return found


def group(**spec: Any) -> lws.GroupSpec:
    obj = copy.deepcopy(rendered_lws())
    obj["metadata"]["uid"] = UID
    obj["spec"].update(spec)
    return lws.GroupSpec.of(obj)


def env(pod: dict[str, Any], container: str = "vllm") -> dict[str, str]:
    c = next(c for c in pod["spec"]["containers"] if c["name"] == container)
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def running(pod: Mapping[str, Any], restarts: int = 0, phase: str = "Running") -> dict[str, Any]:
    """The pod as the API server returns it once kwok (or a kubelet) runs it."""
    out = copy.deepcopy(dict(pod))
    out["metadata"]["uid"] = hashlib.sha1(pod["metadata"]["name"].encode()).hexdigest()
    out["status"] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}],
        "containerStatuses": [{"name": "vllm", "restartCount": restarts}],
    }
    return out

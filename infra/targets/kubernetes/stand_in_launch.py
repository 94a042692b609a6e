"""In a rehearsal, the engine as the API server holds it, for the stand-in that serves in its place.

kwok runs no containers, so the rehearsal's `local_engines` (infra.targets.base.StandIns) starts a local
stand-in from the Deployment's own command, args and env, or from the group leader's pod (with the LWS_*
environment its controller gave it), on the GPUs the node's labels name.
"""

from __future__ import annotations

import time

from infra.errors import ProviderError
from infra.targets.base import EngineLaunch
from infra.targets.kubernetes.engine_nodes import unplaced
from infra.targets.kubernetes.engine_pods import ENGINE_CONTAINER, kubelet_expand
from infra.targets.kubernetes.engine_view import EngineView
from infra.targets.kubernetes.node_gpus import GPU_PRODUCT_LABEL
from infra.targets.kubernetes.pod_logs import scheduling_event


def stand_in_launch(target: EngineView, api_key: str) -> EngineLaunch:
    """The Deployment's template, or the group leader's own pod, as an `EngineLaunch`."""
    kubectl, namespace = target.kubectl, target.namespace
    pod = target.engine_pod()
    if target.group_name is not None:
        # `up` does not await a LeaderWorkerSet: its controller makes the leader shortly after.
        deadline = time.monotonic() + target.schedule_wait_seconds
        while (pod is None or pod.node is None) and time.monotonic() < deadline:
            time.sleep(2.0)
            pod = target.engine_pod()
        if pod is None or pod.node is None:
            raise ProviderError(
                scheduling_event(target) or unplaced(target.engine_group()), provider="kubernetes"
            )
        spec = kubectl.json("get", "pod", pod.name, "-n", namespace)["spec"]
    else:
        deployment = kubectl.json("get", "deployment", target.deployment_name, "-n", namespace)
        spec = deployment["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == ENGINE_CONTAINER)
    product = "NVIDIA-" + target.context.plan.gpu
    if pod is not None and pod.node:
        node = kubectl.json("get", "node", pod.node)
        product = node["metadata"]["labels"].get(GPU_PRODUCT_LABEL, product)
    env: dict[str, str] = {}
    for e in container.get("env") or []:
        if "value" in e:  # the kubelet expands a value with the variables defined before it
            env[e["name"]] = kubelet_expand(str(e["value"]), env)
    words = (*container.get("command", [])[1:], *container.get("args", []))
    return EngineLaunch(
        argv=tuple(kubelet_expand(str(w), env) for w in words),
        env=env,
        image=container["image"],
        gpu_type=product.replace("-", " "),
        gpu_count=pod.gpus if pod is not None else target.context.plan.gpu_count,
        port=int(container["ports"][0]["containerPort"]),
        api_key=api_key,
    )

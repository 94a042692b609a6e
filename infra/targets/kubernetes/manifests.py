"""A plan as Kubernetes manifests: one object per template, rendered in a fixed order (pure, deterministic).

The Pulumi component applies exactly these objects and `v4infra render` writes exactly these texts, so a
GitOps repository and a `pulumi up` never drift apart. Secrets appear only as references by name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from infra import probe_session
from infra.catalog import Gpu
from infra.compile_cache import ROOT as COMPILE_CACHE_ROOT
from infra.compile_cache import plan_env
from infra.config import StackSpec
from infra.errors import ConfigError
from infra.plan import Plan, RoleCommand
from infra.planner import require_deployable
from infra.render import kubelet_escape, render
from infra.targets.kubernetes.node_pools import POOL_NODE_LABEL, check_cloud_pool, pool_name
from infra.targets.kubernetes.shared_storage import check_multi_node_cache
from infra.validate.accuracy import DATASET_REPO
from infra.weights import marker_path

PART_OF = "deepseek-v4-infra"
APP_NAME = "deepseek-v4"
MANAGED_BY = "v4infra"
CACHE_MOUNT = "/models"
# What the download Job's read-rate records name as their data center (their tier is the storage class).
PVC_DATA_CENTER = "kubernetes"
# The compile and JIT caches: the same PVC's `.v4infra/compile-cache` mounted writable (the weights stay
# read-only), keyed by engine version, GPU and flags digest below it (infra/compile_cache.py).
COMPILE_CACHE_MOUNT = "/compile-cache"
CACHE_PVC = "model-cache"
HF_TOKEN_SECRET = "hf-token"
HF_TOKEN_KEY = "HF_TOKEN"
API_KEY_SECRET = "vllm-api-key"
API_KEY_KEY = "VLLM_API_KEY"
SERVICE_PORT = 8000
# The download pod: plain Python, the same huggingface_hub pin as pyproject.toml, run by infra/weights.py.
DOWNLOAD_IMAGE = "python:3.11.13-slim-bookworm"
HF_HUB_VERSION = "2.4.0"
DOWNLOAD_WORKERS = 4
REAPER_IMAGE = DOWNLOAD_IMAGE
SHM_GI_PER_GPU = 16
STARTUP_PERIOD_S = 10
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# (file name, template, when): the number keeps file order stable when optional objects come and go.
Slot = tuple[str, str, str]
SLOTS: tuple[Slot, ...] = (
    ("00-namespace.yaml", "namespace-stack.yaml.j2", "always"),
    ("05-nodepool-gpu.yaml", "nodepool-gpu.yaml.j2", "karpenter"),
    ("06-daemonset-nvidia-device-plugin.yaml", "daemonset-nvidia-device-plugin.yaml.j2", "eks"),
    ("10-pvc-model-cache.yaml", "persistentvolumeclaim-model-cache.yaml.j2", "always"),
    ("20-configmap-weights.yaml", "configmap-weights.yaml.j2", "always"),
    ("30-job-model-download.yaml", "job-model-download.yaml.j2", "always"),
    ("40-deployment-engine.yaml", "deployment-engine.yaml.j2", "single-node"),
    ("40-leaderworkerset-engine.yaml", "leaderworkerset-engine.yaml.j2", "multi-node"),
    ("50-service-engine.yaml", "service-engine.yaml.j2", "always"),
    ("60-networkpolicy-engine.yaml", "networkpolicy-engine.yaml.j2", "always"),
    ("70-serviceaccount-reaper.yaml", "serviceaccount-reaper.yaml.j2", "ephemeral"),
    ("71-role-reaper.yaml", "role-reaper.yaml.j2", "ephemeral"),
    ("72-rolebinding-reaper.yaml", "rolebinding-reaper.yaml.j2", "ephemeral"),
    ("73-configmap-reaper.yaml", "configmap-reaper.yaml.j2", "ephemeral"),
    ("74-job-reaper.yaml", "job-reaper.yaml.j2", "ephemeral"),
)


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object: its file name, the parsed object and the exact text."""

    filename: str
    obj: dict[str, Any]
    text: str

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def render_manifests(spec: StackSpec, plan: Plan) -> list[Manifest]:
    """Every object of the stack in apply order; raises ConfigError/PlanError for what cannot be deployed."""
    check_renderable(spec, plan)
    gpu = spec.catalog.gpu(plan.gpu)
    context = _context(spec, plan, gpu)
    wanted = {
        "always",
        "ephemeral" if spec.ttl_minutes is not None else "permanent",
        "multi-node" if plan.nodes > 1 else "single-node",
        spec.node_pool,
    }
    out = []
    for filename, template, when in SLOTS:
        if when not in wanted:
            continue
        text = render("kubernetes", template, **context).rstrip("\n") + "\n"
        obj = yaml.safe_load(text)
        if not isinstance(obj, dict) or "kind" not in obj:
            raise AssertionError(f"{template} did not render one Kubernetes object")
        out.append(Manifest(filename, obj, text))
    return out


def check_renderable(spec: StackSpec, plan: Plan) -> None:
    """Refuse what the Kubernetes target cannot deploy, with the reason, before anything is rendered."""
    if spec.target != "kubernetes":
        raise ConfigError(
            f"{spec.source}: stack '{spec.stack}' targets {spec.target}; Kubernetes manifests are rendered "
            "only for stacks with 'deepseek-v4-infra:target: kubernetes'"
        )
    require_deployable(plan, accept_tight=spec.accept_tight, where=spec.source)
    check_cloud_pool(spec, plan, spec.catalog.gpu(plan.gpu))
    if plan.nodes > 2:
        # One worker template serves every worker; ranks past 1 would need per-pod arithmetic on
        # LWS_WORKER_INDEX that the plan's per-node commands do not express.
        raise ConfigError(
            f"{spec.source}: {plan.nodes} nodes requested; the LeaderWorkerSet is rendered for 2 nodes "
            "(one leader, one worker). Use 'deepseek-v4-infra:nodes: 2'."
        )
    if plan.nodes > 1 and len(plan.roles) != plan.nodes:
        raise ConfigError(f"{spec.source}: the plan has no per-node commands for {plan.nodes} nodes")
    check_multi_node_cache(spec, plan.nodes)
    if not LABEL_VALUE.match(spec.stack) or len(spec.stack) > 63:
        raise ConfigError(
            f"stack name '{spec.stack}' cannot be a Kubernetes label value (at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit)"
        )


def cache_size_gi(spec: StackSpec, plan: Plan) -> int:
    """The PVC size: the stack's cacheSizeGb or the plan's (in GB), never below the checkpoint's known need."""
    gb = spec.cache_size_gb if spec.cache_size_gb is not None else plan.cost.cache_gb
    floor = spec.catalog.checkpoint(plan.checkpoint).cache_pvc_gi
    return max(math.ceil(gb * 1e9 / 2**30), floor)


def cache_access_mode(spec: StackSpec, plan: Plan) -> str:
    """RWX when pods on several nodes read the cache at once, else RWO (cheaper, and offered everywhere)."""
    if spec.access_mode:
        return spec.access_mode
    return "ReadWriteMany" if plan.nodes > 1 else "ReadWriteOnce"


def node_pool_instance_types(spec: StackSpec, plan: Plan, gpu: Gpu) -> list[str]:
    """AWS instance types with exactly the plan's GPUs per node, from the catalog."""
    types = [t for t in (gpu.aws_instance_8x, gpu.aws_instance_8x_alt) if t] if plan.gpu_count == 8 else []
    if not types:
        raise ConfigError(
            f"{spec.source}: the catalog has no AWS instance type with {plan.gpu_count}x {gpu.key} for a "
            f"Karpenter NodePool (it lists 8-GPU instances only). Use 8 GPUs, or "
            f"'deepseek-v4-infra:nodePool: existing' with nodes you provide."
        )
    return types


def download_deadline_minutes(spec: StackSpec, plan: Plan) -> int:
    """Twice the slow end of the checkpoint's known download time: past it, the download is hung."""
    return spec.catalog.checkpoint(plan.checkpoint).download_minutes[1] * 2


def labels(spec: StackSpec, component: str) -> dict[str, str]:
    """The Kubernetes recommended labels; `instance` is the stack."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": spec.stack,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(spec: StackSpec, component: str) -> dict[str, str]:
    keep = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    return {k: v for k, v in labels(spec, component).items() if k in keep}


def service_name(plan: Plan) -> str:
    return plan.engine.name


def endpoint(spec: StackSpec, plan: Plan) -> str:
    """The in-cluster OpenAI-compatible base URL."""
    return f"http://{service_name(plan)}.{spec.namespace}.svc.cluster.local:{SERVICE_PORT}/v1"


def pvc_probe_args(spec: StackSpec, plan: Plan) -> list[str]:
    """The read-rate probe's arguments for the claim's checkpoint files, keyed as a Kubernetes measurement:
    `kubernetes` for the data center and the storage class for the tier."""
    repo_dir = f"{CACHE_MOUNT}/hub/models--{plan.model.replace('/', '--')}"
    tier = spec.storage_class or "default"
    return probe_session.volume_args(repo_dir, PVC_DATA_CENTER, tier, "pvc")


def _script(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _pool(spec: StackSpec, plan: Plan, gpu: Gpu) -> dict[str, Any]:
    """Node-pool facts; the GKE node pool and EKS node group themselves are cloud resources (node_pools.py)."""
    pool: dict[str, Any] = {"kind": spec.node_pool, "name": pool_name(spec)}
    if spec.node_pool in POOL_NODE_LABEL:
        pool["node_label"] = POOL_NODE_LABEL[spec.node_pool]
    hosts = plan.start.hosts if plan.start is not None else None
    if spec.node_pool == "existing" and hosts is not None and hosts.node_label and hosts.min_driver:
        # GPU feature discovery labels the nodes you provide; a cloud pool's new nodes carry no label yet.
        pool["driver_floor"] = {"label": hosts.node_label, "min_driver": hosts.min_driver}
    if spec.node_pool == "karpenter":
        pool["instance_types"] = node_pool_instance_types(spec, plan, gpu)
        pool["node_class"] = spec.karpenter_node_class
        pool["capacity_type"] = "spot" if spec.spot else "on-demand"
        pool["gpu_limit"] = plan.gpu_count * plan.nodes
    return pool


def _compile_cache_env(plan: Plan) -> dict[str, str]:
    return plan_env(plan, mount=COMPILE_CACHE_MOUNT, root="")


def _engine(spec: StackSpec, plan: Plan) -> dict[str, Any]:
    env = {**plan.engine.env, **_compile_cache_env(plan), "HF_HOME": CACHE_MOUNT, "HF_HUB_OFFLINE": "1"}
    args = list(plan.engine.args)
    # vLLM reads VLLM_API_KEY; other engines take the key as an argument (the kubelet expands $(VAR)).
    api_key_arg = [] if plan.engine.name == "vllm" else ["--api-key", f"$({API_KEY_KEY})"]
    return {
        "name": plan.engine.name,
        "image": plan.engine.image,
        "command": list(plan.engine.command),
        "args": args,
        "api_key_args": api_key_arg,
        "env": sorted(env.items()),
        "port": plan.engine.port,
    }


# LeaderWorkerSet (sigs.k8s.io/lws v0.8.0, api/leaderworkerset/v1/leaderworkerset_types.go): the controller
# sets LWS_LEADER_ADDRESS in every container of the group and labels each pod with its worker index (the
# leader is 0); its vLLM example passes `$(LWS_LEADER_ADDRESS)` in args (docs/examples/vllm/GPU/lws.yaml).
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
# Survives kubelet_escape untouched, so the one `$(...)` the kubelet must expand is put in afterwards.
_ADDRESS_MARK = "V4INFRA-LEADER-ADDRESS"


def group_name(plan: Plan) -> str:
    """The LeaderWorkerSet's name; LWS also names its headless Service so, hence not the engine's name."""
    return f"{plan.engine.name}-group"


def _role(plan: Plan, role: RoleCommand) -> dict[str, Any]:
    """One pod template's container: the plan's argv for that node, the leader address from LWS."""
    words = [
        kubelet_escape(w).replace(_ADDRESS_MARK, f"$({LWS_LEADER_ADDRESS_ENV})")
        for w in role.argv(_ADDRESS_MARK)
    ]
    env = {**role.env, **_compile_cache_env(plan), "HF_HOME": CACHE_MOUNT, "HF_HUB_OFFLINE": "1"}
    serves = role.serves_http
    return {
        "role": role.role,
        "node_rank": role.node_rank,
        "command": words[: len(role.command)],
        "args": words[len(role.command) :],
        "api_key_args": ["--api-key", f"$({API_KEY_KEY})"] if serves and plan.engine.name != "vllm" else [],
        "env": sorted(env.items()),
        "serves_http": serves,
    }


def _group(spec: StackSpec, plan: Plan) -> dict[str, Any]:
    if plan.nodes < 2:
        return {}
    return {
        "name": group_name(plan),
        "size": plan.nodes,
        "leader": _role(plan, plan.roles[0]),
        "worker": _role(plan, plan.roles[1]),
    }


def service_selector(spec: StackSpec, plan: Plan) -> dict[str, str]:
    """The engine pods; of a LeaderWorkerSet only the leader, the one pod that serves HTTP."""
    if plan.nodes > 1:
        return {**selector(spec, "server"), LWS_WORKER_INDEX_LABEL: "0"}
    return selector(spec, "server")


PERMANENT_ANNOTATION = "deepseek-v4-infra/permanent"
# NVIDIA's device plugin for EKS GPU nodes: nvcr.io image of the release whose static manifest the
# template follows (github.com/NVIDIA/k8s-device-plugin, v0.17.1, March 2025; checked 2026-11-30).
DEVICE_PLUGIN_VERSION = "v0.17.1"
DEVICE_PLUGIN_IMAGE = f"nvcr.io/nvidia/k8s-device-plugin:{DEVICE_PLUGIN_VERSION}"


def _context(spec: StackSpec, plan: Plan, gpu: Gpu) -> dict[str, Any]:
    ckpt = spec.catalog.checkpoint(plan.checkpoint)
    return {
        "stack": spec.stack,
        "namespace": spec.namespace,
        "labels": {c: labels(spec, c) for c in ("server", "weight-cache", "gpu-pool", "reaper", "namespace")},
        "selector": selector(spec, "server"),
        "service_selector": service_selector(spec, plan),
        "group": _group(spec, plan),
        "model": plan.model,
        "plan": {"gpu": plan.gpu, "gpu_count": plan.gpu_count, "nodes": plan.nodes, "verdict": plan.verdict},
        "engine": _engine(spec, plan),
        "gpu": {"count": plan.gpu_count, "product_label": gpu.k8s_product_label},
        "cache": {
            "name": CACHE_PVC,
            "size_gi": cache_size_gi(spec, plan),
            "access_mode": cache_access_mode(spec, plan),
            "storage_class": spec.storage_class,
            "keep": spec.keep_cache,
            "mount": CACHE_MOUNT,
            "marker": str(marker_path(CACHE_MOUNT, plan.model)),
            "compile_mount": COMPILE_CACHE_MOUNT if _compile_cache_env(plan) else None,
            "compile_sub_path": COMPILE_CACHE_ROOT,
        },
        "download": {
            "image": DOWNLOAD_IMAGE,
            "hf_hub_version": HF_HUB_VERSION,
            "revision": "main",
            "dataset": DATASET_REPO,
            "max_workers": DOWNLOAD_WORKERS,
            "deadline_s": download_deadline_minutes(spec, plan) * 60,
            "minutes": list(ckpt.download_minutes),
            "probe_args": pvc_probe_args(spec, plan),
        },
        "weights_script": _script("infra", "weights.py"),
        "probe_script": _script("infra", "read_rate_probe.py"),
        "secrets": {
            "hf_token": HF_TOKEN_SECRET,
            "hf_token_key": HF_TOKEN_KEY,
            "api_key": API_KEY_SECRET,
            "api_key_key": API_KEY_KEY,
        },
        "server": {
            "service": service_name(plan),
            "service_port": SERVICE_PORT,
            "shm_gi": SHM_GI_PER_GPU * plan.gpu_count,
            "startup_period_s": STARTUP_PERIOD_S,
            "startup_failures": math.ceil(plan.load_minutes * 60 / STARTUP_PERIOD_S),
            "load_minutes": plan.load_minutes,
        },
        "allowed_namespaces": sorted(set(spec.allowed_namespaces) - {spec.namespace}),
        # Marks the GPU objects of a permanent stack, so the policy pack lets them run without a reaper.
        "gpu_annotations": {PERMANENT_ANNOTATION: "true"} if spec.permanent else {},
        "pool": _pool(spec, plan, gpu),
        "device_plugin": {
            "image": DEVICE_PLUGIN_IMAGE,
            "version": DEVICE_PLUGIN_VERSION,
            "selector": {**selector(spec, "gpu-pool"), "app.kubernetes.io/name": "nvidia-device-plugin"},
        },
        "reaper": {
            "image": REAPER_IMAGE,
            "ttl_s": (spec.ttl_minutes or 0) * 60,
            "ttl_minutes": spec.ttl_minutes,
            "script": _script("infra.targets.kubernetes", "reaper.py"),
        },
    }

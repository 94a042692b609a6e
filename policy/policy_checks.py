"""The pack's checks as plain functions: a resource's type and inputs in, violation messages out.

Inputs are the engine's view: RunPod resources are `pulumi.dynamic` resources (snake_case inputs),
Kubernetes objects are pulumi_kubernetes resources (camelCase inputs, as in the manifests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from infra.catalog import Catalog, Checkpoint, Engine, load_catalog

DYNAMIC = "pulumi-python:dynamic:Resource"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# A two-node engine (infra/templates/kubernetes/leaderworkerset-engine.yaml.j2): an untyped custom resource.
LEADER_WORKER_SET = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
JOB = "kubernetes:batch/v1:Job"
K8S_SECRET = "kubernetes:core/v1:Secret"
GPU_RESOURCE = "nvidia.com/gpu"
COMPONENT_LABEL = "app.kubernetes.io/component"
# Marks a Kubernetes GPU object of a `permanent: true` stack, which has no reaper by design.
PERMANENT_ANNOTATION = "deepseek-v4-infra/permanent"
# The engine's marker for a secret value inside a property struct (sdk/go/common/resource/properties.go).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# A value computed from another resource's output, unknown during preview: `up` checks it once known.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Inputs that carry credentials (RunPod resources), and environment variables that do.
SECRET_INPUTS = frozenset({"api_key", "hf_token", "private_key", "runpod_api_key"})
SECRET_ENV = frozenset({"VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "RUNPOD_API_KEY"})
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])")

Props = Mapping[str, Any]
Path = tuple[str | int, ...]


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _count(value: Any) -> int:
    """A Kubernetes quantity of whole GPUs ("4" or 4); 0 when absent or not a count."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def is_gpu_pod(resource_type: str, props: Props) -> bool:
    """The RunPod GPU pod: the dynamic resource that rents GPUs (the CPU pre-fill has no gpu_type_ids)."""
    return resource_type == DYNAMIC and bool(props.get("gpu_type_ids")) and _positive(props.get("gpu_count"))


def _get(props: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(props, Mapping):
            return None
        props = props.get(key)
    return props


def gpu_containers(resource_type: str, props: Props) -> list[Props]:
    """The containers of a Deployment or a LeaderWorkerSet (leader and workers) that request or limit GPUs."""
    if resource_type == DEPLOYMENT:
        containers = _get(props, "spec", "template", "spec", "containers") or []
    elif resource_type == LEADER_WORKER_SET:
        group = _get(props, "spec", "leaderWorkerTemplate") or {}
        containers = [
            *(_get(group, "leaderTemplate", "spec", "containers") or []),
            *(_get(group, "workerTemplate", "spec", "containers") or []),
        ]
    else:
        return []
    return [
        c
        for c in containers
        if any(_count(_get(c, "resources", kind, GPU_RESOURCE)) > 0 for kind in ("limits", "requests"))
    ]


def _permanent(props: Props) -> bool:
    return str(_get(props, "metadata", "annotations", PERMANENT_ANNOTATION)).lower() == "true"


def pod_ttl_violations(resource_type: str, props: Props) -> list[str]:
    """A GPU pod needs a time-to-live unless its stack is permanent (input `permanent: true`)."""
    if not is_gpu_pod(resource_type, props):
        return []
    ttl = props.get("ttl_seconds")
    if _positive(ttl) or props.get("permanent") is True:
        return []
    return [
        f"GPU pod '{props.get('name')}' has no time-to-live (ttl_seconds: {ttl!r}) and is not marked "
        "permanent: set deepseek-v4-infra:ttlMinutes, or deepseek-v4-infra:permanent: true for a "
        "long-lived deployment"
    ]


def kubernetes_ttl_violations(resources: Iterable[tuple[str, Props]]) -> list[str]:
    """GPU Deployments and Karpenter NodePools need the stack's reaper Job unless marked permanent."""
    resources = list(resources)
    reaped = {
        _get(props, "metadata", "namespace")
        for kind, props in resources
        if kind == JOB and _get(props, "metadata", "labels", COMPONENT_LABEL) == "reaper"
    }
    out: list[str] = []
    for kind, props in resources:
        name = _get(props, "metadata", "name")
        if _permanent(props):
            continue
        if kind == NODEPOOL:
            expire = _get(props, "spec", "template", "spec", "expireAfter")
            if not reaped and expire in (None, "", "Never"):
                out.append(
                    f"Karpenter NodePool '{name}' has no time-to-live: no reaper Job in the stack and no "
                    "spec.template.spec.expireAfter; set deepseek-v4-infra:ttlMinutes, or mark the stack "
                    "permanent"
                )
        elif gpu_containers(kind, props) and _get(props, "metadata", "namespace") not in reaped:
            what = "LeaderWorkerSet" if kind == LEADER_WORKER_SET else "Deployment"
            out.append(
                f"GPU {what} '{name}' has no time-to-live: no reaper Job in namespace "
                f"'{_get(props, 'metadata', 'namespace')}'; set deepseek-v4-infra:ttlMinutes, or mark the "
                "stack permanent"
            )
    return out


def _engine_of(image: str, catalog: Catalog) -> tuple[Engine | None, str | None]:
    """The catalog engine an image belongs to, and its tag (None for a digest or no tag)."""
    repository, tag = image.split("@", 1)[0], None
    if ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    repository = repository.removeprefix("docker.io/")
    engine = next((e for e in catalog.engines.values() if e.image == repository), None)
    return engine, None if "@" in image else tag


def image_version(engine: Engine, tag: str | None) -> tuple[int, ...] | None:
    """The engine version a tag ships: the catalog's tag table, else a version number in the tag."""
    if tag is None:
        return None
    known = {t.tag: t.version for t in engine.tags}
    match = _VERSION.match(known.get(tag, tag))
    return tuple(int(p or 0) for p in match.groups()) if match else None


def _checkpoint(declared: str | None, command: str, catalog: Catalog) -> Checkpoint | None:
    """The declared checkpoint, else the catalog repo id the start command serves (longest match)."""
    if declared:
        return catalog.checkpoint(declared)
    found = [c for c in catalog.checkpoints.values() if c.repo_id in command]
    return max(found, key=lambda c: len(c.repo_id)) if found else None


def _start_command_text(args: object) -> str:
    """A RunPod pod's start command as text: the JSON form's entrypoint and cmd, or the plain arguments."""
    text = str(args or "")
    try:
        start = json.loads(text)
    except ValueError:
        return text
    if isinstance(start, dict):
        return " ".join(str(part) for part in [*(start.get("entrypoint") or []), *(start.get("cmd") or [])])
    return text


def _servers(resource_type: str, props: Props) -> Iterator[tuple[str, str, str | None, str]]:
    """(image, start command text, declared checkpoint, what) for each GPU server in the resource."""
    if is_gpu_pod(resource_type, props):
        command = _start_command_text(props.get("args"))
        declared = props.get("base_architecture") or props.get("model")
        yield str(props.get("image")), command, declared, f"GPU pod '{props.get('name')}'"
    for c in gpu_containers(resource_type, props):
        command = " ".join(str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])])
        yield str(c.get("image")), command, None, f"container '{c.get('name')}'"


def engine_image_violations(resource_type: str, props: Props, catalog: Catalog | None = None) -> list[str]:
    """The image of every GPU server must ship an engine version the served checkpoint supports."""
    catalog = catalog or load_catalog()
    out: list[str] = []
    for image, command, declared, what in _servers(resource_type, props):
        engine, tag = _engine_of(image, catalog)
        if engine is None:
            known = ", ".join(e.image for e in catalog.engines.values())
            out.append(
                f"{what}: image '{image}' is not a catalog engine image ({known}); its version cannot be checked"
            )
            continue
        ckpt = _checkpoint(declared, command, catalog)
        if ckpt is None:
            out.append(
                f"{what}: cannot tell which catalog checkpoint it serves, so its minimum {engine.key} is unknown"
            )
            continue
        minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
        version = image_version(engine, tag)
        if version is None:
            out.append(
                f"{what}: image '{image}' names no {engine.key} version, so it cannot be shown to meet "
                f"{ckpt.repo_id}'s minimum {minimum}; use a versioned tag such as {engine.image}:v{minimum}"
            )
        elif version < tuple(int(p) for p in minimum.split(".")):
            out.append(
                f"{what}: image '{image}' ships {engine.key} {'.'.join(map(str, version))}, but "
                f"{ckpt.repo_id} needs {engine.key} >= {minimum}"
            )
    return out


def _leaves(raw: Any, path: Path = (), secret: bool = False) -> Iterator[tuple[Path, Any, bool]]:
    """Every (path, value, is-secret) in an engine property struct, secrets unwrapped."""
    if isinstance(raw, Mapping) and raw.get(SIG_KEY) == SECRET_SIG:
        yield from _leaves(raw.get("value"), path, True)
        return
    yield path, raw, secret
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            yield from _leaves(value, (*path, key), secret)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            yield from _leaves(value, (*path, i), secret)


def _env_name(raw: Any, path: Path) -> str | None:
    """The name of the Kubernetes env entry that `path` (`...env[i].value`) belongs to."""
    node = raw
    for key in path[:-1]:
        node = node[key]
        if isinstance(node, Mapping) and node.get(SIG_KEY) == SECRET_SIG:
            node = node.get("value")
    return node.get("name") if isinstance(node, Mapping) else None


def _sensitive(resource_type: str, raw: Props, path: Path) -> bool:
    if resource_type == K8S_SECRET:
        return len(path) == 1 and path[0] in ("data", "stringData")
    if len(path) == 1:
        return path[0] in SECRET_INPUTS
    if len(path) == 2 and path[0] == "env":
        return path[1] in SECRET_ENV
    # Kubernetes containers: env: [{name: HF_TOKEN, value: ...}] (valueFrom a Secret is the safe form).
    return path[-1] == "value" and len(path) >= 3 and path[-3] == "env" and _env_name(raw, path) in SECRET_ENV


def plain_secret_violations(resource_type: str, raw: Props) -> list[str]:
    """Credential inputs must reach the engine as secrets; `raw` is the engine's struct, secrets marked."""
    return [
        f"input '{'.'.join(map(str, path))}' holds a credential as a plain value: pass it as a Pulumi "
        "secret (config set --secret, pulumi.Output.secret) so it never lands in state or logs in clear"
        for path, value, secret in _leaves(raw)
        if path
        and value not in (None, "", {}, UNKNOWN)
        and not secret
        and _sensitive(resource_type, raw, path)
    ]

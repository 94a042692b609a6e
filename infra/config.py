"""Stack configuration: one schema, validated before anything else runs.

`SCHEMA` is the single source of the project's config keys: `Pulumi.yaml`'s `config:` block is
generated from it (`v4infra schema` prints it; a test keeps them equal), the CLI validates
`stacks/Pulumi.<stack>.yaml` with it, and the Pulumi program validates its live config with it.
Every mistake becomes one `ConfigError` naming the key, the stack file and what would be right.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.catalog import Catalog, load_catalog
from infra.errors import CatalogError, ConfigError
from infra.planner import PlanRequest

PROJECT = "deepseek-v4-infra"
# Every pattern is applied with `fullmatch`: `$` in `match` also matches before a trailing newline.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
IMAGE_REF = re.compile(
    r"[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@sha256:[a-f0-9]{64})?"
)
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
# Pulumi's own rule (sdk/go/common/tokens: letters, digits, '-', '_', '.', at most 100), starting with a
# letter or digit so every stack name has a resource-name slug.
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# A Kubernetes label value (the stack is the `app.kubernetes.io/instance` label).
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
GCP_LOCATION = re.compile(r"[a-z]+-[a-z]+[0-9]+(-[a-z])?")
EKS_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
RUNPOD_DATA_CENTERS = (
    "EU-RO-1",
    "EU-SE-1",
    "EU-CZ-1",
    "EUR-IS-1",
    "EUR-NO-1",
    "EU-NL-1",
    "EU-FR-1",
    "US-IL-1",
    "US-TX-3",
    "US-KS-2",
    "US-GA-2",
    "US-WA-1",
    "US-CA-2",
    "US-NC-1",
    "CA-MTL-1",
    "AP-JP-1",
    "OC-AU-1",
)


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, allowed values and meaning."""

    name: str
    type: str  # "string", "integer", "boolean", "number", "array"
    description: str
    default: Any = None
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""
    items: str = "string"


SCHEMA: tuple[Key, ...] = (
    Key("model", "string", "Checkpoint: flash, pro, flash-0731, pro-0813, or a Hugging Face repo id."),
    Key(
        "weightsGb",
        "number",
        "Weights size in GB, for a custom checkpoint not in the catalog.",
        minimum=1,
        maximum=100_000,
    ),
    Key(
        "baseArchitecture",
        "string",
        "Catalog checkpoint whose architecture a custom checkpoint has.",
        choices=("flash", "pro", "flash-0731", "pro-0813"),
    ),
    Key("gpu", "string", "GPU type: H100-SXM, H100-PCIe, H100-NVL, H200, H200-NVL, A100-80GB."),
    Key(
        "gpuFallbacks",
        "array",
        "RunPod: more GPU types to try, in order, when the first has no capacity.",
        default=[],
    ),
    Key("gpuCount", "integer", "GPUs per node.", minimum=1, maximum=16),
    Key(
        "nodes",
        "integer",
        "Nodes; on RunPod more than one is an Instant Cluster (one pod of up to 8 GPUs per node).",
        default=1,
        minimum=1,
        maximum=8,
    ),
    Key("target", "string", "Where to deploy.", default="runpod", choices=("runpod", "kubernetes")),
    Key("engine", "string", "Serving engine.", default="vllm", choices=("vllm", "sglang")),
    Key(
        "image",
        "string",
        "Engine image override (repository:tag).",
        pattern=IMAGE_REF,
        pattern_hint="an image reference such as vllm/vllm-openai:v0.20.0",
    ),
    Key(
        "maxModelLen",
        "integer",
        "Context length to serve; default: the largest that fits.",
        minimum=1024,
        maximum=1_048_576,
    ),
    Key(
        "maxNumSeqs",
        "integer",
        "Concurrent sequences; default: the engine's or the recipe's.",
        minimum=1,
        maximum=1024,
    ),
    Key(
        "speculative",
        "string",
        "Speculative decoding (opt-in).",
        default="none",
        choices=("none", "mtp", "dspark"),
    ),
    Key("acceptTight", "boolean", "Deploy a plan that fits only with reduced settings.", default=False),
    Key(
        "gpuPriceUsd",
        "number",
        "$/GPU-hour to use instead of the catalog's price.",
        minimum=0.01,
        maximum=100,
    ),
    Key("spot", "boolean", "Price (and rent) interruptible capacity.", default=False),
    Key("dataCenters", "array", "RunPod data centers to try, in order; empty: any.", default=[]),
    Key(
        "ttlMinutes",
        "integer",
        "Minutes after which the deployment removes itself.",
        default=120,
        minimum=10,
        maximum=10080,
    ),
    Key("permanent", "boolean", "A long-lived deployment: no time-to-live.", default=False),
    Key("keepCache", "boolean", "Keep the weight cache when the deployment is destroyed.", default=True),
    Key("cacheSizeGb", "integer", "Weight cache size; default: weights plus 15%.", minimum=10, maximum=10000),
    Key(
        "volumeType",
        "string",
        "RunPod weight-cache tier: auto (HIGH_PERFORMANCE where the data center offers it), or a fixed tier.",
        default="auto",
        choices=("auto", "STANDARD", "HIGH_PERFORMANCE"),
    ),
    Key(
        "canaryMaxAgeDays",
        "number",
        "RunPod: up and validate run `v4infra canary` first unless it passed on this account, API and "
        "project version within this many days (0: every time).",
        default=7,
        minimum=0,
        maximum=365,
    ),
    Key(
        "startCommand",
        "string",
        "RunPod GPU pod start: json (our start script via RunPod's JSON start command) or plain "
        "(stock vLLM image, plain `vllm serve` arguments; no SSH preflight, TTL by a CPU watchdog pod).",
        default="json",
        choices=("json", "plain"),
    ),
    Key("hfToken", "string", "Hugging Face token (secret).", secret=True),
    Key("runpodApiKey", "string", "RunPod API key (secret); default: $RUNPOD_API_KEY.", secret=True),
    Key(
        "namespace",
        "string",
        "Kubernetes namespace.",
        default="deepseek-v4",
        pattern=DNS_LABEL,
        pattern_hint="a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters",
    ),
    Key(
        "storageClass",
        "string",
        "Kubernetes storage class of the weight cache.",
        pattern=DNS_SUBDOMAIN,
        pattern_hint="a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'",
    ),
    Key(
        "accessMode",
        "string",
        "Weight cache access mode; default: RWX when several pods read it.",
        choices=("ReadWriteOnce", "ReadWriteMany"),
    ),
    Key(
        "nodePool",
        "string",
        "Kubernetes GPU nodes: a Karpenter NodePool, a GKE node pool, an EKS managed node group, or existing nodes.",
        default="existing",
        choices=("karpenter", "existing", "gke", "eks"),
    ),
    Key(
        "karpenterNodeClass",
        "string",
        "Karpenter EC2NodeClass name.",
        default="default",
        pattern=DNS_SUBDOMAIN,
        pattern_hint="a DNS-1123 subdomain",
    ),
    Key(
        "gkeCluster",
        "string",
        "GKE cluster that gets the GPU node pool (nodePool: gke).",
        pattern=DNS_LABEL,
        pattern_hint="a GKE cluster name: lowercase letters, digits and '-'",
    ),
    Key(
        "gkeLocation",
        "string",
        "The GKE cluster's region or zone, e.g. us-central1 (nodePool: gke).",
        pattern=GCP_LOCATION,
        pattern_hint="a region such as us-central1 or a zone such as us-central1-a",
    ),
    Key(
        "eksCluster",
        "string",
        "EKS cluster that gets the GPU managed node group (nodePool: eks).",
        pattern=EKS_NAME,
        pattern_hint="an EKS cluster name: letters, digits, '-' and '_', starting with a letter or digit",
    ),
    Key(
        "eksNodeRoleArn",
        "string",
        "IAM role of the EKS GPU nodes (nodePool: eks).",
        pattern=IAM_ROLE_ARN,
        pattern_hint="an IAM role ARN such as arn:aws:iam::123456789012:role/eks-gpu-nodes",
    ),
    Key("eksSubnetIds", "array", "Subnets of the EKS GPU node group (nodePool: eks).", default=[]),
    Key("allowedNamespaces", "array", "Namespaces whose pods may call the endpoint.", default=[]),
    Key(
        "loadConcurrency",
        "integer",
        "Concurrent streams in the validation load test.",
        default=8,
        minimum=1,
        maximum=256,
    ),
    Key(
        "loadRequests",
        "integer",
        "Requests in the validation load test.",
        default=32,
        minimum=1,
        maximum=4096,
    ),
    # The load the stack expects to serve: the plan's throughput and cost per token are estimated for it.
    Key(
        "expectedConcurrency",
        "integer",
        "Concurrent requests the endpoint is expected to serve (throughput and cost estimate).",
        default=8,
        minimum=1,
        maximum=4096,
    ),
    Key(
        "expectedInputTokens",
        "integer",
        "Prompt tokens per request in the expected load (throughput and cost estimate).",
        default=8192,
        minimum=1,
        maximum=1_048_576,
    ),
    Key(
        "expectedOutputTokens",
        "integer",
        "Output tokens per request in the expected load (throughput and cost estimate).",
        default=1024,
        minimum=1,
        maximum=1_048_576,
    ),
)
KEYS = {k.name: k for k in SCHEMA}
REQUIRED = ("model", "gpu", "gpuCount")


@dataclass(frozen=True)
class StackSpec:
    """A validated stack: everything the planner and the targets need."""

    stack: str
    source: str
    model: str
    gpu: str
    gpu_count: int
    nodes: int
    target: str
    engine: str
    gpu_fallbacks: tuple[str, ...]
    image: str | None
    max_model_len: int | None
    max_num_seqs: int | None
    speculative: str
    accept_tight: bool
    gpu_price_usd: float | None
    spot: bool
    data_centers: tuple[str, ...]
    ttl_minutes: int | None
    keep_cache: bool
    cache_size_gb: int | None
    volume_type: str
    start_command: str
    canary_max_age_days: float
    namespace: str
    storage_class: str | None
    access_mode: str | None
    node_pool: str
    karpenter_node_class: str
    allowed_namespaces: tuple[str, ...]
    load_concurrency: int
    load_requests: int
    expected_concurrency: int = 8
    expected_input_tokens: int = 8192
    expected_output_tokens: int = 1024
    secrets_set: frozenset[str] = field(default_factory=frozenset)
    gke_cluster: str | None = None
    gke_location: str | None = None
    eks_cluster: str | None = None
    eks_node_role_arn: str | None = None
    eks_subnet_ids: tuple[str, ...] = ()
    catalog: Catalog = field(default_factory=load_catalog, repr=False, compare=False)

    @property
    def permanent(self) -> bool:
        return self.ttl_minutes is None

    def plan_request(self, gpu: str | None = None) -> PlanRequest:
        return PlanRequest(
            model=self.model,
            gpu=gpu or self.gpu,
            gpus_per_node=self.gpu_count,
            nodes=self.nodes,
            target=self.target,
            engine=self.engine,
            max_model_len=self.max_model_len,
            max_num_seqs=self.max_num_seqs,
            speculative=self.speculative,
            image=self.image,
            spot=self.spot,
            concurrency=self.expected_concurrency,
            input_tokens=self.expected_input_tokens,
            output_tokens=self.expected_output_tokens,
        )


def pulumi_yaml_config() -> dict[str, Any]:
    """The `config:` block of Pulumi.yaml, generated from SCHEMA."""
    block: dict[str, Any] = {}
    for key in SCHEMA:
        entry: dict[str, Any] = {"type": "integer" if key.type == "integer" else key.type}
        if key.type == "number":
            entry["type"] = "string"  # Pulumi.yaml has no number type; parsed and checked here
        if key.type == "array":
            entry["items"] = {"type": key.items}
        entry["description"] = key.description
        if key.default is not None:
            # A number is declared as a string (see above), so its default must be one too.
            entry["default"] = str(key.default) if key.type == "number" else key.default
        elif key.name not in REQUIRED:
            # Pulumi treats a declared key without a default as required; "" / 0 stand for "not set".
            entry["default"] = 0 if key.type == "integer" else ""
        if key.secret:
            # Not `secret: true`: Pulumi would then demand an encrypted default. parse() enforces it instead.
            entry["description"] += " Set it with `pulumi config set --secret`."
        block[key.name] = entry
    return block


def parse(
    raw: Mapping[str, Any],
    *,
    stack: str,
    source: str,
    secret_keys: frozenset[str] = frozenset(),
    catalog: Catalog | None = None,
    placeholders: bool = False,
) -> StackSpec:
    """Validate raw config (keys with or without the project prefix) into a `StackSpec`.

    With `placeholders` (config from the Pulumi engine), "" and 0 mean "not set": Pulumi.yaml declares
    them as defaults of optional keys. A stack file or the command line gives real values only, so a
    0 there is checked like any other value (`maxNumSeqs: 0` is refused, not silently ignored).
    """
    check_stack_name(stack, source)
    cat = catalog or load_catalog()
    values: dict[str, Any] = {}
    for full_key, value in raw.items():
        namespace, _, name = full_key.rpartition(":")
        if namespace and namespace != PROJECT:
            continue  # other providers' config (kubernetes:context, ...) is theirs to check
        if name in KEYS and placeholders and _unset(KEYS[name], value):
            continue
        if name not in KEYS:
            close = difflib.get_close_matches(name, list(KEYS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else f" Known keys: {', '.join(KEYS)}."
            raise ConfigError(f"{source}: unknown config key {shown(PROJECT + ':' + name)}.{hint}")
        plain_secret = KEYS[name].secret and not isinstance(value, dict) and full_key not in secret_keys
        if plain_secret:
            raise ConfigError(
                f"{source}: '{PROJECT}:{name}' is stored in plain text; set it with "
                f"`pulumi config set --secret {PROJECT}:{name} VALUE` (or use the environment variable)"
            )
        values[name] = _coerce(KEYS[name], value, source)
    for name in REQUIRED:
        if name not in values:
            raise ConfigError(f"{source}: missing required key '{PROJECT}:{name}' ({KEYS[name].description})")
    get: Callable[[str], Any] = lambda n: values.get(n, KEYS[n].default)  # noqa: E731

    model = str(get("model"))
    if get("weightsGb") is not None or get("baseArchitecture") is not None:
        if not REPO_ID.fullmatch(model):
            raise ConfigError(
                f"{source}: '{PROJECT}:model' must be a repo id such as org/name for a custom "
                f"checkpoint, got {shown(model)}"
            )
        if get("weightsGb") is None or get("baseArchitecture") is None:
            raise ConfigError(
                f"{source}: a custom checkpoint needs both '{PROJECT}:weightsGb' and "
                f"'{PROJECT}:baseArchitecture'"
            )
        cat = cat.with_custom_checkpoint(
            model, int(float(get("weightsGb")) * 1e9), str(get("baseArchitecture"))
        )
    try:
        cat.checkpoint(model)
        gpu = cat.gpu(str(get("gpu"))).key
        fallbacks = tuple(cat.gpu(str(g)).key for g in get("gpuFallbacks"))
    except CatalogError as err:
        raise ConfigError(f"{source}: {one_line(str(err))}") from None
    if get("gpuPriceUsd") is not None:
        cat = cat.with_overrides(gpu=gpu, usd_per_gpu_hour=float(get("gpuPriceUsd")))

    target = str(get("target"))
    dcs = tuple(str(d) for d in get("dataCenters"))
    for dc in dcs:
        if dc not in RUNPOD_DATA_CENTERS:
            close = difflib.get_close_matches(dc, RUNPOD_DATA_CENTERS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{source}: unknown RunPod data center {shown(dc)} in '{PROJECT}:dataCenters'.{hint} "
                f"Valid: {', '.join(RUNPOD_DATA_CENTERS)}."
            )
    for ns in get("allowedNamespaces"):
        if not DNS_LABEL.fullmatch(str(ns)):
            raise ConfigError(
                f"{source}: '{PROJECT}:allowedNamespaces' entry {shown(ns)} is not a valid namespace "
                f"name ({KEYS['namespace'].pattern_hint})"
            )
    if target == "kubernetes" and not LABEL_VALUE.fullmatch(stack):
        raise ConfigError(
            f"{source}: stack name '{stack}' cannot be a Kubernetes label value (at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit); rename the stack file"
        )
    if target == "runpod" and int(get("gpuCount")) > 8:
        raise ConfigError(
            f"{source}: a RunPod pod is one node with at most 8 GPUs; got {get('gpuCount')} GPUs per node. "
            f"Set '{PROJECT}:gpuCount' to 8 or fewer and '{PROJECT}:nodes' to 2 or more for an Instant Cluster."
        )
    if (
        target == "runpod"
        and int(get("nodes")) > 1
        and (get("gpuFallbacks") or str(get("startCommand")) == "plain")
    ):
        # An Instant Cluster is one GPU type (ClusterCompute.gpuTypeId) and every member runs our start script.
        raise ConfigError(
            f"{source}: a RunPod Instant Cluster ({get('nodes')} nodes) takes one GPU type and the JSON start "
            f"command; remove '{PROJECT}:gpuFallbacks' and set '{PROJECT}:startCommand' to json"
        )
    _check_cloud_pool(get, source)
    present = {n for n in values if KEYS[n].secret} | {k.rpartition(":")[2] for k in secret_keys}
    return StackSpec(
        stack=stack,
        source=source,
        model=model,
        gpu=gpu,
        gpu_count=int(get("gpuCount")),
        nodes=int(get("nodes")),
        target=target,
        engine=str(get("engine")),
        gpu_fallbacks=fallbacks,
        image=get("image"),
        max_model_len=get("maxModelLen"),
        max_num_seqs=get("maxNumSeqs"),
        speculative=str(get("speculative")),
        accept_tight=bool(get("acceptTight")),
        gpu_price_usd=get("gpuPriceUsd"),
        spot=bool(get("spot")),
        data_centers=dcs,
        ttl_minutes=None if get("permanent") else int(get("ttlMinutes")),
        keep_cache=bool(get("keepCache")),
        cache_size_gb=get("cacheSizeGb"),
        volume_type=str(get("volumeType")),
        start_command=str(get("startCommand")),
        canary_max_age_days=float(get("canaryMaxAgeDays")),
        namespace=str(get("namespace")),
        storage_class=get("storageClass"),
        access_mode=get("accessMode"),
        node_pool=str(get("nodePool")),
        karpenter_node_class=str(get("karpenterNodeClass")),
        allowed_namespaces=tuple(str(n) for n in get("allowedNamespaces")),
        load_concurrency=int(get("loadConcurrency")),
        load_requests=int(get("loadRequests")),
        expected_concurrency=int(get("expectedConcurrency")),
        expected_input_tokens=int(get("expectedInputTokens")),
        expected_output_tokens=int(get("expectedOutputTokens")),
        secrets_set=frozenset(present),
        gke_cluster=get("gkeCluster"),
        gke_location=get("gkeLocation"),
        eks_cluster=get("eksCluster"),
        eks_node_role_arn=get("eksNodeRoleArn"),
        eks_subnet_ids=tuple(str(s) for s in get("eksSubnetIds")),
        catalog=cat,
    )


def _check_cloud_pool(get: Callable[[str], Any], source: str) -> None:
    """A GKE node pool or EKS node group names the cluster it joins; nothing is guessed."""
    pool = str(get("nodePool"))
    needs = {"gke": ("gkeCluster", "gkeLocation"), "eks": ("eksCluster", "eksNodeRoleArn", "eksSubnetIds")}
    missing = [k for k in needs.get(pool, ()) if not get(k)]
    if missing:
        keys = ", ".join(f"'{PROJECT}:{k}'" for k in missing)
        raise ConfigError(f"{source}: '{PROJECT}:nodePool: {pool}' needs {keys}")
    for subnet in get("eksSubnetIds"):
        if not SUBNET_ID.fullmatch(str(subnet)):
            raise ConfigError(
                f"{source}: '{PROJECT}:eksSubnetIds' entry '{subnet}' is not a subnet id such as subnet-0abc1234"
            )


def _unset(key: Key, value: Any) -> bool:
    """The placeholder Pulumi.yaml declares for an optional key without a default."""
    return key.default is None and key.name not in REQUIRED and value in ("", 0, "0")


def _coerce(key: Key, value: Any, source: str) -> Any:
    """Check one value's type and range; the Pulumi engine hands every value over as a string."""
    where = f"{source}: '{PROJECT}:{key.name}'"
    if isinstance(value, dict) and set(value) == {"secure"}:
        if not key.secret:
            raise ConfigError(
                f"{where} is encrypted but is not a secret key; set it with plain `pulumi config set`"
            )
        return "<secret>"
    if key.secret:
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{where} must be a non-empty string (set it with `pulumi config set --secret`)"
            )
        return value
    if key.type in ("integer", "number", "boolean", "array") and isinstance(value, str):
        # ValueError too: a number of more than 4300 digits is refused by int() itself.
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if key.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {shown(value)}")
    elif key.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {shown(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value}")
    elif key.type == "boolean":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {shown(value)}")
    elif key.type == "array":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {shown(value)}")
    elif not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {shown(value)}")
    if (key.minimum is not None and value < key.minimum) or (key.maximum is not None and value > key.maximum):
        raise ConfigError(
            f"{where} must be between {_num(key.minimum)} and {_num(key.maximum)}, got {shown(value)}"
        )
    if key.choices and value not in key.choices:
        close = difflib.get_close_matches(str(value), key.choices, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where} must be one of {', '.join(key.choices)}, got {shown(value)}.{hint}")
    if key.pattern is not None and not key.pattern.fullmatch(str(value)):
        raise ConfigError(f"{where} must be {key.pattern_hint}, got {shown(value)}")
    return value


def shown(value: Any, limit: int = 80) -> str:
    """A user's value as it goes into a one-line message: quoted, control characters escaped, cut short."""
    text = repr(value) if not isinstance(value, str) else f"'{value}'" if value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """A message from elsewhere (a catalog lookup, a parser) with its control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_stack_name(stack: str, source: str = "stack name") -> None:
    """A stack name Pulumi accepts and resource names can be made from; refused before any lookup."""
    if not STACK_NAME.fullmatch(stack):
        raise ConfigError(
            f"{source}: stack name {shown(stack)} is not valid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )


def _num(n: float | None) -> str:
    if n is None:
        return "any"
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def stacks_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "stacks"


def project_root() -> Path:
    """The directory holding Pulumi.yaml: $V4INFRA_ROOT, the working directory, or the source checkout."""
    env = os.environ.get("V4INFRA_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd(), Path(__file__).resolve().parent.parent]
    for cand in candidates:
        if (cand / "Pulumi.yaml").is_file():
            return cand
    raise ConfigError("cannot find Pulumi.yaml: run v4infra from the project directory or set V4INFRA_ROOT")


def stack_names(root: Path | None = None) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir(root).glob("Pulumi.*.yaml"))


def load_stack(name: str, root: Path | None = None) -> StackSpec:
    """Read and validate `stacks/Pulumi.<name>.yaml`."""
    check_stack_name(name)
    path = stacks_dir(root) / f"Pulumi.{name}.yaml"
    if not path.is_file():
        names = stack_names(root)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"no stack '{name}' (no {path.relative_to(path.parent.parent)}).{hint} "
            f"Stacks: {', '.join(names)}."
        )
    rel = f"stacks/{path.name}"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an integer longer than int() reads
        raise ConfigError(f"{rel}: not valid YAML ({' '.join(str(err).split())})") from None
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{rel}: 'config' must be a mapping of keys to values")
    spec = parse(raw, stack=name, source=rel)
    if spec.target == "kubernetes":
        _check_namespace_is_its_own(spec, root)
    env_secrets = {
        k for k, env in (("hfToken", "HF_TOKEN"), ("runpodApiKey", "RUNPOD_API_KEY")) if os.environ.get(env)
    }
    return _with_secrets(spec, env_secrets)


def _check_namespace_is_its_own(spec: StackSpec, root: Path | None) -> None:
    """Kubernetes objects are named per namespace: two stacks in one would apply, and destroy, each other's."""
    for other in stack_names(root):
        if other == spec.stack:
            continue
        try:
            doc = yaml.safe_load((stacks_dir(root) / f"Pulumi.{other}.yaml").read_text(encoding="utf-8"))
            raw = (doc or {}).get("config") or {}
        except (OSError, yaml.YAMLError, ValueError, AttributeError):
            continue  # that stack's own load reports what is wrong with it
        if not isinstance(raw, dict):
            continue
        values = {str(k).rpartition(":")[2]: v for k, v in raw.items()}
        if values.get("target") == "kubernetes" and values.get("namespace", KEYS["namespace"].default) == (
            spec.namespace
        ):
            raise ConfigError(
                f"{spec.source}: stack '{spec.stack}' and stack '{other}' both deploy into namespace "
                f"'{spec.namespace}'; give each its own '{PROJECT}:namespace', or one would replace and "
                "destroy the other's objects"
            )


def _with_secrets(spec: StackSpec, extra: set[str]) -> StackSpec:
    from dataclasses import replace

    return replace(spec, secrets_set=spec.secrets_set | frozenset(extra))

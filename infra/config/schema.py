"""The stack's config keys: one table, the single source of every key's type, default and meaning.

`Pulumi.yaml`'s `config:` block is generated from `SCHEMA` (`v4infra schema` prints it; a test keeps
them equal); `infra.config.spec` checks every value against its `Key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
        "allowFloatingImage",
        "boolean",
        "Accept an image without a version (:latest, no tag): two runs may then run different engines.",
        default=False,
    ),
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
    # What `validate` measures after the API check: GSM8K accuracy, then the engine's own benchmark.
    Key(
        "accuracyTask",
        "string",
        "Accuracy stage of validate: the task (SGLang's few-shot GSM8K protocol).",
        default="gsm8k",
        choices=("gsm8k",),
    ),
    Key(
        "accuracyQuestions",
        "integer",
        "Accuracy stage of validate: questions asked (the first N of the GSM8K test split).",
        default=200,
        minimum=1,
        maximum=1319,
    ),
    Key(
        "accuracyConcurrency",
        "integer",
        "Accuracy stage of validate: questions in flight at once.",
        default=16,
        minimum=1,
        maximum=512,
    ),
    Key(
        "benchmarkMaxRequests",
        "integer",
        "Benchmark stage of validate: at most this many requests per workload (two rounds of its concurrency).",
        default=64,
        minimum=4,
        maximum=10_000,
    ),
    Key(
        "benchmarkMaxMinutes",
        "integer",
        "Benchmark stage of validate: minutes it may take in all, shorter than ttlMinutes; default: 20, "
        "or half of ttlMinutes when that is less.",
        minimum=1,
        maximum=10080,
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
# How the weights reach the GPUs and which hosts may run the image (infra/start_model.py, issue 20).
SCHEMA += (
    Key(
        "loadStrategy",
        "string",
        "How the engine reads its weights (lazy, eager, prefetch; checked against the pinned engine "
        "version's options); default: chosen from the storage and its measured rate.",
    ),
    Key(
        "loadThreads",
        "integer",
        "Prefetch threads per rank (1 to the pod's vCPUs); default: chosen from the measured rate.",
        minimum=1,
        maximum=4096,
    ),
    Key(
        "downloadAtStart",
        "boolean",
        "Download the checkpoint to the container disk at start instead of reading the volume "
        "(the plan says when that costs fewer GPU-seconds).",
        default=False,
    ),
    Key(
        "measuredRates",
        "string",
        "A file of read-rate probe lines (infra/read_rate_probe.py) measured in the stack's data centers.",
    ),
    Key(
        "allowedCudaVersions",
        "array",
        "RunPod: host CUDA versions the GPU pod may land on (major.minor); default: those the image runs on.",
        default=[],
    ),
)
KEYS = {k.name: k for k in SCHEMA}
REQUIRED = ("model", "gpu", "gpuCount")


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

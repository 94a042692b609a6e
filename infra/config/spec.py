"""A stack's config validated into a `StackSpec`, before anything else runs.

Every mistake becomes one `ConfigError` naming the key, the stack file and what would be right.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.catalog import Catalog, load_catalog
from infra.config.schema import (
    DNS_LABEL,
    KEYS,
    LABEL_VALUE,
    PROJECT,
    REPO_ID,
    REQUIRED,
    STACK_NAME,
    SUBNET_ID,
    Key,
)
from infra.errors import CatalogError, ConfigError
from infra.measured_rates import stack_lines
from infra.plan_request import PlanRequest
from infra.quoting import one_line, shown
from infra.rate_store import recorded_for

DEFAULT_BENCHMARK_MINUTES = 20


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
    allow_floating_image: bool
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
    accuracy_task: str = "gsm8k"
    accuracy_questions: int = 200
    accuracy_concurrency: int = 16
    benchmark_max_requests: int = 64
    benchmark_max_minutes: int = 20
    secrets_set: frozenset[str] = field(default_factory=frozenset)
    gke_cluster: str | None = None
    gke_location: str | None = None
    eks_cluster: str | None = None
    eks_node_role_arn: str | None = None
    eks_subnet_ids: tuple[str, ...] = ()
    load_strategy: str | None = None
    load_threads: int | None = None
    download_at_start: bool = False
    measured_rates: str | None = None
    allowed_cuda_versions: tuple[str, ...] = ()
    # Probe lines this stack plans with: its measuredRates file's, then those recorded on this machine.
    measurements: tuple[str, ...] = ()
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
            allow_floating_image=self.allow_floating_image,
            spot=self.spot,
            concurrency=self.expected_concurrency,
            input_tokens=self.expected_input_tokens,
            output_tokens=self.expected_output_tokens,
            volume_tier=self.volume_type,
            load_strategy=self.load_strategy,
            load_threads=self.load_threads,
            download_at_start=self.download_at_start,
            measurements=self.measurements,
            allowed_cuda_versions=self.allowed_cuda_versions,
        )

    def with_recorded_rates(self, root: Path) -> StackSpec:
        """This spec with the read rates this machine recorded for it (infra/rate_store.py) added."""
        lines = recorded_for(root, self.stack, self.data_centers, self.volume_type)
        return replace(self, measurements=(*self.measurements, *lines)) if lines else self


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
        if dc not in cat.runpod_data_centers:
            close = difflib.get_close_matches(dc, cat.runpod_data_centers, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{source}: unknown RunPod data center {shown(dc)} in '{PROJECT}:dataCenters'.{hint} "
                f"Valid: {', '.join(cat.runpod_data_centers)}."
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
    _check_benchmark_bound(get, source)
    if get("downloadAtStart") and (
        target != "runpod" or int(get("nodes")) > 1 or get("startCommand") == "plain"
    ):
        raise ConfigError(
            f"{source}: '{PROJECT}:downloadAtStart' downloads to one RunPod pod's container disk from its start "
            f"script; valid: false here (target {target}, {get('nodes')} node(s), startCommand {get('startCommand')})"
        )
    rates_file = get("measuredRates")
    try:
        measurements = (
            stack_lines(rates_file, data_centers=dcs, tier=str(get("volumeType"))) if rates_file else ()
        )
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
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
        allow_floating_image=bool(get("allowFloatingImage")),
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
        accuracy_task=str(get("accuracyTask")),
        accuracy_questions=int(get("accuracyQuestions")),
        accuracy_concurrency=int(get("accuracyConcurrency")),
        benchmark_max_requests=int(get("benchmarkMaxRequests")),
        benchmark_max_minutes=_benchmark_minutes(get),
        secrets_set=frozenset(present),
        gke_cluster=get("gkeCluster"),
        gke_location=get("gkeLocation"),
        eks_cluster=get("eksCluster"),
        eks_node_role_arn=get("eksNodeRoleArn"),
        eks_subnet_ids=tuple(str(s) for s in get("eksSubnetIds")),
        load_strategy=get("loadStrategy"),
        load_threads=get("loadThreads"),
        download_at_start=bool(get("downloadAtStart")),
        measured_rates=rates_file,
        allowed_cuda_versions=tuple(str(v) for v in get("allowedCudaVersions")),
        measurements=measurements,
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


def _check_benchmark_bound(get: Callable[[str], Any], source: str) -> None:
    """The benchmark must end before the pod's time-to-live removes it (a permanent stack has none)."""
    minutes, ttl = get("benchmarkMaxMinutes"), int(get("ttlMinutes"))
    if minutes is not None and not get("permanent") and int(minutes) >= ttl:
        raise ConfigError(
            f"{source}: '{PROJECT}:benchmarkMaxMinutes' ({minutes}) must be shorter than "
            f"'{PROJECT}:ttlMinutes' ({ttl}), or the pod removes itself mid-benchmark; valid: 1 to {ttl - 1}"
        )


def _benchmark_minutes(get: Callable[[str], Any]) -> int:
    """The stack's bound, else 20 minutes, or half the time-to-live when that is less."""
    if get("benchmarkMaxMinutes") is not None:
        return int(get("benchmarkMaxMinutes"))
    return (
        DEFAULT_BENCHMARK_MINUTES
        if get("permanent")
        else min(DEFAULT_BENCHMARK_MINUTES, int(get("ttlMinutes")) // 2)
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
            raise ConfigError(f"{where} must be an integer, got {shown(value)}{_valid_range(key)}")
    elif key.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {shown(value)}{_valid_range(key)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value}{_valid_range(key)}")
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


def check_stack_name(stack: str, source: str = "stack name") -> None:
    """A stack name Pulumi accepts and resource names can be made from; refused before any lookup."""
    if not STACK_NAME.fullmatch(stack):
        raise ConfigError(
            f"{source}: stack name {shown(stack)} is not valid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )


def _valid_range(key: Key) -> str:
    """` (valid: LOW to HIGH)` for a bounded number, so a NaN or a word still learns the range."""
    if key.minimum is None and key.maximum is None:
        return ""
    return f" (valid: {_num(key.minimum)} to {_num(key.maximum)})"


def _num(n: float | None) -> str:
    if n is None:
        return "any"
    return str(int(n)) if float(n).is_integer() else f"{n:g}"

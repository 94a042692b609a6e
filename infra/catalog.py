"""The facts: checkpoints, GPUs, engine images and published recipes, loaded from `infra/data/*.yaml`.

Facts live in data files with their sources; this module only turns them into typed records and
answers look-ups. A price or an image tag changes without a code change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from infra.errors import CatalogError

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Checkpoint:
    key: str
    repo_id: str
    total_params_b: float
    active_params_b: float
    weights_bytes: int
    expert_bytes: int
    shards: int | None
    min_vllm: str
    min_sglang: str
    speculative: str  # "mtp", "dspark" or "none"
    context_length: int
    layers: int
    hidden_size: int
    attention_heads: int
    routed_experts: int
    expert_width: int
    kv_bytes_per_token_bf16: int
    window_bytes_per_seq_per_layer: int
    workspace_bytes_per_token: int
    load_minutes: int
    download_minutes: tuple[int, int]
    cache_pvc_gi: int
    vram_minimum_gb: int
    api_model: str
    speculative_note: str = ""
    note: str = ""
    custom: bool = False
    # Where weights_bytes comes from when it is not the hub's own file listing.
    size_note: str = ""
    # "fp4-fp8" (DeepSeek's MXFP4 experts, FP8 rest) or "nvfp4" (NVIDIA modelopt NVFP4 experts, FP8 rest).
    precision: str = "fp4-fp8"
    # GPU families the checkpoint runs on; empty: every family an engine supports.
    gpu_families: tuple[str, ...] = ()

    @property
    def dense_bytes(self) -> int:
        """Attention, shared expert, embeddings: replicated by data parallelism."""
        return self.weights_bytes - self.expert_bytes

    @property
    def family(self) -> str:
        return "pro" if self.routed_experts == 384 else "flash"


@dataclass(frozen=True)
class Gpu:
    key: str
    product_name: str
    memory_mib: int
    hbm_gbps: int
    compute_capability: str
    family: str
    runpod_id: str
    k8s_product_label: str
    usd_per_gpu_hour: float | None
    usd_per_gpu_hour_spot: float | None
    price_date: str
    max_gpus_per_node: int
    aws_instance_8x: str | None = None
    aws_instance_8x_alt: str | None = None
    aliases: tuple[str, ...] = ()
    # Where memory_mib and hbm_gbps come from (nvidia-smi as published, or a spec sheet, labelled).
    memory_source: str = ""
    hbm_source: str = ""

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB


@dataclass(frozen=True)
class EngineTag:
    """One image tag: the engine version it ships, the CUDA it is built for and the driver that CUDA needs."""

    tag: str
    version: str
    cuda: str
    min_driver: int
    source: str
    read: str


@dataclass(frozen=True)
class Release:
    """An engine version published without an image tag any source confirms."""

    version: str
    why: str
    read: str


@dataclass(frozen=True)
class Architectures:
    """The model architectures an engine registers from `since` on."""

    since: str
    names: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Refused:
    """A spelling one engine version must not be given, and why."""

    args: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Spelling:
    """The arguments that say one thing to an engine from `since` on, and the spellings that version refuses."""

    since: str
    args: tuple[str, ...]
    refused: tuple[Refused, ...]
    source: str
    read: str


@dataclass(frozen=True)
class FlagSpellings:
    """One setting whose command-line spelling changed between engine versions, newest spelling first."""

    key: str
    what: str
    spellings: tuple[Spelling, ...]


@dataclass(frozen=True)
class Calibration:
    """Memory an engine version reserves per GPU before it sizes the KV cache, with the facts behind it."""

    since: str
    extra_reserve_gib: float
    facts: tuple[str, ...]
    read: str


@dataclass(frozen=True)
class Unsupported:
    """A GPU family an engine cannot run V4 on, with the fact and where it was read."""

    fact: str
    sources: tuple[str, ...]
    read: str


@dataclass(frozen=True)
class Engine:
    key: str
    image: str
    tags: tuple[EngineTag, ...]
    base_args: tuple[str, ...]
    env: dict[str, str]
    default_gpu_memory_utilization: float
    default_max_num_seqs: int
    port: int
    tool_args: tuple[str, ...] = ()
    compilation_default: str | None = None
    hopper_pro_args: tuple[str, ...] = ()
    compilation_hopper_pro: str | None = None
    unsupported_families: dict[str, Unsupported] = field(default_factory=dict)
    dp_rpc_port: int | None = None
    master_port: int | None = None
    dist_init_port: int | None = None
    releases_without_image: tuple[Release, ...] = ()
    architectures: tuple[Architectures, ...] = ()
    flags: dict[str, FlagSpellings] = field(default_factory=dict)
    calibration: tuple[Calibration, ...] = ()
    # The MoE kernel the vLLM recipes add on Blackwell for FP8 (fp4-fp8) checkpoints with expert parallel.
    blackwell_fp8_moe_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """One public run behind a recipe: what it served (or failed at), at which context and concurrency."""

    what: str
    source: str
    context: int | None
    concurrency: int | None
    outcome: str  # "served", "failed" or "marked-verified" (the publisher's mark, no published numbers)
    read: str
    note: str = ""
    engine_version: str | None = None  # the engine version the run used, where the source says
    input_tokens: int | None = None  # the benchmark workload, where the run is a benchmark
    output_tokens: int | None = None
    marked_verified: bool = False  # the publisher marks this cell verified


@dataclass(frozen=True)
class Recipe:
    model: str
    gpu: str
    gpus_per_node: int
    nodes: int
    engine: str
    strategy: str
    source: str
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    gpu_memory_utilization: float | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    runs: tuple[Run, ...] = ()


@dataclass(frozen=True)
class ThroughputPoint:
    """A published output-throughput measurement."""

    model: str  # checkpoint family: "pro" or "flash"
    gpu: str
    gpus: int
    hbm_gbps: int
    concurrency: int
    input_tokens: int | None
    output_tokens: int | None
    output_tok_s: float
    source: str
    engine: str | None = None  # what the measurement ran; None: the source does not say
    engine_version: str | None = None
    derived: str = ""  # how output_tok_s was derived from the published figure, when it was
    ttft_ms: float | None = None  # the median time to first token, where the source publishes one


@dataclass(frozen=True)
class ApiPrice:
    """One DeepSeek API model's prices per 1M tokens, peak and off-peak."""

    name: str
    serves: str
    open_checkpoint: str | None
    peak_output: float
    off_peak_output: float
    peak_input: float
    off_peak_input: float
    read: str
    source: str
    peak_hours: str
    newer_open_weights: str | None = None


@dataclass(frozen=True)
class TargetLimits:
    key: str
    max_gpus_per_node: int
    deploys_multi_node: bool
    multi_node_note: str


@dataclass(frozen=True)
class Catalog:
    checkpoints: dict[str, Checkpoint]
    gpus: dict[str, Gpu]
    engines: dict[str, Engine]
    recipes: tuple[Recipe, ...]
    throughput: tuple[ThroughputPoint, ...] = ()
    apis: dict[str, ApiPrice] = field(default_factory=dict)
    targets: dict[str, TargetLimits] = field(default_factory=dict)
    # Known open checkpoints the planner does not cover: repo id -> (why, source).
    not_planned: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The RunPod data center ids a stack may name (runpod_data_centers.yaml).
    runpod_data_centers: tuple[str, ...] = ()

    def checkpoint(self, name: str) -> Checkpoint:
        """Look a checkpoint up by short name (`flash`) or repo id (`deepseek-ai/DeepSeek-V4-Flash`)."""
        lowered = name.strip().lower()
        for ckpt in self.checkpoints.values():
            if lowered in (ckpt.key, ckpt.repo_id.lower()):
                return ckpt
        for repo_id, (why, source) in self.not_planned.items():
            if lowered == repo_id.lower():
                raise CatalogError(f"{repo_id} is not planned by this catalog: {why} ({source}).")
        raise CatalogError(_unknown("model", name, self.model_names()))

    def gpu(self, name: str) -> Gpu:
        """Look a GPU up by catalog name (`H200`), RunPod id or Kubernetes product label."""
        lowered = name.strip().lower()
        for gpu in self.gpus.values():
            names = (gpu.key, gpu.runpod_id, gpu.k8s_product_label, *gpu.aliases)
            if lowered in (n.lower() for n in names):
                return gpu
        raise CatalogError(_unknown("GPU", name, list(self.gpus)))

    def engine(self, name: str) -> Engine:
        if name not in self.engines:
            raise CatalogError(_unknown("engine", name, list(self.engines)))
        return self.engines[name]

    def model_names(self) -> list[str]:
        return [c.key for c in self.checkpoints.values()] + [c.repo_id for c in self.checkpoints.values()]

    def recipe(self, model: str, gpu: str, gpus_per_node: int, nodes: int) -> list[Recipe]:
        return [
            r
            for r in self.recipes
            if (r.model, r.gpu, r.gpus_per_node, r.nodes) == (model, gpu, gpus_per_node, nodes)
        ]

    def recipes_elsewhere(self, model: str, gpu: str, gpus_per_node: int, nodes: int) -> list[Recipe]:
        """The same model and shape, published on other GPUs (evidence that does not carry over)."""
        return [
            r
            for r in self.recipes
            if (r.model, r.gpus_per_node, r.nodes) == (model, gpus_per_node, nodes) and r.gpu != gpu
        ]

    def api_for(self, ckpt: Checkpoint) -> ApiPrice:
        return self.apis[ckpt.api_model]

    def target(self, name: str) -> TargetLimits:
        if name not in self.targets:
            raise CatalogError(_unknown("target", name, list(self.targets)))
        return self.targets[name]

    def with_custom_checkpoint(self, repo_id: str, weights_bytes: int, based_on: str) -> Catalog:
        """A user's own checkpoint: the architecture of `based_on`, its own repo and size."""
        base = self.checkpoint(based_on)
        scale = weights_bytes / base.weights_bytes
        ckpt = replace(
            base,
            key=repo_id,
            repo_id=repo_id,
            weights_bytes=weights_bytes,
            expert_bytes=int(base.expert_bytes * scale),
            shards=None,
            vram_minimum_gb=0,  # no recipe publishes a minimum for someone's own checkpoint
            custom=True,
            note=f"custom checkpoint with the architecture of {base.repo_id}",
        )
        return replace(self, checkpoints={**self.checkpoints, repo_id: ckpt})

    def with_overrides(self, *, gpu: str | None = None, usd_per_gpu_hour: float | None = None) -> Catalog:
        """A price the user read today beats the catalog's snapshot."""
        if gpu is None or usd_per_gpu_hour is None:
            return self
        g = self.gpu(gpu)
        return replace(
            self, gpus={**self.gpus, g.key: replace(g, usd_per_gpu_hour=usd_per_gpu_hour, price_date="stack")}
        )


def _unknown(kind: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{name}'.{hint} Valid: {', '.join(valid)}."


@cache
def data_file(name: str) -> dict[str, Any]:
    """One fact file of `infra/data/`, parsed; cached, because the facts do not change while a process runs."""
    text = resources.files("infra.data").joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise CatalogError(f"infra/data/{name} is not a mapping")
    return data


def _checkpoints(raw: dict[str, dict[str, Any]]) -> dict[str, Checkpoint]:
    out: dict[str, Checkpoint] = {}
    for key, row in raw.items():
        merged = {**raw[row["based_on"]], **row} if "based_on" in row else dict(row)
        merged.pop("based_on", None)
        merged["download_minutes"] = tuple(merged["download_minutes"])
        merged["gpu_families"] = tuple(merged.get("gpu_families", ()))
        out[key] = Checkpoint(key=key, **merged)
    return out


def _engine(key: str, row: dict[str, Any], drivers: dict[str, int]) -> Engine:
    def driver(cuda: str) -> int:
        major = cuda.split(".")[0]
        if major not in drivers:
            raise CatalogError(
                f"engines.yaml: {key} names CUDA {cuda}, but cuda_drivers has no CUDA {major}.x row"
            )
        return drivers[major]

    row["tags"] = tuple(
        EngineTag(
            str(t["tag"]),
            str(t["version"]),
            str(t["cuda"]),
            driver(str(t["cuda"])),
            str(t["source"]),
            str(t["read"]),
        )
        for t in row["tags"]
    )
    row["unsupported_families"] = {
        fam: Unsupported(str(u["fact"]), tuple(u["sources"]), str(u["read"]))
        for fam, u in row.get("unsupported_families", {}).items()
    }
    row["releases_without_image"] = tuple(
        Release(str(r["version"]), " ".join(str(r["why"]).split()), str(r["read"]))
        for r in row.get("releases_without_image", ())
    )
    row["architectures"] = tuple(
        Architectures(str(a["from"]), tuple(str(n) for n in a["names"]), str(a["source"]))
        for a in row.get("architectures", ())
    )
    row["flags"] = {
        name: FlagSpellings(
            name,
            str(f["what"]),
            tuple(
                Spelling(
                    str(sp["from"]),
                    tuple(str(a) for a in sp["args"]),
                    tuple(
                        Refused(tuple(str(a) for a in r["args"]), str(r["why"]))
                        for r in sp.get("refused", ())
                    ),
                    str(sp["source"]),
                    str(sp["read"]),
                )
                for sp in f["spellings"]
            ),
        )
        for name, f in row.get("flags", {}).items()
    }
    row["calibration"] = tuple(
        Calibration(
            str(c["from"]), float(c["extra_reserve_gib"]), tuple(str(x) for x in c["facts"]), str(c["read"])
        )
        for c in row.get("calibration", ())
    )
    for name in ("base_args", "tool_args", "hopper_pro_args", "blackwell_fp8_moe_args"):
        if name in row:
            row[name] = tuple(str(a) for a in row[name])
    return Engine(key=key, **row)


@cache
def load_catalog() -> Catalog:
    """The catalog shipped with the package (cached: it is immutable)."""
    ckpt_data = data_file("checkpoints.yaml")
    ckpts = _checkpoints(ckpt_data["checkpoints"])
    not_planned = {
        k: (str(v["reason"]), str(v["source"])) for k, v in ckpt_data.get("not_planned", {}).items()
    }
    gpu_data = data_file("gpus.yaml")
    gpus = {
        k: Gpu(
            key=k,
            **{
                "price_date": str(gpu_data["price_date"]),
                **v,
                "aliases": tuple(v.get("aliases", ())),
            },
        )
        for k, v in gpu_data["gpus"].items()
    }
    engine_data = data_file("engines.yaml")
    drivers = {str(major): int(driver) for major, driver in engine_data["cuda_drivers"].items()}
    engines = {key: _engine(key, dict(row), drivers) for key, row in engine_data["engines"].items()}
    recipes = []
    for row in data_file("recipes.yaml")["recipes"]:
        row = dict(row)
        row["extra_args"] = tuple(row.get("extra_args", ()))
        row["runs"] = tuple(Run(**run) for run in row.get("runs", ()))
        recipes.append(Recipe(**row))
    points = tuple(ThroughputPoint(**p) for p in data_file("throughput.yaml")["points"])
    prices = data_file("api_prices.yaml")
    hours = f"{', '.join(prices['peak_hours_utc'])} UTC on {prices['peak_days']}"
    apis = {
        name: ApiPrice(
            name=name,
            serves=str(a["serves"]),
            open_checkpoint=a.get("open_checkpoint"),
            peak_output=float(a["peak"]["output"]),
            off_peak_output=float(a["off_peak"]["output"]),
            peak_input=float(a["peak"]["input"]),
            off_peak_input=float(a["off_peak"]["input"]),
            read=str(prices["read"]),
            source=str(prices["source"]),
            peak_hours=hours,
            newer_open_weights=a.get("newer_open_weights"),
        )
        for name, a in prices["apis"].items()
    }
    targets = {k: TargetLimits(key=k, **v) for k, v in data_file("targets.yaml")["targets"].items()}
    return Catalog(
        checkpoints=ckpts,
        gpus=gpus,
        engines=engines,
        recipes=tuple(recipes),
        throughput=points,
        apis=apis,
        targets=targets,
        not_planned=not_planned,
        runpod_data_centers=tuple(str(dc) for dc in data_file("runpod_data_centers.yaml")["data_centers"]),
    )

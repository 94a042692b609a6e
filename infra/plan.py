"""What the planner decides for one deployment: the `Plan` and its parts (pure data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from infra.plan_start import StartPlan

Verdict = Literal["fits", "tight", "no-fit"]
GIB = 1024**3
# Stands in a role's arguments for the leader's address, which exists only once the nodes do.
LEADER_ADDRESS = "LEADER_ADDRESS"


# The evidence label of a cell its publisher marks verified but publishes no numbers for.
PUBLISHER_ONLY = "verified by its publisher, no published numbers"


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-GPU memory in bytes; see the memory model in the README."""

    reported_bytes: int
    cuda_bytes: int
    gpu_memory_utilization: float
    usable_bytes: int
    weights_bytes: int
    cuda_context_bytes: int
    nccl_bytes: int
    activation_bytes: int
    cudagraph_bytes: int
    workspace_bytes: int
    kv_cache_bytes: int
    kv_bytes_per_token: int
    kv_tokens: int
    # What this engine version reserves beyond the versions the model is fitted to (its calibration).
    engine_reserve_bytes: int = 0

    @property
    def reserve_bytes(self) -> int:
        return (
            self.cuda_context_bytes
            + self.nccl_bytes
            + self.activation_bytes
            + self.cudagraph_bytes
            + self.workspace_bytes
            + self.engine_reserve_bytes
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reserve_bytes"] = self.reserve_bytes
        data["gib"] = {
            k: round(v / GIB, 2) for k, v in data.items() if k.endswith("_bytes") and isinstance(v, int)
        }
        return data


@dataclass(frozen=True)
class EngineSpec:
    name: str
    image: str
    version: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    port: int
    # The CUDA the image is built for and the oldest NVIDIA driver that runs it (None: not a catalog tag).
    cuda: str | None = None
    min_driver: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "version": self.version,
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(sorted(self.env.items())),
            "port": self.port,
            "cuda": self.cuda,
            "min_driver": self.min_driver,
        }


@dataclass(frozen=True)
class RoleCommand:
    """The command one node runs in a multi-node layout (the leader serves HTTP; workers join it).

    `args` may hold `LEADER_ADDRESS`, which a renderer replaces with the leader's address
    (`argv(address)`), because that address exists only once the nodes do.
    """

    role: str  # "leader" or "worker"
    node_rank: int
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    serves_http: bool

    def argv(self, leader_address: str) -> list[str]:
        return [a.replace(LEADER_ADDRESS, leader_address) for a in (*self.command, *self.args)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "node_rank": self.node_rank,
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(sorted(self.env.items())),
            "serves_http": self.serves_http,
        }


@dataclass(frozen=True)
class Evidence:
    """A public run that bears on this plan: what it showed, at which context and concurrency."""

    what: str
    source: str
    gpu: str
    engine: str
    context: int | None
    concurrency: int | None
    outcome: str  # "served", "failed" or "marked-verified" (the publisher's mark, no published numbers)
    read: str
    note: str = ""
    engine_version: str | None = None  # the engine version the run used, where the source says

    def label(self) -> str:
        ctx = f"context {self.context:,}" if self.context else "context not stated"
        conc = f"concurrency {self.concurrency}" if self.concurrency else "concurrency not stated"
        note = f"; {self.note}" if self.note else ""
        outcome = PUBLISHER_ONLY if self.outcome == "marked-verified" else self.outcome
        ran = f" {self.engine} {self.engine_version}" if self.engine_version else ""
        return f"{outcome}: {self.what} on {self.gpu}{ran} ({self.source}; {ctx}, {conc}{note}; read {self.read})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Throughput:
    """Output tokens/s estimated for the declared load, and how far it is from a published point."""

    output_tokens_per_s: float
    declared_concurrency: int
    concurrency: int  # what the engine runs at once: the declared load capped by max-num-seqs x DP
    input_tokens: int
    output_tokens: int
    source: str  # the published point(s) it is scaled from
    extrapolation: str  # what differs from those points
    measured: str = ""  # "measured on this account on DATE" when an own point replaced the estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ApiComparison:
    """The DeepSeek API model this checkpoint is compared against, at peak and off-peak prices."""

    api_model: str
    serves: str
    peak_usd_per_million_output: float
    off_peak_usd_per_million_output: float
    break_even_peak_million_per_hour: float | None
    break_even_off_peak_million_per_hour: float | None
    peak_hours: str
    price_date: str
    source: str
    newer_than_checkpoint: str  # empty when the API serves this checkpoint's own model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cost:
    usd_per_gpu_hour: float | None
    usd_per_hour: float | None
    price_date: str
    spot: bool
    est_output_tokens_per_s: float
    usd_per_million_output: float | None
    api: ApiComparison
    cache_gb: int
    cache_usd_per_month: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Alternative:
    gpu: str
    gpu_count: int
    nodes: int
    verdict: Verdict
    usd_per_hour: float | None
    verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        nodes = f" x {self.nodes} nodes" if self.nodes > 1 else ""
        price = f"${self.usd_per_hour:.2f}/h" if self.usd_per_hour is not None else "price unknown"
        checked = "verified" if self.verified else "unverified"
        return f"{self.gpu_count}x {self.gpu}{nodes} ({price}, {checked})"


@dataclass(frozen=True)
class Plan:
    model: str  # repo id
    checkpoint: str  # catalog key
    gpu: str
    gpu_count: int  # per node
    nodes: int
    target: str
    verdict: Verdict
    reasons: tuple[str, ...]
    strategy: str
    tensor_parallel: int
    data_parallel: int
    expert_parallel: bool
    max_model_len: int
    max_num_seqs: int
    enforce_eager: bool
    reduced_settings: tuple[str, ...]
    verified: bool
    source: str
    memory: MemoryBreakdown
    engine: EngineSpec
    cost: Cost
    weights_bytes: int
    load_minutes: int
    alternatives: tuple[Alternative, ...] = field(default=())
    evidence: tuple[Evidence, ...] = field(default=())
    verified_detail: str = ""
    throughput: Throughput | None = None
    roles: tuple[RoleCommand, ...] = field(default=())
    # The start by phase: storage, rate, loading flags, GPU-seconds and dollars (infra/start_model.py).
    start: StartPlan | None = None

    @property
    def total_gpus(self) -> int:
        return self.gpu_count * self.nodes

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "checkpoint": self.checkpoint,
            "gpu": self.gpu,
            "gpu_count": self.gpu_count,
            "nodes": self.nodes,
            "target": self.target,
            "verdict": self.verdict,
            "verified": self.verified,
            "source": self.source,
            "reasons": list(self.reasons),
            "strategy": {
                "name": self.strategy,
                "tensor_parallel": self.tensor_parallel,
                "data_parallel": self.data_parallel,
                "expert_parallel": self.expert_parallel,
            },
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "enforce_eager": self.enforce_eager,
            "reduced_settings": list(self.reduced_settings),
            "memory": self.memory.to_dict(),
            "engine": self.engine.to_dict(),
            "cost": self.cost.to_dict(),
            "weights_bytes": self.weights_bytes,
            "load_minutes": self.load_minutes,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "evidence": [e.to_dict() for e in self.evidence],
            "verified_detail": self.verified_detail,
            "throughput": self.throughput.to_dict() if self.throughput else None,
            "roles": [r.to_dict() for r in self.roles],
            "start": self.start.to_dict() if self.start else None,
        }

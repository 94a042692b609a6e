"""The facts: checkpoints, GPUs, engine images and published recipes, loaded from `infra/data/*.yaml`.

Facts live in data files with their sources; this package only turns them into typed records and
answers look-ups. A price or an image tag changes without a code change. The records live in two
modules, each one concept: `engines` (an engine image and its versioned facts) and `facts` (everything
else the catalog holds); `Catalog`, its look-ups and `load_catalog` live here, and callers import every
name from `infra.catalog`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from infra.catalog.engines import (
    Architectures,
    Calibration,
    Engine,
    EngineTag,
    FlagSpellings,
    Refused,
    Release,
    Spelling,
    Unsupported,
    parse_engine,
)
from infra.catalog.facts import (
    GIB,
    MIB,
    ApiPrice,
    Checkpoint,
    Gpu,
    Recipe,
    Run,
    TargetLimits,
    ThroughputPoint,
    parse_checkpoints,
)
from infra.errors import CatalogError

__all__ = [
    "GIB",
    "MIB",
    "ApiPrice",
    "Architectures",
    "Calibration",
    "Catalog",
    "Checkpoint",
    "Engine",
    "EngineTag",
    "FlagSpellings",
    "Gpu",
    "Recipe",
    "Refused",
    "Release",
    "Run",
    "Spelling",
    "TargetLimits",
    "ThroughputPoint",
    "Unsupported",
    "data_file",
    "load_catalog",
]


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


@cache
def load_catalog() -> Catalog:
    """The catalog shipped with the package (cached: it is immutable)."""
    ckpt_data = data_file("checkpoints.yaml")
    ckpts = parse_checkpoints(ckpt_data["checkpoints"])
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
    engines = {key: parse_engine(key, dict(row), drivers) for key, row in engine_data["engines"].items()}
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

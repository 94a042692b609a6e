"""The refusals that are not arithmetic: a request no plan can answer, and the facts that block a plan
whatever the memory model says (an engine too old for the checkpoint, a GPU family the engine cannot run
V4 on, more GPUs than a node holds, a context a published run failed at).

Pure; no I/O.
"""

from __future__ import annotations

import math

from infra.catalog import Checkpoint, Engine, Gpu, TargetLimits
from infra.engine_flags import version_tuple
from infra.errors import ConfigError
from infra.layouts import STRATEGIES
from infra.plan_request import PlanRequest


def check_request(request: PlanRequest, ckpt: Checkpoint) -> None:
    """A request no plan can answer: one `ConfigError` naming what is wrong and what would be right."""
    if request.gpus_per_node < 1 or request.nodes < 1:
        raise ConfigError("gpu count and nodes must be at least 1")
    if request.strategy is not None and request.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, not '{request.strategy}'")
    if request.speculative not in ("none", "mtp", "dspark"):
        raise ConfigError(f"speculative must be none, mtp or dspark, not '{request.speculative}'")
    if request.speculative != "none" and request.speculative != ckpt.speculative:
        has = "no draft head" if ckpt.speculative == "none" else f"a {ckpt.speculative} head"
        raise ConfigError(
            f"speculative '{request.speculative}' needs a checkpoint with that draft head; "
            f"{ckpt.repo_id} has {has}"
        )
    if request.max_model_len is not None and not 1024 <= request.max_model_len <= ckpt.context_length:
        raise ConfigError(f"max-model-len must be between 1024 and {ckpt.context_length} for {ckpt.repo_id}")


def blockers(
    request: PlanRequest,
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    version: str,
    target: TargetLimits,
    ceiling: int | None,
) -> list[str]:
    """What refuses this request whatever the memory says, each a sentence with its fact and source."""
    out: list[str] = []
    minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
    parsed = version_tuple(version)
    if parsed and parsed < version_tuple(minimum):
        out.append(
            f"{engine.key} {version} cannot load {ckpt.repo_id} (architecture DeepseekV4ForCausalLM "
            f"needs {engine.key} >= {minimum}); use {engine.image}:v{minimum} or later"
        )
    unsupported = engine.unsupported_families.get(gpu.family)
    if unsupported is not None:
        sm = gpu.compute_capability.replace(".", "")
        out.append(
            f"{engine.key} cannot run V4 on {gpu.key} ({gpu.family}, sm_{sm}): {unsupported.fact} "
            f"({', '.join(unsupported.sources)}, read {unsupported.read})"
        )
    per_node = min(gpu.max_gpus_per_node, target.max_gpus_per_node)
    if request.gpus_per_node > per_node:
        out.append(
            f"no {gpu.key} node holds {request.gpus_per_node} GPUs: the largest {gpu.key} nodes (8-GPU HGX/DGX "
            f"boards) have {gpu.max_gpus_per_node}, and a {target.key} node at most {target.max_gpus_per_node}; "
            f"use {math.ceil(request.gpus_per_node / per_node)} nodes of {per_node}"
        )
    if request.nodes > 1 and target.key == "runpod" and not target.deploys_multi_node:
        out.append(f"{target.multi_node_note}; plan it with target kubernetes to see the multi-node layout")
    if request.speculative == "dspark" and engine.key == "vllm" and parsed < (0, 25, 0):
        out.append("DSpark speculative decoding needs vLLM >= 0.25.0")
    if ceiling is not None and request.max_model_len is not None and request.max_model_len >= ceiling:
        out.append(
            f"a published run of {ckpt.repo_id} on {request.gpus_per_node}x {gpu.key} at max-model-len "
            f"{ceiling:,} did not start (out of memory, vllm-project/recipes#381); "
            f"{request.max_model_len:,} is at or above it"
        )
    if ckpt.gpu_families and gpu.family not in ckpt.gpu_families:
        out.append(
            f"{ckpt.repo_id} is a {ckpt.precision} checkpoint for {', '.join(ckpt.gpu_families)} GPUs ({ckpt.note}); "
            f"{gpu.key} is {gpu.family}"
        )
    return out

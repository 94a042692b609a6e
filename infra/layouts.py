"""The parallel layouts a plan may use: how tensor, data and expert parallelism split V4 over the GPUs.

Pure; no I/O. Pipeline parallel is never offered (vllm#52761), and vLLM tensor parallel must split each
expert into whole 128-wide FP8 blocks (vllm#40955).
"""

from __future__ import annotations

from infra.catalog import Checkpoint, Engine, Recipe
from infra.memory import Layout
from infra.plan_request import PlanRequest

FP8_BLOCK = 128
STRATEGIES = ("tp-ep", "dp-ep", "tp-dp-ep", "tp")


def layouts(
    ckpt: Checkpoint, engine: Engine, per_node: int, nodes: int, recipe: Recipe | None
) -> list[Layout]:
    """Valid ways to split the model, the recipe's first. Pipeline parallel is never offered."""
    world = per_node * nodes

    def tp_ok(n: int) -> bool:
        return (
            ckpt.attention_heads % n == 0
            and ckpt.expert_width % n == 0
            and (ckpt.expert_width // n) % FP8_BLOCK == 0
        )

    ep_ok = ckpt.routed_experts % world == 0
    found: list[Layout] = []
    if engine.key == "sglang":
        if ckpt.attention_heads % world == 0:
            found.append(Layout("tp", world, 1, False))
        return found
    if nodes > 1:
        # vLLM's multi-node strategy: TP inside a node, DP across nodes, EP over every GPU.
        if tp_ok(per_node) and ep_ok:
            found.append(Layout("tp-dp-ep", per_node, nodes, True))
        if ep_ok:
            found.append(Layout("dp-ep", 1, world, True))
        if tp_ok(world) and ep_ok:
            found.append(Layout("tp-ep", world, 1, True))
    else:
        if tp_ok(world) and ep_ok:
            found.append(Layout("tp-ep", world, 1, world > 1))
        if ep_ok and world > 1:
            found.append(Layout("dp-ep", 1, world, True))
    if recipe is not None:
        found.sort(key=lambda lay: lay.strategy != recipe.strategy)
    return found


def strategy_refusal(ckpt: Checkpoint, engine: Engine, request: PlanRequest, world: int) -> str:
    """Why the strategy the stack asked for has no layout here."""
    if request.strategy in ("tp-ep", "tp") and engine.key == "vllm" and world > 1:
        width = ckpt.expert_width / world
        if ckpt.expert_width % world or (ckpt.expert_width // world) % FP8_BLOCK:
            return (
                f"vLLM tensor parallel over {world} GPUs cannot split {ckpt.repo_id}: an expert width of "
                f"{ckpt.expert_width} / {world} = {width:g} is not a multiple of the {FP8_BLOCK}-wide FP8 block "
                f"(vllm#40955); use data + expert parallel across nodes (TP inside a node) or SGLang TP"
            )
    return f"{engine.key} has no '{request.strategy}' layout for {ckpt.key} over {request.nodes} node(s) x {request.gpus_per_node} GPUs"


def no_layout_reason(ckpt: Checkpoint, world: int) -> str:
    """Why no layout at all splits the model over this many GPUs."""
    return (
        f"no parallel layout splits {ckpt.key} over {world} GPUs: tensor parallel needs "
        f"{ckpt.attention_heads} heads and an expert width of {ckpt.expert_width} divisible in "
        f"{FP8_BLOCK}-wide FP8 blocks, expert parallel needs {ckpt.routed_experts} experts divisible "
        f"by the GPU count, and pipeline parallel is not supported for V4 (vllm#52761)"
    )

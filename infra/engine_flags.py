"""The engine's command line: image and version, argv and environment, and the flag choices behind them.

Pure: a layout and its settings in, an `EngineSpec` out. The planner decides *what* fits; this module
spells it the way each engine's CLI wants it (vLLM `vllm serve`, SGLang `sglang.launch_server`).
"""

from __future__ import annotations

import json

from infra.catalog import Checkpoint, Engine, Gpu, Recipe
from infra.errors import ConfigError
from infra.memory import Layout, Settings
from infra.plan import EngineSpec


def version_tuple(version: str) -> tuple[int, ...]:
    """A version as numbers, "0.20.1" -> (0, 20, 1); non-numeric parts are dropped."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def engine_image(engine: Engine, ckpt: Checkpoint, override: str | None) -> tuple[str, str]:
    """The image and engine version to run: the override as given, else the first catalog tag at or above the checkpoint's minimum."""
    minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
    if override:
        tag = override.rsplit(":", 1)[1] if ":" in override.rsplit("/", 1)[-1] else "latest"
        known = {t.tag: t.version for t in engine.tags}
        version = known.get(tag) or tag.lstrip("v")
        if tag.startswith("deepseekv4-"):
            version = "0.20.0"  # vLLM's day-0 V4 tags
        return override, version
    for t in engine.tags:
        if version_tuple(t.version) >= version_tuple(minimum):
            return f"{engine.image}:{t.tag}", t.version
    raise ConfigError(f"the catalog has no {engine.key} image at or above {minimum} for {ckpt.repo_id}")


def engine_spec(
    ckpt: Checkpoint,
    gpu: Gpu,
    engine: Engine,
    image: str,
    version: str,
    layout: Layout,
    s: Settings,
    speculative: str,
    recipe: Recipe | None,
) -> EngineSpec:
    """The engine's command, argv and environment for one layout and its settings (the recipe's extras last)."""
    env = dict(engine.env)
    if recipe is not None:
        env.update(recipe.env)
    if engine.key == "sglang":
        command: tuple[str, ...] = ("python3", "-m", "sglang.launch_server")
        args = [
            "--model-path",
            ckpt.repo_id,
            "--served-model-name",
            ckpt.repo_id,
            "--host",
            "0.0.0.0",
            "--port",
            str(engine.port),
            *engine.base_args,
            "--tp",
            str(layout.tensor_parallel),
            "--context-length",
            str(s.max_model_len),
            "--mem-fraction-static",
            str(s.gpu_memory_utilization),
            "--max-running-requests",
            str(s.max_num_seqs),
        ]
        if s.enforce_eager:
            args.append("--disable-cuda-graph")
        args += list(recipe.extra_args if recipe else ())
        return EngineSpec(engine.key, image, version, command, tuple(args), env, engine.port)

    args = [
        "--served-model-name",
        ckpt.repo_id,
        "--host",
        "0.0.0.0",
        "--port",
        str(engine.port),
        *engine.base_args,
        "--tensor-parallel-size",
        str(layout.tensor_parallel),
    ]
    if layout.data_parallel > 1:
        args += ["--data-parallel-size", str(layout.data_parallel)]
    if layout.expert_parallel:
        args.append("--enable-expert-parallel")
    args += [
        "--max-model-len",
        str(s.max_model_len),
        "--max-num-seqs",
        str(s.max_num_seqs),
        "--gpu-memory-utilization",
        str(s.gpu_memory_utilization),
    ]
    hopper_pro = gpu.family == "hopper" and ckpt.family == "pro"
    if s.enforce_eager:
        args += ["--enforce-eager", "--max-num-batched-tokens", str(s.max_num_batched_tokens)]
    elif hopper_pro and engine.compilation_hopper_pro:
        args += [*engine.hopper_pro_args, "--compilation-config", engine.compilation_hopper_pro]
    elif engine.compilation_default:
        args += ["--compilation-config", engine.compilation_default]
    args += list(engine.tool_args)
    if speculative == "mtp":
        tokens = 1 if gpu.family == "hopper" and ckpt.family == "flash" else 2
        args += [
            "--speculative-config",
            json.dumps({"method": "mtp", "num_speculative_tokens": tokens}, separators=(",", ":")),
        ]
    elif speculative == "dspark":
        args += [
            "--speculative-config",
            json.dumps(
                {"method": "dspark", "num_speculative_tokens": 7, "draft_sample_method": "probabilistic"},
                separators=(",", ":"),
            ),
        ]
    args += list(recipe.extra_args if recipe else ())
    return EngineSpec(
        engine.key, image, version, ("vllm", "serve", ckpt.repo_id), tuple(args), env, engine.port
    )

"""The engine's command line: image and version, argv and environment, and the flag choices behind them.

Pure: a layout and its settings in, an `EngineSpec` out. The planner decides *what* fits; this module
spells it the way each engine's CLI wants it (vLLM `vllm serve`, SGLang `sglang.launch_server`).
"""

from __future__ import annotations

import json
import re

from infra.catalog import Checkpoint, Engine, EngineTag, Gpu, Recipe
from infra.errors import ConfigError
from infra.memory import Layout, Settings
from infra.plan import EngineSpec

# What a tag must carry to name one engine build: a version number (v0.31.0, 0.5.21, v0.31.0-cu129).
_VERSIONED = re.compile(r"^v?\d+\.\d+")


def version_tuple(version: str) -> tuple[int, ...]:
    """A version as numbers, "0.20.1" -> (0, 20, 1); non-numeric parts are dropped."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _tag_of(image: str) -> str:
    """The tag of an image reference ("latest" when it has none; a registry port is not a tag)."""
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"


def engine_image(engine: Engine, ckpt: Checkpoint, override: str | None) -> tuple[str, str]:
    """The image and engine version to run: the override as given, else the newest catalog tag that loads the checkpoint."""
    if override:
        tag = _tag_of(override)
        known = {t.tag: t.version for t in engine.tags}
        version = known.get(tag) or tag.lstrip("v")
        if tag.startswith("deepseekv4-"):
            version = "0.20.0"  # vLLM's day-0 V4 tags
        return override, version
    t = default_tag(engine, ckpt)
    return f"{engine.image}:{t.tag}", t.version


def default_tags(engine: Engine, ckpt: Checkpoint) -> list[EngineTag]:
    """The tags the planner may choose for a checkpoint, newest first: at or above its minimum, CUDA 13 builds."""
    minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
    # The day-0 tags and CUDA 12 variants are for stacks that pin them, never the default.
    return [
        t
        for t in engine.tags
        if not t.cuda.startswith("12")
        and not t.tag.startswith("deepseekv4-")
        and version_tuple(t.version) >= version_tuple(minimum)
    ]


def default_tag(engine: Engine, ckpt: Checkpoint) -> EngineTag:
    """The newest tag that loads the checkpoint."""
    tags = default_tags(engine, ckpt)
    if not tags:
        minimum = ckpt.min_vllm if engine.key == "vllm" else ckpt.min_sglang
        raise ConfigError(f"the catalog has no {engine.key} image at or above {minimum} for {ckpt.repo_id}")
    return tags[0]


def catalog_tag(engine: Engine, image: str) -> EngineTag | None:
    """The catalog's record of an image reference's tag, when it is one of the engine's own images."""
    if image.split("@", 1)[0].rsplit(":", 1)[0] != engine.image and _tag_of(image) != "latest":
        return None
    return next((t for t in engine.tags if t.tag == _tag_of(image)), None)


def floating_image(engine: Engine, image: str) -> bool:
    """An image that may resolve to another engine build tomorrow: no digest, no version, not a catalog tag."""
    if "@sha256:" in image or catalog_tag(engine, image) is not None:
        return False
    return not _VERSIONED.match(_tag_of(image))


def cuda_note(engine: Engine, tag: EngineTag) -> str:
    """What the host must run for this image, and the tag to use on an older driver."""
    twin = next((t for t in engine.tags if t.version == tag.version and t.cuda.startswith("12")), None)
    older = (
        f"; on an older driver use {engine.image}:{twin.tag} (CUDA {twin.cuda}, driver >= {twin.min_driver})"
        if (twin is not None and twin is not tag)
        else ""
    )
    return (
        f"{engine.image}:{tag.tag} is built for CUDA {tag.cuda}: the host needs NVIDIA driver >= {tag.min_driver}"
        f"{older}"
    )


def spelled(engine: Engine, flag: str, version: str) -> tuple[str, ...]:
    """The arguments that say `flag` to this engine version (the newest spelling the version is at or above)."""
    spellings = engine.flags[flag].spellings
    parsed = version_tuple(version)
    for spelling in spellings:
        if parsed >= version_tuple(spelling.since):
            return spelling.args
    return spellings[-1].args


def refused_spellings(engine: Engine, version: str, args: tuple[str, ...]) -> list[str]:
    """Sentences for every argument in `args` that this engine version must not be given."""
    parsed = version_tuple(version)
    out: list[str] = []
    for flags in engine.flags.values():
        spelling = next(
            (sp for sp in flags.spellings if parsed >= version_tuple(sp.since)), flags.spellings[-1]
        )
        for refused in spelling.refused:
            if all(a in args for a in refused.args):
                use = " ".join(spelling.args)
                out.append(
                    f"{' '.join(refused.args)} is refused for {engine.key} {version}: {refused.why}; use {use}"
                )
    return out


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
        # The recipe's Hopper override; its autotune switch is spelled the way this version spells it.
        autotune = (
            spelled(engine, "autotune_off", version)
            if "autotune_off" in engine.flags
            else engine.hopper_pro_args
        )
        args += [*autotune, "--compilation-config", engine.compilation_hopper_pro]
    elif engine.compilation_default:
        args += ["--compilation-config", engine.compilation_default]
    if gpu.family == "blackwell":
        args += blackwell_args(engine, ckpt, layout, version)
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


def blackwell_args(engine: Engine, ckpt: Checkpoint, layout: Layout, version: str) -> list[str]:
    """The vLLM recipes' Blackwell flags: the FP4 indexer cache always, the FP8-only MoE kernel with EP."""
    out: list[str] = (
        list(spelled(engine, "fp4_indexer_cache", version)) if "fp4_indexer_cache" in engine.flags else []
    )
    # deep_gemm_mega_moe is an FP8-checkpoint MoE kernel, added on the TP+EP and DP+EP strategies only
    # (vllm-project/recipes DeepSeek-V4-{Pro,Flash}.yaml, variants' blackwell overrides; TP-only drops it).
    if ckpt.precision == "fp4-fp8" and layout.expert_parallel and engine.blackwell_fp8_moe_args:
        out += list(engine.blackwell_fp8_moe_args)
    return out

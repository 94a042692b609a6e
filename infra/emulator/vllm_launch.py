"""What one `vllm serve` was asked to do: its flags, parsed as vLLM's CLI parses them, and the pod it runs
in (image, GPUs, load time and injected fault, from the emulator's environment).
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field

from infra.emulator.models import GPUS, GpuSpec, vllm_version_of_image

LAUNCH_FAULTS = ("arch", "keyerror", "oom", "tp16", "pp", "hub401")
SERVING_FAULTS = ("garbled", "slow")
FAULTS = LAUNCH_FAULTS + SERVING_FAULTS


@dataclass
class Launch:
    args: argparse.Namespace
    version: tuple[int, int, int]
    gpu: GpuSpec | None
    gpu_count: int
    fault: str | None
    load_seconds: float
    pid: int = field(default_factory=os.getpid)

    @property
    def world_size(self) -> int:
        # GPUs on this node: a multi-node data-parallel rank runs only its local share (vLLM's
        # --data-parallel-size-local, docs/serving/data_parallel_deployment.md).
        return (
            self.args.tensor_parallel_size
            * self.args.pipeline_parallel_size
            * (self.args.data_parallel_size_local or self.args.data_parallel_size)
        )


def _human_int(text: str) -> int:
    """vLLM's human-readable integers: `200k` = 200000, `1K` = 1024, `1m`, `1M`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}")
    number, suffix = float(match.group(1)), match.group(2)
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}[suffix]
    return int(number * scale)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="vllm serve", add_help=True)
    cli.add_argument("model_tag", nargs="?")
    cli.add_argument("--model")
    cli.add_argument("--host")
    cli.add_argument("--port", type=int, default=8000)
    cli.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    cli.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    cli.add_argument("--data-parallel-size-local", type=int)
    cli.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    cli.add_argument("--enable-expert-parallel", "-ep", action="store_true")
    cli.add_argument("--max-model-len", type=_human_int)
    cli.add_argument("--max-num-seqs", type=int, default=256)
    cli.add_argument("--max-num-batched-tokens", type=_human_int)
    cli.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    cli.add_argument("--kv-cache-dtype", default="auto")
    cli.add_argument("--block-size", type=int)
    cli.add_argument("--served-model-name", nargs="+")
    cli.add_argument("--api-key")
    cli.add_argument("--enforce-eager", action="store_true")
    cli.add_argument("--trust-remote-code", action="store_true")
    cli.add_argument("--speculative-config")
    cli.add_argument("--compilation-config", "-O")
    cli.add_argument("--download-dir")
    cli.add_argument("--revision")
    cli.add_argument("--tokenizer-mode")
    cli.add_argument("--tool-call-parser")
    cli.add_argument("--reasoning-parser")
    cli.add_argument("--enable-auto-tool-choice", action="store_true")
    cli.add_argument("--moe-backend")
    cli.add_argument("--no-enable-flashinfer-autotune", action="store_true")
    cli.add_argument("--enable-prefix-caching", action=argparse.BooleanOptionalAction)
    cli.add_argument("--distributed-executor-backend")
    cli.add_argument("--dtype")
    cli.add_argument("--seed", type=int)
    cli.add_argument("--disable-log-requests", action="store_true")
    cli.add_argument("--uvicorn-log-level")
    return cli


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    cli = parser()
    args, unknown = cli.parse_known_args(argv)
    args.model = args.model_tag or args.model
    if not args.model:
        cli.error("the following arguments are required: model_tag")
    # Unknown long flags pass (the stand-in knows few of vLLM's); stray words and short flags do not.
    if unknown and (not unknown[0].startswith("--") or any(re.match(r"-[^-]", token) for token in unknown)):
        cli.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args, unknown


def nondefault_args(args: argparse.Namespace) -> dict[str, object]:
    defaults = vars(parser().parse_args([]))
    hidden = {"api_key", "model_tag"}
    return {
        key: ("******" if key in hidden else value)
        for key, value in vars(args).items()
        if key not in hidden and defaults.get(key) != value
    }


def launch_from_env(args: argparse.Namespace) -> Launch:
    fault = os.environ.get("EMULATOR_ENGINE_FAULT") or None
    return Launch(
        args=args,
        version=vllm_version_of_image(os.environ.get("EMULATOR_IMAGE", "vllm/vllm-openai:latest")),
        gpu=GPUS.get(os.environ.get("EMULATOR_GPU_TYPE", "")),
        gpu_count=int(os.environ.get("EMULATOR_GPU_COUNT", "0") or 0),
        fault=fault if fault in FAULTS else None,
        load_seconds=float(os.environ.get("EMULATOR_LOAD_SECONDS", "1") or 0),
    )

"""Why did the vLLM engine die? Match its log against known failure signatures, answer in one line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_V4_IMAGE = "use vllm/vllm-openai:v0.20.0 or later (v0.25.0 for -0731/-0813)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Tokens a hub error line might echo back; they never reach a report.
_SECRET = re.compile(r"\bhf_[A-Za-z0-9]{10,}")
_MAX_LINE = 300


@dataclass(frozen=True)
class Signature:
    """One known failure: a regex over a log line, its cause and fix, and how specific it is."""

    name: str
    pattern: re.Pattern[str]
    cause: str
    fix: str
    # Higher wins when several signatures match one log: a root cause beats its consequences.
    rank: int


@dataclass(frozen=True)
class Diagnosis:
    """The cause of an engine failure, its fix, and the log line that showed it."""

    signature: str
    cause: str
    fix: str
    line: str

    def one_line(self) -> str:
        return f"{self.cause} — {self.fix}"


SIGNATURES: tuple[Signature, ...] = (
    # vLLM's model registry error ("Model architectures [...] are not supported for now"); vLLM < 0.20.
    Signature(
        "unsupported-architecture",
        re.compile(r"DeepseekV4ForCausalLM'?\]?\s+(?:is|are)\s+not supported|model type `?deepseek_v4`? but"),
        "vLLM too old for DeepSeek V4",
        _V4_IMAGE,
        90,
    ),
    # The article's example; builds that partly know V4 miss keys of its config (reference: deepseek-v4.md).
    Signature(
        "v4-config-key",
        re.compile(r"KeyError: '(?P<key>[^']*(?:compress|sparse|indexer|hca|csa|mtp|dspark)[^']*)'"),
        "this vLLM build only partly knows the DeepSeek V4 config (KeyError '{key}')",
        _V4_IMAGE + " and keep --trust-remote-code",
        88,
    ),
    # vLLM fp8 block-shape check; vllm#40955, vllm#42384: TP16 gives 3072/16 = 192, not a multiple of 128.
    Signature(
        "tp-divisibility",
        re.compile(
            r"(?P<size>\d+) is not divisible by (?:weight quantization )?block_[nk] = (?P<block>\d+)"
            r"|(?:must be|is not) divisible by tensor parallel size"
        ),
        "the tensor-parallel size does not divide the weights evenly "
        "(vllm#40955: TP16 gives 3072/16 = 192, not a multiple of the 128 FP8 block)",
        "use --tensor-parallel-size 8 with --data-parallel-size and --enable-expert-parallel, "
        "or SGLang with SGLANG_SHARED_EXPERT_TP1=1 for TP16",
        85,
    ),
    # vllm#52761: vLLM refuses pipeline parallelism for V4 ("Pipeline parallelism is not supported ...").
    Signature(
        "pipeline-parallel",
        re.compile(r"Pipeline parallelism is (?:not supported|only supported for)"),
        "vLLM cannot run DeepSeek V4 with pipeline parallelism (vllm#52761)",
        "drop --pipeline-parallel-size; use tensor or data parallel with --enable-expert-parallel",
        85,
    ),
    # PyTorch's CUDA init error when the image's CUDA is newer than the host driver (e.g. cu130 on a 570 host).
    Signature(
        "driver-too-old",
        re.compile(r"NVIDIA driver on your system is too old|CUDA driver version is insufficient"),
        "the host's NVIDIA driver is older than the image's CUDA",
        "use the image tag built for the older CUDA (deepseekv4-cu129) or a host with a newer driver",
        80,
    ),
    # huggingface_hub errors: GatedRepoError / RepositoryNotFoundError text, HTTP 401/403 from the hub.
    Signature(
        "hub-auth",
        re.compile(
            r"GatedRepoError|Cannot access gated repo|Access to model \S+ is restricted"
            r"|\b40[13] Client Error|Invalid user token|RepositoryNotFoundError"
        ),
        "the Hugging Face hub refused the download (gated model, or missing or invalid HF token)",
        "set the HF token secret (HF_TOKEN) to a token whose account accepted the model's license",
        75,
    ),
    # huggingface_hub with HF_HUB_OFFLINE=1: LocalEntryNotFoundError / OfflineModeIsEnabled messages.
    Signature(
        "offline-cache-miss",
        re.compile(
            r"LocalEntryNotFoundError|OfflineModeIsEnabled|offline mode is enabled"
            r"|Cannot find the requested files in the (?:local|disk) cache|outgoing traffic has been disabled"
        ),
        "HF_HUB_OFFLINE is set but the weights are not in the cache",
        "fill the weight cache first (run the download step), or unset HF_HUB_OFFLINE",
        75,
    ),
    # vLLM's KV-cache sizing check: the KV for --max-model-len does not fit next to the weights.
    Signature(
        "kv-cache-too-small",
        re.compile(r"larger than the available KV cache memory|No available memory for the cache blocks"),
        "the KV cache for --max-model-len does not fit in the memory left after the weights",
        "lower --max-model-len (Pro on 8x H200: 200000) or raise --gpu-memory-utilization",
        70,
    ),
    # torch.OutOfMemoryError / torch.cuda.OutOfMemoryError at start; recipes#381 (Pro at 800K on 8x H200).
    Signature(
        "cuda-oom",
        re.compile(r"OutOfMemoryError|CUDA out of memory|CUDA error: out of memory"),
        "the GPUs ran out of memory (weights plus workspace exceed them)",
        "lower --max-model-len and --max-num-seqs, or use more GPUs",
        65,
    ),
    # NCCL failures between ranks, often a consequence of a crash elsewhere, hence the lower rank.
    Signature(
        "nccl",
        re.compile(
            r"NCCL error|nccl(?:System|Internal|UnhandledCuda|Remote|InvalidUsage)Error"
            r"|Watchdog caught collective operation timeout"
        ),
        "NCCL failed between the GPUs",
        "give the pod a large /dev/shm, set NCCL_CUMEM_ENABLE=1, and rerun with NCCL_DEBUG=INFO",
        50,
    ),
    # Any other KeyError while the engine builds the model.
    Signature(
        "config-key",
        re.compile(r"KeyError: '(?P<key>[^']+)'"),
        "the engine met a config key it does not know (KeyError '{key}')",
        _V4_IMAGE + " and keep --trust-remote-code",
        40,
    ),
    # vLLM's generic wrapper: "RuntimeError: Engine core initialization failed. See root cause above."
    Signature(
        "engine-core-failed",
        re.compile(r"Engine core initialization failed"),
        "the vLLM engine core failed to start",
        "read the first error above this line in the engine log",
        10,
    ),
)


def _clean(line: str) -> str:
    return _SECRET.sub("hf_***", _ANSI.sub("", line)).strip()


def diagnose(log_lines: Iterable[str], signatures: Iterable[Signature] = SIGNATURES) -> Diagnosis | None:
    """The most specific known failure in the log (the earliest line among equals), or None."""
    table = tuple(signatures)
    best: tuple[Signature, re.Match[str], str] | None = None
    for raw in log_lines:
        line = _clean(raw)
        for signature in table:
            if best is not None and signature.rank <= best[0].rank:
                continue
            match = signature.pattern.search(line)
            if match is not None:
                best = (signature, match, line)
    if best is None:
        return None
    signature, match, line = best
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    shown = line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."
    return Diagnosis(signature.name, signature.cause.format(**groups), signature.fix.format(**groups), shown)

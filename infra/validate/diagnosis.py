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
    # transformers >= 4.57 normalises V4's config (compress_ratios -> compress_rates + layer_types,
    # rope_scaling -> rope_parameters); engines reading the old keys die at layer init (vllm#42741, sglang#34092).
    Signature(
        "transformers-config-rename",
        re.compile(r"'DeepseekV4Config' object has no attribute '(?P<key>compress_ratios|rope_scaling)'"),
        "transformers >= 4.57 renamed DeepSeek V4 config keys ('{key}' is gone; vllm#42741, sglang#34092)",
        "run the transformers the engine image ships (do not upgrade it in the container) and serve the "
        "checkpoint's own config.json, not one re-saved by transformers >= 4.57",
        89,
    ),
    # V4.1 checkpoints declare DeepseekV41ForCausalLM / model_type deepseek_v41: SGLang <= 0.5.20 registers
    # neither (SemiAnalysisAI/InferenceX PR #3284; 0.5.21 adds srt/configs/deepseek_v41.py), nor does vLLM
    # before 0.30.0 (its registry.py). Messages: SGLang/vLLM registry, transformers' AutoConfig.
    Signature(
        "v41-unregistered",
        re.compile(
            r"DeepseekV41ForCausalLM'?\]?\s+(?:is|are)\s+not supported"
            r"|model type `?deepseek_v41`? but Transformers does not recognize"
        ),
        "this engine does not register DeepSeek V4.1 (DeepseekV41ForCausalLM): SGLang <= 0.5.20 and vLLM "
        "before 0.30.0 have no V4.1 support (SemiAnalysisAI/InferenceX PR #3284)",
        "use lmsysorg/sglang:v0.5.21 or later, or vllm/vllm-openai:v0.30.0 or later",
        90,
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
    # The image's CUDA is newer than the host driver: PyTorch's CUDA init error, the CUDA runtime's, or the
    # NVIDIA container runtime refusing to start it. vLLM >= 0.20 and SGLang >= 0.5.11 images are CUDA 13,
    # which needs driver >= 580 (NVIDIA CUDA compatibility table); vLLM publishes -cu129 tags for older drivers.
    Signature(
        "driver-too-old",
        re.compile(
            r"NVIDIA driver on your system is too old|CUDA driver version is insufficient"
            r"|unsatisfied condition: cuda\s*>=\s*\d"
        ),
        "the host's NVIDIA driver is older than the image's CUDA (CUDA 13 images need driver >= 580)",
        "use the release's -cu129 tag (e.g. vllm/vllm-openai:v0.31.0-cu129) or a host with NVIDIA driver >= 580",
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
    # vLLM's NaN-in-logits counter ("Corrupted: %d reqs", logged when VLLM_COMPUTE_NANS_IN_LOGITS=1;
    # vllm/v1/metrics/loggers.py): garbled output, as in vllm#43416 (V4-Flash, open) and vllm#41331 (V4 with
    # CUDA graphs under concurrent identical requests). The accuracy stage catches it without the counter.
    Signature(
        "garbled-output",
        re.compile(r"Corrupted: [1-9]\d* reqs"),
        "the engine produced corrupted (NaN) logits: garbled output (vllm#43416, vllm#41331)",
        "rerun the accuracy stage with --enforce-eager to rule CUDA graphs in or out (vllm#41331), "
        "and pin the last image that passed it",
        60,
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
    # vLLM's periodic stats line (vllm/v1/metrics/loggers.py) with requests running and nothing processed:
    # no first token under concurrency, as DeepSeek-V4.1-Flash on 8x H200 with a nightly image (vllm#58233,
    # TTFT 2-15 min at concurrency 8, open). A symptom, so any root cause above outranks it.
    Signature(
        "no-first-token",
        re.compile(
            r"Avg prompt throughput: 0\.0 tokens/s, Avg generation throughput: 0\.0 tokens/s, "
            r"Running: [1-9]\d* reqs"
        ),
        "requests are running but the engine emits no tokens (no first token under concurrency, vllm#58233)",
        "lower --max-num-seqs and the load's concurrency, and pin a released image instead of a nightly "
        "(vllm#58233 ran vllm/vllm-openai:nightly)",
        30,
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

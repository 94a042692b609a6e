"""Engine failure diagnosis: real vLLM / huggingface_hub / PyTorch error lines map to cause and fix."""

from __future__ import annotations

import pytest

from infra.validate.diagnosis import diagnose

# What a vLLM start prints before things go wrong; it matches no signature on its own.
PREAMBLE = [
    "(APIServer pid=754) INFO 05-21 08:02:46 [utils.py:299]  version 0.20.1",
    "(APIServer pid=754) INFO 05-21 08:02:46 [utils.py:233] non-default args: {'model_tag': "
    "'deepseek-ai/DeepSeek-V4-Flash', 'trust_remote_code': True, 'kv_cache_dtype': 'fp8', 'block_size': 256}",
    "(EngineCore_DP0 pid=811) INFO 05-21 08:03:10 [parallel_state.py:1208] world_size=8 rank=0 backend=nccl",
    "(EngineCore_DP0 pid=811) INFO 05-21 08:03:12 [gpu_model_runner.py:2338] Starting to load model",
]
ENGINE_CORE = (
    "(APIServer pid=754) RuntimeError: Engine core initialization failed. "
    "See root cause above. Failed core proc(s): {}"
)

CASES = {
    "unsupported-architecture": (
        "ValueError: Model architectures ['DeepseekV4ForCausalLM'] are not supported for now. "
        "Supported architectures: dict_keys(['AquilaModel', 'DeepseekV3ForCausalLM'])",
        "vLLM too old for DeepSeek V4 — use vllm/vllm-openai:v0.20.0 or later (v0.25.0 for -0731/-0813)",
    ),
    "v4-config-key": (
        "(EngineCore_DP0 pid=811) KeyError: 'compressed_sparse_attention'",
        "this vLLM build only partly knows the DeepSeek V4 config (KeyError 'compressed_sparse_attention')",
    ),
    "tp-divisibility": (
        "(Worker_TP3 pid=902) ValueError: Weight input_size_per_partition = 192 is not divisible by "
        "weight quantization block_k = 128.",
        "the tensor-parallel size does not divide the weights evenly",
    ),
    "pipeline-parallel": (
        "NotImplementedError: Pipeline parallelism is not supported for this model. "
        "Supported models implement the `SupportsPP` interface.",
        "vLLM cannot run DeepSeek V4 with pipeline parallelism (vllm#52761)",
    ),
    "hub-auth": (
        "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6650-abc) "
        "Cannot access gated repo for url https://huggingface.co/deepseek-ai/DeepSeek-V4-Pro/resolve/main/config.json.",
        "the Hugging Face hub refused the download",
    ),
    "offline-cache-miss": (
        "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find the requested files in the disk cache and "
        "outgoing traffic has been disabled. To enable hf.co look-ups and downloads online, set "
        "'local_files_only' to False.",
        "HF_HUB_OFFLINE is set but the weights are not in the cache",
    ),
    "cuda-oom": (
        "(Worker_TP0 pid=890) torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.50 GiB. "
        "GPU 0 has a total capacity of 139.80 GiB of which 3.12 GiB is free.",
        "the GPUs ran out of memory",
    ),
    "kv-cache-too-small": (
        "ValueError: To serve at least one request with the models's max seq len (1048576), (18.2 GiB KV cache "
        "is needed, which is larger than the available KV cache memory (9.1 GiB). Try increasing "
        "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.",
        "the KV cache for --max-model-len does not fit",
    ),
    "nccl": (
        "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:317, "
        "unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.27.3",
        "NCCL failed between the GPUs",
    ),
    "driver-too-old": (
        "RuntimeError: The NVIDIA driver on your system is too old (found version 12080). Please update your "
        "GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx",
        "the host's NVIDIA driver is older than the image's CUDA",
    ),
    "engine-core-failed": (ENGINE_CORE, "the vLLM engine core failed to start"),
    # vllm#42741 / sglang#34092: the AttributeError as both issues print it.
    "transformers-config-rename": (
        "(Worker_TP0 pid=902) AttributeError: 'DeepseekV4Config' object has no attribute 'compress_ratios'. "
        "Did you mean: 'compress_rates'?",
        "transformers >= 4.57 renamed DeepSeek V4 config keys ('compress_ratios' is gone; vllm#42741, sglang#34092)"
        " — run the transformers the engine image ships",
    ),
    # SGLang's registry message (sglang/srt/models/registry.py, 0.5.20 wheel) for a V4.1 checkpoint.
    "v41-unregistered": (
        "ValueError: Model architectures ['DeepseekV41ForCausalLM'] are not supported for now. "
        "Supported architectures: dict_keys(['DeepseekV4ForCausalLM', 'DeepseekV4ForCausalLMDSpark'])",
        "this engine does not register DeepSeek V4.1 (DeepseekV41ForCausalLM)",
    ),
    # vLLM's stats line format (vllm/v1/metrics/loggers.py, 0.33.0 wheel) while nothing moves (vllm#58233).
    "no-first-token": (
        "(APIServer pid=754) INFO 09-23 10:00:01 [loggers.py:271] Engine 000: Avg prompt throughput: 0.0 tokens/s, "
        "Avg generation throughput: 0.0 tokens/s, Running: 8 reqs, Waiting: 0 reqs, GPU KV cache usage: 2.1%",
        "requests are running but the engine emits no tokens (no first token under concurrency, vllm#58233)",
    ),
    # The same stats line with VLLM_COMPUTE_NANS_IN_LOGITS=1 ("Corrupted: %d reqs", vllm/v1/metrics/loggers.py).
    "garbled-output": (
        "(APIServer pid=754) INFO 09-23 10:00:11 [loggers.py:271] Engine 000: Avg prompt throughput: 812.4 tokens/s, "
        "Avg generation throughput: 96.0 tokens/s, Running: 8 reqs, Waiting: 0 reqs, GPU KV cache usage: 4.0%, "
        "Corrupted: 3 reqs",
        "the engine produced corrupted (NaN) logits: garbled output (vllm#43416, vllm#41331)",
    ),
}

# More real lines per signature: the NVIDIA container runtime refusing a CUDA 13 image on a 570 driver.
MORE = {
    "driver-too-old": [
        "docker: Error response from daemon: failed to create task for container: failed to create shim task: "
        "OCI runtime create failed: runc create failed: unable to start container process: error during container "
        "init: error running prestart hook #0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy' "
        "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=13.0, please update your driver "
        "to a newer version, or use an earlier cuda container: unknown",
        "RuntimeError: CUDA driver version is insufficient for CUDA runtime version",
    ],
    "v41-unregistered": [
        "ValueError: The checkpoint you are trying to load has model type `deepseek_v41` but Transformers does not "
        "recognize this architecture. This could be because of an issue with the checkpoint, or because your "
        "version of Transformers is out of date.",
    ],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_signature_maps_its_real_log_line_to_its_cause(name: str) -> None:
    line, expected = CASES[name]
    diagnosis = diagnose([*PREAMBLE, line, "Traceback (most recent call last):"])
    assert diagnosis is not None
    assert diagnosis.signature == name
    assert diagnosis.one_line().startswith(expected)
    assert "\n" not in diagnosis.one_line()
    assert diagnosis.line == line.strip()


def test_a_healthy_or_unrelated_log_has_no_diagnosis() -> None:
    healthy = [*PREAMBLE, "(APIServer pid=754) INFO:     Application startup complete."]
    assert diagnose(healthy) is None
    assert diagnose([]) is None
    assert diagnose(["Ign:1 http://deb.debian.org/debian bookworm InRelease", "HF_HUB_OFFLINE=1"]) is None


def test_the_root_cause_beats_the_engine_core_line_and_nccl_fallout() -> None:
    oom = CASES["cuda-oom"][0]
    nccl = CASES["nccl"][0]
    diagnosis = diagnose([*PREAMBLE, oom, nccl, ENGINE_CORE])
    assert diagnosis is not None
    assert diagnosis.signature == "cuda-oom"
    assert diagnosis.one_line() == (
        "the GPUs ran out of memory (weights plus workspace exceed them) — "
        "lower --max-model-len and --max-num-seqs, or use more GPUs"
    )


def test_a_v4_config_key_beats_a_generic_key_error() -> None:
    lines = ["KeyError: 'rope_scaling'", "KeyError: 'hca_compress_ratio'"]
    diagnosis = diagnose(lines)
    assert diagnosis is not None
    assert diagnosis.signature == "v4-config-key"
    generic = diagnose([lines[0], ENGINE_CORE])
    assert generic is not None
    assert generic.one_line().startswith(
        "the engine met a config key it does not know (KeyError 'rope_scaling')"
    )


def test_colour_codes_are_ignored_and_tokens_are_masked() -> None:
    token = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    line = f"\x1b[1;31mERROR\x1b[0m 401 Client Error: Unauthorized for url (Invalid user token {token})"
    diagnosis = diagnose([line])
    assert diagnosis is not None
    assert diagnosis.signature == "hub-auth"
    assert token not in diagnosis.line
    assert diagnosis.line.startswith("ERROR 401 Client Error")


@pytest.mark.parametrize(("name", "line"), [(n, line) for n, lines in sorted(MORE.items()) for line in lines])
def test_other_real_lines_of_a_signature_map_to_it(name: str, line: str) -> None:
    diagnosis = diagnose([*PREAMBLE, line])
    assert diagnosis is not None and diagnosis.signature == name


def test_the_driver_fix_names_the_cu129_tag_and_driver_580() -> None:
    diagnosis = diagnose([CASES["driver-too-old"][0]])
    assert diagnosis is not None
    assert "-cu129" in diagnosis.fix and ">= 580" in diagnosis.fix


def test_a_v4_architecture_error_is_not_taken_for_v41_and_back() -> None:
    v4 = diagnose([CASES["unsupported-architecture"][0]])
    v41 = diagnose([CASES["v41-unregistered"][0]])
    assert v4 is not None and v4.signature == "unsupported-architecture"
    assert v41 is not None and v41.signature == "v41-unregistered"


def test_a_busy_or_idle_stats_line_is_no_stall_and_no_corruption() -> None:
    busy = CASES["no-first-token"][0].replace(
        "Avg generation throughput: 0.0", "Avg generation throughput: 41.3"
    )
    idle = CASES["no-first-token"][0].replace("Running: 8 reqs", "Running: 0 reqs")
    clean = CASES["garbled-output"][0].replace("Corrupted: 3 reqs", "Corrupted: 0 reqs")
    assert diagnose([*PREAMBLE, busy, idle, clean]) is None


def test_a_root_cause_outranks_the_stall_it_causes() -> None:
    diagnosis = diagnose([CASES["no-first-token"][0], CASES["nccl"][0]])
    assert diagnosis is not None and diagnosis.signature == "nccl"

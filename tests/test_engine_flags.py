"""The engine's command line as the planner hands it over: the flags each recipe requires, per layout."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.engine_flags import engine_image, version_tuple
from infra.errors import ConfigError
from infra.planner import PlanRequest, plan

CAT = load_catalog()


def test_pro_on_8xh200_follows_the_hopper_recipe():
    p = plan(PlanRequest("pro", "H200", 8))
    args = list(p.engine.args)
    assert args[args.index("--max-model-len") + 1] == "200000"
    assert args[args.index("--max-num-seqs") + 1] == "16"
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.95"
    assert "--no-enable-flashinfer-autotune" in args
    assert '{"mode":0,"cudagraph_mode":"FULL_DECODE_ONLY"}' in args


@pytest.mark.parametrize("stack_model", ["flash", "pro", "flash-0731", "pro-0813"])
def test_flags_every_recipe_requires(stack_model):
    gpu, count = ("H200", 8)
    p = plan(PlanRequest(stack_model, gpu, count))
    args = list(p.engine.args)
    for flag in ("--trust-remote-code", "--enable-expert-parallel", "--tokenizer-mode", "--reasoning-parser"):
        assert flag in args
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"
    assert args[args.index("--block-size") + 1] == "256"
    assert p.engine.command == ("vllm", "serve", p.model)
    assert p.engine.env["HF_HUB_OFFLINE"] == "1"


def test_newer_checkpoints_get_the_newer_image():
    # v0.31.0 is the newest vLLM image in the catalog (read 2026-12-02); it loads every checkpoint planned.
    assert plan(PlanRequest("flash", "H200", 4)).engine.image.endswith(":v0.31.0")
    assert plan(PlanRequest("pro-0813", "H200", 8)).engine.image == "vllm/vllm-openai:v0.31.0"


@pytest.mark.parametrize("count", range(1, 17))
@pytest.mark.parametrize("model", ["flash", "pro"])
def test_parallel_sizes_multiply_to_the_gpu_count(model, count):
    p = plan(PlanRequest(model, "H200", count, target="kubernetes"))
    if p.verdict == "no-fit":
        return
    assert p.tensor_parallel * p.data_parallel == count
    args = list(p.engine.args)
    assert args[args.index("--tensor-parallel-size") + 1] == str(p.tensor_parallel)
    dp = int(args[args.index("--data-parallel-size") + 1]) if "--data-parallel-size" in args else 1
    assert dp == p.data_parallel
    assert "--pipeline-parallel-size" not in args


def test_speculative_decoding_is_opt_in_and_checked():
    p = plan(PlanRequest("flash", "H200", 4, speculative="mtp"))
    assert '{"method":"mtp","num_speculative_tokens":1}' in p.engine.args
    assert "--speculative-config" not in plan(PlanRequest("flash", "H200", 4)).engine.args
    # -0731 ships a DSpark draft module and no MTP head (vLLM Flash recipe, read 2026-12-02).
    with pytest.raises(ConfigError, match=r"needs a checkpoint with that draft head.*has a dspark head"):
        plan(PlanRequest("flash-0731", "H200", 4, speculative="mtp"))


def test_an_image_override_keeps_its_reference_and_reads_its_version_from_the_tag():
    vllm, flash = CAT.engine("vllm"), CAT.checkpoint("flash")
    assert engine_image(vllm, flash, "registry.local/vllm:v0.21.3") == (
        "registry.local/vllm:v0.21.3",
        "0.21.3",
    )
    # An untagged reference (a registry port is not a tag) is "latest", which no version check can read.
    assert engine_image(vllm, flash, "registry.local:5000/vllm")[1] == "latest"
    assert version_tuple("latest") == () and version_tuple("0.20.1") == (0, 20, 1)

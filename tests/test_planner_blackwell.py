"""Blackwell plans: the recipes' Blackwell flags, the NVFP4 checkpoints, the presets and their evidence."""

from __future__ import annotations

from infra.catalog import load_catalog
from infra.engine_flags import blackwell_args
from infra.memory import Layout
from infra.planner import PlanRequest, plan

CAT = load_catalog()

MEGA_MOE = ["--moe-backend", "deep_gemm_mega_moe"]


def _has(args: tuple[str, ...], seq: list[str]) -> bool:
    return any(list(args[i : i + len(seq)]) == seq for i in range(len(args)))


def test_pro_no_longer_hits_unknown_gpu_on_b200_and_gets_the_blackwell_flags():
    p = plan(PlanRequest("pro", "B200", 8))
    assert p.verdict == "fits" and p.strategy == "tp-ep"
    assert p.max_model_len == 1_048_576  # 8x 178 GiB hold the weights and the full context
    assert _has(p.engine.args, MEGA_MOE) and "--attention_config.indexer_kv_dtype=mxfp4" in p.engine.args
    assert "--compilation-config" in p.engine.args and "--no-enable-flashinfer-autotune" not in p.engine.args


def test_the_nvfp4_checkpoints_plan_on_blackwell_only_and_without_the_fp8_moe_kernel():
    p = plan(PlanRequest("flash-nvfp4", "B200", 4))
    assert p.verdict == "fits" and not _has(p.engine.args, MEGA_MOE)
    assert "--attention_config.indexer_kv_dtype=mxfp4" in p.engine.args
    hopper = plan(PlanRequest("pro-nvfp4", "H200", 8))
    assert (
        hopper.verdict == "no-fit"
        and "for blackwell GPUs" in hopper.reasons[0]
        and "H200 is hopper" in hopper.reasons[0]
    )


def test_a_layout_without_expert_parallel_drops_the_fp8_moe_kernel_as_the_recipe_does():
    vllm, flash = CAT.engine("vllm"), CAT.checkpoint("flash")
    assert blackwell_args(vllm, flash, Layout("tp", 4, 1, False), "0.31.0") == [
        "--attention_config.indexer_kv_dtype=mxfp4"
    ]
    assert blackwell_args(vllm, flash, Layout("tp-ep", 4, 1, True), "0.31.0")[1:] == MEGA_MOE


def test_pro_on_8x_b200_is_verified_by_the_one_measured_run_and_flash_on_4x_by_its_publisher_only():
    pro = plan(PlanRequest("pro", "B200", 8))
    assert pro.verified and pro.max_num_seqs == 32 and "Lambda" in pro.verified_detail
    flash = plan(PlanRequest("flash", "B200", 4))
    assert not flash.verified and flash.strategy == "dp-ep"
    assert flash.verified_detail.startswith("verified by its publisher, no published numbers")


def test_a_point_from_another_engine_build_is_named():
    t = plan(PlanRequest("flash", "B200", 4)).throughput
    assert (
        t is not None
        and "a point from another engine build: it ran sglang 0.5.15, the plan runs vllm 0.31.0"
        in t.extrapolation
    )
    own = plan(
        PlanRequest("flash", "H200", 4, engine="sglang", image="lmsysorg/sglang:v0.5.15.post1")
    ).throughput
    assert own is not None and "ran sglang 0.5.15," in own.extrapolation  # 0.5.15.post1 is another build


def test_sglang_tp16_on_h100_is_the_publishers_cell_without_numbers():
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", engine="sglang"))
    assert not p.verified and p.verified_detail.startswith("verified by its publisher, no published numbers")
    assert "H20" in p.verified_detail  # the measured TP16 runs are on H20
    assert p.engine.env["SGLANG_SHARED_EXPERT_TP1"] == "1"

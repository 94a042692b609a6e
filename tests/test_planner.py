"""The planner against the published facts (shared/reference/deepseek-v4.md)."""

from __future__ import annotations

import pytest

from infra.catalog import GIB, load_catalog
from infra.errors import PlanError
from infra.planner import PlanRequest, plan, require_deployable

CAT = load_catalog()


@pytest.mark.parametrize(
    ("model", "gpu", "count", "capacity_gb"),
    [
        ("pro", "H100-SXM", 8, 684),
        ("pro", "H200", 4, 603),
        ("flash", "H200", 1, 151),
        ("flash", "H100-SXM", 1, 86),
    ],
)
def test_refused_with_the_arithmetic(model, gpu, count, capacity_gb):
    p = plan(PlanRequest(model, gpu, count))
    assert p.verdict == "no-fit"
    weights_gb = round(CAT.checkpoint(model).weights_bytes / 1e9)
    assert f"{weights_gb:,} GB" in p.reasons[0]
    assert f"{capacity_gb:,} GB" in p.reasons[0]
    assert p.alternatives, "a refusal names what would fit"
    assert all(plan(PlanRequest(model, a.gpu, a.gpu_count)).verdict == "fits" for a in p.alternatives)
    with pytest.raises(PlanError, match="does not fit") as err:
        require_deployable(p)
    assert p.alternatives[0].gpu in str(err.value)


def test_pro_at_one_million_context_on_8xh200_is_not_a_fit():
    # recipes#381: Pro OOMs at 800K on 8x H200; the full 1M context cannot be served there.
    p = plan(PlanRequest("pro", "H200", 8, max_model_len=1_048_576))
    assert p.verdict != "fits"


def test_an_image_too_old_is_refused_before_anything_is_rented():
    p = plan(PlanRequest("flash", "H200", 4, image="vllm/vllm-openai:v0.7.0"))
    assert p.verdict == "no-fit"
    assert "0.7.0 cannot load" in p.reasons[0] and ">= 0.20.0" in p.reasons[0]
    p = plan(PlanRequest("pro-0813", "H200", 8, image="vllm/vllm-openai:v0.20.0"))
    assert p.verdict == "no-fit" and ">= 0.25.0" in p.reasons[0]
    assert plan(PlanRequest("flash", "H200", 4, image="vllm/vllm-openai:deepseekv4-cu129")).verdict == "fits"


def test_sglang_tp16_for_pro_on_h100_takes_the_h20_flags_but_not_their_label():
    # sglang#23911/#23933 ran TP16 on H20; on H100 the same flags are planned, unverified.
    sg = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", engine="sglang"))
    assert sg.verdict == "fits" and not sg.verified
    assert "H20" in sg.verified_detail and "sglang#23911" in sg.verified_detail
    assert sg.engine.env["SGLANG_SHARED_EXPERT_TP1"] == "1"
    assert "--moe-runner-backend" in sg.engine.args


def test_flash_on_2xh100_is_only_a_tight_fit_that_needs_an_opt_in():
    p = plan(PlanRequest("flash", "H100-SXM", 2))
    assert p.verdict == "tight" and not p.verified
    assert p.enforce_eager and "--enforce-eager" in p.engine.args
    assert p.max_model_len <= 16_384 and p.max_num_seqs <= 8
    assert any("eager" in r for r in p.reduced_settings)
    with pytest.raises(PlanError, match="acceptTight"):
        require_deployable(p)
    require_deployable(p, accept_tight=True)


def test_memory_terms_add_up():
    for req in (
        PlanRequest("pro", "H200", 8),
        PlanRequest("flash", "H200", 4),
        PlanRequest("flash", "H100-SXM", 2),
    ):
        m = plan(req).memory
        assert m.usable_bytes == int(m.cuda_bytes * m.gpu_memory_utilization)
        assert m.reported_bytes - m.cuda_bytes == 143771 * 1024**2 - 150109880320  # measured on an H200
        assert m.weights_bytes + m.reserve_bytes + m.kv_cache_bytes == m.usable_bytes
        assert m.kv_tokens * m.kv_bytes_per_token <= m.kv_cache_bytes


def test_dp_replicates_the_dense_part_and_tp_does_not():
    ckpt = CAT.checkpoint("flash")
    dp = plan(PlanRequest("flash", "H200", 4))  # the recipe's DP4+EP
    assert dp.strategy == "dp-ep"
    assert dp.memory.weights_bytes == ckpt.dense_bytes + ckpt.expert_bytes // 4
    tp = plan(PlanRequest("flash", "H100-SXM", 4))
    assert tp.strategy == "tp-ep" and tp.memory.weights_bytes == ckpt.weights_bytes // 4


def test_custom_checkpoint_uses_its_own_size():
    cat = CAT.with_custom_checkpoint("acme/V4-Flash-finetune", 170_000_000_000, "flash")
    p = plan(PlanRequest("acme/V4-Flash-finetune", "H200", 4), cat)
    assert p.model == "acme/V4-Flash-finetune" and p.weights_bytes == 170_000_000_000
    assert p.engine.command[-1] == "acme/V4-Flash-finetune"


def test_runpod_plans_nodes_as_an_instant_cluster_of_at_most_eight_gpus_each():
    p = plan(PlanRequest("flash", "H200", 8, nodes=2, target="runpod"))
    assert p.verdict != "no-fit" and [r.node_rank for r in p.roles] == [0, 1]
    wide = plan(PlanRequest("flash", "H200", 16, target="runpod"))
    assert wide.verdict == "no-fit" and any("use 2 nodes of 8" in r for r in wide.reasons)


def test_kv_figures_come_from_the_reference():
    # Pro: 9.62 GiB per 1M-token sequence in bf16, stored as FP8 (half).
    pro = plan(PlanRequest("pro", "H200", 8)).memory
    assert pro.kv_bytes_per_token * 1_048_576 / GIB == pytest.approx(9.62 / 2, rel=0.02)

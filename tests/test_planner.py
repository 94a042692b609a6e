"""The planner against the published facts (shared/reference/deepseek-v4.md)."""

from __future__ import annotations

import pytest

from infra.catalog import GIB, load_catalog
from infra.planner import PlanRequest, plan

CAT = load_catalog()


def test_sglang_tp16_for_pro_on_h100_takes_the_h20_flags_but_not_their_label():
    # sglang#23911/#23933 ran TP16 on H20; on H100 the same flags are planned, unverified.
    sg = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", engine="sglang"))
    assert sg.verdict == "fits" and not sg.verified
    assert "H20" in sg.verified_detail and "sglang#23911" in sg.verified_detail
    assert sg.engine.env["SGLANG_SHARED_EXPERT_TP1"] == "1"
    assert "--moe-runner-backend" in sg.engine.args


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


def test_custom_checkpoint_uses_its_own_size():
    cat = CAT.with_custom_checkpoint("acme/V4-Flash-finetune", 170_000_000_000, "flash")
    p = plan(PlanRequest("acme/V4-Flash-finetune", "H200", 4), cat)
    assert p.model == "acme/V4-Flash-finetune" and p.weights_bytes == 170_000_000_000
    assert p.engine.command[-1] == "acme/V4-Flash-finetune"


def test_kv_figures_come_from_the_reference():
    # Pro: 9.62 GiB per 1M-token sequence in bf16, stored as FP8 (half).
    pro = plan(PlanRequest("pro", "H200", 8)).memory
    assert pro.kv_bytes_per_token * 1_048_576 / GIB == pytest.approx(9.62 / 2, rel=0.02)

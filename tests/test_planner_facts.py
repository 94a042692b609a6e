"""Each dated fact in infra/data (shared/reference/deepseek-v4.md, "Added 2026-11-30") holds in the plans."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.planner import PlanRequest, plan

CAT = load_catalog()


def test_no_alternative_ever_suggests_ampere_for_vllm():
    for model in ("flash", "pro", "flash-0731", "pro-0813"):
        p = plan(PlanRequest(model, "H100-SXM", 1))
        assert all(CAT.gpu(a.gpu).family != "ampere" for a in p.alternatives)


def test_flash_0731_is_planned_at_its_own_size_and_recipe_minimum():
    ckpt = CAT.checkpoint("flash-0731")
    assert ckpt.weights_bytes == 167_000_000_000 and ckpt.vram_minimum_gb == 200
    p = plan(PlanRequest("flash-0731", "H200", 4))
    assert p.weights_bytes == 167_000_000_000
    assert "167 GB" in p.reasons[0]
    # Flash fits 2x H100 tightly; the 7 GB larger -0731 puts 77.8 GiB on each GPU and does not.
    small = plan(PlanRequest("flash-0731", "H100-SXM", 2))
    assert small.verdict == "no-fit" and "167 GB" in small.reasons[0]
    assert plan(PlanRequest("flash", "H100-SXM", 2)).verdict == "tight"


def test_a_plan_below_the_recipe_minimum_says_so():
    p = plan(PlanRequest("flash", "H100-SXM", 2))
    assert any("below the vLLM recipe's minimum of 170 GB" in r and "159 GiB" in r for r in p.reasons)
    assert not any("minimum" in r for r in plan(PlanRequest("flash", "H200", 4)).reasons)


def test_speculative_options_follow_what_each_checkpoint_ships():
    assert CAT.checkpoint("pro-0813").speculative == "dspark"
    # The vLLM Flash recipe (read 2026-12-02) says -0731 carries the same fused DSpark draft module.
    assert CAT.checkpoint("flash-0731").speculative == "dspark"
    assert "no MTP head" in CAT.checkpoint("flash-0731").speculative_note
    with pytest.raises(ConfigError, match="has a dspark head"):
        plan(PlanRequest("flash-0731", "H200", 4, speculative="mtp"))
    p = plan(PlanRequest("flash-0731", "H200", 4, speculative="dspark"))
    assert any('"method":"dspark"' in a for a in p.engine.args)
    p = plan(PlanRequest("pro-0813", "H200", 8, speculative="dspark"))
    assert any('"method":"dspark"' in a for a in p.engine.args)


def test_throughput_follows_the_declared_load_and_names_its_source():
    two = plan(PlanRequest("pro", "H200", 8, concurrency=2)).throughput
    eight = plan(PlanRequest("pro", "H200", 8, concurrency=8)).throughput
    assert two is not None and eight is not None
    assert two.output_tokens_per_s == 95 and eight.output_tokens_per_s == 367  # the published points
    assert "concurrency 2" in two.source and "concurrency 8" in eight.source
    five = plan(PlanRequest("pro", "H200", 8, concurrency=5)).throughput
    assert five is not None and 95 < five.output_tokens_per_s < 367
    assert "interpolated between concurrency 2 and 8" in five.extrapolation
    assert "64K in / 400 out" in five.extrapolation  # the lengths differ from the points, and it says so


def test_concurrency_beyond_max_num_seqs_is_capped_and_said():
    t = plan(PlanRequest("pro", "H200", 8, concurrency=64)).throughput
    assert t is not None and t.concurrency == 16 and t.declared_concurrency == 64
    assert "capped at 16" in t.extrapolation


def test_a_custom_checkpoint_is_not_held_to_a_recipe_minimum_it_never_had():
    cat = CAT.with_custom_checkpoint("acme/flash-ft", 150_000_000_000, "flash")
    p = plan(PlanRequest("acme/flash-ft", "H100-SXM", 2), cat)
    assert not any("recipe's minimum" in r for r in p.reasons)

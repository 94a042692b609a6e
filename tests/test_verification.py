"""Verified only where a published run served the configuration (infra/data/recipes.yaml, with sources)."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.planner import PlanRequest, plan

CAT = load_catalog()


def _measured(recipe):
    return any(run.outcome == "served" for run in recipe.runs)


@pytest.mark.parametrize(
    "recipe",
    [r for r in CAT.recipes if r.gpu in CAT.gpus and _measured(r)],
    ids=lambda r: f"{r.model}-{r.gpus_per_node}x{r.gpu}x{r.nodes}-{r.engine}",
)
def test_every_published_recipe_fits_and_is_verified(recipe):
    target = "kubernetes" if recipe.nodes > 1 else "runpod"
    p = plan(PlanRequest(recipe.model, recipe.gpu, recipe.gpus_per_node, recipe.nodes, target, recipe.engine))
    assert p.verdict == "fits", p.reasons
    assert p.verified, p.verified_detail
    assert p.verified_detail.startswith("verified: ")
    assert p.strategy == recipe.strategy
    if recipe.max_model_len:
        assert p.max_model_len == recipe.max_model_len


@pytest.mark.parametrize(
    "recipe",
    [r for r in CAT.recipes if r.gpu in CAT.gpus and not _measured(r)],
    ids=lambda r: f"{r.model}-{r.gpus_per_node}x{r.gpu}x{r.nodes}-{r.engine}",
)
def test_a_cell_marked_verified_without_numbers_is_labelled_so_and_not_verified(recipe):
    target = "kubernetes" if recipe.nodes > 1 else "runpod"
    p = plan(PlanRequest(recipe.model, recipe.gpu, recipe.gpus_per_node, recipe.nodes, target, recipe.engine))
    assert p.verdict == "fits", p.reasons
    assert not p.verified
    assert p.verified_detail.startswith("verified by its publisher, no published numbers: ")
    assert p.verified_detail in p.reasons  # the plan says so
    assert any(e.outcome == "marked-verified" for e in p.evidence)
    assert p.strategy == recipe.strategy


def test_verified_covers_the_published_context_and_concurrency_only():
    p = plan(PlanRequest("pro", "H200", 8))
    assert p.verified and "200,000" in p.verified_detail and "concurrency 16" in p.verified_detail
    sources = {e.source for e in p.evidence}
    assert {"vllm-project/recipes#381", "ai-dynamo/dynamo recipes/deepseek-v4 (H200)"} <= sources
    more_seqs = plan(PlanRequest("pro", "H200", 8, max_num_seqs=32))
    assert more_seqs.verdict == "fits" and not more_seqs.verified
    assert "max-num-seqs 32" in more_seqs.verified_detail
    shorter = plan(PlanRequest("pro", "H200", 8, max_model_len=86_016, max_num_seqs=8))
    assert shorter.verified


def test_a_context_between_the_recipe_and_the_failure_is_unverified():
    p = plan(PlanRequest("pro", "H200", 8, max_model_len=400_000))
    assert not p.verified
    assert "max-model-len 400,000" in p.verified_detail

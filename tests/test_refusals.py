"""The refusals that are not arithmetic (infra/refusals.py): an image too old, a GPU family the engine cannot
run V4 on, more GPUs than a node holds, a context a published run failed at, a request no plan answers."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.errors import ConfigError, PlanError
from infra.planner import PlanRequest, plan, require_deployable

CAT = load_catalog()


def test_an_image_too_old_is_refused_before_anything_is_rented():
    p = plan(PlanRequest("flash", "H200", 4, image="vllm/vllm-openai:v0.7.0"))
    assert p.verdict == "no-fit"
    assert "0.7.0 cannot load" in p.reasons[0] and ">= 0.20.0" in p.reasons[0]
    p = plan(PlanRequest("pro-0813", "H200", 8, image="vllm/vllm-openai:v0.20.0"))
    assert p.verdict == "no-fit" and ">= 0.25.0" in p.reasons[0]
    assert plan(PlanRequest("flash", "H200", 4, image="vllm/vllm-openai:deepseekv4-cu129")).verdict == "fits"


def test_runpod_plans_nodes_as_an_instant_cluster_of_at_most_eight_gpus_each():
    p = plan(PlanRequest("flash", "H200", 8, nodes=2, target="runpod"))
    assert p.verdict != "no-fit" and [r.node_rank for r in p.roles] == [0, 1]
    wide = plan(PlanRequest("flash", "H200", 16, target="runpod"))
    assert wide.verdict == "no-fit" and any("use 2 nodes of 8" in r for r in wide.reasons)


@pytest.mark.parametrize(("model", "count"), [("flash", 4), ("flash", 8), ("pro", 8)])
def test_vllm_on_ampere_is_refused_with_the_cited_fact_and_alternatives(model, count):
    # vllm#40851 / vllm#41027: DeepGEMM's hyperconnection.hpp aborts on sm_80, also with --enforce-eager.
    p = plan(PlanRequest(model, "A100-80GB", count))
    assert p.verdict == "no-fit"
    assert "sm_80" in p.reasons[0] and "hyperconnection.hpp" in p.reasons[0]
    assert "vllm#40851" in p.reasons[0] and "vllm#41027" in p.reasons[0]
    assert p.alternatives and all(a.gpu != "A100-80GB" for a in p.alternatives)
    with pytest.raises(PlanError, match="vllm#40851"):
        require_deployable(p)


@pytest.mark.parametrize("length", [800_000, 1_048_576])
def test_pro_at_800k_on_8xh200_is_refused_citing_the_failed_run(length):
    p = plan(PlanRequest("pro", "H200", 8, max_model_len=length))
    assert p.verdict == "no-fit" and not p.verified
    assert "recipes#381" in p.reasons[0]


@pytest.mark.parametrize("target", ["runpod", "kubernetes"])
@pytest.mark.parametrize("gpu", ["H100-SXM", "H200", "A100-80GB"])
def test_no_node_holds_16_gpus_on_any_target(gpu, target):
    p = plan(PlanRequest("pro", gpu, 16, target=target))
    assert p.verdict == "no-fit"
    assert any(f"no {gpu} node holds 16 GPUs" in r for r in p.reasons)
    assert CAT.gpu(gpu).max_gpus_per_node == 8


def test_an_unknown_strategy_is_one_clear_message():
    with pytest.raises(ConfigError, match="strategy must be one of tp-ep, dp-ep, tp-dp-ep, tp, not 'pp'"):
        plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", strategy="pp"))

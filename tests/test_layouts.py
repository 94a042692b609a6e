"""The parallel layouts (infra/layouts.py): the recipe's strategy first, TP inside a node and DP across nodes,
and a strategy that cannot split the experts refused with the fact."""

from __future__ import annotations

import pytest

from infra.catalog import GIB, load_catalog
from infra.planner import PlanRequest, plan

CAT = load_catalog()
PRO_2X8_H100 = PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes")


def test_dp_replicates_the_dense_part_and_tp_does_not():
    ckpt = CAT.checkpoint("flash")
    dp = plan(PlanRequest("flash", "H200", 4))  # the recipe's DP4+EP
    assert dp.strategy == "dp-ep"
    assert dp.memory.weights_bytes == ckpt.dense_bytes + ckpt.expert_bytes // 4
    tp = plan(PlanRequest("flash", "H100-SXM", 4))
    assert tp.strategy == "tp-ep" and tp.memory.weights_bytes == ckpt.weights_bytes // 4


def test_pro_on_two_h100_nodes_is_tp8_dp2_with_ep_across_16_gpus():
    p = plan(PRO_2X8_H100)
    assert p.verdict == "fits", p.reasons
    assert (p.strategy, p.tensor_parallel, p.data_parallel, p.expert_parallel) == ("tp-dp-ep", 8, 2, True)
    ckpt = CAT.checkpoint("pro")
    assert p.memory.weights_bytes == ckpt.dense_bytes // 8 + ckpt.expert_bytes // 16
    assert p.memory.weights_bytes / GIB == pytest.approx(53, abs=0.5)  # issue 11: about 53 GiB per GPU
    assert not p.verified and "unverified" in p.verified_detail  # no published run on H100


def test_vllm_tp16_across_nodes_is_refused_citing_vllm_40955():
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", strategy="tp-ep"))
    assert p.verdict == "no-fit" and not p.roles
    assert "vllm#40955" in p.reasons[0] and "3072 / 16 = 192" in p.reasons[0]


def test_two_h200_nodes_plan_pro_with_the_same_layout():
    p = plan(PlanRequest("pro", "H200", 8, nodes=2, target="kubernetes"))
    assert p.verdict == "fits" and p.strategy == "tp-dp-ep" and not p.verified

"""The fit (infra/fit.py): the verdict the memory model allows, the reduced settings of a tight fit, and
reasons that carry the numbers behind them."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.errors import PlanError
from infra.planner import PlanRequest, plan, require_deployable

CAT = load_catalog()
PRO_2X8_H100 = PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes")


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


def test_flash_on_2xh100_is_only_a_tight_fit_that_needs_an_opt_in():
    p = plan(PlanRequest("flash", "H100-SXM", 2))
    assert p.verdict == "tight" and not p.verified
    assert p.enforce_eager and "--enforce-eager" in p.engine.args
    assert p.max_model_len <= 16_384 and p.max_num_seqs <= 8
    assert any("eager" in r for r in p.reduced_settings)
    with pytest.raises(PlanError, match="acceptTight"):
        require_deployable(p)
    require_deployable(p, accept_tight=True)


def test_the_reason_agrees_with_its_numbers():
    p = plan(PRO_2X8_H100)
    assert "53.0 GiB on each GPU" in p.reasons[0] and "865 GB" in p.reasons[0]
    # DP16 without TP replicates the 45 GB dense part on every GPU: refused with that number, not the total.
    dp = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2, target="kubernetes", strategy="dp-ep"))
    assert dp.verdict == "no-fit"
    assert "replicates the 45 GB dense part" in dp.reasons[0]
    assert "1,368 GB in all" in dp.reasons[0] and "more than the" in dp.reasons[0]

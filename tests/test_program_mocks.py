"""The Pulumi program under mocks: every preset plans and deploys; a no-fit stack creates nothing."""

from __future__ import annotations

import pulumi
import pytest
from pulumi_mocks import stack_config, use_mocks

from infra import config
from infra.program import run


@pytest.mark.parametrize("stack", config.stack_names())
def test_every_preset_runs_through_the_program(stack, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-key")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    use_mocks(stack, stack_config(stack))
    spec, plan, _ = run()
    assert spec.stack == stack
    assert plan.verdict in ("fits", "tight")
    assert plan.gpu_count == spec.gpu_count


def test_a_no_fit_stack_fails_preview_with_the_planner_message_and_creates_nothing():
    mocks = use_mocks("pro-8xh100", stack_config("pro-8xh200", gpu="H100-SXM"))
    with pytest.raises(pulumi.RunError, match=r"does not fit 8x H100-SXM: weights are 865 GB") as err:
        run()
    assert "stacks/Pulumi.pro-8xh100.yaml" in str(err.value)
    assert mocks.resources == []


def test_a_tight_stack_without_the_opt_in_is_refused():
    mocks = use_mocks("flash-2xh100", stack_config("flash-2xh100", acceptTight=False))
    with pytest.raises(pulumi.RunError, match="tight fit"):
        run()
    assert mocks.resources == []


def test_a_config_mistake_is_one_message():
    use_mocks("flash-4xh200", stack_config("flash-4xh200", gpuCount="many"))
    with pytest.raises(pulumi.RunError, match="'deepseek-v4-infra:gpuCount' must be an integer"):
        run()

"""The collection reads back what each renderer emits: a pod, cluster member or container runs exactly the
plan's command (no engine venv needed)."""

from __future__ import annotations

import pytest
from emitted import LWS_LEADER_ADDRESS, PRIMARY_ADDR, commands_of, kubelet_expand, label, variants

from infra.config import StackSpec, load_stack, stack_names
from infra.planner import plan as make_plan

# Every variant the planner gives a command for (the others emit nothing).
VARIANTS = [v for stack in stack_names() for v in variants(load_stack(stack)) if commands_of(v)]


def test_kubelet_expansion_follows_the_kubelet() -> None:
    env = {"A": "x y", "EMPTY": ""}
    assert kubelet_expand("$(A)", env) == "x y"
    assert kubelet_expand("--k=$(A):1", env) == "--k=x y:1"
    assert kubelet_expand("$$(A)", env) == "$(A)"  # escaped: the literal stays
    assert kubelet_expand("$(UNSET)", env) == "$(UNSET)"  # undefined: left as written
    assert kubelet_expand("$(EMPTY)-", env) == "-"
    assert kubelet_expand("cost $5 $(", env) == "cost $5 $("


@pytest.mark.parametrize("spec", VARIANTS, ids=label)
def test_every_emitted_copy_of_a_command_is_the_plans_command(spec: StackSpec) -> None:
    emitted = commands_of(spec)
    plan = make_plan(spec.plan_request(), spec.catalog, alternatives=False)
    single = (*plan.engine.command, *plan.engine.args)
    api_key = ("--api-key", "<VLLM_API_KEY from its Secret>") if plan.engine.name != "vllm" else ()
    roles = {str(r.node_rank): r for r in plan.roles}
    for cmd in emitted:
        where = cmd.where.removeprefix(f"{label(spec)} ")
        assert (cmd.engine, cmd.version) == (plan.engine.name, plan.engine.version)
        if where in ("plan", "RunPod start script", "RunPod plain start"):
            assert cmd.argv == single, where
        elif where.startswith("plan role"):
            assert cmd.argv == tuple(roles[where.rsplit(" ", 1)[1]].argv(PRIMARY_ADDR)), where
        elif where.startswith("RunPod cluster script NODE_RANK="):
            assert cmd.argv == tuple(roles[where.rsplit("=", 1)[1]].argv(PRIMARY_ADDR)), where
        elif where.startswith("Deployment"):
            assert cmd.argv == (*single, *api_key), where
        elif where.endswith("(leader)"):
            assert cmd.argv == (*roles["0"].argv(LWS_LEADER_ADDRESS), *api_key), where
        elif where.endswith("(worker)"):
            assert cmd.argv == tuple(roles["1"].argv(LWS_LEADER_ADDRESS)), where
        else:
            pytest.fail(f"unexpected source {where!r}")

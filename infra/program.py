"""The Pulumi program: read the stack's config, plan, refuse what cannot work, hand the plan to a target.

`__main__.py` at the project root calls `run()`; everything here is a thin composition of the library.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from infra import config
from infra.errors import V4InfraError
from infra.plan import Plan
from infra.planner import plan, require_deployable
from infra.rate_store import rates_root
from infra.targets.base import Secrets

__all__ = ["Secrets", "export_plan", "live_config", "read_secrets", "run"]


def live_config() -> tuple[dict[str, Any], frozenset[str]]:
    """Every config value the engine handed this program, and which keys are secret."""
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env()) | {
        k for k in raw if runtime_config.is_config_secret(k)
    }
    return raw, frozenset(secret)


def read_secrets() -> Secrets:
    cfg = pulumi.Config(config.PROJECT)

    def secret(key: str, env: str) -> pulumi.Output[str] | None:
        # Pulumi.yaml declares "" as the unset placeholder: only a real value beats the environment.
        if cfg.get(key):
            return cfg.require_secret(key)
        from_env = os.environ.get(env)
        return pulumi.Output.secret(from_env) if from_env else None

    return Secrets(
        hf_token=secret("hfToken", "HF_TOKEN"), runpod_api_key=secret("runpodApiKey", "RUNPOD_API_KEY")
    )


def export_plan(p: Plan) -> None:
    data = p.to_dict()
    for key in (
        "model",
        "gpu",
        "gpu_count",
        "nodes",
        "target",
        "verdict",
        "reasons",
        "max_model_len",
        "cost",
    ):
        pulumi.export(key if key != "cost" else "cost", data[key])
    pulumi.export("engine", data["engine"])
    pulumi.export("plan", data)


def run() -> tuple[config.StackSpec, Plan, object | None]:
    stack = pulumi.get_stack()
    source = f"stacks/Pulumi.{stack}.yaml"
    raw, secret_keys = live_config()
    try:
        spec = config.parse(raw, stack=stack, source=source, secret_keys=secret_keys, placeholders=True)
        spec = spec.with_recorded_rates(rates_root())
        p = plan(spec.plan_request(), spec.catalog)
        require_deployable(p, accept_tight=spec.accept_tight, where=source)
        export_plan(p)
        from infra.targets import deploy

        return spec, p, deploy(spec, p, read_secrets())
    except V4InfraError as err:
        # One line, no Python traceback: Pulumi prints RunError messages as they are.
        raise pulumi.RunError(str(err)) from None

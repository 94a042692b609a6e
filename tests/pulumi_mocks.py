"""Pulumi unit-test mocks that record every resource the program registers."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import yaml

from infra.config import PROJECT, project_root


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", {**args.inputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


def stack_config(stack: str, **extra: Any) -> dict[str, str]:
    """A stack file's config as the engine hands it to the program: every value a string."""
    doc = yaml.safe_load((project_root() / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    raw = {**doc["config"], **{f"{PROJECT}:{k}": v for k, v in extra.items()}}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def use_mocks(stack: str, config: dict[str, str], secret_keys: list[str] | None = None) -> RecordingMocks:
    mocks = RecordingMocks()
    # preview=True, as `pulumi preview`: the program makes no provider API calls then.
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=True)
    pulumi.runtime.set_all_config(config, secret_keys or [])
    return mocks


def run_program() -> Any:
    """Run the Pulumi program under the mocks and wait until every resource has been registered."""
    from infra.program import run

    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> None:
        result["value"] = run()

    program()
    return result["value"]

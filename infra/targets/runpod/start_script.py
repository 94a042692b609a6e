"""The scripts RunPod pods run at start (rendered from `infra/templates/runpod/`, pure and deterministic).

RunPod's `dockerArgs` is one command line; the script travels as `bash -c <script>`, shell-quoted, and
every value inside the script is shell-quoted too, so no model id or argument is ever interpreted.
"""

from __future__ import annotations

import re
import shlex

import jinja2

from infra.plan import Plan
from infra.render import comment

CACHE_MOUNT = "/workspace"
HUB_REQUIREMENT = "huggingface_hub==2.4.0"
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("infra", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # shell, not HTML: values go through the `q` filter instead
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    env.filters["comment"] = comment
    return env


def gpu_start_script(plan: Plan, *, stack: str, pod_name: str, ttl_seconds: int | None) -> str:
    for key in plan.engine.env:
        if not ENV_NAME.fullmatch(key):
            raise ValueError(f"engine env name {key!r} is not a valid environment variable name")
    return (
        _environment()
        .get_template("runpod/start-gpu.sh.j2")
        .render(
            stack=stack,
            pod_name=pod_name,
            cache_dir=CACHE_MOUNT,
            ttl_seconds=ttl_seconds,
            engine_env=plan.engine.env,
            engine_name=plan.engine.name,
            model=plan.model,
            command=list(plan.engine.command),
            args=list(plan.engine.args),
        )
    )


def cpu_start_script(*, stack: str, ttl_seconds: int | None) -> str:
    return (
        _environment()
        .get_template("runpod/start-cpu.sh.j2")
        .render(stack=stack, ttl_seconds=ttl_seconds, hub_requirement=HUB_REQUIREMENT)
    )


def ttl_watchdog(ttl_seconds: int) -> str:
    """The start scripts' dead-man switch on its own (backgrounded), as both scripts run it first."""
    module = _environment().get_template("runpod/_common.sh.j2").module
    return str(module.ttl_watchdog(ttl_seconds))  # type: ignore[attr-defined]


def docker_args(script: str) -> str:
    """RunPod's one-line start command for a script."""
    return f"bash -c {shlex.quote(script)}"

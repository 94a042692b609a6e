"""The scripts RunPod pods run at start (rendered from `infra/templates/runpod/`, pure and deterministic).

REST v2 has no entrypoint field: the script travels in `args` as RunPod's JSON start command
`{"entrypoint": ["bash", "-c"], "cmd": [script]}` (pods/templates/manage-templates.mdx), the one
RunPod behaviour not yet confirmed on a real account; `plain_vllm_args` is the documented fallback.
Every value inside a script is shell-quoted, so no model id or argument is ever interpreted.
"""

from __future__ import annotations

import json
import re
import shlex

import jinja2

from infra.compile_cache import plan_env
from infra.plan import LEADER_ADDRESS, Plan, RoleCommand
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


def render_template(name: str, **values: object) -> str:
    """One template under infra/templates, rendered with shell quoting (`q`) and strict undefineds."""
    return _environment().get_template(name).render(**values)


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
            compile_cache=plan_env(plan, mount=CACHE_MOUNT),
            download_at_start=plan.start is not None and plan.start.download_at_start,
            engine_name=plan.engine.name,
            model=plan.model,
            command=list(plan.engine.command),
            args=list(plan.engine.args),
        )
    )


def cluster_start_script(plan: Plan, *, stack: str, cluster_name: str) -> str:
    """One script for every member of an Instant Cluster: it runs the plan's role for its NODE_RANK."""
    if not plan.roles:
        raise ValueError(
            f"a cluster start script needs a multi-node plan; {plan.model} plans {plan.nodes} node(s)"
        )
    for role in plan.roles:
        for key in role.env:
            if not ENV_NAME.fullmatch(key):
                raise ValueError(f"engine env name {key!r} is not a valid environment variable name")
    return render_template(
        "runpod/start-cluster.sh.j2",
        stack=stack,
        cluster_name=cluster_name,
        cache_dir=CACHE_MOUNT,
        compile_cache=plan_env(plan, mount=CACHE_MOUNT),
        engine_name=plan.engine.name,
        model=plan.model,
        roles=[
            {"node_rank": r.node_rank, "role": r.role, "env": r.env, "line": role_command_line(r)}
            for r in sorted(plan.roles, key=lambda r: r.node_rank)
        ],
    )


def role_command_line(role: RoleCommand) -> str:
    """The role's argv as one shell line: every word quoted, the leader's address read from $PRIMARY_ADDR."""
    return " ".join(_word_with_leader(word) for word in (*role.command, *role.args))


def _word_with_leader(word: str) -> str:
    # The placeholder becomes a double-quoted expansion between quoted literals: `''"$PRIMARY_ADDR"':13345'`.
    parts = word.split(LEADER_ADDRESS)
    if len(parts) == 1:
        return shlex.quote(word)
    return '"$PRIMARY_ADDR"'.join(shlex.quote(part) if part else "" for part in parts)


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
    """A one-line start command for a script, for images without an ENTRYPOINT (it becomes their CMD)."""
    return f"bash -c {shlex.quote(script)}"


def json_start_command(script: str) -> str:
    """RunPod's JSON start command: replaces the image's ENTRYPOINT (vLLM's is `vllm serve`) with bash."""
    return json.dumps({"entrypoint": ["bash", "-c"], "cmd": [script]}, separators=(",", ":"))


def plain_vllm_args(plan: Plan) -> str:
    """The fallback: arguments appended to the stock vLLM image's ENTRYPOINT (`vllm serve`), shell-quoted."""
    command = list(plan.engine.command)
    if command[:2] != ["vllm", "serve"]:
        raise ValueError(f"plain start needs a `vllm serve` engine, not {' '.join(command[:2])!r}")
    return shlex.join([*command[2:], *plan.engine.args])


def watchdog_command() -> str:
    """The TTL watchdog's start command: infra/targets/runpod/watchdog.py run by the image's python3."""
    from importlib import resources

    source = resources.files("infra.targets.runpod").joinpath("watchdog.py").read_text()
    return docker_args(f"exec python3 -c {shlex.quote(source)}")

"""Every engine command line the project emits, as the process that runs it would receive its argv.

For each preset in stacks/, with each engine the catalog knows and each speculative mode its checkpoint
offers (what a user gets by changing one key of the stack), where the planner gives a command:

- the plan's command (`v4infra plan`), and each role's command of a multi-node plan;
- RunPod: the GPU pod's start script and its plain-start fallback (single node), or the Instant Cluster
  script for every NODE_RANK; the words are read back by bash itself, as the pod's shell reads them;
- Kubernetes: the engine container of the rendered Deployment or LeaderWorkerSet, with `$(VAR)` expanded
  as the kubelet does.

    python tests/engine_parsers/emitted.py --pins             # "engine version" per line: what the plans pin
    python tests/engine_parsers/emitted.py --commands vllm    # vLLM's commands, as a parser check's input
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.config import StackSpec, load_stack, stack_names
from infra.errors import ConfigError, PlanError
from infra.plan import Plan
from infra.planner import plan as make_plan
from infra.targets.kubernetes.manifests import render_manifests
from infra.targets.runpod.start_script import cluster_start_script, gpu_start_script, plain_vllm_args

# Stand-in addresses: RunPod sets PRIMARY_ADDR on Instant Cluster members (runpod.md); LWS sets
# LWS_LEADER_ADDRESS to the leader pod's DNS name, <lws>-<group>.<lws>.<namespace> (LWS API reference).
PRIMARY_ADDR = "10.65.0.2"
LWS_LEADER_ADDRESS = "engine-group-0.engine-group.v4infra"
# The start scripts run the engine as `<command> ... >> "$LOG" 2>&1 &` (templates/runpod/start-*.sh.j2).
ENGINE_LINE_END = ' >> "$LOG" 2>&1 &'
CASE_LABEL = re.compile(r"^\s*(\d+)\)\s*$")
# The engine container's name in the rendered workloads is the engine's (templates/kubernetes/*-engine).
ENGINE_WORKLOADS = ("Deployment", "LeaderWorkerSet")


@dataclass(frozen=True)
class Emitted:
    """One command: where it comes from, the engine and version its image runs, and its argv."""

    where: str
    engine: str
    version: str
    argv: tuple[str, ...]


def variants(spec: StackSpec) -> Iterator[StackSpec]:
    """The preset as it is, then with each other engine and speculative mode the user could set."""
    ckpt = spec.catalog.checkpoint(spec.model)
    modes = dict.fromkeys([spec.speculative, "none", ckpt.speculative])
    for engine in dict.fromkeys([spec.engine, *spec.catalog.engines]):
        for mode in modes:
            yield dataclasses.replace(spec, engine=engine, speculative=mode)


def label(spec: StackSpec) -> str:
    mode = "" if spec.speculative == "none" else f"+{spec.speculative}"
    return f"{spec.stack}[{spec.engine}{mode}]"


def shell_words(line: str, env: dict[str, str]) -> tuple[str, ...]:
    """The argv bash builds from one command line of a start script (quotes and `$VAR` included)."""
    script = 'argv() { printf "%s\\0" "$@"; }; argv ' + line
    out = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        check=True,
    ).stdout.decode()
    return tuple(out.split("\0")[:-1])


def script_commands(script: str) -> list[tuple[str, str]]:
    """(case label or "", command line) for every engine line of a start script."""
    logical: list[str] = []
    for raw in script.splitlines():
        if logical and logical[-1].endswith("\\"):
            logical[-1] = logical[-1][:-1] + " " + raw.strip()
        else:
            logical.append(raw)
    out, rank = [], ""
    for line in logical:
        if match := CASE_LABEL.match(line):
            rank = match.group(1)
        elif line.endswith(ENGINE_LINE_END):
            out.append((rank, line[: -len(ENGINE_LINE_END)].strip()))
    return out


def kubelet_expand(word: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion of command and args (Kubernetes third_party/forked/golang/
    expansion/expand.go): `$$` is `$`, `$(NAME)` of a defined variable is its value, anything else stays."""
    out, i = [], 0
    while i < len(word):
        if word[i] == "$" and i + 1 < len(word):
            nxt = word[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = word.find(")", i + 2)
                if end != -1:
                    name = word[i + 2 : end]
                    out.append(env[name] if name in env else word[i : end + 1])
                    i = end + 1
                    continue
        out.append(word[i])
        i += 1
    return "".join(out)


def _containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if obj["kind"] == "Deployment":
        yield "deployment", obj["spec"]["template"]["spec"]
    else:  # LeaderWorkerSet: the leader's template and the workers'
        lws = obj["spec"]["leaderWorkerTemplate"]
        yield "leader", lws["leaderTemplate"]["spec"]
        yield "worker", lws["workerTemplate"]["spec"]


def kubernetes_commands(spec: StackSpec, plan: Plan) -> Iterator[tuple[str, tuple[str, ...]]]:
    for manifest in render_manifests(spec, plan):
        if manifest.kind not in ENGINE_WORKLOADS:
            continue
        for role, pod in _containers(manifest.obj):
            for container in pod["containers"]:
                if container["name"] != plan.engine.name:
                    continue
                env = {
                    e["name"]: e.get("value", f"<{e['name']} from its Secret>")
                    for e in container.get("env", [])
                }
                env.setdefault("LWS_LEADER_ADDRESS", LWS_LEADER_ADDRESS)
                words = [*container.get("command", []), *container.get("args", [])]
                yield (
                    f"{manifest.kind} {manifest.name} ({role})",
                    tuple(kubelet_expand(w, env) for w in words),
                )


def commands_of(spec: StackSpec) -> list[Emitted]:
    """What the project emits for one stack variant; nothing where the planner or the target refuses it."""
    try:
        plan = make_plan(spec.plan_request(), spec.catalog, alternatives=False)
    except (ConfigError, PlanError):
        return []  # e.g. a speculative mode the checkpoint has no head for: refused with one line
    if plan.verdict == "no-fit":
        return []
    name, version = plan.engine.name, plan.engine.version

    def one(where: str, argv: tuple[str, ...] | list[str]) -> Emitted:
        return Emitted(f"{label(spec)} {where}", name, version, tuple(argv))

    out = [one("plan", (*plan.engine.command, *plan.engine.args))]
    out += [one(f"plan role {r.role} {r.node_rank}", r.argv(PRIMARY_ADDR)) for r in plan.roles]
    if spec.target == "runpod" and plan.nodes == 1:
        script = gpu_start_script(plan, stack=spec.stack, pod_name=f"{spec.stack}-gpu", ttl_seconds=3600)
        out += [one("RunPod start script", shell_words(line, {})) for _, line in script_commands(script)]
        if name == "vllm":
            # The stock image's ENTRYPOINT is `vllm serve`; the fallback's words follow it.
            out.append(one("RunPod plain start", shell_words("vllm serve " + plain_vllm_args(plan), {})))
    elif spec.target == "runpod":
        script = cluster_start_script(plan, stack=spec.stack, cluster_name=f"{spec.stack}-cluster")
        for rank, line in script_commands(script):
            env = {"PRIMARY_ADDR": PRIMARY_ADDR, "NODE_RANK": rank}
            out.append(one(f"RunPod cluster script NODE_RANK={rank}", shell_words(line, env)))
    elif spec.target == "kubernetes":
        # A variant the target refuses before rendering emits nothing.
        with contextlib.suppress(ConfigError, PlanError):
            out += [one(where, argv) for where, argv in kubernetes_commands(spec, plan)]
    return out


def all_commands() -> list[Emitted]:
    return [cmd for stack in stack_names() for v in variants(load_stack(stack)) for cmd in commands_of(v)]


def pins(commands: list[Emitted]) -> list[tuple[str, str]]:
    """(engine, version) of every image the commands run in, sorted."""
    return sorted({(c.engine, c.version) for c in commands})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="emitted.py", description=__doc__.splitlines()[0])
    parser.add_argument("--pins", action="store_true", help="print the engine versions the commands pin")
    parser.add_argument(
        "--commands", metavar="ENGINE", help="print ENGINE's commands as a parser check's input"
    )
    args = parser.parse_args(argv)
    commands = all_commands()
    if args.pins:
        for engine, version in pins(commands):
            print(f"{engine} {version}")
    elif args.commands:
        print(
            json.dumps([{"id": c.where, "argv": list(c.argv)} for c in commands if c.engine == args.commands])
        )
    else:
        for c in commands:
            print(f"{c.engine} {c.version}  {c.where}: {' '.join(c.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

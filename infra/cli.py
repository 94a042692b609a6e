"""`v4infra`: thin argument parsing over the library; errors become one line and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

import yaml
from pulumi.automation import CommandError

from infra import config
from infra.cli_args import OneLineParser, int_in
from infra.cli_canary import add_canary_parser, cmd_canary
from infra.cli_lifecycle import add_lifecycle_parsers, cmd_emulator, cmd_lifecycle
from infra.cli_render import add_render_parser, cmd_render, cmd_secrets
from infra.engine_process import engine_error
from infra.errors import PlanError, Terminated, V4InfraError, exit_code
from infra.evidence import EvidenceStore
from infra.plan import Plan
from infra.plan_view import console, plan_panel, stacks_table
from infra.planner import plan
from infra.rate_store import rates_root
from infra.targets.runpod.client import RunPodClient, RunPodSettings
from infra.targets.runpod.live_prices import LivePrices, live_prices

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {
    "render": cmd_render,
    "secrets": cmd_secrets,
    "emulator": cmd_emulator,
    "canary": cmd_canary,
    **{verb: cmd_lifecycle for verb in ("preview", "up", "down", "status", "validate", "cleanup")},
}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


@command("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    if args.stack:
        if args.model or args.gpu or args.count:
            raise config.ConfigError("give either a STACK or --model/--gpu/--count, not both")
        spec = config.load_stack(args.stack).with_recorded_rates(rates_root())
        p = plan(spec.plan_request(), spec.catalog, own_points=EvidenceStore().throughput_point)
        title = f"stack {args.stack}"
    else:
        missing = [
            f for f, v in (("--model", args.model), ("--gpu", args.gpu), ("--count", args.count)) if not v
        ]
        if missing:
            raise config.ConfigError(
                f"plan needs a STACK or all of --model, --gpu, --count (missing {', '.join(missing)})"
            )
        raw = {
            "model": args.model,
            "gpu": args.gpu,
            "gpuCount": args.count,
            "nodes": args.nodes,
            "target": args.target,
            "engine": args.engine,
        }
        for key, value in (
            ("maxModelLen", args.max_model_len),
            ("maxNumSeqs", args.max_num_seqs),
            ("image", args.image),
            ("speculative", args.speculative),
        ):
            if value is not None:
                raw[key] = value
        spec = config.parse(raw, stack="ad-hoc", source="command line")
        # This account's own measured point of the same configuration and load comes before published ones.
        p = plan(spec.plan_request(), spec.catalog, own_points=EvidenceStore().throughput_point)
        title = None
    live = _live_prices(spec, p)
    if args.json:
        print(json.dumps({**p.to_dict(), "live": live.to_dict() if live else None}, indent=2))
    else:
        console().print(plan_panel(p, title))
        for line in live.lines if live else ():
            console().print(f"live (RunPod catalog): {line}")
    if p.verdict == "no-fit":
        alts = ", ".join(a.label() for a in p.alternatives) or "none in the catalog"
        raise PlanError(
            f"{p.model} does not fit {p.total_gpus}x {p.gpu}: {p.reasons[0]} Cheapest that fit: {alts}."
        )
    return 0


def _live_prices(spec: config.StackSpec, p: Plan) -> LivePrices | None:
    """With a RunPod key in the environment, what the account's catalog quotes now (RunPod stacks only)."""
    if spec.target != "runpod" or not os.environ.get("RUNPOD_API_KEY") or p.verdict == "no-fit":
        return None
    return live_prices(RunPodClient(RunPodSettings.from_env()), p, spec.catalog, spec.data_centers)


@command("stacks")
def cmd_stacks(args: argparse.Namespace) -> int:
    rows = []
    for name in config.stack_names():
        spec = config.load_stack(name)
        rows.append((name, plan(spec.plan_request(), spec.catalog)))
    if args.json:
        print(json.dumps([{"stack": n, **p.to_dict()} for n, p in rows], indent=2))
    else:
        console().print(stacks_table(rows))
    return 0


@command("schema")
def cmd_schema(args: argparse.Namespace) -> int:
    print(yaml.safe_dump({"config": config.pulumi_yaml_config()}, sort_keys=False, width=110), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="v4infra", description=__doc__)
    # Subcommands are OneLineParsers too (argparse makes them of the parent's class).
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )

    p = sub.add_parser("plan", help="does a model fit the hardware, with which flags, at what cost")
    p.add_argument("stack", nargs="?", help="a preset in stacks/ (or use --model/--gpu/--count)")
    p.add_argument("--model")
    p.add_argument("--gpu")
    p.add_argument("--count", type=_bounded("gpuCount"))
    p.add_argument("--nodes", type=_bounded("nodes"), default=1)
    p.add_argument("--target", default="runpod")
    p.add_argument("--engine", default="vllm")
    p.add_argument("--max-model-len", type=_bounded("maxModelLen"))
    p.add_argument("--max-num-seqs", type=_bounded("maxNumSeqs"))
    p.add_argument("--image")
    p.add_argument("--speculative")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser("stacks", help="every preset with target, GPUs, verdict and $/hour")
    s.add_argument("--json", action="store_true")

    add_render_parser(sub)
    add_lifecycle_parsers(sub)
    add_canary_parser(sub)
    sub.add_parser("schema", help="print the Pulumi.yaml config block generated from the schema")
    return parser


def _bounded(key: str) -> Callable[[str], int]:
    """An integer flag with the bounds of the config key it stands for (one source of truth)."""
    low, high = config.KEYS[key].minimum, config.KEYS[key].maximum
    assert low is not None and high is not None, f"{key} has no bounds"
    return int_in(int(low), int(high))


def _quiet_libraries() -> None:
    # Our own progress lines are what users read.
    for name in ("httpx", "infra"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # paramiko logs a traceback when a connection is cut (Ctrl-C mid-handshake); infra.ssh reports it in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return COMMANDS[args.command](args)
    except V4InfraError as err:
        print(f"error: {config.one_line(str(err))}", file=sys.stderr)
        return exit_code(err)
    except OSError as err:
        # The machine said no (a port in use, a directory that cannot be written): one line, no traceback.
        print(f"error: {config.one_line(str(err))}", file=sys.stderr)
        return exit_code(err)
    except CommandError as err:
        # A Pulumi CLI failure outside the mapped paths (stack selection, outputs): its first error line.
        print(f"error: pulumi: {engine_error(err)}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt as err:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return exit_code(err)
    except Terminated as err:
        print("terminated (SIGTERM)", file=sys.stderr)
        return exit_code(err)


if __name__ == "__main__":
    sys.exit(main())

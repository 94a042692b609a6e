"""`v4infra up|down|status|validate|cleanup|emulator`: thin wrappers over infra.lifecycle."""

from __future__ import annotations

import argparse
import json

from infra.errors import ValidationFailed


def add_lifecycle_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rehearse = argparse.ArgumentParser(add_help=False)
    rehearse.add_argument(
        "--rehearse",
        action="store_true",
        help="run against the built-in RunPod emulator and a local hub (no account, no money)",
    )
    p = sub.add_parser("up", parents=[rehearse], help="deploy a stack (pulumi up)")
    p.add_argument("stack")
    p = sub.add_parser("down", parents=[rehearse], help="destroy a stack (pulumi destroy)")
    p.add_argument("stack")
    p.add_argument("--purge-cache", action="store_true", help="also delete the kept weight cache")
    p = sub.add_parser("status", parents=[rehearse], help="outputs and live pods of a stack")
    p.add_argument("stack")
    p = sub.add_parser("validate", parents=[rehearse], help="rent, prove, measure, report, always release")
    p.add_argument("stack")
    p.add_argument("--keep", action="store_true", help="keep the deployment when every check passes")
    p.add_argument("--purge-cache", action="store_true", help="also delete the weight cache at the end")
    p = sub.add_parser(
        "cleanup", parents=[rehearse], help="find (and with --yes remove) resources no state owns"
    )
    p.add_argument("stack")
    p.add_argument("--yes", action="store_true", help="remove what was found")
    p.add_argument("--purge-cache", action="store_true", help="also the weight cache kept by earlier runs")
    p = sub.add_parser("emulator", help="run the RunPod emulator in the foreground")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--time-scale", type=float, default=600.0)


def cmd_lifecycle(args: argparse.Namespace) -> int:
    from infra.lifecycle import Lifecycle

    with Lifecycle(args.stack, rehearse=args.rehearse) as life:
        if args.rehearse:
            life.out.event(
                "REHEARSAL against the built-in RunPod emulator: no GPU is rented, no money is spent",
                "bold magenta",
            )
        if args.command == "up":
            outputs = life.up()
            life.out.event(f"endpoint {outputs.get('endpoint')}")
        elif args.command == "down":
            life.down(purge_cache=args.purge_cache)
            life.out.event(f"{args.stack} destroyed; nothing of it left at RunPod", "bold green")
        elif args.command == "status":
            print(json.dumps(life.status(), indent=2))
        elif args.command == "cleanup":
            return _cleanup(life, args.yes, args.purge_cache)
        else:
            report, json_path, md_path = life.validate(keep=args.keep, purge_cache=args.purge_cache)
            print(md_path.read_text())
            life.out.event(f"report: {json_path} and {md_path}")
            if life.rehearsal is not None:
                inventory = life.rehearsal.inventory()
                pods, volumes = inventory["pods"], inventory["volumes"]
                kept = ", ".join(f"{v['name']} ({v['size']} GB)" for v in volumes) or "none"
                life.out.event(
                    f"emulator inventory after teardown: {len(pods)} pod(s) live, volumes kept: {kept}",
                    "bold green" if not pods else "bold red",
                )
            failed = [s for s in report.stages if not s.passed]
            if failed:
                raise ValidationFailed(f"{failed[0].name} failed: {failed[0].reason}", stage=failed[0].name)
            if report.teardown is not None and not report.teardown.ok:
                return 5
    return 0


def _cleanup(life: object, yes: bool, purge_cache: bool) -> int:
    from infra.lifecycle import Lifecycle
    from infra.targets.runpod import naming

    assert isinstance(life, Lifecycle)
    found = life.orphans()
    if not found:
        life.out.event(f"no resources of {life.stack} outside Pulumi state")
        return 0
    client = life.client()
    for kind, rid, name in found:
        cache = kind == "volume" and (parts := naming.parse_name(name)) is not None and parts.kind == "cache"
        if cache and not purge_cache:
            # Kept on purpose so the next run is warm; removed only when asked.
            life.out.event(f"kept weight cache {name} ({rid}); add --purge-cache to remove it too")
            continue
        if yes:
            (client.terminate_pod if kind == "pod" else client.delete_volume)(rid)
            life.out.event(f"removed {kind} {name} ({rid})")
        else:
            life.out.event(f"found {kind} {name} ({rid}); run again with --yes to remove it")
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from infra.emulator.__main__ import main as emulator_main

    return emulator_main(["--port", str(args.port), "--time-scale", str(args.time_scale)])

"""`v4infra up|down|status|validate|cleanup|emulator`: thin wrappers over infra.lifecycle."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import threading
from pathlib import Path

from infra.catalog import load_catalog
from infra.cli_args import float_in, int_in
from infra.errors import TeardownError, ValidationFailed
from infra.lifecycle import Lifecycle
from infra.rehearsal import REHEARSAL_SHARD_BYTES
from infra.workspace import state_root


def add_lifecycle_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rehearse = argparse.ArgumentParser(add_help=False)
    rehearse.add_argument(
        "--rehearse",
        action="store_true",
        help="run against local stand-ins: RunPod's emulator and a local hub, or a local Kubernetes control "
        "plane with a stand-in engine (no account, no money)",
    )
    p = sub.add_parser("preview", parents=[rehearse], help="what up would change, policies applied")
    p.add_argument("stack")
    canary = argparse.ArgumentParser(add_help=False)
    canary.add_argument(
        "--skip-canary",
        action="store_true",
        help="rent without first proving RunPod's behaviour on this account (`v4infra canary`); reported",
    )
    p = sub.add_parser("up", parents=[rehearse, canary], help="deploy a stack (pulumi up)")
    p.add_argument("stack")
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument(
        "--force",
        action="store_true",
        help="when the Pulumi state cannot be read (wrong passphrase, lost backend), treat every "
        "resource named for the stack as unowned and remove it",
    )
    p = sub.add_parser("down", parents=[rehearse, force], help="destroy a stack (pulumi destroy)")
    p.add_argument("stack")
    p.add_argument("--purge-cache", action="store_true", help="also delete the kept weight cache")
    p = sub.add_parser("status", parents=[rehearse], help="outputs and live resources of a stack")
    p.add_argument("stack")
    p = sub.add_parser(
        "validate", parents=[rehearse, canary], help="rent, prove, measure, report, always release"
    )
    p.add_argument("stack")
    p.add_argument(
        "--engine-fault",
        metavar="NAME",
        help="with --rehearse: the stand-in engine fails this way (garbled: wrong answers, slow: slow "
        "decoding, and the launch faults arch, keyerror, oom, tp16, pp, hub401)",
    )
    p.add_argument("--keep", action="store_true", help="keep the deployment when every check passes")
    p.add_argument("--purge-cache", action="store_true", help="also delete the weight cache at the end")
    p = sub.add_parser(
        "cleanup", parents=[rehearse, force], help="find (and with --yes remove) resources no state owns"
    )
    p.add_argument("stack")
    p.add_argument("--yes", action="store_true", help="remove what was found")
    p.add_argument("--purge-cache", action="store_true", help="also the weight cache kept by earlier runs")
    p = sub.add_parser("emulator", help="run the RunPod emulator and a local hub in the foreground")
    p.add_argument("--port", type=int_in(0, 65535), default=8765, help="0: any free port")
    p.add_argument(
        "--time-scale",
        type=float_in(0, 1e6, low_open=True),
        default=600.0,
        help="simulated seconds per real second",
    )
    p.add_argument("--api-key", default="emulator-key", help="the RunPod key clients must send")
    p.add_argument("--hf-token", default="hf_emulator_token", help="the token the local hub requires")
    p.add_argument("--state-dir", help="volumes and pod sandboxes (default: the state dir's emulator/)")
    p.add_argument("--env-file", help="also write the export lines to this file")


def cmd_lifecycle(args: argparse.Namespace) -> int:
    skip = bool(getattr(args, "skip_canary", False))
    fault = getattr(args, "engine_fault", None)
    with Lifecycle(args.stack, rehearse=args.rehearse, skip_canary=skip, engine_fault=fault) as life:
        return run_verb(life, args)


def run_verb(life: Lifecycle, args: argparse.Namespace) -> int:
    """One verb on an open lifecycle; a failure is raised with its own class (the CLI's exit code)."""
    if life.rehearsal is not None:
        life.out.event("REHEARSAL: no GPU is rented, no money is spent", "bold magenta")
    if args.command == "preview":
        life.out.event(f"preview {args.stack}: {life.preview()}")
    elif args.command == "up":
        outputs = life.up()
        life.out.event(f"endpoint {outputs.get('endpoint')}")
    elif args.command == "down":
        life.down(purge_cache=args.purge_cache, force=args.force)
        life.out.event(f"{args.stack} destroyed; nothing of it left at {life.target.provider}", "bold green")
    elif args.command == "status":
        print(json.dumps(life.status(), indent=2))
    elif args.command == "cleanup":
        return _cleanup(life, args.yes, args.purge_cache, args.force)
    else:
        _validate(life, args.keep, args.purge_cache)
    return 0


def _validate(life: Lifecycle, keep: bool, purge_cache: bool) -> None:
    report, json_path, md_path = life.validate(keep=keep, purge_cache=purge_cache)
    print(md_path.read_text())
    life.out.event(f"report: {json_path} and {md_path}")
    if life.rehearsal is not None:
        line, clean = life.rehearsal.after_teardown()
        life.out.event(line, "bold green" if clean else "bold red")
    failed = [s for s in report.stages if not s.passed]
    if failed and report.failure is not None:
        raise report.failure  # the stage's own error: its class, and so its exit code, kept
    if failed:
        raise ValidationFailed(f"{failed[0].name} failed: {failed[0].reason}", stage=failed[0].name)
    if report.teardown is not None and not report.teardown.ok:
        raise TeardownError(
            report.teardown.error or f"teardown of {life.stack} left resources",
            leftover=report.teardown.leftover,
        )


def _cleanup(life: Lifecycle, yes: bool, purge_cache: bool, force: bool) -> int:
    found = life.orphans(force=force)
    if not found:
        life.out.event(f"no resources of {life.stack} outside Pulumi state")
        return 0
    for item in found:
        if item.cache and not purge_cache:
            # Kept on purpose so the next run is warm; removed only when asked.
            life.out.event(f"kept weight cache {item.name} ({item.id}); add --purge-cache to remove it too")
            continue
        if yes:
            life.remove(item)
            life.out.event(f"removed {item.label()}")
        else:
            life.out.event(f"found {item.label()}; run again with --yes to remove it")
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    """The emulator and a local hub holding a stand-in of every catalog checkpoint, until Ctrl-C/SIGTERM."""
    # The emulator and hub (schemas, servers) load only for `v4infra emulator`.
    from infra.emulator import Emulator, Timing
    from infra.emulator.hub import FakeHub

    state = Path(args.state_dir) if args.state_dir else state_root() / "emulator"
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    emulator = Emulator(
        api_key=args.api_key,
        time_scale=args.time_scale,
        port=args.port,
        state_dir=state,
        timing=Timing(start_seconds=60, load_seconds=30 * 60),
    )
    with emulator, FakeHub(token=args.hf_token) as hub:
        for ckpt in load_catalog().checkpoints.values():
            # A quarter of the rehearsal's shard size: every catalog checkpoint is held in memory.
            hub.add_fake_checkpoint(ckpt.repo_id, shards=4, shard_bytes=REHEARSAL_SHARD_BYTES // 4)
        env = {**emulator.env(), "HF_ENDPOINT": hub.url, "HF_TOKEN": args.hf_token}
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        if args.env_file:
            Path(args.env_file).write_text(exports)
        print(
            f"# RunPod emulator on {emulator.url}, Hugging Face stand-in on {hub.url} (no account, no money)"
        )
        print(f"# inventory: {emulator.url}/_emulator/inventory; Ctrl-C stops both. Point clients at them:")
        print(exports, end="", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0

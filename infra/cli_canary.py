"""`v4infra canary`: the one-cent check of RunPod's behaviour on the user's account (or the emulator)."""

from __future__ import annotations

import argparse
import contextlib
import secrets
from collections.abc import Iterator

from infra import config
from infra.catalog import load_catalog
from infra.cli_args import float_in
from infra.errors import CanaryFailed, ConfigError
from infra.targets.runpod.canary import Canary, CanaryReport, write_record
from infra.targets.runpod.client import RunPodClient, RunPodSettings
from infra.targets.runpod.component import DEFAULT_DATA_CENTER
from infra.workspace import state_root

REHEARSAL_TIME_SCALE = 60.0


def add_canary_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "canary",
        help="prove RunPod's API behaves as the GPU path assumes, with a CPU pod (about a cent)",
    )
    p.add_argument("--stack", help="check in this stack's data centers, for its GPU types")
    p.add_argument("--rehearse", action="store_true", help="against the built-in emulator (no account)")
    p.add_argument(
        "--timeout",
        type=float_in(60, 1800),
        default=300.0,
        help="seconds to wait for the pod's behaviour (60-1800)",
    )


@contextlib.contextmanager
def _settings(rehearse: bool) -> Iterator[RunPodSettings]:
    if not rehearse:
        yield RunPodSettings.from_env()
        return
    # The emulator (schemas, server) loads only for --rehearse.
    from infra.emulator import Emulator, Timing

    emulator = Emulator(
        api_key="rehearsal-" + secrets.token_hex(8),
        time_scale=REHEARSAL_TIME_SCALE,
        timing=Timing(start_seconds=20, load_seconds=60),
    ).start()
    try:
        yield RunPodSettings.from_env(env=emulator.env())
    finally:
        emulator.stop()


def run(stack: str | None, rehearse: bool, timeout: float) -> CanaryReport:
    if not 60 <= timeout <= 1800:
        raise ConfigError(f"--timeout {timeout:g}: give 60 to 1800 seconds")
    if stack:
        spec = config.load_stack(stack)
        if spec.target != "runpod":
            raise ConfigError(f"stack {stack} deploys to {spec.target}; the canary checks RunPod")
        data_centers = list(spec.data_centers) or [DEFAULT_DATA_CENTER]
        gpus = [spec.catalog.gpu(g).runpod_id for g in (spec.gpu, *spec.gpu_fallbacks)]
        count = spec.gpu_count
    else:
        data_centers = [DEFAULT_DATA_CENTER]
        gpus = [load_catalog().gpu("H200").runpod_id]
        count = 1
    prefix = "rehearsal (emulator, not RunPod): " if rehearse else ""
    with _settings(rehearse) as settings:
        client = RunPodClient(settings)
        report = Canary(
            client,
            data_centers,
            gpus,
            count,
            timeout_seconds=timeout,
            on_line=lambda line: print(prefix + line),
        ).run()
        if not rehearse:
            write_record(state_root(), settings.api_key, report)
    return report


def cmd_canary(args: argparse.Namespace) -> int:
    report = run(args.stack, args.rehearse, args.timeout)
    prefix = "rehearsal (emulator, not RunPod): " if args.rehearse else ""
    print(prefix + report.summary())
    print(prefix + report.inventory())
    if report.leftover:
        raise CanaryFailed(
            f"canary could not remove {', '.join(report.leftover)}: remove it in the RunPod console"
        )
    if not report.passed:
        raise CanaryFailed(report.summary())
    return 0

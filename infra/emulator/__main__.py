"""`python -m infra.emulator --port N`: run the RunPod emulator in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import threading
from pathlib import Path

from infra.emulator.faults import Timing
from infra.emulator.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--state-dir", type=Path, default=None, help="where volumes and pod sandboxes live")
    parser.add_argument("--api-key", default="emulator-key", help="the key clients must send")
    parser.add_argument("--start-seconds", type=float, default=Timing.start_seconds, help="create -> running")
    parser.add_argument("--load-seconds", type=float, default=Timing.load_seconds, help="engine load time")
    parser.add_argument(
        "--restart-seconds",
        type=float,
        default=Timing.restart_seconds,
        help="an exited container -> restarted",
    )
    args = parser.parse_args(argv)
    timing = Timing(
        start_seconds=args.start_seconds, load_seconds=args.load_seconds, restart_seconds=args.restart_seconds
    )
    emulator = Emulator(
        api_key=args.api_key,
        time_scale=args.time_scale,
        timing=timing,
        state_dir=args.state_dir,
        port=args.port,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with emulator:
        print(f"# RunPod emulator on {emulator.url} (time scale {args.time_scale}); Ctrl-C stops it.")
        print(f"# REST v2: {emulator.v2_base_url}  GraphQL: {emulator.url}/graphql")
        print("# Point clients at it with:")
        for name, value in emulator.env().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

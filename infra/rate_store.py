"""The measured read rates this machine has recorded: one probe record per line in the state directory.

The pre-fill (RunPod) and the download Job (Kubernetes) append what the read-rate probe printed, with the
stack it measured for; `plan`, `up` and `validate` then plan with the newest record that applies: the
stack's own volume, or a volume of the same tier in one of the stack's data centers. Records are keyed by
data center, tier and date (the probe's fields); nothing secret is in them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.state_root import state_root

FILE = "read-rates.jsonl"
# A rehearsal keeps its simulated measurements apart from the real ones (the lifecycle sets it).
ROOT_ENV = "V4INFRA_RATES_DIR"


def rates_root() -> Path:
    """Where this process records and reads measured rates: $V4INFRA_RATES_DIR, else the state directory."""
    return Path(os.environ[ROOT_ENV]) if os.environ.get(ROOT_ENV) else state_root()


def store_path(root: Path) -> Path:
    return root / FILE


def record(root: Path, stack: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Append probe records for `stack`; a record that cannot be written is dropped (never blocks a run)."""
    lines = [json.dumps({**r, "stack": stack}, sort_keys=True) for r in records]
    if not lines:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        # One write of whole lines: concurrent runs append without interleaving a line.
        fd = os.open(store_path(root), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        return


def recorded_for(root: Path, stack: str, data_centers: Sequence[str], tier: str) -> tuple[str, ...]:
    """The recorded lines that apply to `stack`: its own, and those of its data centers on its tier
    (`auto` takes any tier); unreadable lines are skipped."""
    try:
        text = store_path(root).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    kept: list[str] = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        same_stack = data.get("stack") == stack
        nearby = data.get("data_center") in data_centers and tier in ("auto", data.get("tier"))
        if same_stack or nearby:
            kept.append(line)
    return tuple(kept)

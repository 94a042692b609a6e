"""Where `v4infra` keeps local state (Pulumi backend, canary records, per-stack files, measured rates)."""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    """$V4INFRA_STATE_DIR, or ~/.local/state/deepseek-v4-infra."""
    return Path(os.environ.get("V4INFRA_STATE_DIR", Path.home() / ".local" / "state" / "deepseek-v4-infra"))

"""A rehearsal: the RunPod emulator and a local Hugging Face hub, started for one command.

Everything a real run does happens against them over loopback (the Pulumi engine, the runpod SDK,
SSH, huggingface_hub, HTTP), so a rehearsal proves the whole path without an account or money.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.emulator import Emulator, Timing
from infra.emulator.hub import FakeHub
from infra.validate.report import RunCost

# One real second stands for ten simulated minutes: a 40-minute load bills as such and takes 4 s.
TIME_SCALE = 600.0


@dataclass
class Rehearsal:
    """Emulator + hub for the checkpoint `repo_id`; `env()` points every client at them."""

    repo_id: str
    state_dir: Path
    time_scale: float = TIME_SCALE
    hf_token: str = field(default_factory=lambda: "hf_rehearsal_" + secrets.token_hex(8))
    emulator: Emulator | None = None
    hub: FakeHub | None = None

    def __enter__(self) -> Rehearsal:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(
            api_key="rehearsal-" + secrets.token_hex(8),
            time_scale=self.time_scale,
            timing=Timing(start_seconds=60, load_seconds=30 * 60),
            state_dir=self.state_dir / "emulator",
        ).start()
        self.hub = FakeHub(token=self.hf_token).start()
        self.hub.add_fake_checkpoint(self.repo_id, shards=4, shard_bytes=64 * 1024)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.hub is not None:
            self.hub.stop()
        if self.emulator is not None:
            self.emulator.stop()

    def env(self) -> dict[str, str]:
        assert self.emulator is not None and self.hub is not None, "use Rehearsal as a context manager"
        return {**self.emulator.env(), "HF_ENDPOINT": self.hub.url, "HF_TOKEN": self.hf_token}

    def inventory(self) -> dict[str, Any]:
        assert self.emulator is not None
        return self.emulator.inventory()

    def secrets(self) -> list[str]:
        assert self.emulator is not None
        return [self.hf_token, self.emulator.api_key]

    def run_cost(self, usd_per_hour: float | None) -> RunCost:
        """What the run would have cost on RunPod: the emulator bills in simulated time."""
        history = self.inventory().get("history", [])
        return RunCost(
            gpu_hours=round(sum(p.get("gpu_seconds", 0) for p in history) / 3600, 3),
            usd=round(sum(p.get("usd", 0) for p in history), 2),
            usd_per_hour=usd_per_hour,
        )

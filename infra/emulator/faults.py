"""Fault injection and timing for one emulator run: what goes wrong, and how slow things are."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

JSON_START_COMMAND_MODES = ("honour", "refuse", "ignore")


@dataclass
class Faults:
    """What the emulated RunPod does wrong. Counters are consumed as requests arrive."""

    # The first N pod creates fail with RunPod's no-capacity error.
    capacity_errors: int = 0
    # Creates for these GPU types / in these data centers always fail with no capacity.
    capacity_gpu_types: list[str] = field(default_factory=list)
    capacity_data_centers: list[str] = field(default_factory=list)
    # The first N creates make the pod, then answer HTTP 500 (the client must find and clean it up).
    error_after_create: int = 0
    # The next N GraphQL/REST requests answer 429 with Retry-After: 1.
    rate_limit: int = 0
    # The next N GraphQL/REST requests answer 502 from the edge (an HTML page, as Cloudflare does).
    server_errors: int = 0
    # Creates fail with RunPod's balance message.
    balance_too_low: bool = False
    # Extra simulated seconds before a container starts.
    slow_start_seconds: float = 0.0
    # GPU pods' containers die this many simulated seconds after starting.
    die_after_seconds: float | None = None
    # Passed to the pod runtime's fake engine (`arch`, `keyerror`, `oom`, `tp16`, `pp`, `hub401`).
    engine_fault: str | None = None
    # Simulated seconds before an exited container is restarted, overriding `Timing.restart_seconds`.
    restart_delay_seconds: float | None = None
    # Seconds a 429 asks the client to wait (`Retry-After`).
    retry_after_seconds: int = 1
    # Images whose pull fails (the pod goes to ERROR); `registry.invalid/...` never pulls either.
    unpullable_images: list[str] = field(default_factory=list)
    # --- Breaking the assumptions the canary checks (issue 14), one at a time ---
    # The JSON start-command form (`{"entrypoint": [...], "cmd": [...]}` in `args`) is the one unconfirmed
    # assumption about v2 (shared/reference/runpod.md): `honour` it, `refuse` it at create (400), or
    # `ignore` it (the text goes to the image's ENTRYPOINT as plain arguments).
    json_start_command: str = "honour"
    # A container whose command exits is NOT restarted: the pod becomes EXITED (RunPod restarts it).
    never_restart: bool = False
    # This key is left out of every REST v2 pod view (a renamed or removed field).
    drop_pod_field: str | None = None
    # A pod's own RUNPOD_API_KEY is refused (401), so a pod cannot terminate itself.
    reject_pod_key: bool = False
    # A network volume mounts at /workspace whatever path the create asked for.
    ignore_mount_path: bool = False
    # `GET /v2/pods/{id}/logs` answers an empty stream.
    no_log_stream: bool = False

    def __post_init__(self) -> None:
        if self.json_start_command not in JSON_START_COMMAND_MODES:
            raise ValueError(
                f"json_start_command must be one of {', '.join(JSON_START_COMMAND_MODES)}, "
                f"got {self.json_start_command!r}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        """Build from JSON; unknown keys are an error so a typo in a test does not pass silently."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for f in dataclasses.fields(cls):
            if f.name in data and not _has_type(data[f.name], str(f.type)):
                raise ValueError(f"fault {f.name} must be {f.type}, got {data[f.name]!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Timing:
    """How long things take, in simulated seconds (see `Clock`)."""

    # Create -> the container runs (image pull, scheduling).
    start_seconds: float = 20.0
    # The fake engine's model load once its process runs.
    load_seconds: float = 60.0
    # Resume of a stopped pod -> the container runs again.
    resume_seconds: float = 10.0
    # A container that exited -> it runs again (RunPod restarts it, endlessly: dstack#1142).
    restart_seconds: float = 10.0


def _has_type(value: Any, annotation: str) -> bool:
    """Check a JSON value against one of the simple annotations `Faults` uses."""
    if value is None:
        return "None" in annotation
    if isinstance(value, bool):
        return annotation == "bool"
    if isinstance(value, int):
        return annotation.startswith(("int", "float"))
    if isinstance(value, float):
        return annotation.startswith("float")
    if isinstance(value, str):
        return annotation.startswith("str")
    return isinstance(value, list) and annotation == "list[str]" and all(isinstance(v, str) for v in value)

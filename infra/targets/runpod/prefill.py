"""Weight pre-fill: a CPU pod mounts the cache volume and runs `infra/weights.py` over SSH, then goes.

No GPU is billed while 160-900 GB download; the accuracy stage's dataset (GSM8K) is cached beside them. The filler skips a complete copy (marker plus sizes), so
a warm volume costs one short CPU pod. A CPU pod that a crashed pre-fill left under the same name is
adopted rather than rented twice; its SSH host key is pinned from its log before the session opens
(an impostor on the port could fake the "done" line, and a GPU pod would be rented for an empty
cache). The CPU pod is terminated in every outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from infra import probe_session
from infra.errors import WeightCacheError
from infra.ssh import SshSession, SshTarget, pod_known_hosts
from infra.targets.runpod import host_keys, runtime
from infra.targets.runpod.props import PrefillInputs, PrefillOutputs
from infra.targets.runpod.types import PodRequest
from infra.validate.accuracy import DATASET_REPO

FILL_TIMEOUT_SECONDS = 6 * 3600.0
# The accuracy stage's dataset (openai/gsm8k, a few MB): the filler caches it like a checkpoint.
DATASET_TIMEOUT_SECONDS = 600.0
FILLER_PATH = "/tmp/v4infra-weights.py"
FILL_WORKERS = 4
# The last progress event of a running pre-fill, for `v4infra up` to show while the engine works.
PROGRESS_FILE = "prefill-progress.json"


@dataclass(frozen=True)
class ProgressFile:
    """One JSON object, replaced atomically: the pre-fill's latest progress event."""

    path: Path

    def write(self, event: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(event))
        tmp.replace(self.path)

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def filler_source() -> bytes:
    """The single-file filler that runs inside the pod (it imports only huggingface_hub)."""
    return resources.files("infra").joinpath("weights.py").read_bytes()


def run_prefill(
    inputs: PrefillInputs[str], on_event: Callable[[dict[str, Any]], None] | None = None
) -> PrefillOutputs:
    client = runtime.runpod_client(inputs.connection)
    env = {"PUBLIC_KEY": inputs.public_key}
    if inputs.hf_token:
        env["HF_TOKEN"] = inputs.hf_token
    if inputs.hf_endpoint:
        env["HF_ENDPOINT"] = inputs.hf_endpoint
    request = PodRequest(
        name=inputs.name,
        image=inputs.image,
        gpu_type_id=None,
        gpu_count=0,
        network_volume_id=inputs.volume_id,
        data_center_id=inputs.data_center_id,
        args=inputs.args,
        ports=("22/tcp",),
        env=env,
        container_disk_gb=20,
    )
    # A crashed pre-fill left its CPU pod under this name: adopt it (the filler resumes) instead of renting another.
    pod = next(iter(client.pods_named(request.name)), None) or client.create_cpu_pod(request)
    try:
        pod = runtime.wait_for_runtime(client, pod.id, needs_ssh=True, what="pre-fill pod")
        assert pod.ssh is not None, "wait_for_runtime returns a pod with ssh.direct when asked"
        target = SshTarget(*pod.ssh)
        stack_state = runtime.state_dir(inputs.stack)
        known_hosts = pod_known_hosts(stack_state, pod.id)
        host_keys.pin_from_log(client, pod.id, target, known_hosts)
        session = SshSession(target, inputs.private_key, known_hosts)
        progress = ProgressFile(stack_state / PROGRESS_FILE)
        events: list[dict[str, Any]] = []
        output: list[str] = []

        def on_line(line: str) -> None:
            output.append(line)
            if not line.startswith("{"):
                return
            event = json.loads(line)
            events.append(event)
            progress.write(event)
            if on_event is not None:
                on_event(event)

        with session.connect(retries=20, delay=1.0):
            session.run(["bash", "-c", f"cat > {FILLER_PATH}"], stdin=filler_source())
            started = time.monotonic()
            command = [
                "python3",
                FILLER_PATH,
                "fill",
                "--cache-dir",
                inputs.cache_dir,
                "--repo",
                inputs.repo_id,
                "--revision",
                inputs.revision,
                "--max-workers",
                str(FILL_WORKERS),
            ]
            session.stream(command, on_line, timeout=FILL_TIMEOUT_SECONDS)
            fill_seconds = time.monotonic() - started
            # The accuracy stage's GSM8K, cached beside the checkpoint so the GPU pod downloads nothing. A
            # failure here does not stop the deploy: the accuracy stage then names the missing dataset.
            session.run(
                ["python3", FILLER_PATH, "fill", "--cache-dir", inputs.cache_dir, "--repo", DATASET_REPO,
                 "--repo-type", "dataset", "--max-workers", "2"],
                timeout=DATASET_TIMEOUT_SECONDS,
            )  # fmt: skip
            final = (
                events[-1]
                if events
                else {"event": "error", "message": " ".join(output)[-300:] or "no output"}
            )
            rates = (
                _measure_reads(session, inputs, final, fill_seconds) if final.get("event") == "done" else ()
            )
        progress.clear()
        if final.get("event") != "done":
            raise WeightCacheError(f"weight pre-fill failed: {final.get('message', 'no result')}")
        return PrefillOutputs(
            complete=True,
            skipped=bool(final["skipped"]),
            bytes_downloaded=int(final["bytes_downloaded"]),
            commit=str(final["commit"]),
            prefill_pod_id=pod.id,
            read_rates=rates,
        )
    finally:
        client.terminate_pod(pod.id)


def _measure_reads(
    session: SshSession, inputs: PrefillInputs[str], done: dict[str, Any], fill_seconds: float
) -> tuple[str, ...]:
    """Measure before renting: the volume's checkpoint files, the container disk and the download just
    done, as probe records (JSON lines); a failed measurement is a record too and never fails the fill."""
    tier = inputs.volume_tier or "unknown"

    def run(argv: list[str], stdin: bytes, timeout: float) -> tuple[int, str]:
        result = session.run(argv, timeout=timeout, stdin=stdin)
        return result.exit_status, result.stdout + result.stderr

    repo_dir = f"{inputs.cache_dir}/hub/models--{inputs.repo_id.replace('/', '--')}"
    records = probe_session.measure(
        run,
        data_center=inputs.data_center_id,
        tier=tier,
        repo_dir=repo_dir,
    )
    hub = probe_session.hub_record(
        inputs.data_center_id, tier, int(done.get("bytes_downloaded") or 0), fill_seconds, FILL_WORKERS
    )
    return tuple(json.dumps(r, sort_keys=True) for r in [*records, *([hub] if hub else [])])

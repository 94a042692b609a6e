"""Weight pre-fill: a CPU pod mounts the cache volume and runs `infra/weights.py` over SSH, then goes.

No GPU is billed while 160-900 GB download. The filler skips a complete copy (marker plus sizes), so
a warm volume costs one short CPU pod. The CPU pod is terminated in every outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from infra.errors import WeightCacheError

FILL_TIMEOUT_SECONDS = 6 * 3600.0
RUNTIME_WAIT_SECONDS = 900.0
POLL_SECONDS = 2.0


def filler_source() -> bytes:
    """The single-file filler that runs inside the pod (it imports only huggingface_hub)."""
    return resources.files("infra").joinpath("weights.py").read_bytes()


def run_prefill(
    props: dict[str, Any], on_event: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    from infra.ssh import SshSession, SshTarget
    from infra.targets.runpod.client import PodRequest
    from infra.targets.runpod.providers import _client, state_dir

    client = _client(props)
    env = {"PUBLIC_KEY": props["public_key"]}
    if props.get("hf_token"):
        env["HF_TOKEN"] = props["hf_token"]
    if props.get("hf_endpoint"):
        env["HF_ENDPOINT"] = props["hf_endpoint"]
    request = PodRequest(
        name=props["name"],
        image=props["image"],
        gpu_type_id=None,
        gpu_count=0,
        network_volume_id=props["volume_id"],
        data_center_id=props["data_center_id"],
        docker_args=props["docker_args"],
        ports="22/tcp",
        env=env,
        container_disk_gb=20,
    )
    pod = client.create_cpu_pod(request)
    try:
        deadline = time.monotonic() + RUNTIME_WAIT_SECONDS
        while pod.ssh is None:
            if time.monotonic() > deadline:
                raise WeightCacheError(
                    f"pre-fill pod {pod.id} had no SSH port after {RUNTIME_WAIT_SECONDS:.0f} s"
                )
            time.sleep(POLL_SECONDS)
            fresh = client.get_pod(pod.id)
            if fresh is None:
                raise WeightCacheError(f"pre-fill pod {pod.id} disappeared while starting")
            pod = fresh
        host, port = pod.ssh
        session = SshSession(
            SshTarget(host, port), props["private_key"], state_dir(props["stack"]) / "known_hosts"
        )
        with session.connect(retries=20, delay=1.0):
            command = [
                "python3",
                "-",
                "fill",
                "--cache-dir",
                props["cache_dir"],
                "--repo",
                props["repo_id"],
                "--revision",
                props["revision"],
                "--max-workers",
                "4",
            ]
            result = session.run(command, timeout=FILL_TIMEOUT_SECONDS, stdin=filler_source())
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        for event in events:
            if on_event is not None:
                on_event(event)
        final = events[-1] if events else {"event": "error", "message": result.stderr.strip()[-300:]}
        if final.get("event") != "done":
            raise WeightCacheError(f"weight pre-fill failed: {final.get('message', 'no result')}")
        return {
            "complete": True,
            "skipped": bool(final["skipped"]),
            "bytes_downloaded": int(final["bytes_downloaded"]),
            "commit": str(final["commit"]),
            "prefill_pod_id": pod.id,
        }
    finally:
        client.terminate_pod(pod.id)

"""Pinning a pod's SSH host keys from its RunPod log, before the first contact, on every SSH path.

The start scripts print `v4infra-hostkey: <type> <base64>` for each host key just before sshd starts
(templates/runpod/_common.sh.j2), and RunPod streams the container log (`GET /v2/pods/{id}/logs`).
The pre-fill's CPU pod, the GPU pod and every cluster member are pinned this way before a session
opens; a log with no key lines is waited on for a bounded time, then the session is refused: an
unpinned server is never trusted on first use (infra/ssh.py refuses it too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from infra.errors import ProviderError
from infra.ssh import HostKeyNotPinnedError, SshTarget, host_keys_in_log, pin_host_key
from infra.targets.runpod.client import RunPodClient

# The keys are printed before sshd starts, so they are in the log once sshd greets; this covers a slow stream.
HOST_KEY_WAIT_SECONDS = 60.0
POLL_SECONDS = 2.0
# v2's largest backfill (LogTail, maximum 5000): the keys come early, and a chatty engine follows them.
LOG_TAIL = 5000


def pin_from_log(
    client: RunPodClient,
    pod_id: str,
    target: SshTarget,
    known_hosts: Path,
    *,
    wait_seconds: float = HOST_KEY_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Pin every host key pod `pod_id` printed, for `target`; their fingerprints.

    A key that differs from one already pinned for this pod raises HostKeyChangedError; no key lines
    within `wait_seconds` raise HostKeyNotPinnedError naming the pod and what to do.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lines = [e.line for e in client.pod_logs(pod_id, tail=LOG_TAIL, idle_seconds=0.5, max_seconds=5)]
            why = "its log shows no `v4infra-hostkey:` line"
        except ProviderError as err:
            lines, why = [], f"its log could not be read ({err})"
        keys = host_keys_in_log(lines)
        if keys:
            return [pin_host_key(known_hosts, target, key) for key in keys]
        if time.monotonic() >= deadline:
            raise HostKeyNotPinnedError(
                f"pod {pod_id}: no SSH host key to pin after {wait_seconds:.0f} s ({why}), so "
                f"{target.address} cannot be told from an impostor and is refused; check that RunPod "
                "streams the pod's log (`v4infra canary` proves it), then run the command again",
                host=target.host,
                port=target.port,
            )
        sleep(POLL_SECONDS)

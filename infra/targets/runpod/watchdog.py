"""A time-to-live kept from outside the GPU machines (it runs in a small CPU pod).

With plain `vllm serve` arguments nothing of ours runs inside the GPU pod, so it cannot terminate
itself; an Instant Cluster's members cannot delete their cluster with their pod-scoped key (members
answer 409 on the pod routes, and a pod key is refused elsewhere). This script (standard library only, shipped as the CPU pod's start command) sleeps for the
TTL, then deletes the GPU pod through REST v2 with the stack's key until RunPod confirms it gone,
retrying 429/5xx with backoff, and finally deletes its own pod with the pod-scoped key.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

ATTEMPT_CEILING_SECONDS = 60.0


def _request(method: str, url: str, key: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": "Bearer " + key})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
            return answer.status, (json.loads(body) if body else {})
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def terminate_until_gone(base: str, pod_id: str, key: str, sleep: object = time.sleep) -> int:
    """DELETE the pod until GET says 404 or TERMINATED; returns the attempts it took."""
    return delete_until_gone(base, "pods", pod_id, key, sleep)


def delete_until_gone(base: str, kind: str, item_id: str, key: str, sleep: object = time.sleep) -> int:
    """DELETE `{base}/{kind}/{id}` (pods, clusters) until GET says 404 or TERMINATED; returns the attempts."""
    delay, attempt = 2.0, 0
    while True:
        attempt += 1
        _request("DELETE", f"{base}/{kind}/{item_id}", key)
        status, item = _request("GET", f"{base}/{kind}/{item_id}", key)
        if status == 404 or (status == 200 and item.get("status") == "TERMINATED"):
            print(f"v4infra-watchdog: {kind} {item_id} is gone after {attempt} attempt(s)", flush=True)
            return attempt
        print(
            f"v4infra-watchdog: {kind} {item_id} still there (HTTP {status}); retrying in {delay:.0f} s",
            flush=True,
        )
        sleep(delay)  # type: ignore[operator]
        delay = min(ATTEMPT_CEILING_SECONDS, delay * 2)


def main() -> int:
    base = os.environ.get("RUNPOD_API_BASE_URL", "https://api.runpod.io").rstrip("/") + "/v2"
    # A cluster stack names its cluster, a single-pod stack its pod.
    kind, target = (
        ("clusters", os.environ["V4INFRA_TARGET_CLUSTER"])
        if os.environ.get("V4INFRA_TARGET_CLUSTER")
        else ("pods", os.environ["V4INFRA_TARGET_POD"])
    )
    ttl = float(os.environ["V4INFRA_TTL_SECONDS"])
    print(f"v4infra-watchdog: {kind} {target} will be deleted in {ttl:.0f} s", flush=True)
    time.sleep(ttl)
    delete_until_gone(base, kind, target, os.environ["V4INFRA_RUNPOD_KEY"])
    own = os.environ.get("RUNPOD_POD_ID")
    if own:
        terminate_until_gone(base, own, os.environ.get("RUNPOD_API_KEY") or os.environ["V4INFRA_RUNPOD_KEY"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

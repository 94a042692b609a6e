"""A time-to-live kept from outside the GPU machines (it runs in a small CPU pod).

With plain `vllm serve` arguments nothing of ours runs inside the GPU pod, so it cannot terminate
itself; an Instant Cluster's members cannot delete their cluster with their pod-scoped key (members
answer 409 on the pod routes, and a pod key is refused elsewhere). This script (standard library only, shipped as the CPU pod's start command) sleeps for the
TTL, then deletes the GPU pod through REST v2 with the stack's key until RunPod confirms it gone,
retrying 429/5xx (a 429 after the Retry-After it sends, anything else after a short jittered
backoff, no wait past a cap), and finally deletes its own pod with the pod-scoped key.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

# The first backoff when RunPod says nothing (half fixed, half random, doubling), and the longest any
# one wait may be, a Retry-After included: the TTL is a promise about billing, not a suggestion.
FIRST_BACKOFF_SECONDS = 2.0
ATTEMPT_CEILING_SECONDS = 60.0


def _request(method: str, url: str, key: str) -> tuple[int, dict[str, object], str | None]:
    """(status, JSON body, Retry-After header); status 0 when RunPod could not be reached."""
    request = urllib.request.Request(url, method=method, headers={"Authorization": "Bearer " + key})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
            return answer.status, (json.loads(body) if body else {}), None
    except urllib.error.HTTPError as error:
        return error.code, {}, error.headers.get("Retry-After")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}, None


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds a Retry-After asks for (delta-seconds or an HTTP date, RFC 9110); None if it says nothing."""
    value = (header or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def terminate_until_gone(
    base: str,
    pod_id: str,
    key: str,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> int:
    """DELETE the pod until GET says 404 or TERMINATED; returns the attempts it took."""
    return delete_until_gone(base, "pods", pod_id, key, sleep, rng)


def delete_until_gone(
    base: str,
    kind: str,
    item_id: str,
    key: str,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> int:
    """DELETE `{base}/{kind}/{id}` (pods, clusters) until GET says 404 or TERMINATED; returns the attempts.

    Between attempts it waits what a 429's Retry-After asks, else a jittered doubling backoff; never
    longer than ATTEMPT_CEILING_SECONDS.
    """
    jitter = rng or random.Random()
    backoff, attempt = FIRST_BACKOFF_SECONDS, 0
    while True:
        attempt += 1
        _, _, deleted_after = _request("DELETE", f"{base}/{kind}/{item_id}", key)
        status, item, read_after = _request("GET", f"{base}/{kind}/{item_id}", key)
        if status == 404 or (status == 200 and item.get("status") == "TERMINATED"):
            print(f"v4infra-watchdog: {kind} {item_id} is gone after {attempt} attempt(s)", flush=True)
            return attempt
        asked = retry_after_seconds(read_after or deleted_after)
        if asked is None:
            wait, why = backoff / 2 + jitter.uniform(0, backoff / 2), "backoff"
            backoff = min(ATTEMPT_CEILING_SECONDS, backoff * 2)
        else:
            wait, why = asked, "Retry-After"
        wait = min(wait, ATTEMPT_CEILING_SECONDS)
        print(
            f"v4infra-watchdog: {kind} {item_id} still there (HTTP {status}); retrying in {wait:.3g} s ({why})",
            flush=True,
        )
        sleep(wait)


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

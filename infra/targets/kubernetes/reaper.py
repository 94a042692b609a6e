"""The reaper: deletes its own namespace once the namespace is older than a time-to-live.

It runs in a Job inside the namespace it deletes, on a plain Python image (standard library only), with a
service account whose Role allows `get` and `delete` on that one namespace:

    python3 reaper.py NAMESPACE TTL_SECONDS

The deadline is the namespace's creationTimestamp plus the TTL, so a restarted pod does not extend it.
Prints one JSON object per line; exits 0 once the namespace is deleted (or already gone).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class Api:
    """The few Kubernetes API calls the reaper makes, with the pod's service-account token."""

    def __init__(self, base: str, token_file: str, ca_file: str) -> None:
        self.base = base.rstrip("/")
        self.token_file = token_file
        self.context = ssl.create_default_context(cafile=ca_file) if base.startswith("https:") else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        # The token is read on every call: the kubelet rotates projected tokens.
        with open(self.token_file, encoding="utf-8") as f:
            token = f.read().strip()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, {}


def deadline(api: Api, namespace: str, ttl_s: int) -> float | None:
    """Epoch seconds at which the namespace expires; None when it is already gone."""
    status, ns = api.call("GET", f"/api/v1/namespaces/{namespace}")
    if status == 404:
        return None
    if status != 200:
        raise RuntimeError(f"reading namespace {namespace}: HTTP {status}")
    created = datetime.strptime(ns["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return created.timestamp() + ttl_s


def reap(api: Api, namespace: str, ttl_s: int, max_sleep_s: float) -> None:
    """Sleep until the namespace's deadline (re-reading it), then delete the namespace."""
    while (end := deadline(api, namespace, ttl_s)) is not None:
        left = end - time.time()
        if left <= 0:
            status, _ = api.call(
                "DELETE", f"/api/v1/namespaces/{namespace}", {"propagationPolicy": "Background"}
            )
            if status not in (200, 202, 404, 409):
                raise RuntimeError(f"deleting namespace {namespace}: HTTP {status}")
            emit(event="deleted", namespace=namespace)
            return
        emit(event="waiting", namespace=namespace, seconds_left=int(left))
        time.sleep(min(left, max_sleep_s))
    emit(event="gone", namespace=namespace)


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST", ""),
        os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    parser = argparse.ArgumentParser(prog="reaper.py", description=__doc__.splitlines()[0])
    parser.add_argument("namespace")
    parser.add_argument("ttl_seconds", type=int)
    parser.add_argument("--api", default=f"https://{host}:{port}", help="default: the in-cluster API server")
    parser.add_argument("--token-file", default=f"{SA_DIR}/token")
    parser.add_argument("--ca-file", default=f"{SA_DIR}/ca.crt")
    parser.add_argument("--max-sleep", type=float, default=300.0, help="re-read the deadline this often")
    args = parser.parse_args(argv)
    try:
        reap(Api(args.api, args.token_file, args.ca_file), args.namespace, args.ttl_seconds, args.max_sleep)
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        # The Job's restart policy retries; the log gets one line, not a traceback.
        emit(event="error", message=f"{type(err).__name__}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The few Kubernetes API calls the LeaderWorkerSet stand-in controller makes, authenticated with the
kubeconfig's client certificate."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from infra.emulator.lws_names import FIELD_MANAGER


class ApiServer:
    """The few calls the controller makes, with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
        user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
        tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        tls.load_cert_chain(user["client-certificate"], user["client-key"])
        self.client = httpx.Client(base_url=cluster["server"], verify=tls, timeout=20.0)

    def list(self, path: str, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        answer = self.client.get(path, params=params)
        answer.raise_for_status()
        return list(answer.json().get("items") or [])

    def create(self, path: str, obj: Mapping[str, Any]) -> bool:
        """False when the name is taken (a previous poll made it, or its predecessor is still going)."""
        answer = self.client.post(path, json=obj, params={"fieldManager": FIELD_MANAGER})
        if answer.status_code == 409:
            return False
        answer.raise_for_status()
        return True

    def delete(self, path: str, uid: str | None = None, propagation: str = "Foreground") -> None:
        """Delete (foreground: dependents first); with `uid`, only that object, not a successor of its name."""
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if uid:
            options["preconditions"] = {"uid": uid}
        answer = self.client.request("DELETE", path, json=options)
        if answer.status_code not in (404, 409):  # gone, or already replaced (the uid precondition)
            answer.raise_for_status()

    def patch_status(self, path: str, status: Mapping[str, Any]) -> None:
        answer = self.client.patch(
            f"{path}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if answer.status_code != 404:
            answer.raise_for_status()

    def get(self, path: str) -> dict[str, Any] | None:
        answer = self.client.get(path)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

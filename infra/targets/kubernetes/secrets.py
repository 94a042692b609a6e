"""The two Secrets a rendered (GitOps) stack references but must never hold: `v4infra secrets STACK`.

    v4infra secrets k8s-flash-4xh200 | kubectl apply -f -

The Hugging Face token comes from the stack's secret config (`deepseek-v4-infra:hfToken`) or $HF_TOKEN;
the engine's API key from $VLLM_API_KEY, else a new random one (printed only inside the Secret).
Values go through a YAML dumper, never into a shell or a template.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import yaml

from infra.config import StackSpec
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    HF_TOKEN_KEY,
    HF_TOKEN_SECRET,
    labels,
)

API_KEY_ENV = "VLLM_API_KEY"


def secret_object(spec: StackSpec, name: str, key: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels(spec, "server")},
        "type": "Opaque",
        "stringData": {key: value},
    }


def secret_manifests(spec: StackSpec, hf_token: str | None, api_key: str | None) -> tuple[str, list[str]]:
    """(YAML for `kubectl apply -f -`, notes for stderr). No HF token: no Secret (public checkpoints)."""
    notes: list[str] = []
    objects = []
    if hf_token:
        objects.append(secret_object(spec, HF_TOKEN_SECRET, HF_TOKEN_KEY, hf_token))
    else:
        notes.append(
            f"no Hugging Face token (stack config or $HF_TOKEN): Secret '{HF_TOKEN_SECRET}' left out; "
            "a public checkpoint downloads without one"
        )
    if not api_key:
        api_key = secrets.token_urlsafe(32)
        notes.append(
            f"${API_KEY_ENV} is not set: Secret '{API_KEY_SECRET}' holds a new random key; read it back with "
            f"kubectl -n {spec.namespace} get secret {API_KEY_SECRET} -o jsonpath='{{.data.{API_KEY_KEY}}}' "
            "| base64 -d"
        )
    objects.append(secret_object(spec, API_KEY_SECRET, API_KEY_KEY, api_key))
    return yaml.safe_dump_all(objects, sort_keys=False), notes


def api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_ENV) or None

"""A generated API key for the engine, kept in Pulumi state as a secret (no plugin binary needed)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class _ApiKeyProvider(ResourceProvider):
    """Creates a random key once; it never changes until the resource is replaced."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=uuid.uuid4().hex, outs={"value": secrets.token_urlsafe(32)})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)


class GeneratedApiKey(Resource):
    """`value` is a 256-bit URL-safe key, a secret output."""

    value: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["value"])
        super().__init__(_ApiKeyProvider(), name, {"value": None}, pulumi.ResourceOptions.merge(opts, secret))

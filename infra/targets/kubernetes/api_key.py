"""A generated API key for the engine, kept in Pulumi state as a secret (no plugin binary needed)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

import pulumi
from pulumi.dynamic import Resource

from infra.targets.dynamic import DiffResult, PropsDataclass, TypedProvider


@dataclass(frozen=True)
class ApiKeyInputs(PropsDataclass):
    """Nothing: the key depends on no input, so it never changes until the resource is replaced."""


@dataclass(frozen=True)
class ApiKeyOutputs(PropsDataclass):
    value: str | None = field(default=None, repr=False)
    """A 256-bit URL-safe key."""


class _ApiKeyProvider(TypedProvider[ApiKeyInputs, ApiKeyOutputs]):
    """Creates a random key once; it never changes until the resource is replaced."""

    inputs = ApiKeyInputs
    outputs = ApiKeyOutputs

    def on_create(self, inputs: ApiKeyInputs) -> tuple[str, ApiKeyOutputs]:
        return uuid.uuid4().hex, ApiKeyOutputs(value=secrets.token_urlsafe(32))

    def on_diff(self, id: str, olds: ApiKeyInputs, outputs: ApiKeyOutputs, news: ApiKeyInputs) -> DiffResult:
        return DiffResult(changes=False)

    def on_read(
        self, id: str, inputs: ApiKeyInputs, outputs: ApiKeyOutputs
    ) -> tuple[ApiKeyInputs, ApiKeyOutputs] | None:
        # It exists only in the state: what the state holds is what there is.
        return inputs, outputs

    def on_delete(self, id: str, inputs: ApiKeyInputs, outputs: ApiKeyOutputs) -> None:
        return None


class GeneratedApiKey(Resource):
    """`value` is a 256-bit URL-safe key, a secret output."""

    value: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["value"])
        props = {**ApiKeyOutputs.unset(), **ApiKeyInputs().to_props()}
        super().__init__(_ApiKeyProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))

"""Where RunPod is and the key to it: `RunPodSettings`, built by one constructor per side (`from_env`,
`from_props`), picklable and holding no clients; the key never reaches a repr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from infra.errors import AuthError

if TYPE_CHECKING:
    import pulumi

# A text value: a plain str inside a provider, a Pulumi Input[str] where a component wires one
# resource's output into another's input (the same dataclass serves both sides).
Wired = TypeVar("Wired", str, "pulumi.Input[str]")

API_VERSION = "v2"
KEY_HINT = (
    "set it with `pulumi config set --secret deepseek-v4-infra:runpodApiKey <key>` or export RUNPOD_API_KEY"
)
DEFAULT_API_BASE_URL = "https://api.runpod.io"
DEFAULT_PROXY_URL_TEMPLATE = "https://{pod_id}-{port}.proxy.runpod.net"


@dataclass(frozen=True)
class RunPodSettings(Generic[Wired]):
    """Where RunPod is and the key to it; picklable, holds no clients.

    Built in one of two ways: `from_env` (the lifecycle, the canary, the program, whose key may be a
    Pulumi secret) and `from_props` (a dynamic provider, from what `to_props` wrote into its inputs).
    """

    api_key: Wired = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    """REST v2 lives under `{api_base_url}/v2` (the emulator serves the same paths)."""
    proxy_url_template: str = DEFAULT_PROXY_URL_TEMPLATE

    def __post_init__(self) -> None:
        if not self.api_key:
            raise AuthError(f"no RunPod API key: {KEY_HINT}")

    def __repr__(self) -> str:
        return (
            f"RunPodSettings(api_key='***', api_base_url={self.api_base_url!r}, "
            f"proxy_url_template={self.proxy_url_template!r})"
        )

    @overload
    @classmethod
    def from_env(
        cls, api_key: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunPodSettings[str]: ...

    @overload
    @classmethod
    def from_env(
        cls, api_key: pulumi.Output[str], env: Mapping[str, str] | None = None
    ) -> RunPodSettings[pulumi.Input[str]]: ...

    @classmethod
    def from_env(
        cls, api_key: str | pulumi.Output[str] | None = None, env: Mapping[str, str] | None = None
    ) -> RunPodSettings[str] | RunPodSettings[pulumi.Input[str]]:
        """Settings from $RUNPOD_* (the emulator sets these); `api_key` wins over $RUNPOD_API_KEY."""
        source = os.environ if env is None else env
        base = source.get("RUNPOD_API_BASE_URL") or DEFAULT_API_BASE_URL
        proxy = source.get("RUNPOD_PROXY_URL_TEMPLATE") or DEFAULT_PROXY_URL_TEMPLATE
        if api_key is None or isinstance(api_key, str):
            return RunPodSettings(api_key or source.get("RUNPOD_API_KEY", ""), base, proxy)
        # A Pulumi secret: the providers get its value, this process never sees it.
        return RunPodSettings(api_key, base, proxy)

    @classmethod
    def from_props(cls, props: Mapping[str, object]) -> RunPodSettings[str]:
        """Settings from a dynamic resource's inputs (see `to_props`)."""
        return RunPodSettings(
            api_key=str(props["api_key"]),
            api_base_url=str(props["api_base_url"]),
            proxy_url_template=str(props["proxy_url_template"]),
        )

    def to_props(self) -> dict[str, Wired | str]:
        return {
            "api_key": self.api_key,
            "api_base_url": self.api_base_url,
            "proxy_url_template": self.proxy_url_template,
        }

    def endpoint_url(self, pod_id: str, port: int = 8000) -> str:
        return self.proxy_url_template.format(pod_id=pod_id, port=port)

"""The image that ran: its digest from the stack's pin, the registry's manifest, the pod, or none (the version).

The registry is judged by a stand-in that answers as the distribution spec and Docker Hub do: a HEAD on the
manifest without a token gets 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the realm
hands out an anonymous token (`{"token": ...}`); the HEAD with it gets 200 and `Docker-Content-Digest`
(OCI distribution-spec v1.1 "Pulling manifests"; distribution docs/spec/auth/token.md).
"""

from __future__ import annotations

import httpx
import pytest

from infra.validate.image_record import DOCKER_HUB, ImageRef, record_image, registry_digest

DIGEST = "sha256:" + "3f" * 32
POD_DIGEST = "sha256:" + "9a" * 32


def docker_hub(requests: list[httpx.Request], *, digest: str = DIGEST) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host == "auth.docker.io":
            assert request.url.params["service"] == "registry.docker.io"
            assert request.url.params["scope"] == "repository:vllm/vllm-openai:pull"
            return httpx.Response(200, json={"token": "anonymous-pull-token"})
        if request.headers.get("authorization") != "Bearer anonymous-pull-token":
            challenge = (
                'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                'scope="repository:vllm/vllm-openai:pull"'
            )
            return httpx.Response(401, headers={"www-authenticate": challenge})
        assert (
            request.method == "HEAD"
            and "application/vnd.oci.image.index.v1+json" in request.headers["accept"]
        )
        return httpx.Response(200, headers={"docker-content-digest": digest})

    return httpx.Client(transport=httpx.MockTransport(answer))


def engine(version: str | None = "0.31.0") -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if version is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json={"version": version})

    return httpx.Client(base_url="http://engine", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("image", "registry", "repository", "reference"),
    [
        ("vllm/vllm-openai:v0.31.0", DOCKER_HUB, "vllm/vllm-openai", "v0.31.0"),
        ("nginx", DOCKER_HUB, "library/nginx", "latest"),
        ("ghcr.io/acme/vllm:v1", "ghcr.io", "acme/vllm", "v1"),
        ("localhost:5000/engine", "localhost:5000", "engine", "latest"),
        (f"vllm/vllm-openai:v0.31.0@{DIGEST}", DOCKER_HUB, "vllm/vllm-openai", DIGEST),
    ],
)
def test_references_split_as_the_distribution_grammar_does(
    image: str, registry: str, repository: str, reference: str
) -> None:
    ref = ImageRef.parse(image)
    assert (ref.registry, ref.repository, ref.reference) == (registry, repository, reference)


def test_the_registry_digest_comes_through_its_anonymous_token() -> None:
    requests: list[httpx.Request] = []
    with docker_hub(requests) as client:
        assert registry_digest(ImageRef.parse("vllm/vllm-openai:v0.31.0"), client) == DIGEST
    assert [(r.method, r.url.host) for r in requests] == [
        ("HEAD", DOCKER_HUB), ("GET", "auth.docker.io"), ("HEAD", DOCKER_HUB),
    ]  # fmt: skip
    assert str(requests[-1].url) == f"https://{DOCKER_HUB}/v2/vllm/vllm-openai/manifests/v0.31.0"


def test_the_registry_comes_first_and_says_it_is_the_source() -> None:
    found = record_image(
        "vllm/vllm-openai:v0.31.0",
        ask_registry=True,
        pod_image_id=f"docker.io/vllm/vllm-openai@{POD_DIGEST}",
        engine=engine(),
        registry=docker_hub([]),
    )
    assert (found.digest, found.source, found.version) == (
        DIGEST, "the registry's manifest (registry-1.docker.io)", "0.31.0",
    )  # fmt: skip


def test_a_registry_that_does_not_answer_falls_back_to_the_pod_and_says_why() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    found = record_image(
        "vllm/vllm-openai:v0.31.0",
        ask_registry=True,
        pod_image_id=f"docker.io/vllm/vllm-openai@{POD_DIGEST}",
        engine=engine(),
        registry=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    assert (found.digest, found.source) == (POD_DIGEST, "the pod's status (the container's imageID)")
    assert found.note.startswith("the registry (registry-1.docker.io) did not answer: Name or service")


def test_without_registry_or_pod_digest_the_engines_version_is_recorded_and_labelled() -> None:
    found = record_image("vllm/vllm-openai:v0.31.0", ask_registry=False, pod_image_id=None, engine=engine())
    assert (found.digest, found.version) == (None, "0.31.0")
    assert found.source == "the engine's own version line (GET /version)"
    assert found.note == "a rehearsal asks no registry"
    nothing = record_image("x/y:v1", ask_registry=False, pod_image_id="", engine=engine(None))
    assert (nothing.digest, nothing.version, nothing.source) == (None, None, "nowhere: nothing answered")


def test_a_pinned_digest_is_its_own_source_and_no_registry_is_asked() -> None:
    requests: list[httpx.Request] = []
    found = record_image(
        f"vllm/vllm-openai@{DIGEST}",
        ask_registry=True,
        pod_image_id=None,
        engine=engine(),
        registry=docker_hub(requests),
    )
    assert found.digest == DIGEST and found.source == "the stack's image reference (pinned by digest)"
    assert requests == []


def test_a_registry_answer_without_a_digest_is_not_taken() -> None:
    with pytest.raises(ValueError, match="no Docker-Content-Digest"), docker_hub([], digest="") as client:
        registry_digest(ImageRef.parse("vllm/vllm-openai:v0.31.0"), client)

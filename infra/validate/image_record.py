"""The engine image that actually ran: its digest, and where that digest was read.

In order, the first that answers:

    the stack's reference        an image pinned `repo@sha256:...` names its digest itself
    the registry's manifest      `HEAD /v2/<repo>/manifests/<tag>`, its `Docker-Content-Digest` header
                                 (OCI distribution-spec v1.1 "Pulling manifests"), with the anonymous
                                 Bearer token its 401 `WWW-Authenticate` names (distribution's token
                                 auth spec, docs/spec/auth/token.md; Docker Hub: auth.docker.io)
    the pod                      the digest the provider reports for the running container (Kubernetes
                                 `status.containerStatuses[].imageID`; RunPod's v2 pod has no such field)
    the engine's version line    no digest: the version the engine itself reports (`GET /version`)

A rehearsal asks no registry: its stand-ins run no image. Tags move (`v0.31.0` may be re-pushed), which
is why the digest goes into the report and the evidence (InferenceX pins images by digest).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import asdict, dataclass

import httpx

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
DOCKER_HUB = "registry-1.docker.io"
# Index first: a multi-arch tag's digest is its index's, which is what `docker pull` resolves.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_TIMEOUT = 10.0


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way the distribution reference grammar does."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        rest, _, digest = image.partition("@")
        first, slash, remainder = rest.partition("/")
        # The first component names a registry when it looks like a host (a dot, a port, or localhost).
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest
        name, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
        if registry == DOCKER_HUB and "/" not in name:
            name = f"library/{name}"  # Docker Hub's official images
        return cls(registry, name, tag if colon else None, digest or None)

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"


@dataclass(frozen=True)
class ImageRecord:
    """What the report and the evidence say about the image that ran."""

    image: str
    digest: str | None
    source: str
    version: str | None = None
    """The engine's own version, as it reports it."""
    note: str = ""
    """Why an earlier source gave nothing (the registry did not answer, ...)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        what = self.digest or f"no digest (engine version {self.version or 'unknown'})"
        return f"{self.image}: {what}, from {self.source}" + (f"; {self.note}" if self.note else "")


def _bearer_params(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def registry_digest(ref: ImageRef, client: httpx.Client) -> str:
    """The manifest digest the registry serves for the reference; raises httpx.HTTPError or ValueError."""
    url = f"https://{ref.registry}/v2/{ref.repository}/manifests/{ref.reference}"
    headers = {"Accept": MANIFEST_TYPES}
    answer = client.head(url, headers=headers, timeout=_TIMEOUT)
    challenge = answer.headers.get("www-authenticate", "")
    if answer.status_code == 401 and challenge.lower().startswith("bearer"):
        params = _bearer_params(challenge)
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        realm = params.get("realm", "")
        token_answer = client.get(f"{realm}?{urllib.parse.urlencode(query)}", timeout=_TIMEOUT)
        token_answer.raise_for_status()
        body = token_answer.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise ValueError("the registry's token service answered no token")
        answer = client.head(url, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=_TIMEOUT)
    answer.raise_for_status()
    digest = answer.headers.get("docker-content-digest", "")
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"the registry's answer has no Docker-Content-Digest (got {digest!r})")
    return digest


def _pod_digest(image_id: str | None) -> str | None:
    found = DIGEST.search(image_id or "")
    return found.group(0) if found else None


def engine_version(client: httpx.Client) -> str | None:
    """The version the engine reports at `GET /version` (vLLM's and SGLang's servers both serve it)."""
    try:
        answer = client.get("/version", timeout=_TIMEOUT)
        answer.raise_for_status()
        version = answer.json().get("version")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(version) if version else None


def record_image(
    image: str,
    *,
    ask_registry: bool,
    pod_image_id: str | None,
    engine: httpx.Client,
    registry: httpx.Client | None = None,
) -> ImageRecord:
    """The digest from the first source that answers (see the module docstring)."""
    ref = ImageRef.parse(image)
    version = engine_version(engine)
    if ref.digest is not None:
        return ImageRecord(image, ref.digest, "the stack's image reference (pinned by digest)", version)
    note = "a rehearsal asks no registry"
    if ask_registry:
        try:
            with registry or httpx.Client(follow_redirects=True) as client:
                digest = registry_digest(ref, client)
            return ImageRecord(image, digest, f"the registry's manifest ({ref.registry})", version)
        except (httpx.HTTPError, ValueError) as err:
            note = f"the registry ({ref.registry}) did not answer: {str(err).splitlines()[0][:160]}"
    pod = _pod_digest(pod_image_id)
    if pod is not None:
        return ImageRecord(image, pod, "the pod's status (the container's imageID)", version, note)
    source = "the engine's own version line (GET /version)" if version else "nowhere: nothing answered"
    return ImageRecord(image, None, source, version, note)

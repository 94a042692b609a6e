"""The manifests as a directory for a GitOps repository: deterministic, kustomize-buildable, secret-free.

    DIR/00-namespace.yaml ...          one object per file, in apply order
    DIR/kustomization.yaml             lists every manifest
    DIR/secrets.md                     the two `kubectl create secret` steps (no values here, ever)
    DIR/argocd-application.yaml        optional; outside the kustomization, applied once by hand

Every file starts with HEADER, so a re-render removes only files it wrote itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.config import StackSpec
from infra.errors import ConfigError
from infra.plan import Plan
from infra.targets.kubernetes.dependencies import cloud_pool, in_dependency_order, secret
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    HF_TOKEN_KEY,
    HF_TOKEN_SECRET,
    endpoint,
    labels,
    render_manifests,
)

HEADER = "Rendered by v4infra"
ARGO_FILE = "argocd-application.yaml"
ARGO_NAMESPACE = "argocd"
KUSTOMIZE_NOTE = (
    "# No `namespace:` field: every namespaced object names its own, and kustomize would also stamp one on\n"
    "# cluster-scoped custom resources such as Karpenter's NodePool.\n"
)


@dataclass(frozen=True)
class GitopsResult:
    written: tuple[str, ...]  # files whose content changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]  # stale files of an earlier render


def header(spec: StackSpec, comment: str = "#") -> str:
    text = f"{HEADER} from stack {spec.stack}; do not edit: run `v4infra render {spec.stack} --out DIR`."
    return f"<!-- {text} -->\n" if comment == "<!--" else f"{comment} {text}\n"


def render_files(
    spec: StackSpec,
    plan: Plan,
    argo_repo_url: str | None = None,
    argo_path: str | None = None,
    argo_revision: str = "HEAD",
) -> dict[str, str]:
    """File name -> content of the whole directory (pure)."""
    if (argo_repo_url is None) != (argo_path is None):
        raise ConfigError("an Argo CD Application needs both --argo-repo and --argo-path")
    manifests = render_manifests(spec, plan)
    files = {m.filename: header(spec) + m.text for m in manifests}
    # Applied by hand (secrets.md) or by the cloud: relied on, but not in the directory.
    pool = cloud_pool(spec)
    outside = {secret(HF_TOKEN_SECRET), secret(API_KEY_SECRET), *([pool] if pool else [])}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # Each object after what it waits for, as the Pulumi component applies them.
        "resources": [m.filename for m in in_dependency_order(spec, plan, manifests, outside)],
    }
    files["kustomization.yaml"] = (
        header(spec) + KUSTOMIZE_NOTE + yaml.safe_dump(kustomization, sort_keys=False)
    )
    files["secrets.md"] = header(spec, "<!--") + _secrets_doc(spec, plan)
    if argo_repo_url is not None and argo_path is not None:
        files[ARGO_FILE] = header(spec) + yaml.safe_dump(
            _application(spec, argo_repo_url, argo_path, argo_revision), sort_keys=False
        )
    return dict(sorted(files.items()))


def write_gitops_dir(
    spec: StackSpec,
    plan: Plan,
    out_dir: Path,
    argo_repo_url: str | None = None,
    argo_path: str | None = None,
    argo_revision: str = "HEAD",
) -> GitopsResult:
    """Write the directory; files are rewritten only when their content changes."""
    files = render_files(spec, plan, argo_repo_url, argo_path, argo_revision)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, unchanged = [], []
    for name, text in files.items():
        path = out_dir / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            unchanged.append(name)
            continue
        path.write_text(text, encoding="utf-8")
        written.append(name)
    removed = []
    for path in sorted(out_dir.iterdir()):
        if path.name not in files and path.is_file() and _ours(path):
            path.unlink()
            removed.append(path.name)
    return GitopsResult(tuple(written), tuple(unchanged), tuple(removed))


def _ours(path: Path) -> bool:
    """A file this tool wrote: its first line carries HEADER (a user's own files are never touched)."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith(("# ", "<!-- ")) and HEADER in first


def _application(spec: StackSpec, repo_url: str, path: str, revision: str) -> dict[str, object]:
    sync: dict[str, object] = {"syncOptions": ["ServerSideApply=true"]}
    # A permanent deployment is kept equal to the repository; an ephemeral one is synced by hand.
    if spec.permanent:
        sync = {"automated": {"prune": True, "selfHeal": True}, **sync}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": spec.stack,
            "namespace": ARGO_NAMESPACE,
            "labels": labels(spec, "gitops"),
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "path": path, "targetRevision": revision},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": spec.namespace},
            "syncPolicy": sync,
        },
    }


def _secrets_doc(spec: StackSpec, plan: Plan) -> str:
    ns = spec.namespace
    storage = f"StorageClass `{spec.storage_class}`" if spec.storage_class else "a default StorageClass"
    return f"""# Secrets for stack {spec.stack}

The manifests reference two Secrets by name and never hold their values: apply the manifests, then the
Secrets, from a shell that does not log commands. `v4infra secrets` prints both as manifests (the HF token
from the stack's secret config or `$HF_TOKEN`, the API key from `$VLLM_API_KEY` or a new random one):

```bash
kubectl apply --server-side -k .                    # or let Argo CD / Flux sync this directory
v4infra secrets {spec.stack} | kubectl apply -f -
```

Or by hand, under the same names and keys:

```bash
# The Hugging Face token (optional for a public checkpoint; the download Job reads it if present).
kubectl -n {ns} create secret generic {HF_TOKEN_SECRET} --from-literal={HF_TOKEN_KEY}="$HF_TOKEN"

# The engine's API key: clients send it as `Authorization: Bearer <key>`.
kubectl -n {ns} create secret generic {API_KEY_SECRET} \\
  --from-literal={API_KEY_KEY}="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
```

With a secret manager, let the External Secrets Operator create them: docs/kubernetes-secrets.md in
deepseek-v4-infra has an `ExternalSecret` for each.

The engine pod does not start until `{API_KEY_SECRET}` exists. The weight cache needs {storage} in the
cluster (`v4infra render {spec.stack} --out DIR --check-cluster` checks it). The in-cluster endpoint is
`{endpoint(spec, plan)}`.
{_lws_note(plan)}"""


def _lws_note(plan: Plan) -> str:
    if plan.nodes < 2:
        return ""
    # The manifests name the API only; its controller creates the pods (lws.sigs.k8s.io/docs/installation).
    return f"""
The engine is a LeaderWorkerSet of {plan.nodes} pods: the cluster needs the LeaderWorkerSet controller and
CRD (lws.sigs.k8s.io/docs/installation; the manifests are checked against LWS v0.8.0's CRD), for example
`helm install lws oci://registry.k8s.io/lws/charts/lws --namespace lws-system --create-namespace`.
Without it, `kubectl apply` fails with "no matches for kind LeaderWorkerSet".
"""

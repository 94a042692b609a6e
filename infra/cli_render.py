"""`v4infra render STACK --out DIR` and `v4infra secrets STACK`: a Kubernetes stack for a GitOps repository.

`render` writes the manifests (no Secret values, ever); `--check-cluster` first asks the cluster in the
current kubeconfig whether it has the stack's StorageClass. `secrets` prints the two Secrets the manifests
reference, for `| kubectl apply -f -`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml
from pulumi.automation import CommandError

from infra import config
from infra.cli_args import path_arg, word_arg
from infra.errors import ConfigError
from infra.planner import plan
from infra.workspace import open_workspace


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `render` and `secrets` subcommands to `v4infra`'s subparsers."""
    r: argparse.ArgumentParser = subparsers.add_parser(
        "render", help="write a Kubernetes stack's manifests and kustomization for a GitOps repository"
    )
    r.add_argument("stack", help="a Kubernetes preset in stacks/")
    r.add_argument("--out", required=True, type=path_arg, help="directory to write (created if missing)")
    r.add_argument(
        "--argo-repo", type=word_arg, help="also write an Argo CD Application for this Git repository URL"
    )
    r.add_argument("--argo-path", type=word_arg, help="the directory's path inside that repository")
    r.add_argument(
        "--argo-revision", type=word_arg, default="HEAD", help="branch, tag or commit Argo CD follows"
    )
    r.add_argument(
        "--check-cluster",
        action="store_true",
        help="first check the cluster (kubeconfig) has the stack's StorageClass; write nothing if not",
    )
    r.add_argument(
        "--kubeconfig", type=path_arg, help="with --check-cluster: kubeconfig (default: kubectl's)"
    )
    r.add_argument("--context", type=word_arg, help="with --check-cluster: kubeconfig context")
    s = subparsers.add_parser(
        "secrets",
        help="print the Secrets a rendered stack needs (HF token, API key), for `| kubectl apply -f -`",
    )
    s.add_argument("stack", help="a Kubernetes preset in stacks/")
    return r


def cmd_render(args: argparse.Namespace) -> int:
    # The Kubernetes renderers (its target package, templates) load only for `render` and `secrets`.
    from infra.targets.kubernetes.cluster_check import check_storage_class, storage_classes
    from infra.targets.kubernetes.gitops import write_gitops_dir
    from infra.targets.kubernetes.manifests import check_renderable

    spec = config.load_stack(args.stack)
    p = plan(spec.plan_request(), spec.catalog)
    if args.check_cluster:
        check_renderable(spec, p)
        chosen = check_storage_class(spec, storage_classes(args.kubeconfig, args.context))
        print(f"cluster check: StorageClass '{chosen.name}' ({chosen.provisioner}) exists", file=sys.stderr)
    try:
        result = write_gitops_dir(
            spec,
            p,
            args.out,
            argo_repo_url=args.argo_repo,
            argo_path=args.argo_path,
            argo_revision=args.argo_revision,
        )
    except OSError as err:
        # Read-only, a file in the way, no permission: say which path and why, in one line.
        where = err.filename if err.filename is not None else args.out
        raise ConfigError(
            f"cannot write the manifests to --out {config.shown(str(args.out))}: "
            f"{config.shown(str(where))}: {err.strerror or err}; choose a directory you can write"
        ) from None
    total = len(result.written) + len(result.unchanged)
    print(
        f"{args.out}: {total} files ({len(result.written)} written, {len(result.unchanged)} unchanged"
        f"{', ' + str(len(result.removed)) + ' stale removed' if result.removed else ''}); "
        f"create the Secrets as {args.out / 'secrets.md'} says: "
        f"v4infra secrets {spec.stack} | kubectl apply -f -"
    )
    return 0


def cmd_secrets(args: argparse.Namespace) -> int:
    # As in cmd_render: the Kubernetes package loads only for this verb.
    from infra.targets.kubernetes.manifests import check_renderable
    from infra.targets.kubernetes.secrets import api_key_from_env, secret_manifests

    spec = config.load_stack(args.stack)
    check_renderable(spec, plan(spec.plan_request(), spec.catalog))
    text, notes = secret_manifests(spec, _hf_token(spec), api_key_from_env())
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(text)
    return 0


def _hf_token(spec: config.StackSpec) -> str | None:
    """The stack's secret `hfToken` (decrypted by Pulumi), else $HF_TOKEN."""
    key = f"{config.PROJECT}:hfToken"
    doc = yaml.safe_load((config.stacks_dir() / f"Pulumi.{spec.stack}.yaml").read_text(encoding="utf-8"))
    if isinstance((doc.get("config") or {}).get(key), dict):
        try:
            value = open_workspace({}).existing_stack(spec.stack).get_config(key).value
        except CommandError as err:
            raise ConfigError(
                f"{spec.source}: cannot decrypt '{key}' (set PULUMI_CONFIG_PASSPHRASE[_FILE] as for "
                f"`pulumi up`, or export HF_TOKEN instead): {str(err).strip().splitlines()[-1]}"
            ) from None
        return value or None
    return os.environ.get("HF_TOKEN") or None

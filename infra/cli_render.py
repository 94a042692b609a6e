"""`v4infra render STACK --out DIR`: a Kubernetes stack's manifests as a directory for a GitOps repository."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra import config
from infra.planner import plan


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `render` subcommand to `v4infra`'s subparsers."""
    r: argparse.ArgumentParser = subparsers.add_parser(
        "render", help="write a Kubernetes stack's manifests and kustomization for a GitOps repository"
    )
    r.add_argument("stack", help="a Kubernetes preset in stacks/")
    r.add_argument("--out", required=True, type=Path, help="directory to write (created if missing)")
    r.add_argument("--argo-repo", help="also write an Argo CD Application for this Git repository URL")
    r.add_argument("--argo-path", help="the directory's path inside that repository")
    r.add_argument("--argo-revision", default="HEAD", help="branch, tag or commit Argo CD follows")
    return r


def cmd_render(args: argparse.Namespace) -> int:
    from infra.targets.kubernetes.gitops import write_gitops_dir

    spec = config.load_stack(args.stack)
    result = write_gitops_dir(
        spec,
        plan(spec.plan_request(), spec.catalog),
        args.out,
        argo_repo_url=args.argo_repo,
        argo_path=args.argo_path,
        argo_revision=args.argo_revision,
    )
    total = len(result.written) + len(result.unchanged)
    print(
        f"{args.out}: {total} files ({len(result.written)} written, {len(result.unchanged)} unchanged"
        f"{', ' + str(len(result.removed)) + ' stale removed' if result.removed else ''}); "
        f"create the Secrets as {args.out / 'secrets.md'} says"
    )
    return 0

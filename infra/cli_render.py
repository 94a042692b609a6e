"""`v4infra render STACK --out DIR`: a Kubernetes stack's manifests as a directory for a GitOps repository."""

from __future__ import annotations

import argparse
from typing import Any

from infra import config
from infra.cli_args import path_arg, word_arg
from infra.errors import ConfigError
from infra.planner import plan


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `render` subcommand to `v4infra`'s subparsers."""
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
    return r


def cmd_render(args: argparse.Namespace) -> int:
    from infra.targets.kubernetes.gitops import write_gitops_dir

    spec = config.load_stack(args.stack)
    try:
        result = write_gitops_dir(
            spec,
            plan(spec.plan_request(), spec.catalog),
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
        f"create the Secrets as {args.out / 'secrets.md'} says"
    )
    return 0

"""deepseek-v4-infra's policy pack: `pulumi preview --policy-pack policy/` refuses what should never deploy.

The CLI starts this directory through the Python language host's RunPlugin (`python -u policy/ <engine>`),
with the virtualenv named in PulumiPolicy.yaml. The checks themselves live in policy_checks.py.
"""

from __future__ import annotations

import policy_checks
import secret_inputs
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)


def gpu_ttl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for message in policy_checks.pod_ttl_violations(args.resource_type, args.props):
        report(message, None)


def kubernetes_gpu_ttl(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = [(r.resource_type, r.props) for r in args.resources]
    for message in policy_checks.kubernetes_ttl_violations(resources):
        report(message, None)


def secrets_stay_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    raw = secret_inputs.raw_inputs(args.urn)
    for message in policy_checks.plain_secret_violations(args.resource_type, raw):
        report(message, None)


def engine_image(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for message in policy_checks.engine_image_violations(args.resource_type, args.props):
        report(message, None)


def main() -> None:
    secret_inputs.install()
    PolicyPack(
        name="deepseek-v4-infra",
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=[
            ResourceValidationPolicy(
                name="gpu-pod-time-to-live",
                description="A GPU pod has a time-to-live unless the stack is permanent.",
                validate=gpu_ttl,
            ),
            StackValidationPolicy(
                name="kubernetes-gpu-time-to-live",
                description="GPU Deployments and Karpenter NodePools have a reaper unless the stack is permanent.",
                validate=kubernetes_gpu_ttl,
            ),
            ResourceValidationPolicy(
                name="secrets-stay-secret",
                description="Credentials reach resources as Pulumi secrets, never as plain values.",
                validate=secrets_stay_secret,
            ),
            ResourceValidationPolicy(
                name="engine-image-version",
                description="The engine image meets the served checkpoint's minimum engine version.",
                validate=engine_image,
            ),
        ],
    )


main()

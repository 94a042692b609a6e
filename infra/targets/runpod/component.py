"""`RunPodDeployment`: weight-cache volume, CPU pre-fill, and the GPU pod serving the plan."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.catalog import load_catalog
from infra.compile_cache import plan_env
from infra.config import StackSpec
from infra.errors import AuthError, ConfigError
from infra.plan import Plan
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.props import PodInputs, PrefillInputs, VolumeInputs
from infra.targets.runpod.resources import GeneratedSecret, In, NetworkVolume, Pod, SshKey, WeightPrefill
from infra.targets.runpod.start_script import (
    CACHE_MOUNT,
    cpu_start_script,
    gpu_start_script,
    json_start_command,
    plain_vllm_args,
    watchdog_command,
)
from infra.targets.runpod.types import RunPodSettings

DEFAULT_DATA_CENTER = "US-TX-3"
CPU_IMAGE = "python:3.11-slim"


@dataclass(frozen=True)
class RunPodDeploymentArgs:
    spec: StackSpec
    """The validated stack."""
    plan: Plan
    """A deployable plan (fits, or tight with the stack's opt-in)."""
    connection: RunPodSettings[In]
    """Where RunPod's API is (the real one, or the emulator's) and its key, a Pulumi secret."""
    hf_token: pulumi.Output[str]
    """Hugging Face token for the pre-fill, a Pulumi secret."""
    hf_endpoint: str | None = None
    """The Hugging Face hub to fill from ($HF_ENDPOINT: a local hub in rehearsals); None: huggingface.co."""


class RunPodDeployment(pulumi.ComponentResource):
    """A single-pod stack; its attributes named like `PodStackOutputs`' fields are the stack's exports."""

    pod_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    volume_id: pulumi.Output[str]
    vllm_api_key: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str]

    def __init__(
        self, name: str, args: RunPodDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deepseek-v4-infra:runpod:Deployment", name, None, opts)
        spec, plan = args.spec, args.plan
        child = pulumi.ResourceOptions(parent=self)
        ttl = spec.ttl_minutes * 60 if spec.ttl_minutes else None
        gpus = [load_catalog().gpu(g).runpod_id for g in (spec.gpu, *spec.gpu_fallbacks)]
        data_centers = list(spec.data_centers) or [DEFAULT_DATA_CENTER]
        # A name per stack and plan: a changed plan gets a new pod name, so orphans are never confused.
        run_id = hashlib.sha256(repr((spec.stack, plan.engine.to_dict())).encode()).hexdigest()[:6]
        # The names carry a digest of the stack's full identity, so no other stack's names can match.
        names = naming.for_stack(spec.stack)
        pod_name = names.name("pod", run_id)
        self.pod_name = pod_name

        self.ssh_key = SshKey(f"{name}-ssh-key", spec.stack, child)
        self.api_key_secret = GeneratedSecret(f"{name}-vllm-api-key", child)
        size = spec.cache_size_gb or plan.cost.cache_gb
        self.volume = NetworkVolume(
            f"{name}-weight-cache",
            VolumeInputs(
                connection=args.connection,
                name=names.name("cache", "v1"),
                size_gb=size,
                # Where the cache lives decides where the GPU pod runs: chosen by GPU stock at creation.
                data_center_ids=data_centers,
                placement_gpu_type_ids=gpus,
                placement_gpu_count=plan.gpu_count,
                volume_type=spec.volume_type,
            ),
            # Kept on destroy by default so the next validation run starts warm.
            pulumi.ResourceOptions(parent=self, retain_on_delete=spec.keep_cache),
        )
        self.prefill = weight_prefill(
            name, args, names.name("prefill", run_id), self.volume, self.ssh_key, child
        )
        vllm_key = self.api_key_secret.value
        if spec.start_command == "plain":
            # The fallback when RunPod refuses the JSON start command: the stock image's `vllm serve`.
            start = plain_vllm_args(plan)
            ports = ["8000/http"]
            env: dict[str, In] = {
                **plan.engine.env,
                **plan_env(plan, mount=CACHE_MOUNT),
                "HF_HOME": f"{CACHE_MOUNT}/hf",
                "VLLM_API_KEY": vllm_key,
            }
        else:
            start = json_start_command(
                gpu_start_script(plan, stack=spec.stack, pod_name=pod_name, ttl_seconds=ttl)
            )
            ports = ["8000/http", "22/tcp"]
            env = {"PUBLIC_KEY": self.ssh_key.public_key, "VLLM_API_KEY": vllm_key}
            if spec.download_at_start and args.hf_token is not None:
                env["HF_TOKEN"] = args.hf_token  # the engine downloads the checkpoint itself
        self.pod = Pod(
            f"{name}-pod",
            PodInputs(
                connection=args.connection,
                name=pod_name,
                image=plan.engine.image,
                gpu_type_ids=gpus,
                gpu_count=plan.gpu_count,
                data_center_ids=[self.volume.data_center_id],
                volume_id=self.volume.volume_id,
                args=start,
                ports=ports,
                # downloadAtStart puts the checkpoint on the container disk: room for it and its cache files.
                container_disk_gb=50 + (size if spec.download_at_start else 0),
                cache_gb=size,
                ttl_seconds=ttl,
                permanent=spec.permanent,
                env=env,
                weights_commit=self.prefill.commit,
                image_cuda=plan.engine.cuda,
                image_min_driver=plan.engine.min_driver,
                allowed_cuda_versions=list(spec.allowed_cuda_versions),
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.prefill]),
        )
        if spec.start_command == "plain" and ttl:
            # Nothing of ours runs in a plain GPU pod, so a small CPU pod keeps its time-to-live.
            self.watchdog = ttl_watchdog(
                name,
                args,
                names.name("watchdog", run_id),
                self.volume,
                {"V4INFRA_TARGET_POD": self.pod.pod_id},
                ttl,
                child,
            )
        self.pod_id = self.pod.pod_id
        self.endpoint = self.pod.endpoint
        self.volume_id = self.volume.volume_id
        self.vllm_api_key = pulumi.Output.secret(self.api_key_secret.value)
        self.weights_skipped = self.prefill.skipped
        self.weights_bytes_downloaded = self.prefill.bytes_downloaded
        self.read_rates = self.prefill.read_rates
        self.prefill_pod_id = self.prefill.prefill_pod_id
        self.ssh_host = self.pod.ssh_host
        self.ssh_port = self.pod.ssh_port
        self.ssh_private_key = pulumi.Output.secret(self.ssh_key.private_key)
        self.register_outputs(
            {
                "pod_id": self.pod_id,
                "endpoint": self.endpoint,
                "volume_id": self.volume_id,
                "ssh_host": self.pod.ssh_host,
                "ssh_port": self.pod.ssh_port,
                "usd_per_hour": self.pod.usd_per_hour,
            }
        )


def weight_prefill(
    name: str,
    args: RunPodDeploymentArgs,
    pod_name: str,
    volume: NetworkVolume,
    ssh_key: SshKey,
    opts: pulumi.ResourceOptions,
) -> WeightPrefill:
    """The CPU pod that fills the cache volume before any GPU is billed (one pod or a cluster alike)."""
    spec, ttl = args.spec, (args.spec.ttl_minutes * 60 if args.spec.ttl_minutes else None)
    return WeightPrefill(
        f"{name}-prefill",
        PrefillInputs(
            connection=args.connection,
            name=pod_name,
            stack=spec.stack,
            volume_id=volume.volume_id,
            data_center_id=volume.data_center_id,
            volume_tier=volume.volume_type,
            repo_id=args.plan.model,
            revision="main",
            cache_dir=f"{CACHE_MOUNT}/hf",
            image=CPU_IMAGE,
            args=json_start_command(cpu_start_script(stack=spec.stack, ttl_seconds=ttl)),
            hf_token=args.hf_token,
            hf_endpoint=args.hf_endpoint,
            private_key=ssh_key.private_key,
            public_key=ssh_key.public_key,
        ),
        opts,
    )


def ttl_watchdog(
    name: str,
    args: RunPodDeploymentArgs,
    pod_name: str,
    volume: NetworkVolume,
    target: Mapping[str, In],
    ttl: int,
    opts: pulumi.ResourceOptions,
) -> Pod:
    """A small CPU pod that deletes what `target` names (a GPU pod or a cluster) when the TTL ends."""
    return Pod(
        f"{name}-ttl-watchdog",
        PodInputs(
            connection=args.connection,
            name=pod_name,
            image=CPU_IMAGE,
            gpu_type_ids=[],
            gpu_count=0,
            data_center_ids=[volume.data_center_id],
            volume_id=None,
            args=watchdog_command(),
            ports=[],
            container_disk_gb=5,
            cache_gb=0,
            ttl_seconds=ttl,
            permanent=False,
            env={
                **target,
                "V4INFRA_TTL_SECONDS": str(ttl),
                "V4INFRA_RUNPOD_KEY": args.connection.api_key,
                "RUNPOD_API_BASE_URL": args.connection.api_base_url,
            },
        ),
        opts,
    )


def check_gpu_types_listed(spec: StackSpec, settings: RunPodSettings[str]) -> None:
    """Every GPU type the stack may rent must be one RunPod lists; says which ones it does list."""
    listed = {g.id for g in RunPodClient(settings).gpu_types()}
    wanted = [spec.catalog.gpu(g).runpod_id for g in (spec.gpu, *spec.gpu_fallbacks)]
    missing = [g for g in wanted if g not in listed]
    if missing:
        raise ConfigError(
            f"{spec.source}: RunPod does not list GPU type(s) {', '.join(missing)}; it lists: {', '.join(sorted(listed))}"
        )


def require_credentials(
    api_key: pulumi.Output[str] | None, hf_token: pulumi.Output[str] | None, source: str
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """Missing credentials stop the program before any resource is registered."""
    if api_key is None:
        raise AuthError(
            f"{source}: no RunPod API key: `pulumi config set --secret deepseek-v4-infra:runpodApiKey "
            "KEY` or export RUNPOD_API_KEY"
        )
    if hf_token is None:
        raise ConfigError(
            f"{source}: no Hugging Face token for the weight pre-fill: `pulumi config set --secret "
            "deepseek-v4-infra:hfToken TOKEN` or export HF_TOKEN"
        )
    return api_key, hf_token

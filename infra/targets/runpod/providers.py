"""Pulumi dynamic providers for RunPod: the weight-cache volume, the cache pre-fill, the GPU pod, and
the stack's generated secrets.

Each takes and returns its resource's dataclasses (props.py) through `TypedProvider`, which also
carries their errors across the engine with their class. Providers are pickled into the state, so
they hold no clients or keys: every method builds a client from its (secret) inputs. Creates find by
name first, so a retried or interrupted `up` adopts what exists instead of renting it twice; deletes
treat "already gone" as success; `read` sees what was removed out of band.
"""

from __future__ import annotations

import secrets as token_source
from dataclasses import replace

from infra.errors import ConfigError
from infra.image_cuda import ImageCuda, fit
from infra.ssh import generate_keypair
from infra.targets.dynamic import DiffResult, TypedProvider, changed
from infra.targets.runpod import runtime
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.failover import (
    Placement,
    create_with_failover,
    placements_by_stock,
    stock_elsewhere,
)
from infra.targets.runpod.prefill import run_prefill
from infra.targets.runpod.props import (
    PodInputs,
    PodOutputs,
    PrefillInputs,
    PrefillOutputs,
    SecretInputs,
    SecretOutputs,
    SshKeyInputs,
    SshKeyOutputs,
    VolumeInputs,
    VolumeOutputs,
)
from infra.targets.runpod.types import GpuOffer, Pod, PodRequest, RunPodSettings, Volume

POD_REPLACE_KEYS = (
    "image",
    "gpu_type_ids",
    "gpu_count",
    "data_center_ids",
    "args",
    "env",
    "volume_id",
    "ports",
    "container_disk_gb",
)
# A CPU pod downloads at roughly this rate (GB per minute) from the hub: the cost of a cold start elsewhere.
PREFILL_GB_PER_MINUTE = 6.0


def connection_changed(olds: RunPodSettings[str], news: RunPodSettings[str]) -> list[str]:
    """Which of the connection's keys changed (an in-place update: the next call uses the new ones)."""
    return changed(olds, news, tuple(news.to_props()))


class NetworkVolumeProvider(TypedProvider[VolumeInputs[str], VolumeOutputs]):
    """A network volume that holds the weight cache; found by its stable per-stack name."""

    inputs = VolumeInputs
    outputs = VolumeOutputs

    def on_create(self, inputs: VolumeInputs[str]) -> tuple[str, VolumeOutputs]:
        client = runtime.runpod_client(inputs.connection)
        volume = next((v for v in client.list_volumes() if v.name == inputs.name), None)
        adopted = volume is not None
        if volume is not None:
            # A kept cache pins its data center: the next run is warm there, and only there.
            if volume.data_center_id not in inputs.data_center_ids:
                raise ConfigError(
                    f"weight cache {volume.name} ({volume.id}) is in {volume.data_center_id}, which the stack no "
                    f"longer lists; add it back or purge the cache (`v4infra down --purge-cache`)"
                )
            if volume.size_gb < inputs.size_gb:
                volume = client.resize_volume(volume.id, inputs.size_gb)
        else:
            data_center, volume_type = choose_data_center(client, inputs)
            volume = client.create_volume(inputs.name, inputs.size_gb, data_center, volume_type)
        return volume.id, _volume_outputs(volume, adopted)

    def on_diff(
        self, id: str, olds: VolumeInputs[str], outputs: VolumeOutputs, news: VolumeInputs[str]
    ) -> DiffResult:
        replaces = changed(olds, news, ("name",))
        if outputs.data_center_id not in news.data_center_ids:
            replaces.append("data_center_ids")
        if news.size_gb < olds.size_gb:
            replaces.append("size_gb")  # RunPod volumes only grow
        changes = (
            replaces
            or changed(olds, news, ("size_gb",))
            or connection_changed(olds.connection, news.connection)
        )
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def on_update(
        self, id: str, olds: VolumeInputs[str], outputs: VolumeOutputs, news: VolumeInputs[str]
    ) -> VolumeOutputs:
        if news.size_gb > olds.size_gb:
            runtime.runpod_client(news.connection).resize_volume(id, news.size_gb)
        return VolumeOutputs(
            volume_id=id,
            data_center_id=outputs.data_center_id,
            volume_type=outputs.volume_type,
            adopted=outputs.adopted,
        )

    def on_read(
        self, id: str, inputs: VolumeInputs[str], outputs: VolumeOutputs
    ) -> tuple[VolumeInputs[str], VolumeOutputs] | None:
        volume = runtime.runpod_client(inputs.connection).get_volume(id)
        if volume is None:
            return None
        # Refresh records the size RunPod shows (a volume grown out of band).
        return replace(inputs, size_gb=volume.size_gb), _volume_outputs(volume, outputs.adopted)

    def on_delete(self, id: str, inputs: VolumeInputs[str], outputs: VolumeOutputs) -> None:
        runtime.runpod_client(inputs.connection).delete_volume(id)


def _volume_outputs(volume: Volume, adopted: bool) -> VolumeOutputs:
    return VolumeOutputs(
        volume_id=volume.id, data_center_id=volume.data_center_id, volume_type=volume.type, adopted=adopted
    )


def choose_data_center(client: RunPodClient, inputs: VolumeInputs[str]) -> tuple[str, str]:
    """(data center, volume tier): the first listed data center the catalog shows with enough GPUs of an
    acceptable type in stock, else the first listed; the tier per `volume_type` and what it offers.

    The cache volume decides where the GPU pod can run, so its data center is chosen by GPU stock.
    """
    # A cluster needs all its GPUs in this one data center: it asks the CLUSTER stock for the total.
    catalog = client.gpu_catalog(inputs.placement_gpu_count, product=inputs.placement_product)
    tiers = {dc.id: dc.volume_types for dc in client.data_centers()}
    wanted = inputs.volume_type
    allowed = [
        dc
        for dc in inputs.data_center_ids
        if wanted != "HIGH_PERFORMANCE" or "HIGH_PERFORMANCE" in tiers.get(dc, ())
    ]
    if not allowed:
        raise ConfigError(
            f"volumeType HIGH_PERFORMANCE: none of {', '.join(inputs.data_center_ids)} offers it; "
            "set volumeType: auto (the fast tier where offered) or STANDARD"
        )
    offers = {offer.id: offer for offer in catalog}
    chosen = next(
        (
            dc
            for dc in allowed
            if any(offers[g].in_stock(dc) for g in inputs.placement_gpu_type_ids if g in offers)
        ),
        allowed[0],
    )
    if wanted == "auto":
        # The faster tier where the data center has it: weights load at volume speed on every start.
        return chosen, "HIGH_PERFORMANCE" if "HIGH_PERFORMANCE" in tiers.get(chosen, ()) else "STANDARD"
    return chosen, wanted


class PodProvider(TypedProvider[PodInputs[str], PodOutputs]):
    """A RunPod pod (GPU, or CPU when gpu_count is 0) with failover across GPU types and data centers."""

    inputs = PodInputs
    outputs = PodOutputs

    def on_create(self, inputs: PodInputs[str]) -> tuple[str, PodOutputs]:
        client = runtime.runpod_client(inputs.connection)
        # An interrupted `up` left a pod under this name: adopt it instead of renting a second one.
        pod = next(iter(client.pods_named(inputs.name)), None) or self._rent(client, inputs)
        try:
            pod = runtime.wait_for_runtime(
                client, pod.id, needs_ssh="22/tcp" in inputs.ports, what="GPU pod" if inputs.gpu else "pod"
            )
        except BaseException:
            # Never leave a pod that Pulumi does not record: a failed create is not in the state.
            client.terminate_pod(pod.id)
            raise
        return pod.id, pod_outputs(client, pod)

    @staticmethod
    def _rent(client: RunPodClient, inputs: PodInputs[str]) -> Pod:
        data_centers = list(inputs.data_center_ids)
        request = PodRequest(
            name=inputs.name,
            image=inputs.image,
            gpu_type_id=inputs.gpu_type_ids[0] if inputs.gpu else None,
            gpu_count=max(1, inputs.gpu_count),
            network_volume_id=inputs.volume_id,
            data_center_id=data_centers[0] if data_centers else None,
            args=inputs.args,
            ports=tuple(inputs.ports),
            env=dict(inputs.env),
            container_disk_gb=inputs.container_disk_gb,
        )
        if not inputs.gpu:
            return client.create_cpu_pod(request)
        # Stock first, in the stack's order of preference; a warm cache pins the data center.
        catalog = client.gpu_catalog(inputs.gpu_count)
        placements = with_cuda(
            inputs, catalog, placements_by_stock(catalog, list(inputs.gpu_type_ids), data_centers)
        )
        elsewhere = stock_elsewhere(catalog, list(inputs.gpu_type_ids), data_centers)
        note = ""
        if elsewhere:
            minutes = inputs.cache_gb / PREFILL_GB_PER_MINUTE
            note = (
                f"The catalog shows stock only elsewhere: {', '.join(elsewhere[:4])}. Moving there is a cold "
                f"start: a new {inputs.cache_gb:g} GB weight cache, about {minutes:.0f} min of CPU pre-fill "
                "before any GPU is billed (dataCenters, then `v4infra down --purge-cache` for the old cache)"
            )
        return create_with_failover(client, request, placements, elsewhere=note).pod

    def on_diff(self, id: str, olds: PodInputs[str], outputs: PodOutputs, news: PodInputs[str]) -> DiffResult:
        replaces = changed(olds, news, POD_REPLACE_KEYS)
        changes = (
            replaces
            or connection_changed(olds.connection, news.connection)
            or changed(olds, news, ("ttl_seconds",))
        )
        # Delete first: two GPU pods of one stack would bill twice and compete for stock.
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def on_read(
        self, id: str, inputs: PodInputs[str], outputs: PodOutputs
    ) -> tuple[PodInputs[str], PodOutputs] | None:
        client = runtime.runpod_client(inputs.connection)
        pod = client.get_pod(id)
        return None if pod is None else (inputs, pod_outputs(client, pod))

    def on_delete(self, id: str, inputs: PodInputs[str], outputs: PodOutputs) -> None:
        runtime.runpod_client(inputs.connection).terminate_pod(id)


def pod_outputs(client: RunPodClient, pod: Pod) -> PodOutputs:
    ssh_host, ssh_port = pod.ssh if pod.ssh else (None, None)
    return PodOutputs(
        pod_id=pod.id,
        gpu_type_id=pod.gpu_type_id,
        data_center_id=pod.data_center_id,
        endpoint=client.endpoint_url(pod.id, 8000),
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        usd_per_hour=pod.cost_per_hr,
    )


def with_cuda(
    inputs: PodInputs[str], catalog: list[GpuOffer], placements: list[Placement]
) -> list[Placement]:
    """Each placement with the host CUDA versions of its GPU type that run the image: RunPod places a pod on
    any host unless the create names them, and an image its driver cannot run crash-loops, billed."""
    need = ImageCuda(inputs.image, inputs.image_cuda, inputs.image_min_driver)
    offered = {offer.id: offer.cuda_versions for offer in catalog}
    out = []
    for p in placements:
        allowed = tuple(inputs.allowed_cuda_versions) or tuple(fit(need, offered.get(p.gpu_type_id, ()))[0])
        out.append(replace(p, allowed_cuda_versions=allowed))
    return out


class WeightPrefillProvider(TypedProvider[PrefillInputs[str], PrefillOutputs]):
    """Fills the cache volume on a CPU pod over SSH, then terminates the pod; skips a complete copy."""

    inputs = PrefillInputs
    outputs = PrefillOutputs

    def on_create(self, inputs: PrefillInputs[str]) -> tuple[str, PrefillOutputs]:
        result = run_prefill(inputs)
        return f"prefill-{inputs.volume_id}-{(result.commit or '')[:12]}", result

    def on_diff(
        self, id: str, olds: PrefillInputs[str], outputs: PrefillOutputs, news: PrefillInputs[str]
    ) -> DiffResult:
        replaces = changed(olds, news, ("volume_id", "repo_id", "revision"))
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def on_read(
        self, id: str, inputs: PrefillInputs[str], outputs: PrefillOutputs
    ) -> tuple[PrefillInputs[str], PrefillOutputs] | None:
        # The weights live on the volume: they are gone once it is.
        volume = runtime.runpod_client(inputs.connection).get_volume(inputs.volume_id)
        return None if volume is None else (inputs, outputs)

    def on_delete(self, id: str, inputs: PrefillInputs[str], outputs: PrefillOutputs) -> None:
        # The pre-fill pod is gone by the time create returns; the weights stay with the volume.
        return None


class GeneratedSecretProvider(TypedProvider[SecretInputs, SecretOutputs]):
    """A random secret (vLLM API key) generated once and kept in the state as a Pulumi secret."""

    inputs = SecretInputs
    outputs = SecretOutputs

    def on_create(self, inputs: SecretInputs) -> tuple[str, SecretOutputs]:
        value = token_source.token_urlsafe(inputs.bytes)
        return f"secret-{token_source.token_hex(4)}", SecretOutputs(value=value)

    def on_diff(self, id: str, olds: SecretInputs, outputs: SecretOutputs, news: SecretInputs) -> DiffResult:
        return DiffResult(changes=False)

    def on_read(
        self, id: str, inputs: SecretInputs, outputs: SecretOutputs
    ) -> tuple[SecretInputs, SecretOutputs] | None:
        # It exists only in the state: what the state holds is what there is.
        return inputs, outputs

    def on_delete(self, id: str, inputs: SecretInputs, outputs: SecretOutputs) -> None:
        return None


class SshKeyProvider(TypedProvider[SshKeyInputs, SshKeyOutputs]):
    """An ed25519 key pair for the stack's pods; the private half is a Pulumi secret."""

    inputs = SshKeyInputs
    outputs = SshKeyOutputs

    def on_create(self, inputs: SshKeyInputs) -> tuple[str, SshKeyOutputs]:
        private, public = generate_keypair(f"deepseek-v4-infra {inputs.stack}")
        return f"sshkey-{token_source.token_hex(4)}", SshKeyOutputs(private_key=private, public_key=public)

    def on_diff(self, id: str, olds: SshKeyInputs, outputs: SshKeyOutputs, news: SshKeyInputs) -> DiffResult:
        return DiffResult(changes=False)

    def on_read(
        self, id: str, inputs: SshKeyInputs, outputs: SshKeyOutputs
    ) -> tuple[SshKeyInputs, SshKeyOutputs] | None:
        # It exists only in the state: what the state holds is what there is.
        return inputs, outputs

    def on_delete(self, id: str, inputs: SshKeyInputs, outputs: SshKeyOutputs) -> None:
        return None

"""The RunPod resources' typed contracts (props.py): each key written once, read back as it was written."""

from __future__ import annotations

import pytest

from infra.targets.dynamic import PropsDataclass
from infra.targets.runpod import props, resources
from infra.targets.runpod.types import RunPodSettings

RESOURCES = [
    (resources.NetworkVolume, props.VolumeOutputs),
    (resources.WeightPrefill, props.PrefillOutputs),
    (resources.Pod, props.PodOutputs),
    (resources.Cluster, props.ClusterOutputs),
    (resources.GeneratedSecret, props.SecretOutputs),
    (resources.SshKey, props.SshKeyOutputs),
]


@pytest.mark.parametrize(("resource", "outputs"), RESOURCES)
def test_every_output_a_resource_declares_is_a_key_its_provider_writes(
    resource: type, outputs: type[PropsDataclass]
) -> None:
    # The resource's own annotations (strings: the module defers them), not its Pulumi base classes'.
    own = vars(resource).get("__annotations__", {})
    declared = [name for name, hint in own.items() if str(hint).startswith("pulumi.Output[")]
    assert declared and set(declared) <= set(outputs.prop_keys()), (declared, outputs.prop_keys())


def test_pod_inputs_come_back_as_written_with_pulumis_floats_made_ints_again() -> None:
    inputs = props.PodInputs(
        connection=RunPodSettings("rpa_key", "http://127.0.0.1:1", "http://127.0.0.1:1/{pod_id}-{port}"),
        name="v4i-x-0123456789-pod-abc123",
        image="vllm/vllm-openai:v0.25.0",
        gpu_type_ids=["NVIDIA H200"],
        gpu_count=4,
        data_center_ids=["US-TX-3"],
        args="serve",
        ports=["8000/http", "22/tcp"],
        container_disk_gb=50,
        env={"PUBLIC_KEY": "ssh-ed25519 AAAA"},
        ttl_seconds=3600,
    )
    written = inputs.to_props()
    # The connection is flattened: the policy pack and the state know these keys.
    assert {"api_key", "api_base_url", "proxy_url_template", "gpu_type_ids", "ttl_seconds"} <= set(written)
    # Pulumi carries numbers as floats.
    floats = {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in written.items()
    }
    read = props.PodInputs.from_props(floats)
    assert read == inputs and isinstance(read.gpu_count, int) and isinstance(read.ttl_seconds, int)


def test_outputs_of_a_state_written_before_a_key_existed_take_its_default() -> None:
    assert props.VolumeOutputs.from_props({"volume_id": "v1"}) == props.VolumeOutputs(volume_id="v1")
    assert props.PodOutputs.unset() == dict.fromkeys(props.PodOutputs.prop_keys())


def test_a_required_input_that_is_missing_is_a_bug_not_a_silent_none() -> None:
    with pytest.raises(KeyError, match="stack"):
        props.SshKeyInputs.from_props({})


def test_secrets_never_show_in_a_contracts_repr() -> None:
    inputs = props.PrefillInputs(
        connection=RunPodSettings("rpa_CANARY_SECRET"),
        name="n",
        stack="s",
        volume_id="v",
        data_center_id="US-TX-3",
        repo_id="r",
        revision="main",
        cache_dir="/workspace/hf",
        image="python:3.11-slim",
        args="{}",
        private_key="-----BEGIN OPENSSH PRIVATE KEY-----CANARY",
        public_key="ssh-ed25519 AAAA",
        hf_token="hf_CANARY",
    )
    text = (
        repr(inputs) + repr(props.SecretOutputs(value="sk-CANARY")) + repr(props.SshKeyOutputs("priv-CANARY"))
    )
    assert "CANARY" not in text


def test_the_stack_exports_are_the_keys_the_lifecycle_reads() -> None:
    pod = set(props.PodStackOutputs.prop_keys())
    assert pod == {
        "pod_id",
        "pod_name",
        "endpoint",
        "volume_id",
        "weights_skipped",
        "weights_bytes_downloaded",
        "vllm_api_key",
        "ssh_host",
        "ssh_port",
        "ssh_private_key",
        "read_rates",
        "prefill_pod_id",
    }
    cluster = set(props.ClusterStackOutputs.prop_keys())
    assert cluster - pod == {"cluster_id", "member_pod_ids", "member_ssh", "usd_per_hour"}

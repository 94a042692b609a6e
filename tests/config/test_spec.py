"""Stack config validation: every mistake is one clear message naming the key and the file."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.catalog import load_catalog
from infra.config import PROJECT, parse
from infra.errors import ConfigError

BASE = {"model": "flash", "gpu": "H200", "gpuCount": 4}
SRC = "stacks/Pulumi.test.yaml"


def check(raw, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse(raw, stack="test", source=SRC)
    assert str(err.value).startswith(SRC), "the message names the stack file"
    assert "\n" not in str(err.value), "one line"


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({**BASE, "gpuCont": 4}, "unknown config key 'deepseek-v4-infra:gpuCont'. Did you mean 'gpuCount'"),
        ({**BASE, "gpuCount": "four"}, "'deepseek-v4-infra:gpuCount' must be an integer, got 'four'"),
        ({**BASE, "gpuCount": 0}, "gpuCount' must be between 1 and 16, got 0"),
        ({**BASE, "gpuCount": 17}, "between 1 and 16"),
        ({**BASE, "gpu": "H300"}, r"unknown GPU 'H300'. Did you mean 'H200'\? Valid: H100-SXM"),
        ({**BASE, "model": "flsh"}, r"unknown model 'flsh'. Did you mean 'flash'\?"),
        ({**BASE, "target": "aws"}, "must be one of runpod, kubernetes, got 'aws'"),
        ({**BASE, "acceptTight": "yes"}, "must be true or false"),
        (
            {**BASE, "dataCenters": ["US-TX-9"]},
            r"unknown RunPod data center 'US-TX-9'.*Did you mean 'US-TX-3'",
        ),
        ({**BASE, "namespace": "Bad_Name"}, "must be a DNS-1123 label"),
        ({**BASE, "storageClass": "fast SSD"}, "must be a DNS-1123 subdomain"),
        ({**BASE, "allowedNamespaces": ["ok", "NOT OK"]}, "'NOT OK' is not a valid namespace"),
        ({**BASE, "image": "vllm/vllm-openai:v0.20.0; rm -rf /"}, "must be an image reference"),
        ({**BASE, "gpuCount": 16}, "a RunPod pod is one node with at most 8 GPUs.*:nodes' to 2 or more"),
        (
            {**BASE, "nodes": 2, "gpuFallbacks": ["H100-SXM"]},
            "Instant Cluster \\(2 nodes\\) takes one GPU type.*remove 'deepseek-v4-infra:gpuFallbacks'",
        ),
        (
            {**BASE, "nodes": 2, "startCommand": "plain"},
            "Instant Cluster \\(2 nodes\\) takes one GPU type and the JSON start command",
        ),
        ({"model": "flash", "gpu": "H200"}, "missing required key 'deepseek-v4-infra:gpuCount'"),
        ({**BASE, "model": "acme/ft", "weightsGb": 100}, "needs both"),
        ({**BASE, "ttlMinutes": 5}, "between 10 and 10080"),
    ],
)
def test_bad_input_gets_one_clear_message(raw, match):
    check(raw, match)


def test_values_from_the_engine_arrive_as_strings_and_are_parsed():
    spec = parse(
        {
            f"{PROJECT}:model": "flash",
            f"{PROJECT}:gpu": "H200",
            f"{PROJECT}:gpuCount": "4",
            f"{PROJECT}:acceptTight": "true",
            f"{PROJECT}:dataCenters": '["EU-RO-1"]',
        },
        stack="s",
        source=SRC,
    )
    assert (spec.gpu_count, spec.accept_tight, spec.data_centers) == (4, True, ("EU-RO-1",))


def test_other_namespaces_are_left_to_their_providers():
    spec = parse({**BASE, "kubernetes:context": "prod"}, stack="s", source=SRC)
    assert spec.gpu == "H200"


def test_aliases_and_repo_ids_resolve():
    spec = parse(
        {"model": "deepseek-ai/DeepSeek-V4-Pro", "gpu": "NVIDIA H200", "gpuCount": 8}, stack="s", source=SRC
    )
    assert (spec.model, spec.gpu) == ("deepseek-ai/DeepSeek-V4-Pro", "H200")


def test_custom_checkpoint_and_price_override_reach_the_catalog():
    spec = parse(
        {**BASE, "model": "acme/flash-ft", "weightsGb": 170, "baseArchitecture": "flash", "gpuPriceUsd": 2.0},
        stack="s",
        source=SRC,
    )
    assert spec.catalog.checkpoint("acme/flash-ft").weights_bytes == 170_000_000_000
    assert spec.catalog.gpu("H200").usd_per_gpu_hour == 2.0


def test_permanent_means_no_ttl():
    assert parse({**BASE, "permanent": True}, stack="s", source=SRC).ttl_minutes is None
    assert parse(BASE, stack="s", source=SRC).ttl_minutes == 120


def test_a_secret_in_plain_text_is_refused():
    check(
        {**BASE, "hfToken": "hf_plain"}, r"'deepseek-v4-infra:hfToken' is stored in plain text; set it with"
    )
    spec = parse(
        {**BASE, f"{PROJECT}:hfToken": "hf_x"},
        stack="s",
        source=SRC,
        secret_keys=frozenset({f"{PROJECT}:hfToken"}),
    )
    assert "hfToken" in spec.secrets_set


def test_placeholders_from_pulumi_yaml_mean_unset():
    raw = {**BASE, "maxModelLen": 0, "image": "", "hfToken": ""}
    spec = parse(raw, stack="s", source=SRC, placeholders=True)
    assert spec.max_model_len is None and spec.image is None and "hfToken" not in spec.secrets_set


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("maxNumSeqs", 0, "maxNumSeqs' must be between 1 and 1024, got 0"),
        ("maxModelLen", 0, "maxModelLen' must be between 1024 and 1048576, got 0"),
        ("cacheSizeGb", "0", "between 10 and 10000, got 0"),
        ("image", "", "must be an image reference"),
    ],
)
def test_zero_or_empty_in_a_stack_file_is_a_value_not_unset(key, value, match):
    check({**BASE, key: value}, match)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "vllm/vllm-openai:v0.25.0\n"),
        ("namespace", "deepseek\n"),
        ("storageClass", "gp3\n"),
        ("karpenterNodeClass", "default\n"),
    ],
)
def test_a_trailing_newline_does_not_slip_through_a_pattern(key, value):
    check({**BASE, key: value}, "must be a")


def test_a_trailing_newline_in_a_repo_id_or_allowed_namespace_is_refused():
    check({**BASE, "model": "acme/ft\n", "weightsGb": 10, "baseArchitecture": "flash"}, "must be a repo id")
    check({**BASE, "allowedNamespaces": ["team\n"]}, "is not a valid namespace")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("weightsGb", float("inf")),
        ("weightsGb", float("nan")),
        ("weightsGb", "NaN"),
        ("gpuPriceUsd", float("nan")),
        ("gpuPriceUsd", "Infinity"),
        ("gpuPriceUsd", float("-inf")),
    ],
)
def test_numbers_must_be_finite(key, value):
    raw = {**BASE, key: value}
    if key == "weightsGb":
        raw |= {"model": "acme/ft", "baseArchitecture": "flash"}
    check(raw, "must be a finite number")


def test_a_kubernetes_stack_name_must_be_a_label_value():
    raw = {**BASE, "target": "kubernetes"}
    with pytest.raises(ConfigError, match="cannot be a Kubernetes label value"):
        parse(raw, stack="k" * 64, source=SRC)
    assert parse(raw, stack="k" * 63, source=SRC).stack == "k" * 63


def test_the_data_centers_a_stack_may_name_are_data_not_code():
    cat = load_catalog()
    assert "EU-RO-1" in cat.runpod_data_centers and len(cat.runpod_data_centers) == 17
    newer = replace(cat, runpod_data_centers=(*cat.runpod_data_centers, "EU-DE-9"))
    assert parse({**BASE, "dataCenters": ["EU-DE-9"]}, stack="s", source=SRC, catalog=newer).data_centers == (
        "EU-DE-9",
    )
    check({**BASE, "dataCenters": ["EU-DE-9"]}, r"unknown RunPod data center 'EU-DE-9'.*Valid: EU-RO-1, ")

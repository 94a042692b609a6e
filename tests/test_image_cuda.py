"""Host CUDA versions an engine image can run on, and the check of a stack's allowedCudaVersions."""

from __future__ import annotations

import pytest

from infra.errors import ConfigError
from infra.image_cuda import check_allowed, fit, image_cuda


def test_a_cuda_13_image_refuses_a_cuda_12_host_in_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        check_allowed("vllm/vllm-openai", "v0.30.0", ["13.0", "12.8"])
    text = str(err.value)
    assert text.startswith("allowedCudaVersions 12.8 cannot run vllm/vllm-openai:v0.30.0")
    assert "built for CUDA 13.0, NVIDIA driver >= 580" in text and text.endswith("valid: 13.0 or newer")


def test_versions_compare_as_numbers_not_decimals() -> None:
    check_allowed("vllm/vllm-openai", "v0.30.0-cu129", ["12.10", "12.9", "13.0"])  # 12.10 is above 12.9
    with pytest.raises(ConfigError, match=r"allowedCudaVersions 12\.2 cannot run"):
        check_allowed("vllm/vllm-openai", "v0.30.0-cu129", ["12.2"])


def test_an_entry_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"allowedCudaVersions entry .cuda13. is not a CUDA version; valid: major\.minor"
    ):
        check_allowed("vllm/vllm-openai", "v0.30.0", ["cuda13"])


def test_a_tag_without_a_sourced_cuda_version_is_not_guessed() -> None:
    assert image_cuda("vllm/vllm-openai", "v0.25.0").cuda is None
    check_allowed("vllm/vllm-openai", "v0.25.0", ["11.8"])
    hosts, why = fit("vllm/vllm-openai", "v0.25.0", ["12.8", "13.0"])
    assert hosts == [] and "no sourced CUDA version: hosts are not constrained" in why


def test_fit_keeps_the_catalog_versions_the_image_runs_on() -> None:
    hosts, why = fit("vllm/vllm-openai", "v0.30.0", ["12.4", "12.8", "13.1", "13.0"])
    assert hosts == ["13.0", "13.1"] and "built for CUDA 13.0" in why

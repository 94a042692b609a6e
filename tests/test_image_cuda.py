"""Host CUDA versions an engine image can run on, and the check of a stack's allowedCudaVersions.

The image's CUDA and driver come from engines.yaml through the catalog (one source); the rule and the
driver-branch table from image_cuda.yaml.
"""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.errors import ConfigError
from infra.image_cuda import ImageCuda, check_allowed, driver_floor_label, fit, reported_versions


def tag(name: str) -> ImageCuda:
    engine = load_catalog().engine("vllm")
    t = next(t for t in engine.tags if t.tag == name)
    return ImageCuda(f"{engine.image}:{t.tag}", t.cuda, t.min_driver)


def test_a_cuda_13_image_refuses_a_cuda_12_host_in_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        check_allowed(tag("v0.30.0"), ["13.0", "12.8"])
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("allowedCudaVersions 12.8 cannot run vllm/vllm-openai:v0.30.0")
    assert "built for CUDA 13.0, NVIDIA driver >= 580" in text and text.endswith("valid: 13.0 or newer")


def test_the_image_facts_are_engines_yaml_s() -> None:
    # v0.25.0 had no row in the old image table; engines.yaml records it as CUDA 13.0.
    need = tag("v0.25.0")
    assert (need.cuda, need.min_driver) == ("13.0", 580)
    with pytest.raises(ConfigError, match=r"allowedCudaVersions 12\.8 cannot run"):
        check_allowed(need, ["12.8"])


def test_a_cuda_12_image_runs_on_every_cuda_12_driver_by_minor_version_compatibility() -> None:
    need = tag("v0.30.0-cu129")
    assert (need.cuda, need.min_driver) == ("12.9", 525)
    check_allowed(need, ["12.10", "12.2", "13.0"])
    with pytest.raises(ConfigError, match=r"allowedCudaVersions 11\.8 cannot run .*valid: 12\.0 or newer"):
        check_allowed(need, ["11.8"])


def test_an_entry_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"allowedCudaVersions entry .cuda13. is not a CUDA version; valid: major\.minor"
    ):
        check_allowed(tag("v0.30.0"), ["cuda13"])
    with pytest.raises(ConfigError, match="is not a CUDA version"):
        check_allowed(tag("v0.30.0"), ["13.0\n"])


def test_an_image_the_catalog_does_not_know_is_not_guessed() -> None:
    unknown = ImageCuda("example/custom:1", None, None)
    check_allowed(unknown, ["11.8"])
    hosts, why = fit(unknown, ["12.8", "13.0"])
    assert hosts == [] and "CUDA unknown" in why and "not sent" in why


def test_fit_keeps_the_catalog_versions_the_image_runs_on_sorted_as_numbers() -> None:
    hosts, why = fit(tag("v0.30.0"), ["12.4", "12.8", "13.10", "13.1", "13.0"])
    assert hosts == ["13.0", "13.1", "13.10"] and "built for CUDA 13.0" in why


def test_fit_falls_back_to_the_driver_table_when_the_catalog_names_none() -> None:
    hosts, _ = fit(tag("v0.31.0"), [])
    assert hosts == ["13.0"]
    assert reported_versions()[0] == "12.0" and "12.9" in reported_versions()


def test_kubernetes_selects_the_driver_major_label() -> None:
    assert driver_floor_label(tag("v0.31.0")) == ("nvidia.com/cuda.driver.major", 580)
    assert driver_floor_label(ImageCuda("x", None, None)) is None

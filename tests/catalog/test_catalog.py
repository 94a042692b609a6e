"""The catalog's look-ups as a user meets them (infra/catalog/__init__.py): Blackwell GPUs by any of their names,
and what the catalog says about the checkpoints it does not plan."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog
from infra.errors import CatalogError

CAT = load_catalog()


def test_blackwell_gpus_are_known_by_catalog_name_runpod_id_and_kubernetes_label():
    for name in ("B200", "NVIDIA B200", "NVIDIA-B200"):
        assert CAT.gpu(name).key == "B200"
    for name in ("B300", "NVIDIA B300 SXM6 AC", "NVIDIA-B300-SXM6-AC"):
        assert CAT.gpu(name).key == "B300"
    b200, b300 = CAT.gpu("B200"), CAT.gpu("B300")
    assert (b200.memory_mib, b300.memory_mib) == (183359, 275040)
    assert (b200.usd_per_gpu_hour, b300.usd_per_gpu_hour) == (6.79, 7.89)
    assert b200.price_date == b300.price_date == "2026-10-07" and CAT.gpu("H200").price_date == "2026-11-28"
    assert "spec" in b300.hbm_source and b200.family == b300.family == "blackwell"
    assert b200.max_gpus_per_node == b300.max_gpus_per_node == 8


@pytest.mark.parametrize("repo", ["deepseek-ai/DeepSeek-V4-Flash-Base", "deepseek-ai/DeepSeek-V4-Pro-Base"])
def test_a_base_checkpoint_is_named_as_not_for_chat(repo):
    with pytest.raises(CatalogError, match="not for chat"):
        CAT.checkpoint(repo)


def test_v41_flash_1017_keeps_saying_why_not_and_that_the_hub_was_not_asked():
    with pytest.raises(CatalogError) as raised:
        CAT.checkpoint("deepseek-ai/DeepSeek-V4.1-Flash-1017")
    assert "no open weights are confirmed" in str(raised.value)
    assert "the hub was not asked" in str(raised.value)

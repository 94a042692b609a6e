"""The load-path chooser: flags the pinned engine defines, chosen from storage, rates and RAM, with a reason;
and one clear line for a strategy or thread count the engine cannot take."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from paths import REPO_ROOT

from infra import load_path
from infra.catalog import data_file
from infra.errors import ConfigError
from infra.load_path import DEFAULT, LoadRequest, choose, engine_default
from infra.read_rates import MEASURED, Rate, runpod_volume, storage

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "engine_options"
GIB = 2**30
FLASH = 159_624_052_224
PRO = 865_000_000_000
SHARD = 4 * GIB


def _wheel(engine: str, version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{engine}-{version}.json").read_text())
    return data


def _versions() -> list[tuple[str, str]]:
    return [(e, v) for e, rows in data_file("load_options.yaml")["engines"].items() for v in rows]


@pytest.mark.parametrize(("engine", "version"), _versions())
def test_every_loading_flag_is_one_the_pinned_wheel_defines(engine: str, version: str) -> None:
    wheel = _wheel(engine, version)
    opts = load_path.options(engine, version)
    for strategy, flags in opts["strategies"].items():
        names = [f for f in flags if f.startswith("--")]
        assert set(names) <= set(wheel["options"]), f"{engine} {version} {strategy}: {names}"
        if engine == "vllm":
            values = [f for f in flags if not f.startswith("--")]
            choices = wheel["literals"]["SafetensorsLoadStrategy"]
            # vLLM 0.20.0 types the strategy as str (any value parses); later versions as a Literal.
            assert choices is None or set(values) <= set(choices)
    if opts["threads_flag"] is not None:
        assert opts["threads_flag"] in wheel["options"]


def _choose(**over: Any) -> load_path.LoadPath:
    args: dict[str, Any] = {
        "storage": runpod_volume("STANDARD"),
        "rate": runpod_volume("STANDARD").published,
        "ram_bytes": 1000 * GIB,
        "vcpus": 96,
        "checkpoint_bytes": PRO,
        "largest_shard_bytes": SHARD,
        "ranks": 8,
    }
    args.update(over)
    engine, version = args.pop("engine", "vllm"), args.pop("version", "0.25.0")
    return choose(engine, version, **args)


def test_a_network_volume_is_prefetched_with_the_default_threads_on_a_published_rate() -> None:
    path = _choose()
    assert path.flags == ("--safetensors-load-strategy", "prefetch")
    assert path.reads_as == "prefetch" and path.threads == 8 and path.readers == 64
    assert "30-50x slower" in path.reason and "Comfy-Org/ComfyUI#2288" in path.reason


def test_without_flags_vllm_would_memory_map_a_runpod_volume() -> None:
    store = runpod_volume("STANDARD")
    path = engine_default(
        "vllm", "0.25.0", storage=store, ram_bytes=1000 * GIB, checkpoint_bytes=PRO, ranks=8
    )
    assert path.flags == () and path.reads_as == "lazy"
    assert "does not detect this filesystem as NFS/Lustre" in path.reason


def test_vllm_auto_prefetches_an_nfs_pvc_that_fits_in_ram() -> None:
    store = storage("kubernetes-rwx")
    fits = engine_default(
        "vllm", "0.25.0", storage=store, ram_bytes=1000 * GIB, checkpoint_bytes=FLASH, ranks=4
    )
    assert fits.reads_as == "prefetch" and fits.readers == 32
    too_big = engine_default(
        "vllm", "0.25.0", storage=store, ram_bytes=500 * GIB, checkpoint_bytes=PRO, ranks=8
    )
    assert too_big.reads_as == "lazy" and "does not fit in 90% of RAM" in too_big.reason


def test_a_measured_peak_raises_the_threads_within_the_vcpus() -> None:
    measured = Rate(((1, 200e6), (64, 900e6), (128, 1500e6)), MEASURED, "probe", "3 reader counts")
    path = _choose(rate=measured, vcpus=128)
    assert path.threads == 16 and path.readers == 128
    assert path.flags == (
        "--safetensors-load-strategy",
        "prefetch",
        "--safetensors-prefetch-num-threads",
        "16",
    )
    assert "reach the 128 readers at which the volume peaked" in path.reason
    capped = _choose(rate=measured, vcpus=80)
    assert capped.threads == 10 and "capped by 80 vCPUs (the volume peaked at 128 readers)" in capped.reason


def test_a_measured_peak_below_the_default_keeps_the_default() -> None:
    measured = Rate(((1, 200e6), (16, 900e6)), MEASURED, "probe", "2 reader counts")
    path = _choose(rate=measured)
    assert path.threads == 8 and path.flags == ("--safetensors-load-strategy", "prefetch")


def test_ram_limits_the_shards_in_flight() -> None:
    path = _choose(ram_bytes=8 * SHARD * 3)  # room for 3 shards per rank
    assert path.threads == 3 and "RAM holds 3 shard(s) in flight per rank" in path.reason
    assert path.flags[-2:] == ("--safetensors-prefetch-num-threads", "3")
    starved = _choose(ram_bytes=SHARD)
    assert starved.reads_as == "lazy" and starved.flags == ("--safetensors-load-strategy", "lazy")
    assert "cannot hold one 4.0 GiB shard per rank" in starved.reason


def test_local_disk_gets_no_flags() -> None:
    path = _choose(storage=storage("container-disk"), rate=storage("container-disk").published)
    assert path.strategy == DEFAULT and path.flags == () and "local disk" in path.reason


def test_sglang_prefetches_with_its_own_flag() -> None:
    path = _choose(engine="sglang", version="0.5.12")
    assert path.flags == ("--weight-loader-prefetch-checkpoints",) and path.threads == 4


def test_vllm_0_20_has_no_thread_option_so_none_is_emitted() -> None:
    measured = Rate(((1, 200e6), (128, 1500e6)), MEASURED, "probe", "2 reader counts")
    path = _choose(version="0.20.0", rate=measured)
    assert path.flags == ("--safetensors-load-strategy", "prefetch") and path.threads == 8


def test_the_users_strategy_and_threads_win() -> None:
    path = _choose(request=LoadRequest(strategy="eager"))
    assert path.flags == ("--safetensors-load-strategy", "eager") and "set by loadStrategy" in path.reason
    threads = _choose(request=LoadRequest(threads=12))
    assert threads.flags == (
        "--safetensors-load-strategy",
        "prefetch",
        "--safetensors-prefetch-num-threads",
        "12",
    )


@pytest.mark.parametrize(
    ("request_", "vcpus", "version", "message"),
    [
        (LoadRequest(strategy="mmap"), 96, "0.25.0",
         "loadStrategy 'mmap' is not defined by vLLM 0.25.0; valid: lazy, eager, prefetch"),
        (LoadRequest(threads=0), 96, "0.25.0", "loadThreads 0 is out of range; valid: 1 to 96 (the pod's vCPUs)"),
        (LoadRequest(threads=97), 96, "0.25.0", "loadThreads 97 is out of range; valid: 1 to 96 (the pod's vCPUs)"),
        (LoadRequest(threads=4), 96, "0.20.0",
         "loadThreads 4: vLLM 0.20.0 has no prefetch thread option (it prefetches with 8 threads per rank)"),
        (LoadRequest(strategy="lazy", threads=4), 96, "0.25.0", "loadThreads applies to prefetching only"),
    ],
)  # fmt: skip
def test_bad_loading_settings_are_one_line_naming_the_key(
    request_: LoadRequest, vcpus: int, version: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _choose(request=request_, vcpus=vcpus, version=version)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_engine_version_without_recorded_options_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"no weight-loading options recorded for vLLM 0.33.0; recorded versions: 0.20.0"
    ):
        _choose(version="0.33.0")


def test_fixtures_were_extracted_from_the_wheels_the_data_names() -> None:
    for path in sorted(Path(FIXTURES).glob("*.json")):
        wheel = json.loads(path.read_text())
        assert path.stem == f"{wheel['engine']}-{wheel['version']}"
        assert wheel["options"], path

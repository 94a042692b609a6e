"""The start model: phases from bytes and rates, each with its source; GPU-seconds and dollars; the same
table every time; unknown phases listed instead of guessed."""

from __future__ import annotations

import pytest

from infra import startup
from infra.load_path import LoadPath, choose, engine_default
from infra.read_rates import MEASURED, NO_FIGURE, PUBLISHED, Rate, hub_rate, runpod_volume, storage
from infra.startup import COLD, WARM, StartInputs, comparisons, estimate, estimate_download, hub_versus_volume

GIB = 2**30
PRO = 865_000_000_000
FLASH = 159_624_052_224
RAM = 1000 * GIB


def _inputs(
    weights: int = PRO, gpus: int = 8, engine: str = "vllm", version: str = "0.25.0", **over: object
) -> StartInputs:
    store = runpod_volume("STANDARD")
    args: dict[str, object] = {
        "engine": engine,
        "version": version,
        "image": "vllm/vllm-openai" if engine == "vllm" else "lmsysorg/sglang",
        "weights_bytes": weights,
        "gpus_per_node": gpus,
        "nodes": 1,
        "usd_per_gpu_hour": 3.59,
        "storage": store,
        "volume_rate": store.published,
        "ram_bytes": RAM,
    }
    args.update(over)
    return StartInputs(**args)  # type: ignore[arg-type]


def _paths(inputs: StartInputs) -> tuple[LoadPath, LoadPath]:
    chosen = choose(
        inputs.engine, inputs.version, storage=inputs.storage, rate=inputs.volume_rate, ram_bytes=inputs.ram_bytes,
        vcpus=128, checkpoint_bytes=inputs.weights_bytes, largest_shard_bytes=4 * GIB, ranks=inputs.gpus_per_node,
    )  # fmt: skip
    default = engine_default(
        inputs.engine, inputs.version, storage=inputs.storage, ram_bytes=inputs.ram_bytes,
        checkpoint_bytes=inputs.weights_bytes, ranks=inputs.gpus_per_node,
    )  # fmt: skip
    return chosen, default


def test_pro_on_a_standard_runpod_volume_reads_for_about_an_hour_at_the_published_rate() -> None:
    inputs = _inputs()
    chosen, _ = _paths(inputs)
    est = estimate(inputs, chosen)
    read = est.phase("weights read")
    assert read.seconds == pytest.approx(865e9 / 237_318_539)  # ~61 minutes, as issue 20 computes
    assert 60 * 60 < read.seconds < 62 * 60
    assert read.basis == PUBLISHED and read.source == "kohya-ss/musubi-tuner#655, 2025-10-17"
    row = next(r for r in est.rows() if r["phase"] == "weights read")
    assert row["gpu_seconds"] == pytest.approx(read.seconds * 8, abs=0.1)
    assert row["usd"] == pytest.approx(read.seconds * 8 / 3600 * 3.59, abs=0.01)


def test_every_phase_names_its_source_and_unknown_ones_are_listed_not_guessed() -> None:
    inputs = _inputs()
    est = estimate(inputs, _paths(inputs)[0])
    assert [p.name for p in est.phases] == ["image pull", "weights read", "compile", "graph capture"]
    assert est.unknown == ("compile",)
    compile_ = est.phase("compile")
    assert (
        compile_.seconds is None
        and compile_.basis == NO_FIGURE
        and "torch.compile is off for V4" in compile_.detail
    )
    graph = est.phase("graph capture")
    assert graph.seconds == 22 and graph.source == "vllm-project/vllm#50576, 2026-08-07"
    pull = est.phase("image pull")
    assert pull.seconds == pytest.approx(28.6e9 / 97_604_790)
    assert (
        "vllm-project/vllm#22377" in pull.detail
        and pull.source == "Crazytieguy/alignment-hive#98, 2026-09-05"
    )
    assert est.seconds == pytest.approx(sum(p.seconds or 0 for p in est.phases))
    assert est.gpu_seconds == pytest.approx(est.seconds * 8)


def test_the_registry_manifest_size_and_a_cached_image_replace_the_published_size() -> None:
    manifest = estimate(_inputs(image_bytes=10_000_000_000), _paths(_inputs())[0]).phase("image pull")
    assert manifest.seconds == pytest.approx(10e9 / 97_604_790) and "registry manifest" in manifest.detail
    cached = estimate(_inputs(image_cached=True), _paths(_inputs())[0]).phase("image pull")
    assert cached.seconds == 33 and cached.detail == "image already on the host"
    unknown = estimate(_inputs(engine="sglang", version="0.5.12"), _paths(_inputs())[0]).phase("image pull")
    assert unknown.seconds is None and "no published size for lmsysorg/sglang" in unknown.detail


def test_memory_mapped_reads_from_a_network_volume_pay_the_published_penalty() -> None:
    inputs = _inputs()
    chosen, default = _paths(inputs)
    lazy = estimate(inputs, default).phase("weights read")
    prefetch = estimate(inputs, chosen).phase("weights read")
    assert lazy.seconds == pytest.approx(prefetch.seconds * 30)  # type: ignore[operator]
    assert "Comfy-Org/ComfyUI#2288" in lazy.detail


def test_a_measured_rate_replaces_the_published_one_and_the_phase_says_measured() -> None:
    measured = Rate(
        ((1, 250e6), (64, 2_000e6)), MEASURED, "read-rate probe, EU-RO-1 STANDARD", "2 counts", "2026-12-01"
    )
    inputs = _inputs(volume_rate=measured)
    chosen, _ = _paths(inputs)
    read = estimate(inputs, chosen).phase("weights read")
    assert read.basis == MEASURED and read.seconds == pytest.approx(865e9 / 2_000e6)
    assert read.source == "read-rate probe, EU-RO-1 STANDARD, 2026-12-01"


def test_the_table_is_the_same_every_time() -> None:
    inputs = _inputs(weights=FLASH, gpus=4)
    chosen, default = _paths(inputs)
    disk = storage("container-disk").published
    first = startup.format_table(
        comparisons(inputs, chosen=chosen, default=default, hub=hub_rate(), disk=disk)
    )
    again = startup.format_table(
        comparisons(inputs, chosen=chosen, default=default, hub=hub_rate(), disk=disk)
    )
    assert first == again
    assert [line.split("  ")[0] for line in first.splitlines()[1:]] == [
        "engine default loading, cold cache",
        "chosen loading, cold cache",
        "chosen loading, warm cache",
        "download to container disk, cold cache",
    ]


def test_sglang_cold_and_warm_compile_differ_by_its_published_precompile() -> None:
    inputs = _inputs(engine="sglang", version="0.5.12")
    chosen, _ = _paths(inputs)
    cold, warm = estimate(inputs, chosen, compile_cache=COLD), estimate(inputs, chosen, compile_cache=WARM)
    assert cold.phase("compile").seconds == 900 and "10-20 mins" in cold.phase("compile").detail
    assert warm.phase("compile").seconds is None and "compile" in warm.unknown
    assert cold.gpu_seconds - warm.gpu_seconds == pytest.approx(900 * 8)


def test_downloading_at_start_is_offered_when_the_hub_beats_the_volume() -> None:
    inputs = _inputs()
    chosen, _ = _paths(inputs)
    volume = estimate(inputs, chosen)
    download = estimate_download(inputs, hub=hub_rate(), disk=storage("container-disk").published)
    assert download.phase("hub download").seconds == pytest.approx(865e9 / 516_129_032)
    assert download.phase("weights read").seconds == 0.0  # just written, and 865 GB fit in 1000 GiB of RAM
    sentence = hub_versus_volume(volume, download)
    assert sentence is not None and sentence.startswith("the hub is faster than this volume")
    assert f"{download.gpu_seconds:,.0f} GPU-s" in sentence and f"{volume.gpu_seconds:,.0f} GPU-s" in sentence
    fast = Rate(((64, 5_000e6),), MEASURED, "probe", "1 count")
    quick = estimate(_inputs(volume_rate=fast), choose(
        "vllm", "0.25.0", storage=inputs.storage, rate=fast, ram_bytes=RAM, vcpus=128, checkpoint_bytes=PRO,
        largest_shard_bytes=4 * GIB, ranks=8,
    ))  # fmt: skip
    assert hub_versus_volume(quick, download) is None


def test_downloading_without_room_in_ram_needs_a_disk_rate_nobody_published() -> None:
    inputs = _inputs(ram_bytes=500 * GIB)
    download = estimate_download(inputs, hub=hub_rate(), disk=storage("container-disk").published)
    assert download.phase("weights read").seconds is None and "weights read" in download.unknown
    chosen, _ = _paths(inputs)
    assert hub_versus_volume(estimate(inputs, chosen), download) is None


def test_every_gpu_of_every_node_is_billed_and_the_nodes_share_the_volume() -> None:
    one = _inputs()
    two = _inputs(nodes=2)
    chosen, _ = _paths(one)
    a, b = estimate(one, chosen), estimate(two, chosen)
    assert b.phase("weights read").seconds == pytest.approx(2 * a.phase("weights read").seconds)  # type: ignore[operator]
    assert b.gpus == 16 and "2 nodes reading the same volume share its rate" in b.phase("weights read").detail

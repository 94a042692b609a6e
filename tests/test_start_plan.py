"""`plan` shows the start by phase with sources, chooses the loading flags on the numbers, offers the
download at start when the hub is cheaper, and refuses bad input in one line before anything is rented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import config
from infra.cli import main
from infra.errors import ConfigError
from infra.planner import PlanRequest, plan

PROBE = {
    "probe": "v4infra-read-rate", "data_center": "US-TX-3", "tier": "STANDARD", "storage": "network-volume",
    "measured_at": "2026-12-01T10:00:00Z", "error": None,
    "levels": [{"readers": 1, "bytes": 10**9, "seconds": 2.0, "bytes_per_s": 5 * 10**8},
               {"readers": 64, "bytes": 10**10, "seconds": 5.0, "bytes_per_s": 2 * 10**9},
               {"readers": 128, "bytes": 10**10, "seconds": 4.0, "bytes_per_s": 2.5 * 10**9}],
}  # fmt: skip


def test_plan_pro_8xh200_shows_every_phase_with_gpu_seconds_dollars_and_its_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "pro-8xh200"]) == 0
    out = capsys.readouterr().out
    assert "start by phase (first start)" in out and "start options" in out
    for phase in ("image pull", "weights read", "compile", "graph capture"):
        assert f"│ {phase}" in out
    assert "kohya-ss/musubi-tuner#655" in out and "published" in out and "no published figure" in out
    assert "--safetensors-load-strategy prefetch" in out
    assert main(["plan", "pro-8xh200", "--json"]) == 0
    start = json.loads(capsys.readouterr().out)["start"]
    read = next(p for p in start["first"]["phases"] if p["phase"] == "weights read")
    assert read["basis"] == "published" and read["seconds"] == pytest.approx(865e9 / 237_318_539, rel=1e-3)
    assert read["gpu_seconds"] == pytest.approx(read["seconds"] * 8, abs=1) and read["usd"] > 25
    assert start["first"]["unknown"] == ["compile"]
    assert [c["label"] for c in start["comparisons"]] == [
        "engine default loading, cold cache",
        "chosen loading, cold cache",
        "chosen loading, warm cache",
        "download to container disk, cold cache",
    ]
    # The hub is faster than a RunPod volume: both costs are said, and the option named.
    assert start["hub_note"].startswith("the hub is faster than this volume") and "GPU-s" in start["hub_note"]
    assert any("downloadAtStart: true" in n for n in start["notes"])
    assert start["hosts"]["allowed_cuda_versions"] == ["13.0"]


def test_a_measured_rate_is_planned_with_and_its_peak_weighed_against_the_pods_cpus() -> None:
    p = plan(PlanRequest("pro", "H200", 8, volume_tier="STANDARD", measurements=(json.dumps(PROBE),)))
    assert p.start is not None and p.start.rate_note.startswith("read rate measured: 2,500 MB/s")
    # 128 readers would need 16 threads per rank; 8 GPUs' share of the host is 32 vCPUs (hosts.yaml).
    assert "capped by 32 vCPUs (the volume peaked at 128 readers)" in p.start.load_reason
    read = p.start.first.phase("weights read")
    assert read is not None and read.basis == "measured"
    assert read.seconds == pytest.approx(865e9 / 2e9, rel=1e-3)  # 8 ranks x 8 threads: the 64-reader point
    own = plan(PlanRequest("pro", "H200", 8, load_threads=12, measurements=(json.dumps(PROBE),)))
    args = list(own.engine.args)
    assert args[args.index("--safetensors-prefetch-num-threads") + 1] == "12"


def test_download_at_start_reads_the_container_disk_without_a_loading_flag() -> None:
    from infra.targets.runpod.start_script import gpu_start_script

    p = plan(PlanRequest("pro", "H200", 8, download_at_start=True))
    assert p.start is not None and p.start.download_at_start and p.start.load_flags == ()
    assert "--safetensors-load-strategy" not in p.engine.args
    assert p.start.first.label == "download at start, cold compile cache"
    assert p.start.first.phase("hub download") is not None
    script = gpu_start_script(p, stack="s", pod_name="pod", ttl_seconds=None)
    assert "export HF_HOME=/root/hf\n" in script and "unset HF_HUB_OFFLINE" in script


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"loadStrategy": "mmap"}, "loadStrategy 'mmap' is not defined by vLLM 0.31.0; valid: lazy, eager, prefetch"),
        ({"loadThreads": 0}, "'deepseek-v4-infra:loadThreads' must be between 1 and 4096, got 0"),
        ({"loadThreads": 4000}, "loadThreads 4000 is out of range; valid: 1 to 16 (the pod's vCPUs)"),
        ({"allowedCudaVersions": ["12.8"]}, "allowedCudaVersions 12.8 cannot run vllm/vllm-openai:v0.31.0"),
        ({"image": "lmsysorg/sglang:v0.5.21", "engine": "sglang", "loadStrategy": "eager"},
         "loadStrategy: no weight-loading options are recorded for SGLang 0.5.21"),
        ({"target": "kubernetes", "downloadAtStart": True, "storageClass": "efs-sc"},
         "'deepseek-v4-infra:downloadAtStart' downloads to one RunPod pod's container disk"),
    ],
)  # fmt: skip
def test_bad_start_input_is_one_line_naming_the_key_and_the_valid_values(
    raw: dict[str, object], message: str
) -> None:
    base = {"model": "flash", "gpu": "H200", "gpuCount": 4}
    with pytest.raises(ConfigError) as err:
        spec = config.parse({**base, **raw}, stack="s", source="stacks/Pulumi.s.yaml")
        plan(spec.plan_request(), spec.catalog)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_rates_file_from_another_data_center_is_refused_and_one_of_its_own_used(tmp_path: Path) -> None:
    path = tmp_path / "rates.jsonl"
    path.write_text(json.dumps(PROBE) + "\n")
    base = {
        "model": "pro",
        "gpu": "H200",
        "gpuCount": 8,
        "volumeType": "STANDARD",
        "measuredRates": str(path),
    }
    with pytest.raises(
        ConfigError,
        match=r"was measured in US-TX-3, not in EU-RO-1; valid: a file of v4infra-read-rate lines",
    ):
        config.parse({**base, "dataCenters": ["EU-RO-1"]}, stack="s", source="stacks/Pulumi.s.yaml")
    spec = config.parse({**base, "dataCenters": ["US-TX-3"]}, stack="s", source="stacks/Pulumi.s.yaml")
    p = plan(spec.plan_request(), spec.catalog)
    assert p.start is not None and p.start.rate_note.startswith("read rate measured")


def test_recorded_rates_of_the_stack_reach_its_plan(tmp_path: Path) -> None:
    from infra import rate_store

    rate_store.record(tmp_path, "pro-8xh200", [PROBE])
    spec = config.load_stack("pro-8xh200").with_recorded_rates(tmp_path)
    assert spec.measurements and json.loads(spec.measurements[0])["stack"] == "pro-8xh200"
    # A stack whose data centers include US-TX-3 shares the measurement; one that names none does not.
    assert config.load_stack("flash-4xh200").with_recorded_rates(tmp_path).measurements == spec.measurements
    assert config.load_stack("k8s-flash-4xh200").with_recorded_rates(tmp_path).measurements == ()

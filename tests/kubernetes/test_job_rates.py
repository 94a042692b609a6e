"""On Kubernetes the download Job measures the claim: its probe record is read back from the Job's log;
in a rehearsal (kwok runs no container) the Job's own probe command runs locally against a paced claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import config
from infra.emulator.paced_claim import CLAIM_READ_BYTES_PER_S, run_job_probe
from infra.errors import ProviderError
from infra.measured_rates import from_record
from infra.planner import plan
from infra.targets.kubernetes.job_rates import job_rates
from infra.targets.kubernetes.manifests import render_manifests


def _job_and_probe() -> tuple[str, str]:
    spec = config.load_stack("k8s-flash-4xh200")
    manifests = render_manifests(spec, plan(spec.plan_request(), spec.catalog))
    job = next(m.obj for m in manifests if m.kind == "Job")
    source = next(m.obj for m in manifests if m.kind == "ConfigMap" and m.name == "weights-script")["data"]
    return job["spec"]["template"]["spec"]["containers"][0]["command"][2], source["read_rate_probe.py"]


def test_the_jobs_own_probe_measures_the_paced_claim_at_the_published_rwx_rate(tmp_path: Path) -> None:
    command, source = _job_and_probe()
    printed = run_job_probe(command, source, tmp_path / "claim", mount="/models")
    m = from_record(json.loads(printed.splitlines()[-1]))
    assert m.usable, m.error
    assert (m.data_center, m.tier, m.storage) == ("kubernetes", "efs-sc", "pvc")
    assert max(bps for _, bps in m.rate.points) == pytest.approx(CLAIM_READ_BYTES_PER_S, rel=0.25)


class FakeKubectl:
    def __init__(self, log: str | None, objects: dict[str, Any]) -> None:
        self.log, self.objects = log, objects

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        if self.log is None:
            raise ProviderError("kubectl logs: container not found", provider="kubernetes")
        return self.log

    def json(self, *args: str) -> Any:
        return self.objects[args[1]]


def test_the_records_come_from_the_jobs_log_and_a_rehearsal_stands_in_without_one() -> None:
    record = '{"data_center": "kubernetes", "probe": "v4infra-read-rate", "tier": "efs-sc"}'
    logs = FakeKubectl(f'{{"event": "done"}}\n{record}\n', {})
    assert job_rates(logs, "ns") == (record,)
    command, source = _job_and_probe()
    objects = {
        "job": {"spec": {"template": {"spec": {"containers": [{"command": ["sh", "-c", command]}]}}}},
        "configmap": {"data": {"read_rate_probe.py": source}},
    }
    asked: list[tuple[str, str]] = []

    def stand_in(cmd: str, src: str) -> str:
        asked.append((cmd, src))
        return record + "\n"

    assert job_rates(FakeKubectl(None, objects), "ns") == (), "no log and no stand-in: nothing measured"
    assert job_rates(FakeKubectl(None, objects), "ns", stand_in) == (record,)
    assert asked == [(command, source)]

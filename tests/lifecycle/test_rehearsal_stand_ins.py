"""The RunPod rehearsal's stand-in engines: the emulator runs them, so the rehearsal lends none.

The Kubernetes rehearsal's stand-in engine is tested beside its module, tests/kubernetes/test_stand_in_launch.py.
"""

from __future__ import annotations

from pathlib import Path

from infra.rehearsal import RunPodRehearsal


def test_the_runpod_rehearsal_runs_no_local_engine(tmp_path: Path) -> None:
    # The emulator starts each pod's stand-in engine itself.
    assert RunPodRehearsal("deepseek-ai/DeepSeek-V4-Flash", tmp_path).local_engines is None

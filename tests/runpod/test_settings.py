"""RunPod settings (infra/targets/runpod/settings.py): they say how to set a missing key, hide the key they
hold and survive pickling into a dynamic provider."""

from __future__ import annotations

import pickle

import pytest
from clients import pod_request

from infra.emulator import Emulator
from infra.errors import AuthError
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.settings import RunPodSettings


def test_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    with pytest.raises(AuthError) as caught:
        RunPodSettings.from_env()
    assert "pulumi config set --secret deepseek-v4-infra:runpodApiKey" in str(caught.value)
    assert "RUNPOD_API_KEY" in str(caught.value)


def test_settings_hide_the_key_and_survive_pickling(emulator: Emulator) -> None:
    settings = RunPodSettings.from_env()
    assert settings.api_base_url == emulator.url
    assert RunPodSettings.from_props(settings.to_props()) == settings
    assert emulator.api_key not in repr(settings)
    assert emulator.api_key not in repr(RunPodClient(settings))
    assert pickle.loads(pickle.dumps(settings)) == settings
    request = pod_request(env={"HF_TOKEN": "hf_CANARY_TOKEN"})
    assert "hf_CANARY_TOKEN" not in repr(request)
    assert "HF_TOKEN" in repr(request)

"""One source of secrets for every verb: the stack's secret config first, then the environment.

Before, keys set the documented way (`pulumi config set --secret`) let `up` work, but `status`,
`cleanup` and `down --purge-cache` failed with "no RunPod API key": they read only the environment.
"""

from __future__ import annotations

from lifecycle_env import CANARY_RUNPOD_KEY, STACK, Setup


def key_only_in_stack_config(setup: Setup) -> dict[str, str]:
    """The RunPod key set with `pulumi config set --secret`; the environment has none."""
    assert setup.pulumi("stack", "init", STACK).returncode == 0
    stored = setup.pulumi(
        "config", "set", "--secret", "-s", STACK, "deepseek-v4-infra:runpodApiKey", CANARY_RUNPOD_KEY
    )
    assert stored.returncode == 0, stored.stderr
    stack_file = (setup.project / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    assert CANARY_RUNPOD_KEY not in stack_file and "secure:" in stack_file
    return {k: v for k, v in setup.env.items() if k != "RUNPOD_API_KEY"}


def test_status_cleanup_and_purge_use_the_key_from_stack_secret_config(setup: Setup) -> None:
    env = key_only_in_stack_config(setup)
    stray = setup.pod(setup.name("pod", "abc123"))
    cache = setup.client.create_volume(setup.name("cache", "v1"), 200, "US-TX-3").id

    status = setup.v4infra("status", STACK, env=env)
    assert status.returncode == 0, status.stderr
    assert stray in status.stdout and cache in status.stdout, "status lists what is live at RunPod"

    cleanup = setup.v4infra("cleanup", STACK, "--yes", env=env)
    assert cleanup.returncode == 0, cleanup.stderr
    assert stray not in setup.live_pods()

    purged = setup.v4infra("down", STACK, "--purge-cache", env=env)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert setup.emulator.inventory()["volumes"] == [], "down --purge-cache deleted the weight cache"
    for out in (status, cleanup, purged):
        assert CANARY_RUNPOD_KEY not in out.stdout + out.stderr, "the key was printed"
        assert "no RunPod API key" not in out.stderr


def test_the_environment_is_the_fallback_when_the_stack_config_has_no_key(setup: Setup) -> None:
    stray = setup.pod(setup.name("pod", "abc123"))
    cleanup = setup.v4infra("cleanup", STACK, "--yes")
    assert cleanup.returncode == 0, cleanup.stderr
    assert stray not in setup.live_pods()

"""SshSession against a real OpenSSH server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import paramiko
import pytest
from sshd import SshServer, free_port, keygen

from infra.ssh import (
    HostKeyChangedError,
    HostKeyNotPinnedError,
    SshAuthError,
    SshCommandTimeout,
    SshConnectError,
    SshError,
    SshSession,
    SshTarget,
    forget_host,
    generate_keypair,
    host_keys_in_log,
    pin_host_key,
    pod_known_hosts,
)
from infra.targets.runpod.start_script import cpu_start_script


def pin_server_key(server: SshServer, known_hosts: Path) -> str:
    """Pin the server's current host key, as the product pins what a pod printed; its fingerprint."""
    return pin_host_key(known_hosts, _target(server), Path(f"{server.host_key_path}.pub").read_text())


def session(
    server: SshServer, known_hosts: Path, key: paramiko.PKey | str | None = None, *, pin: bool = True
) -> SshSession:
    """A session to `server`; its key is pinned first unless one is pinned already (or `pin` is off)."""
    target = SshTarget(server.host, server.port, server.user)
    recorded = known_hosts.exists() and target.known_hosts_name in known_hosts.read_text()
    if pin and not recorded:
        pin_server_key(server, known_hosts)
    return SshSession(target, server.client_key if key is None else key, known_hosts, connect_timeout=30.0)


def test_a_pinned_host_runs_commands_and_its_record_is_kept(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    pin_server_key(sshd_server, known_hosts)
    pinned = known_hosts.read_text()
    with session(sshd_server, known_hosts) as ssh:
        result = ssh.run(["nvidia-smi", "-L"], timeout=60)
    assert result.ok
    assert result.stdout.startswith("GPU 0: NVIDIA H200")
    assert f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 " in known_hosts.read_text()
    # The pinned key is trusted from now on, and the record is left as it was pinned.
    with session(sshd_server, known_hosts) as ssh:
        assert ssh.run("echo again", timeout=60).stdout == "again\n"
    assert known_hosts.read_text() == pinned


def test_an_unpinned_host_is_refused_at_once_and_nothing_is_recorded(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    retried: list[int] = []
    with pytest.raises(HostKeyNotPinnedError) as caught:
        session(sshd_server, known_hosts, pin=False).connect(
            retries=4, delay=0.01, on_retry=lambda attempt, _: retried.append(attempt)
        )
    message = str(caught.value)
    assert f"127.0.0.1:{sshd_server.port}" in message and "never trusted on first use" in message
    assert "\n" not in message and retried == [], "refused once, not retried"
    assert not known_hosts.exists(), "the server's key was not recorded"


def test_list_arguments_reach_the_program_verbatim(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "x"
    canary.mkdir()
    with session(sshd_server, known_hosts) as ssh:
        result = ssh.run(["echo", f"a b; rm -rf {canary}", "$(id)"], timeout=60)
    assert result.stdout == f"a b; rm -rf {canary} $(id)\n"
    assert canary.exists()


def test_stdin_exit_status_and_stderr_come_back(sshd_server: SshServer, known_hosts: Path) -> None:
    with session(sshd_server, known_hosts) as ssh:
        result = ssh.run("tr a-z A-Z; echo oops >&2; exit 3", timeout=60, stdin=b"weights\n")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "WEIGHTS\n", "oops\n")
    assert not result.ok


def test_a_changed_host_key_is_refused(sshd_server: SshServer, known_hosts: Path) -> None:
    with session(sshd_server, known_hosts) as ssh:
        ssh.run("true", timeout=60)
    recorded = known_hosts.read_text()
    sshd_server.new_host_key()
    sshd_server.restart()

    with pytest.raises(HostKeyChangedError) as caught:
        session(sshd_server, known_hosts).connect(retries=3, delay=0.01)
    assert f"127.0.0.1:{sshd_server.port}" in str(caught.value)
    assert str(known_hosts) in str(caught.value)
    assert known_hosts.read_text() == recorded

    # Forgetting the host (after its pod was torn down) leaves it unpinned: refused until the new key is pinned.
    forget_host(known_hosts, SshTarget(sshd_server.host, sshd_server.port, sshd_server.user))
    with pytest.raises(HostKeyNotPinnedError):
        session(sshd_server, known_hosts, pin=False).connect()
    with session(sshd_server, known_hosts) as ssh:
        assert ssh.run("true", timeout=60).ok
    assert known_hosts.read_text() != recorded


def test_an_unauthorized_key_is_refused_once_without_retries(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    stranger, _ = keygen(tmp_path / "stranger")
    retried: list[int] = []
    with pytest.raises(SshAuthError) as caught:
        session(sshd_server, known_hosts, stranger).connect(
            retries=4, delay=0.01, on_retry=lambda attempt, _: retried.append(attempt)
        )
    assert f"{sshd_server.user}@127.0.0.1:{sshd_server.port}" in str(caught.value)
    assert retried == []
    assert sshd_server.failed_logins(at_least=1) == 1


def test_a_closed_port_fails_after_bounded_retries(known_hosts: Path) -> None:
    port = free_port()
    retried: list[int] = []
    ssh = SshSession(SshTarget("127.0.0.1", port), generate_keypair()[0], known_hosts, connect_timeout=2.0)
    with pytest.raises(SshConnectError) as caught:
        ssh.connect(retries=2, delay=0.01, on_retry=lambda attempt, _: retried.append(attempt))
    assert caught.value.attempts == 3
    assert retried == [1, 2]
    assert f"127.0.0.1:{port} after 3 attempts" in str(caught.value)


def test_connect_waits_for_a_booting_sshd(tmp_path: Path, known_hosts: Path) -> None:
    from paths import H200_FIXTURES

    server = SshServer(tmp_path / "late", H200_FIXTURES)
    # sshd comes up only after the first refused attempt, like a pod that is still booting.
    try:
        with session(server, known_hosts).connect(
            retries=5, delay=0.01, on_retry=lambda attempt, _: server.start() if attempt == 1 else None
        ) as ssh:
            assert ssh.run(["nvidia-smi", "-L"], timeout=60).ok
    finally:
        server.stop()


def test_a_server_killed_mid_session_gives_a_connect_error(sshd_server: SshServer, known_hosts: Path) -> None:
    with session(sshd_server, known_hosts) as ssh:
        assert ssh.run("true", timeout=60).ok
        sshd_server.stop()
        with pytest.raises(SshConnectError) as caught:
            ssh.run("true", timeout=60)
    assert f"127.0.0.1:{sshd_server.port}" in str(caught.value)


def test_rsa_key_objects_and_generated_ed25519_keys_authenticate(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    rsa = paramiko.RSAKey.generate(2048)
    sshd_server.authorize(f"{rsa.get_name()} {rsa.get_base64()}")
    private_pem, public_line = generate_keypair()
    sshd_server.authorize(public_line)
    assert public_line.startswith("ssh-ed25519 ")
    for key in (rsa, private_pem):
        with session(sshd_server, known_hosts, key) as ssh:
            assert ssh.run(["whoami"], timeout=60).stdout.strip() == sshd_server.user


def test_a_slow_command_times_out(sshd_server: SshServer, known_hosts: Path) -> None:
    with session(sshd_server, known_hosts) as ssh:
        with pytest.raises(SshCommandTimeout) as caught:
            # The command can never finish in time; the server's teardown ends it (no terminal, no hangup).
            ssh.run(["sleep", "600"], timeout=3)
        assert "`sleep 600`" in str(caught.value)
        # The session stays usable after a timed-out command.
        assert ssh.run("true", timeout=60).ok


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_stream_tails_a_log_until_told_to_stop(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    log = tmp_path / "engine.log"
    log.write_text(
        "".join(f"loading shard {i}/46\n" for i in range(1, 47)) + "Application startup complete.\n"
    )
    seen: list[str] = []

    def on_line(line: str) -> bool:
        seen.append(line)
        return "startup complete" in line

    with session(sshd_server, known_hosts) as ssh:
        status = ssh.stream(["tail", "-n", "50", "-F", str(log)], on_line, timeout=30)
    assert status is None
    assert seen[0] == "loading shard 1/46"
    assert seen[-1] == "Application startup complete."
    # Closing the channel hangs up the remote tail rather than leaving it running on the pod.
    deadline = time.monotonic() + 120  # a generous ceiling: the wait ends as soon as the tail is gone
    while _processes_mentioning(str(log)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_mentioning(str(log)) == []


def test_stream_returns_the_exit_status_of_a_finished_command(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    seen: list[str] = []
    with session(sshd_server, known_hosts) as ssh:
        status = ssh.stream("echo one; echo two; exit 4", seen.append, timeout=30)
    assert (status, seen) == (4, ["one", "two"])


def test_stream_gives_up_at_its_timeout(sshd_server: SshServer, known_hosts: Path) -> None:
    with session(sshd_server, known_hosts) as ssh, pytest.raises(SshCommandTimeout):
        ssh.stream(["sleep", "600"], lambda line: False, timeout=3)


def test_errors_never_carry_the_private_key(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    private_pem, _ = generate_keypair()
    secrets = [line for line in private_pem.splitlines() if len(line) > 20 and not line.startswith("-----")]
    errors: list[SshError] = []
    for attempt in (
        lambda: session(sshd_server, known_hosts, private_pem).connect(),
        lambda: SshSession(SshTarget("127.0.0.1", free_port()), private_pem, known_hosts).connect(delay=0.01),
    ):
        with pytest.raises(SshError) as caught:
            attempt()
        errors.append(caught.value)
    sshd_server.new_host_key()
    sshd_server.restart()
    with pytest.raises(SshError) as caught:
        session(sshd_server, known_hosts, private_pem).connect()
    errors.append(caught.value)
    assert [type(e) for e in errors] == [SshAuthError, SshConnectError, HostKeyChangedError]

    texts = [repr(session(sshd_server, known_hosts, private_pem))]
    for error in errors:
        chained: BaseException | None = error
        while chained is not None:
            texts += [str(chained), repr(chained)]
            chained = chained.__cause__ or chained.__context__
    for text in texts:
        assert not any(secret in text for secret in secrets)


# ---- host keys pinned per pod, and from the provider before first contact ------------------------------


def _target(server: SshServer) -> SshTarget:
    return SshTarget(server.host, server.port, server.user)


def _printed_host_keys(ssh_dir: Path) -> list[str]:
    """The start script's host-key lines, run with bash against `ssh_dir` instead of /etc/ssh."""
    script = cpu_start_script(stack="s", ttl_seconds=None)
    loop = script[script.index("for key in /etc/ssh/") : script.index("done", script.index("for key in")) + 4]
    out = subprocess.run(
        ["bash", "-c", loop.replace("/etc/ssh/", f"{ssh_dir}/")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    # As RunPod's log stream carries them: each line inside a JSON event.
    return host_keys_in_log(
        [f'data: {{"source":"container","line":"{line}"}}' for line in out.stdout.splitlines()]
    )


def test_a_host_key_printed_by_the_pod_is_pinned_before_the_first_contact(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    ssh_dir = tmp_path / "etc-ssh"
    ssh_dir.mkdir()
    # The script asks ssh-keygen for the public half of sshd's own key, as on a pod.
    private = ssh_dir / "ssh_host_ed25519_key"
    private.write_bytes(Path(sshd_server.host_key_path).read_bytes())
    private.chmod(0o600)
    printed = _printed_host_keys(ssh_dir)
    assert len(printed) == 1 and printed[0].startswith("ssh-ed25519 AAAA")

    known_hosts = pod_known_hosts(tmp_path / "state", "pod_abc123")
    fingerprint = pin_host_key(known_hosts, _target(sshd_server), printed[0])
    assert fingerprint.startswith("SHA256:")
    pinned = known_hosts.read_text()
    with session(sshd_server, known_hosts) as ssh:
        assert ssh.run("true", timeout=30).ok
    assert known_hosts.read_text() == pinned, "the pinned key matched; nothing was trusted on first use"
    assert pin_host_key(known_hosts, _target(sshd_server), printed[0]) == fingerprint, (
        "pinning twice is harmless"
    )


def test_a_server_whose_key_differs_from_the_pinned_one_is_refused_at_first_contact(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    _, other_public = generate_keypair()
    known_hosts = pod_known_hosts(tmp_path / "state", "pod_abc123")
    pin_host_key(known_hosts, _target(sshd_server), other_public)
    pinned = known_hosts.read_text()
    with pytest.raises(HostKeyChangedError, match="refusing to connect"):
        session(sshd_server, known_hosts).connect(retries=3, delay=0.01)
    assert known_hosts.read_text() == pinned, "the server's key was not recorded"

    real = Path(f"{sshd_server.host_key_path}.pub").read_text()
    with pytest.raises(HostKeyChangedError, match="differs from the one recorded"):
        pin_host_key(known_hosts, _target(sshd_server), real)


def test_host_keys_are_kept_per_pod_so_a_new_pod_on_a_reused_address_is_not_refused(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with session(sshd_server, pod_known_hosts(state, "pod_one")) as ssh:
        assert ssh.run("true", timeout=30).ok
    sshd_server.new_host_key()
    sshd_server.restart()
    # The same pod answering with another key: refused (validate no longer forgets the entry first).
    with pytest.raises(HostKeyChangedError):
        session(sshd_server, pod_known_hosts(state, "pod_one")).connect(retries=3, delay=0.01)
    # Another pod that RunPod put on the same host and port: its own record, pinned from what it printed.
    with pytest.raises(HostKeyNotPinnedError):
        session(sshd_server, pod_known_hosts(state, "pod_two"), pin=False).connect()
    with session(sshd_server, pod_known_hosts(state, "pod_two")) as ssh:
        assert ssh.run("true", timeout=30).ok


@pytest.mark.parametrize(
    "line", ["", "ssh-ed25519", "ssh-dss AAAAB3NzaC1kc3M=", "ssh-ed25519 not*base64", "ssh-ed25519 AAAA"]
)
def test_a_malformed_pinned_key_is_one_clear_error(line: str, tmp_path: Path) -> None:
    with pytest.raises(SshError) as caught:
        pin_host_key(tmp_path / "known_hosts", SshTarget("127.0.0.1", 2222), line)
    assert "127.0.0.1:2222" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "known_hosts").exists()


def test_a_pod_id_that_is_not_a_file_name_still_gets_its_own_file_inside_the_state_dir(
    tmp_path: Path,
) -> None:
    odd = ["../x", "", "a/b", "x\n", "..", "a" * 300]
    paths = {pod_known_hosts(tmp_path, pod_id) for pod_id in [*odd, "pod_abc123"]}
    assert len(paths) == len(odd) + 1
    assert all(path.parent == tmp_path / "known_hosts.d" for path in paths)

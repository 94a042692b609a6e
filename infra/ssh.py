"""SSH to a serving pod with paramiko: key-only auth, pinned host keys, bounded retries.

Host keys are kept per pod id (`pod_known_hosts`), so a new pod on a reused address starts clean while
a pod whose key changes is refused. A key is pinned before the first contact, from what the provider
shows (`pin_host_key`, from the `v4infra-hostkey:` lines the start script prints to the container log);
a server whose key was not pinned is refused (`HostKeyNotPinnedError`): nothing is trusted on first use.
Errors name the host:port, never key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import re
import select
import shlex
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.errors import SshError

# How long one poll of a channel waits before the deadline is checked again.
_POLL_SECONDS = 0.05


class SshConnectError(SshError):
    """The pod's sshd could not be reached, or the connection dropped."""

    def __init__(self, message: str, *, host: str, port: int, attempts: int = 1) -> None:
        super().__init__(message, host=host, port=port)
        self.attempts = attempts


class SshAuthError(SshError):
    """The server refused our key."""


class HostKeyChangedError(SshError):
    """The server's host key differs from the one pinned for it."""


class HostKeyNotPinnedError(SshError):
    """No host key was pinned for the server, so it cannot be told from an impostor."""


class SshCommandTimeout(SshError):
    """A remote command did not finish in time."""


@dataclass(frozen=True)
class SshTarget:
    """Where a pod's sshd listens."""

    host: str
    port: int
    user: str = "root"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH and paramiko use in known_hosts for this host and port."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    """What a remote command left behind."""

    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class CommandRunner(Protocol):
    """Anything that runs a command on the pod (an SshSession, or a stand-in for another transport)."""

    def run(
        self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult: ...


def generate_keypair(comment: str = "deepseek-v4-infra") -> tuple[str, str]:
    """A fresh ed25519 key: (private key in OpenSSH PEM, public key as an authorized_keys line)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private_pem, f"{public.decode()} {comment}"


def load_private_key(private_pem: str) -> paramiko.PKey:
    """Parse an unencrypted ed25519, ECDSA or RSA private key; the error never quotes the key."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(private_pem))
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("the SSH private key is not an unencrypted ed25519, ECDSA or RSA key")


HOSTKEY_LOG_PREFIX = "v4infra-hostkey:"
_POD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_HOSTKEY_LINE = re.compile(re.escape(HOSTKEY_LOG_PREFIX) + r"\s*([a-z0-9-]+)\s+([A-Za-z0-9+/]+={0,2})")
_KEY_TYPE = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))")


def pod_known_hosts(state_dir: Path, pod_id: str) -> Path:
    """The known_hosts of one pod: a new pod (even on a reused host:port) starts with none recorded."""
    # An id that is not a plain file name (never seen from RunPod) is hashed rather than refused.
    name = pod_id if _POD_ID.fullmatch(pod_id) else "sha256-" + hashlib.sha256(pod_id.encode()).hexdigest()
    return state_dir / "known_hosts.d" / name


def host_keys_in_log(lines: Sequence[str]) -> list[str]:
    """The `<type> <base64>` host keys a start script printed as `v4infra-hostkey:` lines (a log may prefix them)."""
    # The key ends at the base64 alphabet: a log stream may wrap the line in JSON (`..."}`).
    return [" ".join(m.groups()) for line in lines for m in _HOSTKEY_LINE.finditer(line)]


def pin_host_key(known_hosts: Path, target: SshTarget, key_line: str) -> str:
    """Record `<type> <base64>` (as the pod printed it) for `target` before any contact; returns its fingerprint.

    A different key of the same type already recorded is refused (HostKeyChangedError), as a connection
    presenting it would be; pinning the same key twice is harmless.
    """
    key = _parse_public_key(key_line.removeprefix(HOSTKEY_LOG_PREFIX), target)
    keys = paramiko.HostKeys(str(known_hosts)) if known_hosts.exists() else paramiko.HostKeys()
    recorded = keys.lookup(target.known_hosts_name)
    old = recorded.get(key.get_name()) if recorded is not None else None
    if old is not None and old != key:
        raise HostKeyChangedError(
            f"host key of {target.address} given by the provider ({key.fingerprint}) differs from the one "
            f"recorded ({old.fingerprint}) in {known_hosts}; refusing it",
            host=target.host,
            port=target.port,
        )
    if old is None:
        keys.add(target.known_hosts_name, key.get_name(), key)
        _save_host_keys(keys, known_hosts)
    return str(key.fingerprint)


def _parse_public_key(key_line: str, target: SshTarget) -> paramiko.PKey:
    parts = key_line.split()
    if len(parts) < 2 or not _KEY_TYPE.fullmatch(parts[0]):
        raise SshError(
            f"host key for {target.address} is not '<type> <base64>' with type ssh-ed25519, ecdsa-sha2-* "
            "or ssh-rsa",
            host=target.host,
            port=target.port,
        )
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise SshError(
            f"host key for {target.address} is not a valid {parts[0]} key ({_reason(exc)})",
            host=target.host,
            port=target.port,
        ) from None


def forget_host(known_hosts: Path, target: SshTarget) -> None:
    """Drop the recorded host key for a target, e.g. after its pod was torn down."""
    if not known_hosts.exists():
        return
    keys = paramiko.HostKeys(str(known_hosts))
    if target.known_hosts_name in keys:
        del keys[target.known_hosts_name]
        _save_host_keys(keys, known_hosts)


def _save_host_keys(keys: paramiko.HostKeys, path: Path) -> None:
    # Write-then-rename so a crash never leaves a half-written known_hosts behind.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=path.parent)
    os.close(fd)
    try:
        keys.save(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class _Unpinned(paramiko.SSHException):
    """paramiko met a host whose key was never pinned (raised by `_RefuseUnpinned`)."""


class _RefuseUnpinned(paramiko.MissingHostKeyPolicy):
    """Refuse a host with no pinned key; paramiko itself refuses one whose key differs (BadHostKeyException)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _Unpinned(hostname)


def _connection_lost(exc: paramiko.AuthenticationException) -> bool:
    """paramiko reports a server that went away mid-login as an authentication failure; it is not one."""
    return "transport shut down" in str(exc) or "saw EOF" in str(exc)


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException | _Unpinned):
        return False
    # A name that does not resolve will not start resolving while we wait.
    if isinstance(exc, socket.gaierror):
        return False
    return isinstance(exc, OSError | EOFError | paramiko.SSHException)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass
class SshSession:
    """One SSH connection to a pod; use as a context manager (`with SshSession(...).connect(retries=20):`)."""

    target: SshTarget
    private_key: paramiko.PKey | str = field(repr=False)
    known_hosts: Path
    connect_timeout: float = 10.0
    banner_timeout: float = 15.0
    auth_timeout: float = 15.0
    _client: paramiko.SSHClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.private_key, str):
            self.private_key = load_private_key(self.private_key)

    def connect(
        self,
        retries: int = 0,
        delay: float = 1.0,
        max_delay: float = 15.0,
        on_retry: Callable[[int, SshConnectError], None] | None = None,
    ) -> Self:
        """Connect, retrying refused/reset/timed-out connections `retries` times with doubling delays."""
        if self._client is not None:
            return self
        attempts = retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._client = self._connect_once()
                return self
            except paramiko.BadHostKeyException as exc:
                raise self._host_key_changed(exc) from None
            except _Unpinned:
                raise HostKeyNotPinnedError(
                    f"no host key is pinned for {self.target.address} in {self.known_hosts}; refusing to "
                    "connect (a key is never trusted on first use): pin the key the pod printed "
                    "(its `v4infra-hostkey:` log lines) first",
                    host=self.target.host,
                    port=self.target.port,
                ) from None
            except paramiko.AuthenticationException as exc:
                if _connection_lost(exc):
                    raise SshConnectError(
                        f"SSH connection to {self.target.address} dropped during login: {_reason(exc)}; "
                        "is the pod still running?",
                        host=self.target.host,
                        port=self.target.port,
                        attempts=attempt,
                    ) from exc
                raise SshAuthError(
                    f"SSH to {self.target.user}@{self.target.address} refused our key ({_reason(exc)}); "
                    "check that the pod was started with this deployment's public key",
                    host=self.target.host,
                    port=self.target.port,
                ) from exc
            except Exception as exc:
                if not _is_retryable(exc):
                    raise SshConnectError(
                        f"cannot reach sshd at {self.target.address}: {_reason(exc)}",
                        host=self.target.host,
                        port=self.target.port,
                        attempts=attempt,
                    ) from exc
                error = SshConnectError(
                    f"cannot reach sshd at {self.target.address} after {attempt} attempt"
                    f"{'s' if attempt > 1 else ''}: {_reason(exc)}; is the pod running and its SSH port exposed?",
                    host=self.target.host,
                    port=self.target.port,
                    attempts=attempt,
                )
                if attempt == attempts:
                    raise error from exc
                if on_retry is not None:
                    on_retry(attempt, error)
                time.sleep(min(delay * 2 ** (attempt - 1), max_delay))
        raise AssertionError("unreachable: the loop returns or raises")

    def _connect_once(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts.exists():
            client.get_host_keys().load(str(self.known_hosts))
        client.set_missing_host_key_policy(_RefuseUnpinned())
        assert isinstance(self.private_key, paramiko.PKey)
        try:
            client.connect(
                self.target.host,
                port=self.target.port,
                username=self.target.user,
                pkey=self.private_key,
                timeout=self.connect_timeout,
                banner_timeout=self.banner_timeout,
                auth_timeout=self.auth_timeout,
                channel_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except BaseException:
            client.close()
            raise
        return client

    def _host_key_changed(self, exc: paramiko.BadHostKeyException) -> HostKeyChangedError:
        return HostKeyChangedError(
            f"host key of {self.target.address} changed (now {exc.key.fingerprint}, recorded "
            f"{exc.expected_key.fingerprint}); refusing to connect: something else may be answering "
            f"for this pod. If you know the pod's key really changed, remove {self.target.known_hosts_name} "
            f"from {self.known_hosts} and retry",
            host=self.target.host,
            port=self.target.port,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open_channel(self, timeout: float) -> paramiko.Channel:
        transport = self._client.get_transport() if self._client is not None else None
        if transport is None or not transport.is_active():
            raise self._lost("the connection is not open")
        try:
            channel = transport.open_session(timeout=timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(_reason(exc)) from exc
        channel.settimeout(timeout)
        return channel

    def _lost(self, why: str) -> SshConnectError:
        return SshConnectError(
            f"SSH connection to {self.target.address} lost: {why}",
            host=self.target.host,
            port=self.target.port,
        )

    def _timed_out(self, command: str, timeout: float) -> SshCommandTimeout:
        shown = command if len(command) <= 80 else command[:77] + "..."
        return SshCommandTimeout(
            f"`{shown}` did not finish within {timeout:g} s on {self.target.address}",
            host=self.target.host,
            port=self.target.port,
        )

    @staticmethod
    def _drain(channel: paramiko.Channel, stdout: bytearray, stderr: bytearray) -> bool:
        got = False
        while channel.recv_ready():
            stdout += channel.recv(65536)
            got = True
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
            got = True
        return got

    def run(
        self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult:
        """Run a command; a list is shell-quoted so its items reach the program verbatim."""
        command = cmd if isinstance(cmd, str) else shlex.join(cmd)
        deadline = time.monotonic() + timeout
        channel = self._open_channel(timeout)
        stdout, stderr = bytearray(), bytearray()
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            while not (channel.eof_received and channel.exit_status_ready()) and not channel.closed:
                if not self._drain(channel, stdout, stderr):
                    if time.monotonic() >= deadline:
                        raise self._timed_out(command, timeout)
                    select.select([channel], [], [], _POLL_SECONDS)
            # Data that arrived between the last drain and the end of the stream.
            self._drain(channel, stdout, stderr)
            if not channel.exit_status_ready():
                raise self._lost(f"`{command}` ended without an exit status")
            status = channel.recv_exit_status()
        except TimeoutError as exc:
            raise self._timed_out(command, timeout) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(_reason(exc)) from exc
        finally:
            channel.close()
        return CommandResult(status, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def stream(
        self,
        cmd: Sequence[str] | str,
        on_line: Callable[[str], bool | None],
        timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int | None:
        """Feed each output line to on_line until it returns True, stop() is true, or the command exits.

        Returns the exit status if the command ended by itself, None if we stopped it. The command runs
        on a pseudo-terminal so closing the channel hangs up a `tail -F`; its stderr comes through merged.
        """
        command = cmd if isinstance(cmd, str) else shlex.join(cmd)
        deadline = None if timeout is None else time.monotonic() + timeout
        channel = self._open_channel(self.connect_timeout)
        pending = b""
        try:
            channel.get_pty(width=500)
            channel.exec_command(command)
            channel.settimeout(_POLL_SECONDS)
            while True:
                if stop is not None and stop():
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._timed_out(command, timeout or 0.0)
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    if pending and on_line(pending.decode(errors="replace").rstrip("\r")):
                        return None
                    # OpenSSH sends the exit status just after the end of output.
                    channel.status_event.wait(self.connect_timeout)
                    return channel.recv_exit_status() if channel.exit_status_ready() else None
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if on_line(line.decode(errors="replace").rstrip("\r")):
                        return None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(_reason(exc)) from exc
        finally:
            channel.close()

"""A stand-in `sshd` for an emulated pod: paramiko, key-only auth, exec/shell/sftp/port forwarding.

Called as a start script would call OpenSSH (`sshd`, `/usr/sbin/sshd -D -e`); it listens on
127.0.0.1:$EMULATOR_PORT_22, authenticates against $HOME/.ssh/authorized_keys, and runs each
command with `bash -c` in the sandbox, container paths translated.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko import common
from paramiko.sftp import SFTP_OK

from infra.emulator.sandbox import SANDBOX_ENV, PathMap

_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def _sandbox() -> Path:
    return Path(os.environ.get(SANDBOX_ENV) or Path.home().parent)


def _pid_file() -> Path:
    return _sandbox() / "run" / "sshd.pid"


def running_pid() -> int | None:
    """The pid of this pod's sshd daemon, if one runs."""
    try:
        pid = int(_pid_file().read_text().strip())
        # A killed daemon may linger as a zombie; it no longer serves.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def host_key() -> paramiko.PKey:
    """The pod's ed25519 host key, made on first use and kept in the sandbox."""
    path = _sandbox() / "etc" / "ssh" / "ssh_host_ed25519_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        temporary = path.with_suffix(f".{os.getpid()}")
        temporary.write_bytes(pem)
        temporary.chmod(0o600)
        temporary.replace(path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def authorized(key: paramiko.PKey) -> bool:
    keys_file = Path(os.environ.get("HOME", "/root")) / ".ssh" / "authorized_keys"
    try:
        lines = keys_file.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        tokens = line.split()
        # Lines may start with options (`no-pty,command="..." ssh-ed25519 AAAA...`).
        for position, token in enumerate(tokens[:-1]):
            if token.startswith(_KEY_TYPES):
                if token == key.get_name() and tokens[position + 1] == key.get_base64():
                    return True
                break
    return False


class StdinTranslator:
    """Rewrites container paths in text arriving on stdin, one complete line at a time."""

    def __init__(self, paths: PathMap) -> None:
        self.paths = paths
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        self.pending += data
        cut = self.pending.rfind(b"\n") + 1
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return self._translate(ready)

    def flush(self) -> bytes:
        rest, self.pending = self.pending, b""
        return self._translate(rest)

    def _translate(self, data: bytes) -> bytes:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return data
        return self.paths.translate(text).encode()


def log(message: str) -> None:
    print(f"{message}", file=sys.stderr, flush=True)


def _pump_out(source: Any, send: Any) -> None:
    with contextlib.suppress(OSError, EOFError):
        while data := os.read(source.fileno(), 32768):
            send(data)


def _pump_in(channel: paramiko.Channel, process: subprocess.Popen[bytes], paths: PathMap) -> None:
    translator = StdinTranslator(paths)
    stdin = process.stdin
    assert stdin is not None
    with contextlib.suppress(OSError, EOFError):
        while data := channel.recv(32768):
            stdin.write(translator.feed(data))
            stdin.flush()
        stdin.write(translator.flush())
    with contextlib.suppress(OSError):
        stdin.close()


def run_command(channel: paramiko.Channel, command: str | None, extra_env: dict[str, str]) -> None:
    """Run one session's command with bash in the sandbox; stream output and the exit status."""
    paths = PathMap.from_env()
    env = {**os.environ, **extra_env}
    argv = ["bash", "-c", paths.translate(command)] if command is not None else ["bash", "-s"]
    try:
        process = subprocess.Popen(
            argv,
            cwd=env.get("HOME"),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as error:
        channel.sendall_stderr(f"bash: {error}\n".encode())
        channel.send_exit_status(127)
        channel.close()
        return
    pumps = [
        threading.Thread(target=_pump_out, args=(process.stdout, channel.sendall), daemon=True),
        threading.Thread(target=_pump_out, args=(process.stderr, channel.sendall_stderr), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    threading.Thread(target=_pump_in, args=(channel, process, paths), daemon=True).start()
    status = process.wait()
    for pump in pumps:
        pump.join()
    with contextlib.suppress(OSError, EOFError):
        channel.send_exit_status(status)
        channel.shutdown_write()
    channel.close()


def _forward(channel: paramiko.Channel, upstream: socket.socket) -> None:
    def pump(read: Any, write: Any, end: Any) -> None:
        with contextlib.suppress(OSError, EOFError):
            while data := read(32768):
                write(data)
        with contextlib.suppress(OSError, EOFError):
            end()

    back = threading.Thread(
        target=pump, args=(upstream.recv, channel.sendall, channel.shutdown_write), daemon=True
    )
    back.start()
    pump(channel.recv, upstream.sendall, lambda: upstream.shutdown(socket.SHUT_WR))
    back.join()
    channel.close()
    upstream.close()


class SandboxSftp(paramiko.SFTPServerInterface):
    """SFTP over the sandbox: container paths map to sandbox paths, relative paths start at HOME."""

    def __init__(self, server: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.paths = PathMap.from_env()

    def _real(self, path: str) -> str:
        translated = self.paths.translate(path)
        return os.path.join(os.environ.get("HOME", "/"), translated)

    def _call(self, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except OSError as error:
            return paramiko.SFTPServer.convert_errno(error.errno or 0)

    def canonicalize(self, path: str) -> str:
        return os.path.normpath(self._real(path))

    def list_folder(self, path: str) -> Any:
        def listing() -> list[paramiko.SFTPAttributes]:
            real = self._real(path)
            return [
                paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(real, name)), name)
                for name in os.listdir(real)
            ]

        return self._call(listing)

    def stat(self, path: str) -> Any:
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.stat(self._real(path))))

    def lstat(self, path: str) -> Any:
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.lstat(self._real(path))))

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        def opened() -> paramiko.SFTPHandle:
            mode = attr.st_mode if attr is not None and attr.st_mode is not None else 0o644
            descriptor = os.open(self._real(path), flags | getattr(os, "O_BINARY", 0), mode)
            if flags & os.O_WRONLY:
                file_mode = "ab" if flags & os.O_APPEND else "wb"
            elif flags & os.O_RDWR:
                file_mode = "a+b" if flags & os.O_APPEND else "r+b"
            else:
                file_mode = "rb"
            handle = paramiko.SFTPHandle(flags)
            handle.filename = self._real(path)  # type: ignore[attr-defined]
            handle.readfile = handle.writefile = os.fdopen(descriptor, file_mode)  # type: ignore[attr-defined]
            return handle

        return self._call(opened)

    def remove(self, path: str) -> int:
        return self._ok(os.remove, self._real(path))

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._ok(os.rename, self._real(oldpath), self._real(newpath))

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._ok(os.replace, self._real(oldpath), self._real(newpath))

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._ok(os.mkdir, self._real(path))

    def rmdir(self, path: str) -> int:
        return self._ok(os.rmdir, self._real(path))

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        def apply() -> None:
            if attr.st_mode is not None:
                os.chmod(self._real(path), attr.st_mode)
            if attr.st_atime is not None and attr.st_mtime is not None:
                os.utime(self._real(path), (attr.st_atime, attr.st_mtime))

        return self._ok(apply)

    def symlink(self, target_path: str, path: str) -> int:
        return self._ok(os.symlink, self.paths.translate(target_path), self._real(path))

    def readlink(self, path: str) -> Any:
        return self._call(os.readlink, self._real(path))

    def _ok(self, action: Any, *args: Any) -> int:
        try:
            action(*args)
        except OSError as error:
            return int(paramiko.SFTPServer.convert_errno(error.errno or 0))
        return SFTP_OK


class PodSshServer(paramiko.ServerInterface):
    """Session policy: public keys only; exec, shell, env, sftp and loopback port forwarding."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.channel_env: dict[int, dict[str, str]] = {}
        self.forwards: dict[int, socket.socket] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        log(f"Failed password for {username} from {self.peer} ssh2")
        return common.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if authorized(key):
            log(
                f"Accepted publickey for {username} from {self.peer} ssh2: {key.get_name()} {key.fingerprint}"
            )
            return common.AUTH_SUCCESSFUL
        return common.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return common.OPEN_SUCCEEDED
        return common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        self.channel_env.setdefault(channel.get_id(), {})[_text(name)] = _text(value)
        return True

    def check_channel_pty_request(self, *args: Any) -> bool:
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        env = self.channel_env.get(channel.get_id(), {})
        threading.Thread(target=run_command, args=(channel, _text(command), env), daemon=True).start()
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        env = self.channel_env.get(channel.get_id(), {})
        threading.Thread(target=run_command, args=(channel, None, env), daemon=True).start()
        return True

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        host, port = destination
        if host not in ("localhost", "127.0.0.1", "0.0.0.0", "::1"):
            return common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        # Ports of the emulated container live on the host's loopback at their mapped numbers.
        local_port = int(os.environ.get(f"EMULATOR_PORT_{port}", port))
        try:
            self.forwards[chanid] = socket.create_connection(("127.0.0.1", local_port), timeout=10)
        except OSError:
            return common.OPEN_FAILED_CONNECT_FAILED
        return common.OPEN_SUCCEEDED


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def serve_connection(client: socket.socket, address: tuple[str, int], key: paramiko.PKey) -> None:
    transport = paramiko.Transport(client)
    transport.add_server_key(key)
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, SandboxSftp)
    server = PodSshServer(f"{address[0]} port {address[1]}")
    try:
        transport.start_server(server=server)
    except (paramiko.SSHException, EOFError, OSError):
        return
    while transport.is_active():
        channel = transport.accept(timeout=1)
        if channel is None:
            continue
        upstream = server.forwards.pop(channel.get_id(), None)
        if upstream is not None:
            upstream.settimeout(None)
            threading.Thread(target=_forward, args=(channel, upstream), daemon=True).start()


def _listen(port: int) -> socket.socket | None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as error:
        log(f"Bind to port {port} on 0.0.0.0 failed: {error.strerror}.")
        log("Cannot bind any address.")
        listener.close()
        return None
    listener.listen(64)
    return listener


def _daemonize(log_path: Path) -> bool:
    """Fork into the background like sshd does; True in the daemon. The pod's process group is kept."""
    if os.fork() > 0:
        return False
    log_path.parent.mkdir(parents=True, exist_ok=True)
    output = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    foreground = "-D" in args or "-d" in args
    port_text = os.environ.get("EMULATOR_PORT_22")
    if not port_text:
        log("sshd: no port mapped for 22/tcp (EMULATOR_PORT_22 unset)")
        return 255
    if not foreground and running_pid() is not None:
        log("Bind to port 22 on 0.0.0.0 failed: Address already in use.")
        log("Cannot bind any address.")
        return 255
    key = host_key()
    listener = _listen(int(port_text))
    if listener is None:
        return 255
    if not foreground and not _daemonize(_sandbox() / "run" / "sshd.log"):
        return 0
    _pid_file().write_text(f"{os.getpid()}\n")
    log("Server listening on 0.0.0.0 port 22.")
    while True:
        try:
            client, address = listener.accept()
        except OSError:
            time.sleep(0.1)
            continue
        threading.Thread(target=serve_connection, args=(client, address, key), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

"""Stand-ins for container setup tools a start script may call: `ssh-keygen -A`, `apt-get`, `service ssh`.

The pod runs on the host, as the host's user: the real tools would write host keys into the
host's /etc/ssh or install packages on the host. The emulated container already has what
a start script installs, and its sshd keeps its own host key in the sandbox.
"""

from __future__ import annotations

import os
import shutil
import sys


def _real_tool(name: str) -> str | None:
    own_dir = os.path.join(os.environ.get("EMULATOR_SANDBOX", "/nonexistent"), "bin")
    search = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if os.path.abspath(part) != own_dir
    )
    return shutil.which(name, path=search)


def ssh_keygen(args: list[str]) -> int:
    from infra.emulator import fake_sshd

    if "-A" in args:
        # Host keys live with the emulated sshd, per pod, in the sandbox's etc/ssh.
        fake_sshd.host_key()
        return 0
    if "-y" in args and "-f" in args:
        # The container's /etc/ssh is the sandbox's: print the public half of the pod's own host key.
        path = args[args.index("-f") + 1]
        if path.startswith("/etc/ssh/"):
            local = os.path.join(os.environ.get("EMULATOR_SANDBOX", "/nonexistent"), path.lstrip("/"))
            if not os.path.exists(local):
                print(f"{path}: No such file or directory", file=sys.stderr)
                return 1
            key = fake_sshd.host_key() if path.endswith("ed25519_key") else None
            if key is None:
                print(f'Load key "{path}": invalid format', file=sys.stderr)
                return 1
            print(f"{key.get_name()} {key.get_base64()} root@pod")
            return 0
    real = _real_tool("ssh-keygen")
    if real is None:
        print("bash: ssh-keygen: command not found", file=sys.stderr)
        return 127
    os.execv(real, [real, *args])


def apt_get(args: list[str]) -> int:
    if args and args[0] in ("update", "install", "upgrade"):
        print("Reading package lists... Done")
        if args[0] != "update":
            print("Building dependency tree... Done")
            print("Reading state information... Done")
            print("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.")
    return 0


def service(args: list[str]) -> int:
    if len(args) >= 2 and args[0] in ("ssh", "sshd"):
        from infra.emulator import fake_sshd

        if args[1] in ("start", "restart", "reload"):
            print(" * Starting OpenBSD Secure Shell server sshd")
            return fake_sshd.main([])
        if args[1] == "status":
            running = fake_sshd.running_pid() is not None
            print(" * sshd is running" if running else " * sshd is not running")
            return 0 if running else 3
        return 0
    name = args[0] if args else ""
    print(f"{name}: unrecognized service", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    tool = os.path.basename(sys.argv[0])
    if tool == "ssh-keygen":
        return ssh_keygen(args)
    if tool == "apt-get":
        return apt_get(args)
    return service(args)


if __name__ == "__main__":
    sys.exit(main())

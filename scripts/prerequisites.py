"""What a command of scripts/stack needs of this machine, for the stack as configured: every missing piece at once.

Run by scripts/stack with the system's python3 (standard library only: nothing is installed yet when it runs).
It reads ``Pulumi.<stack>.yaml`` as far as the machine's needs go (the modes, the ports, quoted keys too), then
names what is missing: the Pulumi CLI on PATH (never built here: the engine tests/toolchain/engine.py builds from the
Go module proxy is the test suite's, and it cannot run this program: no Python language host, no Vault,
Docker or Command plugin), Docker and k3d where the stack uses them, and the host ports the laptop's
containers publish when something else holds them. Prints one problem a line; exit 1 when there are any.

``prerequisites.py COMMAND STACK``.
"""

from __future__ import annotations

import errno
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The oldest tools of the operator's machine this project works with (they are found, never installed, here).
MIN_PULUMI_CLI = (3, 170, 0)
K3D_MIN_VERSION = (5, 6)

INSTALL_PULUMI = (
    "install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh "
    "(or https://www.pulumi.com/docs/iac/download-install/)"
)
# The commands that run the program or change what it made: they need Docker and k3d where the stack uses them.
MAKES = ("up", "preview", "destroy", "refresh", "doctor")
# The commands that bind the laptop's ports (a preview and a refresh start no container).
BINDS = ("up", "doctor")
VAULT_CONTAINER = "vault"  # linkerd_vault_pki/vault_server.py: the dev container's name


def stack_settings(stack: str) -> dict[str, object]:
    """The settings of ``Pulumi.<stack>.yaml`` that decide what the machine needs (defaults: the laptop)."""
    found: dict[str, object] = {}
    listed_k3d = False  # a `clusters` entry of clusterMode k3d (the top-level clusterMode is every entry's default)
    path = ROOT / f"Pulumi.{stack}.yaml"
    if path.is_file():
        keys = "clusterMode|vaultMode|vaultSide|k3dApiPort|vaultHostPort|clusterName|dockerNetwork"
        for line in path.read_text().splitlines():
            m = re.match(rf"^\s+['\"]?linkerd-vault-pki:({keys})['\"]?:\s*['\"]?([\w.-]+)", line)
            if m:
                found[m.group(1)] = m.group(2)
            listed_k3d = listed_k3d or bool(re.match(r"^\s+(-\s+)?clusterMode:\s*['\"]?k3d\b", line))
    cluster = found.get("clusterMode", "k3d")
    # A cluster-only stack (vaultSide reference or provided) runs no Vault of its own.
    vault = found.get("vaultMode", "docker") if found.get("vaultSide", "create") == "create" else "none"
    found["k3d"] = cluster == "k3d" or listed_k3d
    found["docker"] = found["k3d"] or vault == "docker"
    found["vault_container"] = vault == "docker"
    return found


def _busy(port: int) -> bool:
    """Whether Docker could not publish ``port`` on this host (a bind on every address fails: it is held)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def _containers() -> list[tuple[str, str, str]]:
    """(name, published ports, networks) of each running container; none when Docker does not answer."""
    if shutil.which("docker") is None:
        return []
    try:
        out = subprocess.run(
            ["docker", "ps", "--format", "{{.Names}}\t{{.Ports}}\t{{.Networks}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [tuple([*line.split("\t"), "", ""][:3]) for line in out.stdout.splitlines() if line]  # type: ignore[misc]


def _holder(port: int) -> str | None:
    """Who listens on ``port``, where this user may know: a process ss names (its own, or all under root)."""
    if shutil.which("ss") is None:
        return None
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f"process {m.group(1)} (pid {m.group(2)})" if m else None


def port_problems(settings: dict[str, object]) -> list[str]:
    """The laptop's host ports that something other than this stack's own containers holds."""
    wanted: list[tuple[str, int, str]] = []  # (key, port, the container of ours that publishes it)
    network = str(settings.get("dockerNetwork", "pki-network"))
    if settings["k3d"]:
        wanted.append(("k3dApiPort", int(str(settings.get("k3dApiPort", 6550))), "k3d"))
    if settings["vault_container"]:
        wanted.append(("vaultHostPort", int(str(settings.get("vaultHostPort", 8200))), VAULT_CONTAINER))
    problems = []
    containers = None
    for key, port, ours in wanted:
        if not _busy(port):
            continue
        containers = _containers() if containers is None else containers
        holder = next((c for c in containers if re.search(rf":{port}->", c[1])), None)
        if holder is not None:
            name, _ports, networks = holder
            cluster = f"k3d-{settings.get('clusterName', 'pki-cluster')}-serverlb"
            mine = name == cluster if ours == "k3d" else (name == VAULT_CONTAINER and network in networks.split(","))
            if mine:
                continue  # this stack's own container, from an earlier `up`: `up` keeps it
            who = f"Docker container {name}"
        else:
            who = _holder(port) or "a process this user cannot see (`sudo ss -ltnp 'sport = :" + str(port) + "'`)"
        problems.append(
            f"port {port} ({key}): held by {who}; stop it, or give this stack another port: "
            f"scripts/stack config set {key} <port>"
        )
    return problems


def pulumi_problem() -> str | None:
    """The Pulumi CLI on PATH, at a version that runs this project; what is wrong otherwise."""
    found = shutil.which("pulumi")
    minimum = ".".join(map(str, MIN_PULUMI_CLI))
    if found is None:
        return f"pulumi: no Pulumi CLI on PATH; {INSTALL_PULUMI}; version >= {minimum}"
    try:
        text = subprocess.run([found, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if m is None:
        return f"pulumi: {found} does not say its version (`pulumi version`); {INSTALL_PULUMI}"
    if tuple(map(int, m.groups())) < MIN_PULUMI_CLI:
        return f"pulumi: {found} is v{'.'.join(m.groups())}, older than {minimum}; {INSTALL_PULUMI}"
    return None


def problems(command: str, stack: str) -> list[str]:
    settings = stack_settings(stack)
    found = []
    if command != "check" and (problem := pulumi_problem()):
        found.append(problem)
    if command not in MAKES:
        return found  # configuring or reading a stack needs only the CLI
    if settings["docker"]:
        if shutil.which("docker") is None:
            found.append("docker: Docker with a running engine (https://docs.docker.com/get-started/get-docker/)")
        elif subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode != 0:
            found.append("docker: installed, but its engine does not answer (docker info failed); start Docker")
    if settings["k3d"]:
        found.extend(_k3d_problems())
    if command in BINDS:
        found.extend(port_problems(settings))
    return found


def _k3d_problems() -> list[str]:
    minimum = ".".join(map(str, K3D_MIN_VERSION))
    if shutil.which("k3d") is None:
        return [f"k3d: k3d >= {minimum} (https://k3d.io/#installation)"]
    out = subprocess.run(["k3d", "version"], capture_output=True, text=True, check=False, timeout=30).stdout
    m = re.search(r"^k3d version v(\d+)\.(\d+)", out, re.MULTILINE)
    if m is None or tuple(map(int, m.groups())) < K3D_MIN_VERSION:
        seen = ".".join(m.groups()) if m else "of unknown version"
        return [f"k3d: {seen} is too old; k3d >= {minimum} is needed (https://k3d.io/#installation)"]
    return []


def main(argv: list[str]) -> int:
    command, stack = argv
    found = problems(command, stack)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What the tests share: the scripts in scripts/ loaded as modules, a fake PATH to run them against, and pods as
Linkerd leaves them.

One module, imported by the tests that need it; no test file imports another.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

from linkerd_vault_pki import versions

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def load_script(name: str) -> ModuleType:
    return importlib.import_module(f"scripts.{name}")


# A Pulumi CLI on PATH that says its version, as the real one does.
PULUMI = f'echo "{versions.PULUMI_CLI_VERSION}"'


# Every connection the check would make fails loudly: it runs with no network.
NO_NETWORK = textwrap.dedent(
    """
    import socket

    def _refuse(*args, **kwargs):
        raise OSError("scripts/stack check tried the network")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse
    """
)


def fake_bin(tmp_path: Path, **tools: str) -> str:
    """A PATH holding python3, dirname, sed, cat, mkdir, sha256sum and cut, plus fake tools given as shell bodies."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("dirname", "sed", "cat", "mkdir", "sha256sum", "cut"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    return str(bin_dir)


def run_stack(path: str, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": path,
        "HOME": os.environ.get("HOME", "/tmp"),
        "LVP_STACK": "dev",
        # An empty engine cache: what this machine built earlier must not count.
        "LVP_ENGINE_CACHE": str(Path(path).parent / "engine-cache"),
        **env_vars,
    }
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "stack"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- pods as Linkerd leaves them (for the fake clusters of verify's and the gates' unit tests) ---


def meshed_pod(name: str, trusted_pem: str, native_sidecar: bool = False) -> dict:
    """A pod as Linkerd's proxy injector leaves it: the proxy's trust roots in its environment."""
    proxy = {
        "name": "linkerd-proxy",
        "env": [{"name": "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS", "value": trusted_pem}],
    }
    containers = [{"name": "app"}] + ([] if native_sidecar else [proxy])
    return {
        "metadata": {"namespace": "shop", "name": name},
        "spec": {"containers": containers, "initContainers": [proxy] if native_sidecar else []},
    }


def control_plane_pod(component: str, started: dt.datetime, annotations: dict | None = None) -> dict:
    """A control-plane pod as Linkerd's chart makes it with an external CA: its proxy reads the trust roots from the
    ConfigMap when it starts (charts/partials/templates/_proxy.tpl, proxy.loadTrustBundleFromConfigMap)."""
    proxy = {
        "name": "linkerd-proxy",
        "env": [
            {
                "name": "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS",
                "valueFrom": {"configMapKeyRef": {"name": "linkerd-identity-trust-roots", "key": "ca-bundle.crt"}},
            }
        ],
    }
    return {
        "metadata": {
            "namespace": "linkerd",
            "name": f"linkerd-{component}-5d8f7",
            "labels": {"linkerd.io/control-plane-component": component},
            "annotations": annotations or {},
            "creationTimestamp": stamp(started),
        },
        "spec": {"containers": [{"name": component}, proxy]},
        "status": {"startTime": stamp(started)},
    }


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer_event(reason: str, when: dt.datetime, message: str = "") -> dict:
    """An event Linkerd's identity records on its Deployment (pkg/identity/service.go)."""
    return {
        "reason": reason,
        "message": message,
        "involvedObject": {"kind": "Deployment", "name": "linkerd-identity"},
        "lastTimestamp": stamp(when),
    }

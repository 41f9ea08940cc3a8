"""A real OpenBao dev server on loopback, a minimal HTTP client, and an applier.

The applier replays the Vault resources the program registers (captured under
mocks, so exactly the program's values) as the Vault HTTP API calls the Vault
provider makes for them. It stands in for the pulumi-vault provider, which
cannot be had on this machine (see README, "Tests"); what it proves is that
Vault accepts the program's values and that they have the effect we claim.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import Rendered


class VaultError(Exception):
    def __init__(self, status: int, path: str, body: str):
        super().__init__(f"{status} on {path}: {body[:300]}")
        self.status = status


@dataclass
class Client:
    address: str
    token: str | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        data = json.dumps(_ints(body)).encode() if body is not None else None
        req = urllib.request.Request(f"{self.address}/v1/{path}", data=data, method=method)
        if self.token:
            req.add_header("X-Vault-Token", self.token)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise VaultError(exc.code, path, exc.read().decode()) from None
        return json.loads(text) if text else {}

    def write(self, path: str, body: dict | None = None) -> dict[str, Any]:
        return self.request("POST", path, body or {})

    def read(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def with_token(self, token: str) -> Client:
        return Client(self.address, token)


def _ints(value: Any) -> Any:
    """Pulumi's wire format carries numbers as floats; Vault wants integers where they are whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def bao_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "bao"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("bao")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DevServer:
    """``bao server -dev`` on 127.0.0.1, stopped by ``stop``."""

    binary: str
    root_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="lvp-openbao-"))

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        log = open(os.path.join(self.workdir, "server.log"), "wb")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [self.binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{self.port}"],
            env={**os.environ, "BAO_DEV_ROOT_TOKEN_ID": self.root_token, "HOME": self.workdir},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bao exited early: {Path(self.workdir, 'server.log').read_text()[-2000:]}")
            try:
                if Client(self.address).read("sys/health").get("initialized"):
                    return
            except (OSError, VaultError):
                time.sleep(0.1)
        raise RuntimeError(f"bao did not answer on {self.address} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def root(self) -> Client:
        return Client(self.address, self.root_token)


@dataclass
class Applied:
    anchor_pem: str
    sign_path: str
    policy_name: str
    approle: dict[str, str] | None = None  # mount, role_id, secret_id
    token: str | None = None


def apply(rendered: Rendered, vault: Client) -> Applied:
    """Replay the program's Vault resources, in the program's dependency order."""
    mount = rendered.one("vault:index/mount:Mount").inputs
    vault.write(
        f"sys/mounts/{mount['path']}",
        {
            "type": mount["type"],
            "description": mount.get("description", ""),
            "config": {"max_lease_ttl": f"{mount['maxLeaseTtlSeconds']}s"},
        },
    )
    urls = rendered.one("vault:pkiSecret/secretBackendConfigUrls:SecretBackendConfigUrls").inputs
    vault.write(
        f"{urls['backend']}/config/urls",
        {"issuing_certificates": urls["issuingCertificates"], "crl_distribution_points": urls["crlDistributionPoints"]},
    )
    root = rendered.one("vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert").inputs
    generated = vault.write(
        f"{root['backend']}/root/generate/{root['type']}",
        {
            "common_name": root["commonName"],
            "ttl": root["ttl"],
            "key_type": root["keyType"],
            "key_bits": root["keyBits"],
            "issuer_name": root["issuerName"],
        },
    )["data"]
    policy = rendered.one("vault:index/policy:Policy").inputs
    vault.request("PUT", f"sys/policies/acl/{policy['name']}", {"policy": policy["policy"]})
    applied = Applied(
        anchor_pem=generated["certificate"],
        sign_path=f"{root['backend']}/root/sign-intermediate",
        policy_name=policy["name"],
    )
    assert rendered.outputs.get("signPath") in (None, applied.sign_path)

    backends = rendered.of_type("vault:index/authBackend:AuthBackend")
    if backends:
        backend = backends[0].inputs
        vault.write(f"sys/auth/{backend['path']}", {"type": backend["type"], "description": backend["description"]})
        role = rendered.one("vault:appRole/authBackendRole:AuthBackendRole").inputs
        role_path = f"auth/{role['backend']}/role/{role['roleName']}"
        vault.write(
            role_path,
            {
                "token_policies": role["tokenPolicies"],
                "token_no_default_policy": role["tokenNoDefaultPolicy"],
                "token_ttl": role["tokenTtl"],
                "token_max_ttl": role["tokenMaxTtl"],
                "secret_id_ttl": role["secretIdTtl"],
                "secret_id_num_uses": role["secretIdNumUses"],
            },
        )
        role_id = vault.read(f"{role_path}/role-id")["data"]["role_id"]
        secret = rendered.one("vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId").inputs
        secret_id = vault.write(f"{role_path}/secret-id", {"metadata": secret["metadata"]})["data"]["secret_id"]
        applied.approle = {"mount": backend["path"], "role_id": role_id, "secret_id": secret_id}
    for token in rendered.of_type("vault:index/token:Token"):
        t = token.inputs
        created = vault.write(
            "auth/token/create",
            {
                "policies": t["policies"],
                "no_parent": t["noParent"],
                "no_default_policy": t["noDefaultPolicy"],
                "renewable": t["renewable"],
                "ttl": t["ttl"],
                "num_uses": t["numUses"],
            },
        )
        applied.token = created["auth"]["client_token"]
    return applied


def login_approle(vault: Client, mount: str, role_id: str, secret_id: str) -> dict[str, Any]:
    return Client(vault.address).write(f"auth/{mount}/login", {"role_id": role_id, "secret_id": secret_id})["auth"]

"""A real OpenBao dev server on loopback, and a minimal HTTP client for checking what it holds."""

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


def stop_process(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout``: every server the tests start ends so."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DevServer:
    """``bao server -dev`` on 127.0.0.1, stopped by ``stop``.

    ``start`` after ``stop`` is what a dev server does after a restart: the same
    address and root token, and nothing else (everything lived in memory).
    """

    binary: str
    root_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="lvp-openbao-"))

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        log = open(os.path.join(self.workdir, "server.log"), "ab")  # noqa: SIM115 (closed with the process)
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
        stop_process(self.process)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def root(self) -> Client:
        return Client(self.address, self.root_token)


def login_approle(vault: Client, mount: str, role_id: str, secret_id: str) -> dict[str, Any]:
    return Client(vault.address).write(f"auth/{mount}/login", {"role_id": role_id, "secret_id": secret_id})["auth"]

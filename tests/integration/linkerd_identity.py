"""Linkerd's identity controller as a local process, and a proxy's side of its one RPC.

The controller (edge-26.8.3, built by ``toolchain/engine.py``) reads the trust
roots from a fixed path, ``/var/run/linkerd/identity/trust-roots/ca-bundle.crt``.
It runs in a private mount namespace (``unshare -m``) with a tmpfs over
``/run`` (``/var/run`` links there), so the file exists for it alone and the
host is untouched. The issuer is a folder holding ``tls.crt`` and ``tls.key``,
written as the kubelet writes a Secret volume; the controller watches it.

``certify`` is what a proxy does at start: a ServiceAccount token for the
audience ``identity.l5d.io`` and a CSR, sent to
``io.linkerd.proxy.identity.Identity/Certify``. Its three fields are encoded by
hand (linkerd2-proxy-api v0.20.0 ``proto/identity.proto``): no generated stubs.
The CSR goes in and the leaf comes back as DER.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.openbao import free_port, stop_process

TRUST_DOMAIN = "cluster.local"
CONTROLLER_NAMESPACE = "linkerd"
AUDIENCE = "identity.l5d.io"
CERTIFY = "/io.linkerd.proxy.identity.Identity/Certify"


def workload_name(service_account: str, namespace: str) -> str:
    """The identity Linkerd gives a workload: its ServiceAccount under the trust domain."""
    return f"{service_account}.{namespace}.serviceaccount.identity.{CONTROLLER_NAMESPACE}.{TRUST_DOMAIN}"


# -- protobuf, by hand ------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_certify_request(identity: str, token: bytes, csr_der: bytes) -> bytes:
    return _field(1, identity.encode()) + _field(2, token) + _field(3, csr_der)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    i, out = 0, []
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            length, i = _read_varint(data, i)
            value, i = data[i : i + length], i + length
        else:
            raise ValueError(f"unexpected wire type {wire} for field {number}")
        out.append((number, value))
    return out


@dataclass
class Certified:
    leaf: x509.Certificate
    intermediates: list[x509.Certificate]
    valid_until: dt.datetime


def decode_certify_response(data: bytes) -> Certified:
    leaf, intermediates, until = None, [], None
    for number, value in _fields(data):
        if number == 1:
            leaf = x509.load_der_x509_certificate(value)
        elif number == 2:
            intermediates.append(x509.load_der_x509_certificate(value))
        elif number == 3:
            stamp = dict(_fields(value))
            until = dt.datetime.fromtimestamp(stamp.get(1, 0) + stamp.get(2, 0) / 1e9, dt.UTC)
    assert leaf is not None and until is not None, "CertifyResponse without a leaf or an expiry"
    return Certified(leaf, intermediates, until)


def csr_for(name: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """What a proxy sends: a P-256 key's CSR whose only SAN is its identity name (DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER), key


# -- the controller ------------------------------------------------------------------------------------


@dataclass
class IdentityController:
    binary: Path
    kubeconfig: Path
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lvp-identity-")))
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    issuance_lifetime: str = "24h0m0s"
    process: subprocess.Popen | None = None

    @property
    def issuer_dir(self) -> Path:
        return self.workdir / "issuer"

    @property
    def log(self) -> str:
        path = self.workdir / "identity.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def write_issuer(self, crt: bytes, key: bytes) -> None:
        """As the kubelet writes a Secret volume (its AtomicWriter): the files in a new timestamped
        folder, ``..data`` renamed onto a link to it, each key a link through ``..data``. The
        controller reloads on the creation of ``..data``, as in a pod."""
        folder = self.issuer_dir
        folder.mkdir(exist_ok=True)
        stamp = folder / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        stamp.mkdir()
        for name, data in (("tls.crt", crt), ("tls.key", key)):
            (stamp / name).write_bytes(data)
            (stamp / name).chmod(0o600)
        previous = (folder / "..data").resolve() if (folder / "..data").is_symlink() else None
        (folder / "..data_tmp").symlink_to(stamp.name)
        (folder / "..data_tmp").replace(folder / "..data")
        for name in ("tls.crt", "tls.key"):
            if not (folder / name).is_symlink():
                (folder / name).symlink_to(f"..data/{name}")
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def start(self, trust_roots_pem: bytes, wait: bool = True) -> None:
        roots = self.workdir / "ca-bundle.crt"
        roots.write_bytes(trust_roots_pem)
        mount_ns = (
            "mount -t tmpfs lvp-linkerd-run /run && mkdir -p /run/linkerd/identity/trust-roots && "
            'cp "$0" /run/linkerd/identity/trust-roots/ca-bundle.crt && exec "$@"'
        )
        argv = [
            "unshare", "--mount", "--propagation", "private", "sh", "-c", mount_ns, str(roots),
            str(self.binary),
            f"-addr=127.0.0.1:{self.port}",
            f"-admin-addr=127.0.0.1:{self.admin_port}",
            f"-kubeconfig={self.kubeconfig}",
            f"-controller-namespace={CONTROLLER_NAMESPACE}",
            "-identity-scheme=kubernetes.io/tls",
            f"-identity-trust-domain={TRUST_DOMAIN}",
            f"-identity-issuance-lifetime={self.issuance_lifetime}",
            f"-issuer={self.issuer_dir}",
        ]  # fmt: skip
        log = open(self.workdir / "identity.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"linkerd-identity exited ({self.process.returncode}):\n{self.log[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"linkerd-identity not ready within {timeout}s:\n{self.log[-3000:]}")

    def exit_code(self, timeout: float = 30) -> int:
        """For a controller expected to stop by itself: its exit code."""
        return self.process.wait(timeout=timeout)

    def certify(self, identity: str, token: bytes, csr_der: bytes) -> Certified:
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            call = channel.unary_unary(CERTIFY, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            reply = call(encode_certify_request(identity, token, csr_der), timeout=10)
        return decode_certify_response(reply)

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)

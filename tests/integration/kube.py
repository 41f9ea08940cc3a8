"""A real Kubernetes control plane on loopback for L2.5, with cert-manager and trust-manager as processes.

etcd, kube-apiserver and kube-controller-manager (namespace and garbage
collector controllers: what lets a Namespace delete finish; deployment and
replicaset: what rolls a Deployment) are upstream's,
built by ``tests/toolchain/engine.py`` like the engine. The fixture makes the
serving certificates, the service-account key pair and an admin token, applies
cert-manager's and trust-manager's CRDs from the upstream reference files, and
runs both controllers against the API server the way their charts run them in
a cluster. There is no kubelet: no pod runs, but for the kubelet double of the Linkerd tests. Everything listens on
127.0.0.1 (trust-manager, which binds every interface, on a loopback of its
own) and is stopped by ``stop``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import reference
from tests.integration.netns import UnixToTcp
from tests.integration.openbao import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]

CERT_MANAGER_NAMESPACE = "cert-manager"
# How long a server must stay up after its start for `_start` to let it go on (one that dies, dies sooner).
START_GRACE = 0.3
# Bringing the namespace's loopback up is what needs the namespace's CAP_NET_ADMIN (tests/integration/netns.py).
_LOOPBACK_UP = "from tests.integration.netns import _loopback_up; _loopback_up()"


@functools.cache
def private_network() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """How this user starts a process in a network namespace of its own: (the command before it, netns.py's
    own flags). As root, `unshare --net`; otherwise a user namespace of the user's own (unprivileged user
    namespaces: most distributions), else sudo for the namespace and `--as` back to the user (a GitHub runner:
    a user with passwordless sudo, where AppArmor keeps an unprivileged user namespace from using its
    capabilities). Each is tried the way it will be used, loopback brought up included."""
    tried = []
    candidates = [("unshare", "--net")] if os.geteuid() == 0 else []
    candidates.append(("unshare", "--user", "--map-root-user", "--net"))
    if shutil.which("sudo"):
        candidates.append(("sudo", "-n", "unshare", "--net"))
    if os.environ.get("LVP_TEST_NETNS") == "sudo":  # the runner's way, tried where the others would work too
        candidates = [c for c in candidates if c[0] == "sudo"]
    for prefix in candidates:
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", _LOOPBACK_UP], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return prefix, ((f"--as={os.getuid()}:{os.getgid()}",) if prefix[0] == "sudo" else ())
        tried.append(
            f"{' '.join(prefix)}: {(probe.stderr.strip().splitlines() or ['exit ' + str(probe.returncode)])[-1]}"
        )
    raise RuntimeError(
        "trust-manager binds every interface, so the tests start it in a network namespace of its own, and this "
        "user cannot make one: run as root, allow unprivileged user namespaces, or give this user passwordless "
        "sudo. Tried: " + "; ".join(tried)
    )


# cert-manager's controllers that need no ACME server, ingress or gateway: the chart's
# default set, less those (their CRDs are still installed: the controller watches them).


class KubeError(Exception):
    def __init__(self, status: int, method: str, path: str, body: str):
        super().__init__(f"{status} on {method} {path}: {body[:500]}")
        self.status = status


@dataclass
class Api:
    """A minimal client for the API server: JSON over HTTPS with a bearer token."""

    server: str
    token: str
    ca_file: Path

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", content_type)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(req, timeout=30, context=context) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise KubeError(exc.code, method, path, exc.read().decode()) from None
        return json.loads(text) if text else {}

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def find(self, path: str) -> Any | None:
        try:
            return self.get(path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except KubeError as exc:
            if exc.status != 404:
                raise

    def wait(self, path: str, ok, timeout: float = 60, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.find(path)
            if last is not None and ok(last):
                return last
            time.sleep(0.3)
        raise AssertionError(f"{what or path} not reached within {timeout}s; last seen: {json.dumps(last)[:1500]}")


def condition(obj: dict, kind: str) -> dict | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(kind: str):
    return lambda obj: (condition(obj, kind) or {}).get("status") == "True"


def pem_bytes(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem_bytes(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_certificate(
    subject: str, key, issuer: tuple[x509.Certificate, Any] | None, ca: bool, sans=()
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class LocalCluster:
    binaries: dict[str, Path]
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lvp-kube-")))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    apiserver_port: int = field(default_factory=free_port)
    trust_webhook_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    relay: UnixToTcp | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def api(self) -> Api:
        return Api(self.server, self.token, self.workdir / "ca.crt")

    def kubeconfig(self) -> str:
        return self.kubeconfig_path.read_text()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._credentials()
        self._start(
            "etcd",
            [
                "--name=l25",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-cluster=l25=http://127.0.0.1:{self.etcd_peer_port}",
                "--listen-metrics-urls=",
            ],
        )
        self.start_apiserver()
        # The CRDs first: kube-controller-manager's garbage collector reads which types exist at its start and
        # then every 30 s (a fixed period), and a foreground delete of an object of a type it does not monitor
        # yet (pulumi-kubernetes deletes in the foreground) waits for its next read: 18 s of a rotation's switch.
        self._install_crds()
        self._start(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                # deployment and replicaset: Linkerd's control plane (a stand-in chart, tests/integration/
                # linkerd_double.py) rolls as Deployments do; the kubelet double runs the pods they make.
                "--controllers=namespace,garbagecollector,serviceaccount,deployment,replicaset",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                f"--service-account-private-key-file={self.workdir / 'sa.key'}",
                "--use-service-account-credentials=false",
            ],
        )
        self.api.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CERT_MANAGER_NAMESPACE}},
        )
        self.start_cert_manager()
        self.start_trust_manager()

    def start_apiserver(self) -> None:
        self._start(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={self.workdir / 'apiserver.crt'}",
                f"--tls-private-key-file={self.workdir / 'apiserver.key'}",
                f"--client-ca-file={self.workdir / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={self.workdir / 'sa.pub'}",
                f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--enable-priority-and-fairness=false",
            ],
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self._alive("kube-apiserver")
            try:
                req = urllib.request.Request(f"{self.server}/readyz")
                req.add_header("Authorization", f"Bearer {self.token}")
                context = ssl.create_default_context(cafile=str(self.workdir / "ca.crt"))
                with urllib.request.urlopen(req, timeout=5, context=context) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"kube-apiserver not ready within 90s:\n{self.log_tail('kube-apiserver')}")

    def stop_apiserver(self) -> None:
        self._stop("kube-apiserver")

    def start_cert_manager(self) -> None:
        # Our main over cert-manager's controllers (tests/toolchain/cert-manager): it serves no metrics or health
        # endpoint, so it listens on nothing, and runs without leader election.
        self._start(
            "cert-manager-controller",
            [f"--kubeconfig={self.kubeconfig_path}", f"--cluster-resource-namespace={CERT_MANAGER_NAMESPACE}"],
        )

    def start_trust_manager(self) -> None:
        """trust-manager in a network namespace of its own: it binds 0.0.0.0 (see tests/integration/netns.py)."""
        webhook_dir = self.workdir / "trust-webhook"
        socket_path = self.workdir / "apiserver.sock"
        if self.relay is None:
            self.relay = UnixToTcp(socket_path, self.apiserver_port)
        inner_port = free_port()  # any port will do: the namespace's loopback is its own
        inner_kubeconfig = self.workdir / "kubeconfig-netns"
        inner_kubeconfig.write_text(self.kubeconfig().replace(self.server, f"https://127.0.0.1:{inner_port}"))
        inner_kubeconfig.chmod(0o600)
        unshare, inside = private_network()
        relay = [
            *unshare, sys.executable, "-m", "tests.integration.netns",
            "--unix", str(socket_path), "--port", str(inner_port), *inside, "--",
        ]  # fmt: skip
        self._start(
            "trust-manager",
            [
                f"--kubeconfig={inner_kubeconfig}",
                "--leader-elect=false",
                f"--trust-namespace={CERT_MANAGER_NAMESPACE}",
                f"--webhook-certificate-dir={webhook_dir}",
                "--webhook-host=127.0.0.1",
                f"--webhook-port={self.trust_webhook_port}",
                f"--metrics-port={free_port()}",
                f"--readiness-probe-port={free_port()}",
            ],
            prefix=relay,
        )

    def create_namespace(self, name: str) -> None:
        self.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def stop_trust_manager(self) -> None:
        self._stop("trust-manager")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self._stop(name)
        if self.relay is not None:
            self.relay.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 40) -> str:
        log = self.workdir / f"{name}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    # -- internals ----------------------------------------------------------------------------

    def _start(self, name: str, args: list[str], prefix: list[str] = ()) -> None:
        """Start a server; one that dies at once (a bad flag, a namespace it may not make) fails here, with its
        output, instead of every later wait timing out."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [*prefix, str(self.binaries[name]), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.processes[name] = process
        deadline = time.monotonic() + START_GRACE
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited as it started (exit {process.returncode}):\n{self.log_tail(name)}")

    def _alive(self, name: str) -> None:
        if self.processes[name].poll() is not None:
            raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")

    def _stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.args[:1] == ["sudo"] and process.poll() is None:
            # A user may not signal sudo (root): it ends when its child, ours again after `--as`, ends.
            for child in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(child), signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        stop_process(process)

    def _credentials(self) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = make_certificate("lvp-l25-ca", ca_key, None, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        server = make_certificate("kube-apiserver", server_key, (ca, ca_key), ca=False, sans=sans)
        sa_key = rsa.generate_private_key(65537, 2048)
        files = {
            "ca.crt": pem_bytes(ca),
            "apiserver.crt": pem_bytes(server) + pem_bytes(ca),
            "apiserver.key": key_pem_bytes(server_key),
            "sa.key": key_pem_bytes(sa_key),
            "sa.pub": sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "tokens.csv": f'{self.token},admin,admin-uid,"system:masters"\n'.encode(),
        }
        for name, data in files.items():
            path = self.workdir / name
            path.write_bytes(data)
            path.chmod(0o600)
        # trust-manager's webhook serves TLS from this folder (no one calls it here: no webhook config).
        webhook_key = ec.generate_private_key(ec.SECP256R1())
        webhook = make_certificate(
            "trust-manager", webhook_key, (ca, ca_key), ca=False, sans=[x509.DNSName("localhost")]
        )
        (self.workdir / "trust-webhook").mkdir()
        (self.workdir / "trust-webhook" / "tls.crt").write_bytes(pem_bytes(webhook))
        (self.workdir / "trust-webhook" / "tls.key").write_bytes(key_pem_bytes(webhook_key))
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "l25",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": base64.b64encode(pem_bytes(ca)).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "l25", "context": {"cluster": "l25", "user": "admin"}}],
            "current-context": "l25",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig))
        self.kubeconfig_path.chmod(0o600)

    def _install_crds(self) -> None:
        files = sorted((reference.cert_manager_dir() / "crds").glob("*.yaml"))
        files += sorted((reference.trust_manager_dir() / "crds").glob("*.yaml"))
        for path in files:
            for crd in yaml.safe_load_all(path.read_text()):
                if crd:
                    self.api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        for path in files:
            for crd in yaml.safe_load_all(path.read_text()):
                if crd:
                    self.api.wait(
                        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}",
                        is_true("Established"),
                        what=f"CRD {crd['metadata']['name']} established",
                    )

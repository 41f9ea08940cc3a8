"""scripts/verify.py against a fake cluster: each broken invariant is caught and named."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lib import x509 as anchor_x509
from tests.harness import make_ca
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
verify = load_script("verify")


def issued_by(ca_key, ca_pem: str, key=None) -> str:
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identity.linkerd.cluster.local")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=47))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class FakeCluster:
    def __init__(self):
        self.anchor_pem, self.anchor_key = make_ca()
        self.issuer_pem = issued_by(self.anchor_key, self.anchor_pem)
        self.bundle_pem = self.anchor_pem
        self.issuer_ready = "True"
        self.bundle_namespaces = ["linkerd"]
        self.calls: list[tuple[str, ...]] = []

    def outputs(self) -> dict:
        facts = anchor_x509.anchor_facts(self.anchor_pem)
        return {"trustAnchorPem": self.anchor_pem, "trustAnchorSha256": facts.sha256_fingerprint}

    def kubectl(self, *args: str) -> str:
        self.calls.append(args)
        ready = {"status": {"conditions": [{"type": "Ready", "status": self.issuer_ready, "message": "m"}]}}
        if args[:2] == ("get", "clusterissuer"):
            return json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        if "certificate" in args:
            return json.dumps(ready)
        if "secret" in args:
            assert args[-1] == r"jsonpath={.data.tls\.crt}", "verify must read only tls.crt"
            return base64.b64encode(self.issuer_pem.encode()).decode()
        if args[:2] == ("get", "namespaces"):
            items = [
                {"metadata": {"name": "linkerd", "labels": {"linkerd.io/is-control-plane": "true"}}},
                {"metadata": {"name": "default"}},
            ]
            return json.dumps({"items": items})
        if args[:2] == ("get", "configmaps"):
            return json.dumps({"items": [{"metadata": {"namespace": ns}} for ns in self.bundle_namespaces]})
        if "configmap" in args:
            return json.dumps({"data": {"ca-bundle.crt": self.bundle_pem}})
        raise AssertionError(f"unexpected kubectl {args}")

    def failures(self) -> list[str]:
        return [c.name for c in verify.checks(self.outputs(), self.kubectl, None) if not c.ok]


# Every check verify makes on a healthy stack, by name: a check lost or renamed shows here.
EVERY_CHECK = [
    "the anchor output matches its fingerprint output",
    "ClusterIssuer vault-issuer is Ready",
    "Certificate linkerd/linkerd-identity-issuer is Ready",
    "the issuer Secret holds a certificate",
    "the issuer is ECDSA P-256",
    "the issuer is signed by the Vault anchor",
    "the issuer is valid now",
    "the issuer is a CA",
    "the trust roots hold the Vault anchor",
    "the bundle is only in control-plane namespaces",
    "linkerd check",
]


def test_a_healthy_stack_passes_every_check():
    cluster = FakeCluster()
    results = verify.checks(cluster.outputs(), cluster.kubectl, lambda: "ok")
    assert [c.name for c in results] == EVERY_CHECK
    assert [c.name for c in results if not c.ok] == []


def test_a_bundle_without_the_vault_anchor_fails():
    cluster = FakeCluster()
    cluster.bundle_pem = make_ca(common_name="someone-else")[0]
    assert cluster.failures() == ["the trust roots hold the Vault anchor"]


def test_an_issuer_from_another_ca_fails():
    cluster = FakeCluster()
    other_pem, other_key = make_ca(common_name="rogue")
    cluster.issuer_pem = issued_by(other_key, other_pem)
    assert cluster.failures() == ["the issuer is signed by the Vault anchor"]


def test_a_bundle_leaking_into_other_namespaces_fails():
    cluster = FakeCluster()
    cluster.bundle_namespaces = ["linkerd", "default"]
    assert cluster.failures() == ["the bundle is only in control-plane namespaces"]


def test_an_rsa_issuer_fails():
    from cryptography.hazmat.primitives.asymmetric import rsa

    cluster = FakeCluster()
    cluster.issuer_pem = issued_by(cluster.anchor_key, cluster.anchor_pem, key=rsa.generate_private_key(65537, 2048))
    assert cluster.failures() == ["the issuer is ECDSA P-256"]


def test_a_certificate_not_ready_fails():
    cluster = FakeCluster()
    cluster.issuer_ready = "False"
    assert cluster.failures() == ["Certificate linkerd/linkerd-identity-issuer is Ready"]


def test_an_empty_issuer_secret_is_a_fail_not_a_crash():
    cluster = FakeCluster()
    cluster.issuer_pem = ""
    assert cluster.failures() == ["the issuer Secret holds a certificate"]


def test_an_empty_trust_bundle_is_a_fail_not_a_crash():
    cluster = FakeCluster()
    cluster.bundle_pem = ""
    assert cluster.failures() == ["the trust roots hold the Vault anchor"]


def test_no_pulumi_means_it_cannot_look(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert verify.main(["--stack", "dev", "--skip-linkerd-check"]) == 2
    assert "pulumi is not installed" in capsys.readouterr().err


def test_stack_verify_needs_kubectl(tmp_path):
    from tests.unit.test_scripts import fake_bin

    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "stack"), "verify"],
        env={
            "PATH": fake_bin(tmp_path, pulumi='echo "v3.274.1"'),
            "HOME": "/tmp",
            "LVP_STACK": "prod",
            "LVP_ENGINE_CACHE": str(tmp_path / "engine-cache"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "  - kubectl: " in result.stderr

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

from linkerd_vault_pki import mesh, names
from linkerd_vault_pki import x509 as anchor_x509
from tests.harness import make_ca
from tests.helpers import control_plane_pod, issuer_event, load_script, meshed_pod, stamp

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
    """A cluster mid-rotation or not: ``anchors`` oldest first, the signing one named."""

    def __init__(self, rotating: bool = False):
        self.anchor_pem, self.anchor_key = make_ca()
        self.anchors = {"a1": (self.anchor_pem, self.anchor_key)}
        if rotating:
            self.anchors["a2"] = make_ca(common_name="root2.linkerd.cluster.local")
        self.signing = "a1"
        self.issuer_pem = issued_by(self.anchor_key, self.anchor_pem)
        self.bundle_pem = "".join(pem for pem, _ in self.anchors.values())
        self.issuer_ready = "True"
        self.bundle_namespaces = ["linkerd"]
        now = dt.datetime.now(dt.UTC)
        self.roots_changed = now - dt.timedelta(hours=3)
        self.control_plane = [
            control_plane_pod(c, now - dt.timedelta(hours=2)) for c in ("identity", "destination", "proxy-injector")
        ]
        self.pods = [meshed_pod("web", self.bundle_pem), meshed_pod("db", self.bundle_pem, native_sidecar=True)]
        self.events: list[dict] = []
        self.calls: list[tuple[str, ...]] = []

    def switch(self) -> None:
        """The switch phase done: a2 signs, the issuer re-issued under it."""
        self.signing = "a2"
        pem, key = self.anchors["a2"]
        self.issuer_pem = issued_by(key, pem)

    def outputs(self) -> dict:
        signing_pem = self.anchors[self.signing][0]
        return {
            "trustAnchorPem": signing_pem,
            "trustAnchorSha256": anchor_x509.anchor_facts(signing_pem).sha256_fingerprint,
            "trustAnchors": {
                name: {"pem": pem, "signing": name == self.signing} for name, (pem, _) in self.anchors.items()
            },
            "clusterIssuer": f"vault-{self.signing}",
            "linkerdNamespace": "linkerd",
        }

    def kubectl(self, *args: str) -> str:
        self.calls.append(args)
        ready = {"status": {"conditions": [{"type": "Ready", "status": self.issuer_ready, "message": "m"}]}}
        if args[:2] == ("get", "clusterissuer"):
            return json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        if "certificate" in args:
            return json.dumps(ready)
        if "secret" in args:
            assert args[-1] == r"jsonpath={.data.tls\.crt}", "verify must read only tls.crt"
            if self.issuer_pem is None:  # no such Secret: what kubectl prints with --ignore-not-found, or fails
                if "--ignore-not-found" not in args:
                    raise RuntimeError('Error from server (NotFound): secrets "linkerd-identity-issuer" not found')
                return ""
            return base64.b64encode(self.issuer_pem.encode()).decode()
        if args[:2] == ("get", "namespaces"):
            items = [
                {"metadata": {"name": "linkerd", "labels": {"linkerd.io/is-control-plane": "true"}}},
                {"metadata": {"name": "default"}},
            ]
            return json.dumps({"items": items})
        if args[:2] == ("get", "pods"):
            return json.dumps({"items": self.control_plane + self.pods})
        if "events" in args:
            return json.dumps({"items": self.events})
        if args[:2] == ("get", "configmaps"):
            return json.dumps({"items": [{"metadata": {"namespace": ns}} for ns in self.bundle_namespaces]})
        if "configmap" in args:
            # trust-manager's server-side apply of the data, and when it last changed it.
            # kubectl leaves managedFields out of its output unless asked (--show-managed-fields).
            managed = [{"manager": "trust-manager", "time": stamp(self.roots_changed), "fieldsV1": {"f:data": {}}}]
            meta = {"managedFields": managed} if "--show-managed-fields" in args else {}
            return json.dumps({"metadata": meta, "data": {"ca-bundle.crt": self.bundle_pem}})
        raise AssertionError(f"unexpected kubectl {args}")

    def failures(self) -> list[str]:
        return [c.name for c in verify.checks(self.outputs(), self.kubectl, None) if not c.ok]


# Every check verify makes on a healthy stack, by name: a check lost or renamed shows here.
EVERY_CHECK = [
    "the anchor output matches its fingerprint output",
    "ClusterIssuer vault-a1 is Ready",
    "Certificate linkerd/linkerd-identity-issuer is Ready",
    "the issuer Secret holds a certificate",
    "the issuer is ECDSA P-256",
    "the issuer is signed by the signing anchor (a1)",
    "the issuer is valid now",
    "the issuer is a CA",
    "the trust roots hold every Vault anchor",
    "the bundle is only in control-plane namespaces",
    "every meshed proxy trusts every anchor",
    "Linkerd's identity has taken the current issuer",
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
    # The control plane's pods read that bundle, so their proxies and identity lack the anchor too.
    assert cluster.failures() == [
        "the trust roots hold every Vault anchor",
        "every meshed proxy trusts every anchor",
        "Linkerd's identity has taken the current issuer",
    ]


def test_an_issuer_from_another_ca_fails():
    cluster = FakeCluster()
    other_pem, other_key = make_ca(common_name="rogue")
    cluster.issuer_pem = issued_by(other_key, other_pem)
    # Identity would refuse it too: it does not verify against the roots identity holds.
    assert cluster.failures() == [
        "the issuer is signed by the signing anchor (a1)",
        "Linkerd's identity has taken the current issuer",
    ]


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


def test_a_missing_issuer_secret_is_a_fail_not_a_crash():
    """cert-manager has not (re-)issued it yet, or cannot: a deleted Secret while Vault is down."""
    cluster = FakeCluster()
    cluster.issuer_pem = None
    assert cluster.failures() == ["the issuer Secret holds a certificate"]


def test_an_empty_trust_bundle_is_a_fail_not_a_crash():
    cluster = FakeCluster()
    cluster.bundle_pem = ""
    assert cluster.failures() == [
        "the trust roots hold every Vault anchor",
        "every meshed proxy trusts every anchor",
        "Linkerd's identity has taken the current issuer",
    ]


# --- rotation: what tells that a phase is complete ---------------------------------------


def test_after_add_the_bundle_must_hold_both_anchors_and_every_proxy_trust_both():
    cluster = FakeCluster(rotating=True)
    assert cluster.failures() == []
    only_old = cluster.anchors["a1"][0]
    cluster.bundle_pem = only_old
    cluster.pods = [meshed_pod("web", only_old), meshed_pod("api", cluster.anchors["a1"][0] + "")]
    failed = [c for c in verify.checks(cluster.outputs(), cluster.kubectl, None) if not c.ok]
    assert [c.name for c in failed] == [
        "the trust roots hold every Vault anchor",
        "every meshed proxy trusts every anchor",
    ]
    assert "missing a2" in failed[0].detail
    assert failed[1].detail.endswith("shop/api, shop/web")


def test_proxies_started_before_the_add_are_named_until_restarted():
    cluster = FakeCluster(rotating=True)
    cluster.pods.append(meshed_pod("cron", cluster.anchors["a1"][0]))
    assert cluster.failures() == ["every meshed proxy trusts every anchor"]
    cluster.pods[-1] = meshed_pod("cron", cluster.bundle_pem)
    assert cluster.failures() == []


def test_after_switch_the_issuer_must_come_from_the_new_anchor():
    cluster = FakeCluster(rotating=True)
    cluster.switch()
    assert cluster.failures() == []
    old_pem, old_key = cluster.anchors["a1"]
    cluster.issuer_pem = issued_by(old_key, old_pem)  # cert-manager has not re-issued yet
    assert cluster.failures() == ["the issuer is signed by the signing anchor (a2)"]


def test_unmeshed_pods_are_not_proxies():
    cluster = FakeCluster()
    cluster.pods = [{"metadata": {"namespace": "kube-system", "name": "coredns"}, "spec": {"containers": [{}]}}]
    cluster.control_plane = []
    results = verify.checks(cluster.outputs(), cluster.kubectl, None)
    proxies = next(c for c in results if c.name == "every meshed proxy trusts every anchor")
    assert proxies.ok and proxies.detail == "0 meshed pod(s)"


def test_listed_clusters_are_each_checked_with_their_own_kubeconfig():
    outputs = {
        "trustAnchorSha256": "AA",
        "clusters": {"east": {"clusterIssuer": "vault-a1"}, "west": {"clusterIssuer": "vault-a1"}},
        "clusterSecrets": {"east": {"kubeconfig": "east-config"}, "west": {"kubeconfig": "west-config"}},
    }
    clusters = verify.clusters_of(outputs)
    assert sorted(clusters) == ["east", "west"]
    assert clusters["west"]["kubeconfig"] == "west-config" and clusters["east"]["trustAnchorSha256"] == "AA"
    assert verify.clusters_of({"kubeconfig": "k", "clusterIssuer": "vault-a1"}) == {
        "": {"kubeconfig": "k", "clusterIssuer": "vault-a1"}
    }
    assert verify.clusters_of({"pkiMountPath": "pki"}) == {}


def test_no_pulumi_means_it_cannot_look(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert verify.main(["--stack", "dev", "--skip-linkerd-check"]) == 2
    assert "pulumi is not installed" in capsys.readouterr().err


def test_stack_verify_needs_kubectl(tmp_path):
    from tests.helpers import fake_bin

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


class KubernetesAuthCluster(FakeCluster):
    """A cluster whose cert-manager logs in to Vault with Kubernetes auth (its ServiceAccount, its RBAC)."""

    def __init__(self):
        super().__init__()
        self.account_exists = True
        self.may_request = True

    def outputs(self) -> dict:
        login = {"serviceAccount": "cert-manager/linkerd-identity-vault", "tokenRequester": "cert-manager/cert-manager"}
        return {**super().outputs(), "vaultLogin": login}

    def kubectl(self, *args: str) -> str:
        if "serviceaccount" in args:
            self.calls.append(args)
            return "serviceaccount/linkerd-identity-vault\n" if self.account_exists else ""
        if args[:2] == ("auth", "can-i"):
            self.calls.append(args)
            assert "serviceaccounts/linkerd-identity-vault" in args and "--subresource=token" in args
            assert "--as=system:serviceaccount:cert-manager:cert-manager" in args
            if not self.may_request:
                raise verify.CannotLook("`kubectl auth can-i create ...` failed: ")
            return "yes\n"
        return super().kubectl(*args)


def test_with_kubernetes_auth_the_service_account_and_its_token_rights_are_checked():
    cluster = KubernetesAuthCluster()
    names = [c.name for c in verify.checks(cluster.outputs(), cluster.kubectl, None) if c.ok]
    assert "ServiceAccount cert-manager/linkerd-identity-vault exists" in names
    assert "cert-manager (cert-manager/cert-manager) may create its tokens" in names
    cluster.account_exists = False
    assert cluster.failures() == ["ServiceAccount cert-manager/linkerd-identity-vault exists"]
    cluster.account_exists, cluster.may_request = True, False
    assert cluster.failures() == ["cert-manager (cert-manager/cert-manager) may create its tokens"]


def test_without_kubernetes_auth_no_service_account_is_looked_for():
    cluster = FakeCluster()
    verify.checks(cluster.outputs(), cluster.kubectl, None)
    assert not [c for c in cluster.calls if "serviceaccount" in c or c[:1] == ("auth",)]


# --- the control plane's own pods, and what identity does with the issuer ----------------


def test_control_plane_pods_that_read_the_roots_configmap_pass_when_they_started_after_it_changed():
    cluster = FakeCluster()
    assert cluster.failures() == []
    trust = {t.pod: t for t in mesh.meshed(cluster.control_plane, mesh.Roots.from_configmap(_roots_map(cluster)))}
    assert {t.source for t in trust.values()} == {"configmap"}
    assert all(t.fingerprints for t in trust.values())


def _roots_map(cluster: FakeCluster) -> dict:
    return json.loads(
        cluster.kubectl("-n", "linkerd", "get", "configmap", "linkerd-identity-trust-roots", "--show-managed-fields")
    )


def test_a_control_plane_pod_started_before_the_roots_changed_is_named():
    """After an add, a control plane not restarted still holds the roots without the new anchor."""
    cluster = FakeCluster(rotating=True)
    cluster.roots_changed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # the add's `up`, after their start
    results = verify.checks(cluster.outputs(), cluster.kubectl, None)
    failed = {c.name: c.detail for c in results if not c.ok}
    assert "every meshed proxy trusts every anchor" in failed
    assert "linkerd/linkerd-identity-5d8f7" in failed["every meshed proxy trusts every anchor"]
    assert "shop/web" not in failed["every meshed proxy trusts every anchor"]  # injected with both: fine


def test_pods_rolled_by_this_stack_carry_the_digest_of_the_current_roots():
    cluster = FakeCluster(rotating=True)
    cluster.roots_changed = dt.datetime.now(dt.UTC)  # the same second as their start would be ambiguous
    digest = mesh.roots_digest([cluster.bundle_pem])
    cluster.control_plane = [
        control_plane_pod(c, cluster.roots_changed, {names.ROOTS_DIGEST_ANNOTATION: digest})
        for c in ("identity", "destination", "proxy-injector")
    ]
    assert cluster.failures() == []


def test_an_issuer_identity_skipped_is_a_fail_with_identitys_reason():
    cluster = FakeCluster()
    reason = "failed to verify issuer credentials for 'identity.linkerd.cluster.local' with trust anchors"
    cluster.events = [issuer_event("IssuerUpdateSkipped", dt.datetime.now(dt.UTC), reason)]
    results = {c.name: c for c in verify.checks(cluster.outputs(), cluster.kubectl, None)}
    check = results["Linkerd's identity has taken the current issuer"]
    assert not check.ok
    assert "IssuerUpdateSkipped" in check.detail and reason in check.detail
    assert [name for name, c in results.items() if not c.ok] == ["Linkerd's identity has taken the current issuer"]


def test_an_issuer_identity_took_after_a_skip_passes():
    cluster = FakeCluster()
    now = dt.datetime.now(dt.UTC)
    cluster.events = [
        issuer_event("IssuerUpdateSkipped", now - dt.timedelta(minutes=2)),
        issuer_event("IssuerUpdated", now),
    ]
    assert cluster.failures() == []


def test_an_identity_that_started_before_the_roots_changed_and_reported_nothing_fails():
    cluster = FakeCluster()
    cluster.roots_changed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)  # after identity's start
    failed = {c.name: c.detail for c in verify.checks(cluster.outputs(), cluster.kubectl, None) if not c.ok}
    assert "linkerd/linkerd-identity-5d8f7" in failed["Linkerd's identity has taken the current issuer"]


# --- verify --within: what expires, for a scheduled job ----------------------------------------------------


def test_within_names_each_thing_that_expires_one_line_each():
    now = dt.datetime.now(dt.UTC)
    cluster = FakeCluster(rotating=True)  # anchors of 90 days from 2026-11-28 (make_ca)
    outputs = {**cluster.outputs(), "vaultTokenExpiresAt": (now + dt.timedelta(hours=30)).strftime(names.RFC3339)}
    issuer = x509.load_pem_x509_certificate(cluster.issuer_pem.encode())  # 47 h left
    lines = verify.expiring(outputs, {"": issuer}, dt.timedelta(hours=48), now)
    assert [line.split(" expires")[0] for line in lines] == ["EXPIRING  identity issuer", "EXPIRING  Vault token"]
    assert verify.expiring(outputs, {"": issuer}, dt.timedelta(hours=1), now) == []
    # Everything within a year: both anchors too.
    lines = verify.expiring(outputs, {"east": issuer}, dt.timedelta(days=365), now)
    assert [line.split(" expires")[0] for line in lines] == [
        "EXPIRING  trust anchor a1",
        "EXPIRING  trust anchor a2",
        "EXPIRING  [east] identity issuer",
        "EXPIRING  Vault token",
    ]
    assert "Rotating the trust anchor" in lines[0]


def test_within_says_expired_for_what_already_ended():
    now = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)  # after the anchors' 90 days
    lines = verify.expiring(FakeCluster().outputs(), {}, dt.timedelta(hours=1), now)
    assert lines and "trust anchor a1 expired (" in lines[0]


def test_within_reads_consumers_tokens_and_exits_by_what_it_found(monkeypatch, capsys):
    now = dt.datetime.now(dt.UTC)
    soon = (now + dt.timedelta(hours=2)).strftime(names.RFC3339)
    outputs = {"consumers": {"east": {"vaultTokenExpiresAt": soon}}, "trustAnchors": {}}
    monkeypatch.setattr(verify, "run", lambda cmd, env=None: json.dumps(outputs))
    assert verify.main(["--stack", "pki", "--within", "24h"]) == 1
    printed = capsys.readouterr().out
    assert "EXPIRING  Vault token of east expires in 1h" in printed and "1 expiring within" in printed
    assert verify.main(["--stack", "pki", "--within", "1h"]) == 0
    assert "nothing expires within" in capsys.readouterr().out

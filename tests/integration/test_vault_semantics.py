"""L2a: the program's Vault configuration against a real OpenBao server.

The values are exactly what the program registers (rendered under mocks);
they are applied with the Vault HTTP API calls the provider makes, then the
result is checked the way cert-manager and Linkerd will use it: log in with
the credential, sign the identity issuer's CSR at sign-intermediate, verify
the chain with `cryptography`, and be refused everywhere else.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from components import x509 as anchor_x509
from tests.harness import cfg, render
from tests.integration.openbao import Applied, Client, VaultError, apply, login_approle

pytestmark = pytest.mark.integration

IDENTITY = "identity.linkerd.cluster.local"
_counter = itertools.count()


def deploy(openbao, **overrides: str) -> tuple[Applied, str]:
    """Render the Vault side for this server on fresh mount paths, and apply it."""
    n = next(_counter)
    pki_path = f"pki-t{n}"
    rendered = render(
        cfg(
            clusterMode="none",
            vaultMode="external",
            vaultAddress=openbao.address,
            pkiPath=pki_path,
            approleMount=f"approle-t{n}",
            **overrides,
        )
    )
    return apply(rendered, openbao.root()), pki_path


def issuer_csr() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The CSR cert-manager makes for the Certificate: ECDSA P-256, CN and SAN the identity name."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, IDENTITY)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(IDENTITY)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def sign_as_cert_manager(client: Client, sign_path: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    csr, key = issuer_csr()
    # Exactly what cert-manager's Vault client sends for a 48h Certificate: every value a
    # string, the TTL in Go's duration format (Ref: cert-manager internal/vault/vault.go Sign).
    data = client.write(
        sign_path,
        {
            "common_name": IDENTITY,
            "alt_names": IDENTITY,
            "ip_sans": "",
            "uri_sans": "",
            "ttl": "48h0m0s",
            "csr": csr,
            "exclude_cn_from_sans": "true",
        },
    )["data"]
    # cert-manager builds the chain from certificate, issuing_ca and ca_chain.
    assert x509.load_pem_x509_certificate(data["issuing_ca"].encode()).subject.rfc4514_string() == (
        "CN=root.linkerd.cluster.local"
    )
    return x509.load_pem_x509_certificate(data["certificate"].encode()), key


def workload_certificate(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """What Linkerd's identity controller issues to a proxy with the issuer."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = "default.default.serviceaccount.identity.linkerd.cluster.local"
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=24))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def refused(client: Client, pki_path: str, approle_mount: str | None) -> dict[str, bool]:
    """Try everything the credential must not do; map each attempt to whether it was refused."""
    attempts = {
        "generate a new root": ("POST", f"{pki_path}/root/generate/internal", {"common_name": "evil"}),
        "delete the CA": ("DELETE", f"{pki_path}/root", None),
        "sign a self-issued cert": ("POST", f"{pki_path}/root/sign-self-issued", {"certificate": "x"}),
        "change the URLs": ("POST", f"{pki_path}/config/urls", {"issuing_certificates": ["http://evil"]}),
        "create a role": ("POST", f"{pki_path}/roles/any", {"allow_any_name": True}),
        "read policies": ("GET", "sys/policy", None),
        "write a policy": ("PUT", "sys/policies/acl/evil", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
        "list mounts": ("GET", "sys/mounts", None),
        "mount an engine": ("POST", "sys/mounts/evil", {"type": "kv"}),
        "enable an auth method": ("POST", "sys/auth/evil", {"type": "userpass"}),
        "read a secret": ("GET", "secret/data/anything", None),
    }
    if approle_mount:
        attempts["read its own role"] = ("GET", f"auth/{approle_mount}/role/cert-manager", None)
        attempts["mint secret_ids"] = ("POST", f"auth/{approle_mount}/role/cert-manager/secret-id", {})
    result = {}
    for what, (method, path, body) in attempts.items():
        try:
            client.request(method, path, body)
            result[what] = False
        except VaultError as exc:
            result[what] = exc.status == 403
    return result


def test_pki_mount_and_anchor_are_what_linkerd_needs(openbao):
    applied, pki_path = deploy(openbao)
    root = openbao.root()
    assert root.read(f"sys/mounts/{pki_path}/tune")["data"]["max_lease_ttl"] == 2160 * 3600
    urls = root.read(f"{pki_path}/config/urls")["data"]
    assert urls["issuing_certificates"] == [f"{openbao.address}/v1/{pki_path}/ca"]
    assert urls["crl_distribution_points"] == [f"{openbao.address}/v1/{pki_path}/crl"]

    anchor = x509.load_pem_x509_certificate(applied.anchor_pem.encode())
    assert anchor.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "root.linkerd.cluster.local"
    assert anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = anchor.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    key = anchor.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    lifetime = anchor.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=89, hours=23) < lifetime <= dt.timedelta(days=90)
    # The key was generated inside Vault: the anchor is the CA Vault serves, and no key came back.
    served = root.read(f"{pki_path}/cert/ca")["data"]["certificate"]
    assert x509.load_pem_x509_certificate(served.encode()) == anchor
    assert "PRIVATE KEY" not in applied.anchor_pem
    # The stack outputs derived from it, and its fitness as a `previousAnchorPem` in a rotation.
    facts = anchor_x509.anchor_facts(applied.anchor_pem)
    assert facts.subject_common_name == "root.linkerd.cluster.local"
    assert facts.not_after == anchor.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert anchor_x509.check_anchor_pem(applied.anchor_pem) is None


def test_approle_signs_the_identity_issuer_and_nothing_else(openbao):
    applied, pki_path = deploy(openbao)
    auth = login_approle(openbao.root(), **applied.approle)
    assert auth["policies"] == [applied.policy_name]  # not even `default`
    assert auth["lease_duration"] == 600
    cert_manager = Client(openbao.address, auth["client_token"])

    issuer, issuer_key = sign_as_cert_manager(cert_manager, applied.sign_path)
    anchor = x509.load_pem_x509_certificate(applied.anchor_pem.encode())
    issuer.verify_directly_issued_by(anchor)
    assert issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == IDENTITY
    lifetime = issuer.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=47, minutes=58) < lifetime <= dt.timedelta(hours=48)

    # A proxy certificate from that issuer verifies against the anchor alone, as Linkerd's proxies check it.
    leaf = workload_certificate(issuer, issuer_key)
    verifier = PolicyBuilder().store(Store([anchor])).build_server_verifier(x509.DNSName(leaf_name(leaf)))
    chain = verifier.verify(leaf, [issuer])
    assert chain[-1] == anchor

    outcome = refused(cert_manager, pki_path, applied.approle["mount"])
    assert all(outcome.values()), [what for what, ok in outcome.items() if not ok]


def test_token_credential_signs_and_is_refused_elsewhere(openbao):
    applied, pki_path = deploy(openbao, credential="token")
    cert_manager = Client(openbao.address, applied.token)
    me = openbao.root().write("auth/token/lookup", {"token": applied.token})["data"]
    assert me["policies"] == [applied.policy_name]
    assert me["orphan"] is True and me["renewable"] is True and me["num_uses"] == 0
    assert abs(me["creation_ttl"] - 767 * 3600) < 5
    issuer, _ = sign_as_cert_manager(cert_manager, applied.sign_path)
    issuer.verify_directly_issued_by(x509.load_pem_x509_certificate(applied.anchor_pem.encode()))
    outcome = refused(cert_manager, pki_path, None)
    assert all(outcome.values()), [what for what, ok in outcome.items() if not ok]


def test_the_refusal_check_catches_the_walkthroughs_wide_policy(openbao):
    """The walkthrough's `pki*` policy with sudo would let the credential mint a new root."""
    applied, pki_path = deploy(openbao)
    root = openbao.root()
    root.request(
        "PUT",
        f"sys/policies/acl/{applied.policy_name}",
        {"policy": 'path "pki*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'},
    )
    auth = login_approle(root, **applied.approle)
    outcome = refused(Client(openbao.address, auth["client_token"]), pki_path, applied.approle["mount"])
    assert outcome["generate a new root"] is False
    assert outcome["delete the CA"] is False


def test_a_new_secret_id_logs_in_and_the_old_one_keeps_working_until_revoked(openbao):
    applied, _ = deploy(openbao)
    root = openbao.root()
    role_path = f"auth/{applied.approle['mount']}/role/cert-manager"
    rotated = root.write(f"{role_path}/secret-id", {"metadata": '{"version": "2"}'})["data"]["secret_id"]
    assert login_approle(root, applied.approle["mount"], applied.approle["role_id"], rotated)["client_token"]
    root.write(f"{role_path}/secret-id/destroy", {"secret_id": applied.approle["secret_id"]})
    with pytest.raises(VaultError) as err:
        login_approle(root, **applied.approle)
    assert err.value.status in (400, 403)


def leaf_name(cert: x509.Certificate) -> str:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)[
        0
    ]

"""How cert-manager and Linkerd use what the Vault side makes: sign, chain, be refused.

``sign_as_cert_manager`` sends exactly what cert-manager's Vault client sends;
``workload_certificate`` makes what Linkerd's identity controller makes for a
proxy; ``refused`` tries everything the credential must not be able to do.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.openbao import Client, VaultError

IDENTITY = "identity.linkerd.cluster.local"


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


def sign_as_cert_manager(
    client: Client, sign_path: str, anchor_cn: str = "root.linkerd.cluster.local"
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
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
    assert x509.load_pem_x509_certificate(data["issuing_ca"].encode()).subject.rfc4514_string() == f"CN={anchor_cn}"
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
        "sign with the default issuer": ("POST", f"{pki_path}/root/sign-intermediate", {"csr": "x"}),
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


def leaf_name(cert: x509.Certificate) -> str:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)[
        0
    ]

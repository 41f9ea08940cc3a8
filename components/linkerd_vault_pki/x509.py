"""Facts about trust anchor certificates, from their public PEM only.

Pure functions: used to derive stack outputs (fingerprint, notAfter) from what
Vault returns, and to check an operator-supplied previous anchor before it is
put in the trust bundle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from linkerd_vault_pki.names import RFC3339


@dataclass(frozen=True)
class AnchorFacts:
    sha256_fingerprint: str  # colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints
    not_after: str  # RFC 3339, UTC
    subject_common_name: str
    lifetime_seconds: int = 0  # notAfter - notBefore


def _load_one(pem: str) -> x509.Certificate:
    certs = x509.load_pem_x509_certificates(pem.encode())
    if len(certs) != 1:
        raise ValueError(f"expected one certificate, found {len(certs)}")
    return certs[0]


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``cert`` is signed directly by ``issuer``'s key (a wrong signature, another key type or a mismatched name is
    False, not an error)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, TypeError (another key type), ValueError (names differ)
        return False
    return True


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def anchor_facts(pem: str) -> AnchorFacts:
    cert = _load_one(pem)
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return AnchorFacts(
        sha256_fingerprint=sha256_fingerprint(cert),
        not_after=cert.not_valid_after_utc.strftime(RFC3339),
        subject_common_name=str(cn[0].value) if cn else "",
        lifetime_seconds=int((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()),
    )


PEM_SHAPE = "PEM certificates, each between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----"
SOON = dt.timedelta(days=30)


def expired(cert: x509.Certificate, now: dt.datetime | None) -> str | None:
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        return f"expired on {cert.not_valid_after_utc.strftime(RFC3339)} (CN={_common_name(cert)})"
    return None


def expiring_soon(pem: str, now: dt.datetime | None = None) -> list[str]:
    """Certificates in ``pem`` that end within 30 days, as sentences (for a warning, not an error)."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []
    return [
        f"CN={_common_name(c)} expires on {c.not_valid_after_utc.strftime(RFC3339)}, within 30 days"
        for c in certs
        if now < c.not_valid_after_utc <= now + SOON
    ]


def _common_name(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else "?"


def check_ca_bundle_pem(pem: str, now: dt.datetime | None = None) -> str | None:
    """Why ``pem`` cannot serve as the CA bundle that verifies Vault's TLS certificate, or None."""
    if "PRIVATE KEY" in pem:
        return "holds a private key; give CA certificates only"
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return f"is not {PEM_SHAPE}"
    if not certs:
        return "holds no certificate"
    for cert in certs:
        if (problem := expired(cert, now)) is not None:
            return problem
    return None


def check_anchor_pem(pem: str, now: dt.datetime | None = None) -> str | None:
    """Why ``pem`` cannot serve as a Linkerd trust anchor, or None if it can."""
    if "PRIVATE KEY" in pem:
        return "holds a private key; give the anchor's public certificate only"
    try:
        cert = _load_one(pem)
    except ValueError:
        return f"is not one certificate in PEM ({PEM_SHAPE})"
    if (problem := expired(cert, now)) is not None:
        return problem
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return "is not a CA certificate (basicConstraints CA:TRUE is missing)"
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return "is not an ECDSA P-256 certificate, the only kind Linkerd accepts"
    return None


def kubeconfig_ca(text: str, context: str | None) -> str | None:
    """The PEM CA of the kubeconfig's cluster for ``context`` (its current one when None), if it holds one."""
    import base64
    import binascii

    import yaml

    doc = yaml.safe_load(text)
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    wanted = contexts.get(context or doc.get("current-context")) or {}
    for entry in doc.get("clusters") or []:
        if isinstance(entry, dict) and entry.get("name") == wanted.get("cluster"):
            data = (entry.get("cluster") or {}).get("certificate-authority-data")
            try:
                return base64.b64decode(data, validate=True).decode() if data else None
            except (binascii.Error, ValueError):
                return None
    return None


def self_signed(
    common_name: str, not_before: dt.datetime, lifetime: dt.timedelta, key=None, ca: bool = True
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A self-signed ECDSA P-256 certificate (PEM) and its key: what stands in for a CA made elsewhere (the
    offline check's anchor and kubeconfig CA; the tests' anchors). Never a trust anchor of a stack."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key

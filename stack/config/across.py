"""The checks across keys: rules that judge several settings together, reporting through the reader."""

from __future__ import annotations

from linkerd_vault_pki.vault_access import CredentialSettings
from stack.config.model import ClusterTarget, PkiConfig, VaultConfig
from stack.config.reader import Reader
from stack.config.rules import CERT_MANAGER_MIN_RENEW_BEFORE, is_loopback


def check_plain_http(r: Reader, key: str, value: str | None) -> None:
    if value and value.startswith("http://") and not is_loopback(value):
        r.fail(
            f"{key}",
            f"{value} is plain http to another host: the Vault token and the certificates "
            "would travel in clear; use https://, or set vaultInsecureHttp to true to accept that",
        )


def check_ports(r: Reader, vault: VaultConfig, targets: tuple[ClusterTarget, ...]) -> None:
    """Each k3d cluster's API and the Vault container need a port of their own on 127.0.0.1."""
    if not r.sound("k3dApiPort", "vaultHostPort"):
        return  # a port that failed is not there to clash
    taken: dict[int, str] = {vault.host_port: "vaultHostPort"} if vault.mode == "docker" else {}
    for t in targets:
        if t.cluster.mode != "k3d":
            continue
        of = f" of cluster {t.key}" if t.key else ""
        if t.cluster.api_port in taken:
            r.fail(
                "k3dApiPort",
                f"{t.cluster.api_port}{of} is also {taken[t.cluster.api_port]}; each k3d "
                "cluster's API and Vault need a port of their own on 127.0.0.1",
            )
        taken.setdefault(t.cluster.api_port, f"the k3dApiPort of cluster {t.key}")


def check_durations(r: Reader, vault: VaultConfig, pki: PkiConfig, cred: CredentialSettings, creates: bool) -> None:
    """The lifetimes must nest: renewBefore < issuer < anchor <= mount max TTL (the last two where ours)."""
    if creates and r.sound("anchorTtl", "pkiMaxLeaseTtl") and pki.anchor_ttl.seconds > vault.max_lease_ttl.seconds:
        r.fail(
            "anchorTtl",
            f"{pki.anchor_ttl.text} is longer than pkiMaxLeaseTtl "
            f"{vault.max_lease_ttl.text}; Vault would cut the anchor short",
        )
    if creates and r.sound("issuerDuration", "anchorTtl") and pki.issuer_duration.seconds >= pki.anchor_ttl.seconds:
        r.fail(
            "issuerDuration",
            f"{pki.issuer_duration.text} must be shorter than anchorTtl "
            f"{pki.anchor_ttl.text}; an issuer cannot outlive the anchor that signs it",
        )
    if r.sound("issuerDuration") and pki.issuer_duration.seconds < 3600:
        r.fail("issuerDuration", f"{pki.issuer_duration.text} is shorter than 1h, cert-manager's minimum")
    if r.sound("issuerRenewBefore") and pki.issuer_renew_before.seconds < CERT_MANAGER_MIN_RENEW_BEFORE:
        r.fail("issuerRenewBefore", f"{pki.issuer_renew_before.text} is shorter than 5m, cert-manager's minimum")
    if (
        r.sound("issuerRenewBefore", "issuerDuration")
        and pki.issuer_renew_before.seconds >= pki.issuer_duration.seconds
    ):
        r.fail(
            "issuerRenewBefore",
            f"{pki.issuer_renew_before.text} must be shorter than issuerDuration {pki.issuer_duration.text}",
        )
    if (
        cred.kind == "token"
        and r.sound("tokenTtl", "issuerDuration")
        and cred.token_ttl.seconds <= pki.issuer_duration.seconds
    ):
        r.fail(
            "tokenTtl",
            f"{cred.token_ttl.text} must be longer than issuerDuration "
            f"{pki.issuer_duration.text}, or the credential dies before the first renewal",
        )
    for key, ttl in (("approleTokenTtl", cred.approle_token_ttl), ("kubernetesTokenTtl", cred.kubernetes_token_ttl)):
        if r.sound(key) and ttl.seconds > 3600:
            r.fail(
                key,
                f"{ttl.text} is longer than 1h; cert-manager logs in for each signing, so keep its tokens short-lived",
            )

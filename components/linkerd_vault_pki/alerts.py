"""The expiry alerts (opt-in, ``prometheusRule: true``): a PrometheusRule that fires before trust lapses.

Three things can end a mesh's trust, and each has an alert:

- **the identity issuer not renewed**: cert-manager's ``certmanager_certificate_expiration_timestamp_seconds``
  (its Certificate metrics, labelled ``name``) for ``linkerd-identity-issuer`` is closer than
  ``issuerRenewBefore`` less an hour: cert-manager should have renewed it by then (Vault refused, the
  credential expired, the anchor is too near its own end);
- **Linkerd's identity holding an old issuer**: identity's own gauge ``issuer_cert_ttl_seconds`` (the remaining
  life of the issuer it signs with, on its admin port) under the same threshold: the Secret was renewed but
  identity skipped it (``IssuerUpdateSkipped``: its roots lack the new anchor) or never saw it;
- **an anchor nearing its end**: no exporter knows an anchor's expiry (Linkerd's is a TODO in its identity
  service), so each anchor's notAfter is written into the rule at every `up`: the alert fires, with no
  scrape at all, once less than the lead time (``anchorExpiryLead``, default a third of its lifetime) is left.

Pure: the program makes the resource (stack/program.py); tests check the rules with the real promtool.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkerd_vault_pki.names import CERTIFICATE_NAME
from linkerd_vault_pki.x509 import anchor_facts

RULE_NAME = "linkerd-vault-pki-expiry"
GROUP = "linkerd-vault-pki.expiry"
RUNBOOK = "docs/operations.md, Rotating the trust anchor"


def _epoch(rfc3339: str) -> int:
    return int(dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def rule_groups(anchor_pems: dict[str, str], renew_before_seconds: int, lead_seconds: int | None) -> list[dict]:
    """The PrometheusRule's ``spec.groups``: the issuer, identity's issuer and one alert per anchor."""
    threshold = max(renew_before_seconds - 3600, 3600)
    rules: list[dict[str, Any]] = [
        {
            "alert": "LinkerdIdentityIssuerNotRenewed",
            "expr": (
                f'certmanager_certificate_expiration_timestamp_seconds{{name="{CERTIFICATE_NAME}"}} - time() '
                f"< {threshold}"
            ),
            "for": "10m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Linkerd's identity issuer was not renewed when due",
                "description": (
                    f"cert-manager renews {CERTIFICATE_NAME} {renew_before_seconds // 3600}h before it expires; it "
                    "has {{ $value | humanizeDuration }} left. Run scripts/stack verify: Vault, the credential or "
                    "the anchor stops it. When it expires, the mesh can issue no certificate."
                ),
            },
        },
        {
            "alert": "LinkerdIdentityHoldsAnOldIssuer",
            "expr": f"issuer_cert_ttl_seconds < {threshold}",
            "for": "10m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Linkerd's identity signs with an issuer near its end",
                "description": (
                    "identity's issuer has {{ $value | humanizeDuration }} left although cert-manager renews it "
                    "earlier: identity skipped the new one (IssuerUpdateSkipped: its roots lack the anchor) or "
                    f"did not see it. Restart the control plane ({RUNBOOK})."
                ),
            },
        },
    ]
    for name, pem in sorted(anchor_pems.items()):
        facts = anchor_facts(pem)
        lead = lead_seconds if lead_seconds is not None else facts.lifetime_seconds // 3
        rules.append(
            {
                "alert": "LinkerdTrustAnchorExpiring",
                "expr": f"vector(time()) > {_epoch(facts.not_after) - lead}",
                "labels": {"severity": "warning", "anchor": name},
                "annotations": {
                    "summary": f"Linkerd's trust anchor {name} expires at {facts.not_after}",
                    "description": (
                        f"{name} ({facts.sha256_fingerprint}) has less than {lead // 3600}h left; when it "
                        f"expires, every proxy that trusts only it stops verifying its peers. Rotate it ({RUNBOOK})."
                    ),
                },
            }
        )
    return [{"name": GROUP, "rules": rules}]

"""The signing anchor's expiry, seen at every preview and up, before it bites.

Vault will not sign past its issuer's notAfter (it refuses, or truncates, by the issuer's
``leaf_not_after_behavior``), so once the signing anchor has less life left than ``issuerDuration``,
cert-manager cannot renew Linkerd's identity issuer and the mesh stops issuing within that issuer's life.
Long before that, a warning: when less than the lead time is left (``anchorExpiryLead``; default a third of the
anchor's own lifetime), the rotation should start, and its phases take at least a day.
"""

from __future__ import annotations

import datetime as dt

from linkerd_vault_pki.problems import Problem
from linkerd_vault_pki.x509 import anchor_facts

RUNBOOK = 'docs/operations.md, "Rotating the trust anchor"'


def time_left(seconds: float) -> str:
    """``2d3h`` or, under a day, ``5h30m``."""
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600}h" if days else f"{rest // 3600}h{rest % 3600 // 60}m"


def signing_anchor_expiry(
    anchor: str, pem: str, issuer_duration: tuple[str, int], lead_seconds: int | None, now: dt.datetime
) -> tuple[list[str], list[Problem]]:
    """Warnings (less than the lead time left) and problems (less than an issuer's lifetime left);
    ``issuer_duration``: as written in config, and in seconds."""
    facts = anchor_facts(pem)
    not_after = dt.datetime.fromisoformat(facts.not_after.replace("Z", "+00:00"))
    left = (not_after - now).total_seconds()
    lead = lead_seconds if lead_seconds is not None else facts.lifetime_seconds // 3
    if left < issuer_duration[1]:
        return [], [
            Problem(
                "issuerDuration",
                f"{issuer_duration[0]} is longer than the signing anchor {anchor} has left "
                f"({time_left(max(left, 0))}, until {facts.not_after}; signingAnchor): Vault will not sign an identity "
                f"issuer past its anchor's expiry, so cert-manager cannot renew it. Rotate now ({RUNBOOK}); "
                "meanwhile a shorter issuerDuration (and issuerRenewBefore) keeps renewals possible",
            )
        ]
    if left < lead:
        return [
            f"signingAnchor: {anchor} expires at {facts.not_after}, in {time_left(left)}, less than the lead time "
            f"{time_left(lead)} (anchorExpiryLead): start a rotation now ({RUNBOOK}); it takes three `up`s and a day"
        ], []
    return [], []

"""Where the Vault side comes from (`vaultSide`), and the anchors: their names, the signing one, the PEMs
of a hand-made PKI."""

from __future__ import annotations

from datetime import datetime

from linkerd_vault_pki import x509
from stack.config.model import DEFAULT_ANCHOR, VaultSideConfig
from stack.config.reader import Reader
from stack.config.rules import ANCHOR_NAME, MAX_ANCHORS, RESERVED_ANCHOR_NAMES, SIGN_PATH, STACK_NAME
from stack.kinds import DNS_LABEL


def read_anchors(r: Reader) -> tuple[tuple[str, ...], str]:
    """The anchors the mount holds (oldest first) and the signing one; see stack/rotation.py for the phases."""
    default = (DEFAULT_ANCHOR,)
    text = r.raw.get("anchors")
    if text is None:
        names: list = list(default)
    elif isinstance(text, str) and not text.lstrip().startswith(("[", "{")):
        names = [n.strip() for n in text.split(",")]
    else:
        names = r.structured("anchors")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            r.fail(
                "anchors", "is not a list of anchor names, such as [anchor-2026-11] or [anchor-2026-11, anchor-2027-02]"
            )
            return default, DEFAULT_ANCHOR
    bad = [n for n in names if not ANCHOR_NAME.match(n) or n in RESERVED_ANCHOR_NAMES]
    if bad:
        r.fail(
            "anchors",
            f"{', '.join(map(repr, bad))} is not an anchor name: a lowercase DNS label of at most 40 "
            "characters, not `default` or `previous-anchor` (it names the Vault issuer and key, the ClusterIssuer "
            "vault-<name> and the bundle source <name>.crt)",
        )
        return default, DEFAULT_ANCHOR
    if not names:
        r.fail("anchors", "is empty; the mount needs an anchor (the default is [linkerd-trust-anchor])")
        return default, DEFAULT_ANCHOR
    if len(set(names)) != len(names):
        r.fail("anchors", f"lists a name twice ({', '.join(names)})")
        return default, DEFAULT_ANCHOR
    if len(names) > MAX_ANCHORS:
        r.fail(
            "anchors",
            f"lists {len(names)} anchors; a rotation holds two at most (the signing one and the one "
            "being added or retired): finish one rotation before starting the next",
        )
        return default, DEFAULT_ANCHOR
    signing = r.raw.get("signingAnchor", names[0])
    if signing not in names:
        r.fail(
            "signingAnchor",
            f"{signing!r} is not one of anchors ({', '.join(names)}); an anchor signs only "
            "while it is in the trust bundle: add it to anchors first",
        )
        return tuple(names), names[0]
    return tuple(names), signing


def read_vault_side(r: Reader, side: str, now: datetime | None) -> VaultSideConfig:
    """What a cluster-only stack consumes: a Vault-only stack's name, or the hand-made PKI's facts."""
    if side == "reference":
        stack = r.get("vaultStack")
        if stack is None:
            r.require(
                "vaultStack",
                "is required when vaultSide is reference: the Vault-only stack of this project "
                "(clusterMode none) that made the Vault side, such as organization/linkerd-vault-pki/pki",
            )
        elif not STACK_NAME.match(stack):
            r.fail("vaultStack", f"{stack!r} is not a stack name such as pki or organization/linkerd-vault-pki/pki")
        consumer = r.get("vaultConsumer")
        if consumer is not None and not DNS_LABEL.match(consumer):
            r.fail("vaultConsumer", f"{consumer!r} is not a consumer name (a lowercase DNS label)")
        return VaultSideConfig(source=side, stack=stack, consumer=consumer)
    if side != "provided":
        return VaultSideConfig(source=side)
    sign_path = r.get("signPath")
    if sign_path is None:
        r.require(
            "signPath",
            "is required when vaultSide is provided: the path cert-manager signs the identity issuer "
            "at, such as pki/issuer/linkerd-trust-anchor/sign-intermediate",
        )
    elif not SIGN_PATH.match(sign_path.strip("/")) or sign_path.strip("/") == "sign-intermediate":
        r.fail(
            "signPath",
            f"{sign_path!r} is not a PKI sign path ending in /sign-intermediate, such as "
            "pki/issuer/linkerd-trust-anchor/sign-intermediate: Linkerd's identity issuer is a CA, and Vault "
            "signs a CA only there (sign or issue paths make leaf certificates)",
        )
        sign_path = None
    if "vaultClusterAddress" not in r.raw:
        r.require(
            "vaultClusterAddress",
            "is required when vaultSide is provided: the address the cluster's cert-manager "
            "reaches Vault at, such as https://vault.example.com",
        )
    pems = _anchor_pems(r, now)
    kind = r.raw.get("credential", r.default("credential"))
    role_id = secret_id = token = None
    if kind == "approle":
        role_id = r.get("approleRoleId")
        if role_id is not None and r.token_problem("approleRoleId", role_id):
            role_id = None
        secret_id = r.get("approleSecretId")
        for key, value in (("approleRoleId", role_id), ("approleSecretId", secret_id)):
            if value is None and r.sound(key):
                how = "--secret " if key == "approleSecretId" else ""
                r.require(
                    f"{key}",
                    f"is required when vaultSide is provided and credential is approle: set it with "
                    f"`pulumi config set {how}{key} ...` (the security team hands it over)",
                )
    elif kind == "token":
        token = r.get("issuerToken")
        if token is None and r.sound("issuerToken"):
            r.require(
                "issuerToken",
                "is required when vaultSide is provided and credential is token: the token "
                "cert-manager signs with; set it with `pulumi config set --secret issuerToken ...`",
            )
    return VaultSideConfig(
        source=side,
        sign_path=sign_path.strip("/") if sign_path else None,
        anchor_pems=pems,
        role_id=role_id,
        secret_id=secret_id,
        token=token,
    )


def _anchor_pems(r: Reader, now: datetime | None) -> tuple[tuple[str, str], ...]:
    value = r.structured("anchorPems") if "anchorPems" in r.raw else None
    if "anchorPems" not in r.raw:
        r.require(
            "anchorPems",
            "is required when vaultSide is provided: the trust anchors' public certificates as a "
            "map of name to PEM, such as {linkerd-trust-anchor: '-----BEGIN CERTIFICATE-----...'}",
        )
        return ()
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        r.fail("anchorPems", "is not a map of anchor name to PEM certificate, such as {linkerd-trust-anchor: <PEM>}")
        return ()
    if len(value) > MAX_ANCHORS:
        r.fail("anchorPems", f"lists {len(value)} anchors; a rotation holds two at most")
        return ()
    found = []
    for name, pem in value.items():
        name = str(name)
        if not ANCHOR_NAME.match(name) or name in RESERVED_ANCHOR_NAMES:
            r.fail(
                "anchorPems",
                f"{name!r} is not an anchor name: a lowercase DNS label of at most 40 characters, "
                "not `default` or `previous-anchor`",
            )
            continue
        if problem := x509.check_anchor_pem(pem, now):
            r.fail(f"anchorPems.{name}", f"{problem}")
            continue
        found.append((name, pem))
    return tuple(found)

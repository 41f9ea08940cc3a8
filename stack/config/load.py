"""`parse` (pure: raw strings in, a `StackConfig` out) and `load` (from the Pulumi runtime)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import pulumi

from linkerd_vault_pki import x509
from linkerd_vault_pki.values import Duration, Secret, parse_duration
from linkerd_vault_pki.vault_access import CredentialSettings
from stack import settings
from stack.config.across import check_durations, check_plain_http, check_ports
from stack.config.clusters import read_cluster_target, read_consumers, read_listed_clusters
from stack.config.mirror import read_mirror
from stack.config.model import (
    DEFAULT_ANCHOR,
    MODE_KEYS,
    ConfigError,
    PkiConfig,
    StackConfig,
    VaultConfig,
)
from stack.config.reader import Reader
from stack.config.rules import (
    DOCKER_RESERVED_NETWORKS,
    RESERVED_MOUNTS,
    foreign_key_message,
    foreign_lookalikes,
)
from stack.config.sides import read_anchors, read_vault_side
from stack.kinds import MOUNT_PATH


def parse(
    raw: Mapping[str, str | None],
    secret_keys: Iterable[str] = (),
    foreign: Iterable[str] = (),
    now: datetime | None = None,
    base: Path | None = None,
) -> StackConfig:
    """Validate raw config values (keys without the project prefix).

    ``foreign``: look-alike keys of other namespaces; ``now``: the time certificates are judged at; ``base``: what
    a relative local chart directory is relative to (the working directory: the project's, under the CLI).
    """
    r = Reader(raw, set(secret_keys))

    for key in sorted(set(r.raw) - set(settings.BY_KEY)):
        r.fail(settings.unknown_key_message(key))
    r.misspelt = frozenset(filter(None, map(settings.meant, set(r.raw) - set(settings.BY_KEY))))
    for key in sorted(foreign):
        r.fail(foreign_key_message(key))
    # The modes decide which keys apply and which are required: with a bad one neither is judged (against
    # a default nobody set); the bad mode and every other value's own problems are still reported.
    r.undecided = any(
        (key in r.raw and r.raw[key] not in choices) or key in r.failed  # bad, or reported empty
        for key, choices in MODE_KEYS.items()
    )
    if not r.undecided:
        # A setting the chosen modes do not use is refused, never silently ignored, and then not read.
        # The modes first: a mode key that is itself unused decides nothing.
        for mode_key in MODE_KEYS:  # in the order they decide each other
            for problem in settings.unused_settings(r.raw, only=(mode_key,)):
                r.fail(problem)
                r.raw.pop(mode_key, None)
                # Modes in conflict (vaultSide on a stack of clusterMode none): what the refused one would
                # have decided is not judged against its default, which nobody set; the one problem says it.
                r.undecided = True
        if not r.undecided:
            for problem in settings.unused_settings(r.raw):
                r.fail(problem)
                r.raw.pop(problem.key, None)

    side = r.get("vaultSide")
    creates = side == "create"
    # A cluster-only stack runs no Vault of its own and configures none: "none" stands for that below.
    vault_mode = r.get("vaultMode") if creates else "none"
    token = r.get("vaultToken")
    if token is None and creates and r.sound("vaultToken"):
        r.require(
            "vaultToken",
            "is required: the token Pulumi uses to configure Vault "
            "(in docker mode also the dev server's root token); set it with "
            "`pulumi config set --secret vaultToken ...` (scripts/stack generates one for the dev stack)",
        )
    address = r.get("vaultAddress")
    if vault_mode == "external" and address is None and "vaultAddress" not in r.raw:
        r.require("vaultAddress", "is required when vaultMode is external, such as https://vault.example.com")
    insecure_http = r.get("vaultInsecureHttp")
    if vault_mode != "docker" and not insecure_http:
        check_plain_http(r, "vaultAddress", address)
    ca_bundle = r.get("vaultCaBundlePem")
    if ca_bundle is not None and (problem := x509.check_ca_bundle_pem(ca_bundle, now)):
        r.fail("vaultCaBundlePem", f"{problem}")
    namespace = r.get("vaultNamespace")
    if namespace is not None and not MOUNT_PATH.match(namespace):
        r.fail("vaultNamespace", f"{namespace!r} is not a Vault namespace path such as team-a or team-a/prod")
    # One Docker network for the stack: the Vault container's and every k3d cluster's.
    network = r.get("dockerNetwork")
    if network in DOCKER_RESERVED_NETWORKS:
        r.fail("dockerNetwork", f"{network} is one of Docker's own networks; name a network of this stack's own")
    # Which credential cert-manager logs in with decides what a cluster's settings must say (read below).
    login = r.raw.get("credential", r.default("credential"))
    if "clusters" in r.raw:
        targets = read_listed_clusters(r, vault_mode, address, insecure_http, network, login)
        top = targets[0] if targets else None
    else:
        top = read_cluster_target(r, "", vault_mode, address, insecure_http, network, login)
        targets = (top,) if top.cluster.mode != "none" else ()
    vault = VaultConfig(
        mode=vault_mode,
        token=token or Secret(""),
        address=address,
        # Listed clusters may each say how they reach Vault; the top-level value (every entry's default)
        # is also where the mount's CA and CRL URLs point.
        cluster_address=top.vault_cluster_address if top and not top.key else r.get("vaultClusterAddress"),
        host_port=r.get("vaultHostPort"),
        pki_path=r.get("pkiPath"),
        max_lease_ttl=r.get("pkiMaxLeaseTtl"),
        ca_bundle_pem=ca_bundle,
        namespace=namespace,
        protect=_protect(r.get("deletionProtection"), vault_mode) if creates else False,
    )

    previous = r.get("previousAnchorPem")
    if previous is not None:
        problem = x509.check_anchor_pem(previous, now)
        if problem:
            r.fail("previousAnchorPem", f"{problem}")
    key_type = r.get("anchorKeyType")
    vault_side = read_vault_side(r, side, now)
    if side == "provided":
        anchors = tuple(name for name, _ in vault_side.anchor_pems) or (DEFAULT_ANCHOR,)
        signing = r.raw.get("signingAnchor", anchors[0])
        if signing not in anchors:
            r.fail("signingAnchor", f"{signing!r} is not one of anchorPems ({', '.join(anchors)})")
            signing = anchors[0]
        elif vault_side.sign_path and r.sound("anchorPems", "signingAnchor"):
            _check_sign_path(r, vault_side.sign_path, signing)
    else:
        anchors, signing = read_anchors(r)
    pki = PkiConfig(
        anchor_common_name=r.get("anchorCommonName"),
        anchor_ttl=r.get("anchorTtl"),
        anchor_key_type=key_type,
        anchor_key_bits=256,
        previous_anchor_pem=previous,
        issuer_duration=r.get("issuerDuration"),
        issuer_renew_before=r.get("issuerRenewBefore"),
        anchors=anchors,
        signing_anchor=signing,
        anchor_expiry_lead=_expiry_lead(r),
        expiry_alerts=r.get("prometheusRule"),
        restart_workloads=r.get("restartMeshedWorkloads"),
        rotation_gates=r.get("rotationGates"),
        workload_cert_lifetime=r.get("workloadCertLifetime"),
    )
    if r.sound("workloadCertLifetime") and not 3600 <= pki.workload_cert_lifetime.seconds <= 30 * 86400:
        r.fail("workloadCertLifetime", f"{pki.workload_cert_lifetime.text} is not from 1h to 720h (30 days)")

    credential = CredentialSettings(
        kind=r.get("credential"),
        token_ttl=r.get("tokenTtl"),
        approle_mount=r.get("approleMount"),
        approle_role="cert-manager",
        approle_token_ttl=r.get("approleTokenTtl"),
        secret_id_version=top.secret_id_version if top and not top.key else 1,
        kubernetes_mount=r.get("kubernetesAuthMount"),
        kubernetes_role=r.get("kubernetesAuthRole"),
        kubernetes_token_ttl=r.get("kubernetesTokenTtl"),
    )

    check_durations(r, vault, pki, credential, creates)
    for key, path, reserved in (
        ("pkiPath", vault.pki_path, RESERVED_MOUNTS),
        ("approleMount", credential.approle_mount, (*RESERVED_MOUNTS, "token")),
        ("kubernetesAuthMount", credential.kubernetes_mount, (*RESERVED_MOUNTS, "token")),
    ):
        if path.split("/")[0].lower() in reserved:
            r.fail(f"{key}", f"{path} is under a path Vault keeps for itself ({', '.join(reserved)}); choose another")
    check_ports(r, vault, targets)
    consumers = read_consumers(r, credential.kind) if cluster_mode_of(r) == "none" else ()
    if credential.kind == "token" and creates:
        max_ttl = r.get("vaultMaxTokenTtl")
        if r.sound("tokenTtl", "vaultMaxTokenTtl") and credential.token_ttl.seconds > max_ttl.seconds:
            r.fail(
                "tokenTtl",
                f"{credential.token_ttl.text} is longer than the Vault's max token TTL "
                f"{max_ttl.text} (vaultMaxTokenTtl); Vault would cut it short",
            )

    mirror = read_mirror(
        r, targets, {t.cluster.k3s_image for t in targets if t.cluster.mode == "k3d"}, base or Path.cwd()
    )

    if r.problems:
        raise ConfigError(dict.fromkeys(r.problems))  # an inherited key's problem once, not once a cluster
    warnings = tuple(
        f"{key}: {soon}"
        for key, pem in (("previousAnchorPem", previous), ("vaultCaBundlePem", ca_bundle))
        if pem
        for soon in x509.expiring_soon(pem, now)
    )
    assert top is not None  # an empty or unreadable `clusters` list is a problem reported above
    return StackConfig(
        cluster=top.cluster,
        vault=vault,
        pki=pki,
        credential=credential,
        linkerd=top.linkerd,
        cert_manager=top.cert_manager,
        warnings=warnings,
        clusters=targets,
        vault_side=vault_side,
        consumers=consumers,
        kubernetes=top.kubernetes if top and top.cluster.mode == "none" and not consumers else None,
        mirror=mirror,
    )


def _check_sign_path(r: Reader, sign_path: str, signing: str) -> None:
    """A hand-made Vault side's sign path must address the signing anchor's own issuer by the name the stack
    gives it: the ClusterIssuer is named after that anchor, and the bundle carries the anchors by name, so a path
    under another issuer signs under an anchor the stack does not track. The mount's default issuer
    (<mount>/root/sign-intermediate) moves whenever anyone changes the default: a rotation must not depend on it
    (docs/design.md, "Rotation")."""
    mount, found, anchor = sign_path.rpartition("/sign-intermediate")[0].rpartition("/issuer/")
    wanted = f"<mount>/issuer/{signing}/sign-intermediate"
    if not found or "/" in anchor or not mount:
        r.fail(
            "signPath",
            f"{sign_path} does not address an issuer by name ({wanted}, as signingAnchor {signing} says): a default "
            "issuer's path (<mount>/root/sign-intermediate) signs with whatever issuer is the mount's default at "
            "that moment, which a rotation or anyone with access to the mount moves",
        )
    elif anchor != signing:
        r.fail(
            "signPath",
            f"{sign_path} signs under the issuer {anchor}, but signingAnchor is {signing}: the identity issuer "
            f"would chain to an anchor the trust bundle does not carry by that name; use {mount}/issuer/{signing}/"
            "sign-intermediate, or set signingAnchor to the anchor that issuer is",
        )


def _expiry_lead(r: Reader) -> Duration | None:
    """anchorExpiryLead, where set (its default, a third of the anchor's life, is the anchor's to say)."""
    text = r.raw.get("anchorExpiryLead")
    if text is None:
        return None
    lead = parse_duration(str(text))
    if lead is None or lead.seconds < 3600:
        r.fail("anchorExpiryLead", f"{text!r} is not a duration of at least 1h, such as 720h")
        return None
    return lead


def _protect(setting: str, vault_mode: str) -> bool:
    """The root of trust is protected wherever it cannot be thrown away: every Vault but the laptop's dev one."""
    return vault_mode != "docker" if setting == "auto" else setting == "true"


def cluster_mode_of(r: Reader) -> str:
    return r.raw.get("clusterMode", r.default("clusterMode"))


def load() -> StackConfig:
    """Read this project's config from the Pulumi runtime and validate it."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{pulumi.get_project()}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {k[len(prefix) :]: str(v) for k, v in everything.items() if k.startswith(prefix)}
    env_secrets = set(runtime_config.get_config_secret_keys_env())
    secret = {k for k in raw if runtime_config.is_config_secret(prefix + k) or prefix + k in env_secrets}
    return parse(raw, secret, foreign_lookalikes(everything, pulumi.get_project()))

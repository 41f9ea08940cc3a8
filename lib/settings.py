"""Every setting of the program, as data: its default, when it applies, what it means.

One table feeds the config parser (which keys exist, which are secrets, which
a mode does not use), the "did you mean" of an unknown key, and the README's
table of keys (``python -m lib.settings`` prints it; a test fails when the
README differs). The value checks themselves live in ``lib/config.py``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lib import versions

Raw = Mapping[str, str]


@dataclass(frozen=True)
class When:
    """The settings under which a key is used; elsewhere setting it is refused (never silently ignored)."""

    text: str  # "clusterMode is k3d"
    test: Callable[[Raw], bool]
    actual: Callable[[Raw], str]  # what the deciding setting is instead, for the message

    def __call__(self, raw: Raw) -> bool:
        return self.test(raw)


def _mode(raw: Raw, key: str) -> str:
    return raw.get(key) or DEFAULTS[key]


def when(key: str, *values: str) -> When:
    return When(
        f"{key} is {' or '.join(values)}",
        lambda raw: _mode(raw, key) in values,
        lambda raw: f"it is {_mode(raw, key)}",
    )


WITH_A_CLUSTER = When(
    "clusterMode is k3d or existing",
    lambda raw: _mode(raw, "clusterMode") != "none",
    lambda raw: "it is none",
)
ON_DOCKER = When(
    "clusterMode is k3d or vaultMode is docker",
    lambda raw: _mode(raw, "clusterMode") == "k3d" or _mode(raw, "vaultMode") == "docker",
    lambda raw: f"clusterMode is {_mode(raw, 'clusterMode')}, vaultMode is {_mode(raw, 'vaultMode')}",
)
LINKERD_INSTALLED = When(
    "linkerd is install",
    lambda raw: _mode(raw, "clusterMode") != "none" and _mode(raw, "linkerd") == "install",
    lambda raw: "clusterMode is none" if _mode(raw, "clusterMode") == "none" else "it is skip",
)


@dataclass(frozen=True)
class Setting:
    key: str
    default: str | None  # as written in config; None: no default (required, or optional)
    doc: str  # the README's "accepted / meaning"
    used_when: When | None = None  # None: every stack uses it
    secret: bool = False
    shown_default: str | None = None  # what the README shows when the default is not a value


SETTINGS: tuple[Setting, ...] = (
    Setting("clusterMode", "k3d", "`k3d`, `existing`, `none`"),
    Setting(
        "clusterName",
        "pki-cluster",
        "k3d cluster name (lowercase DNS label, <= 32 chars)",
        when("clusterMode", "k3d"),
    ),
    Setting("dockerNetwork", "pki-network", "Docker network shared by k3d and Vault", ON_DOCKER),
    Setting("k3dApiPort", "6550", "Kubernetes API port on 127.0.0.1 (1024-65535)", when("clusterMode", "k3d")),
    Setting(
        "k3sImage",
        versions.K3S_IMAGE,
        "the k3s image of the k3d cluster; Linkerd needs Kubernetes >= 1.31; changing it replaces the cluster",
        when("clusterMode", "k3d"),
    ),
    Setting(
        "kubeconfig", None, "**secret**; required with `clusterMode: existing`", when("clusterMode", "existing"), True
    ),
    Setting("kubeContext", None, "context in `kubeconfig`", when("clusterMode", "existing")),
    Setting("vaultMode", "docker", "`docker`, `external`"),
    Setting(
        "vaultToken",
        None,
        "**secret**, required: the token Pulumi configures Vault with; "
        "in `docker` mode also the dev server's root token",
        secret=True,
        shown_default="(generated for `dev` by `scripts/stack`)",
    ),
    Setting(
        "vaultAddress",
        None,
        "required with `vaultMode: external`: scheme, host, port only (`https://vault.example.com`)",
        when("vaultMode", "external"),
    ),
    Setting(
        "vaultClusterAddress",
        None,
        "where the cluster's workloads reach Vault; required for `existing` + `docker`",
        shown_default="docker: container address; external: `vaultAddress`",
    ),
    Setting(
        "vaultInsecureHttp",
        "false",
        "`true` accepts `http://` to a Vault that is not on this host: the token and certificates travel in clear",
        when("vaultMode", "external"),
    ),
    Setting("vaultHostPort", "8200", "the dev container's port on 127.0.0.1", when("vaultMode", "docker")),
    Setting(
        "vaultCaBundlePem",
        None,
        "PEM CA certificate(s) that verify Vault's TLS certificate, for cert-manager (the ClusterIssuer's "
        "`caBundle`); for Pulumi itself set `VAULT_CACERT` in the environment",
        when("vaultMode", "external"),
    ),
    Setting(
        "vaultNamespace",
        None,
        "the Vault Enterprise / OpenBao namespace holding the mount, for both Pulumi and cert-manager",
        when("vaultMode", "external"),
    ),
    Setting("pkiPath", "pki", "PKI mount path"),
    Setting("pkiMaxLeaseTtl", "2160h", "the mount's max lease TTL"),
    Setting("anchorCommonName", "root.linkerd.cluster.local", "the anchor's common name (a lowercase DNS name)"),
    Setting("anchorTtl", "2160h", "must be <= `pkiMaxLeaseTtl`"),
    Setting("anchorKeyType", "ec", "`ec` only (ECDSA P-256: Linkerd accepts no other)"),
    Setting(
        "anchors",
        "[linkerd-trust-anchor]",
        "the anchors generated and kept in the mount, oldest first (Vault issuer names, lowercase DNS labels); "
        "all are in the trust bundle; at most two: a rotation adds one, then retires the old (README, rotation)",
        shown_default="`[linkerd-trust-anchor]`",
    ),
    Setting(
        "signingAnchor",
        None,
        "the anchor that signs the identity issuer; one of `anchors`",
        shown_default="the first of `anchors`",
    ),
    Setting(
        "previousAnchorPem",
        None,
        "a public certificate of an anchor from outside this mount (a mesh migrating here), kept in the bundle",
    ),
    Setting("issuerDuration", "48h", "identity issuer lifetime; >= 1h, < `anchorTtl`"),
    Setting("issuerRenewBefore", "25h", "< `issuerDuration`"),
    Setting("credential", "approle", "`approle`, `token`"),
    Setting(
        "approleMount",
        "linkerd-approle",
        "AppRole auth mount path (a mount of our own, so destroy removes only ours)",
        when("credential", "approle"),
    ),
    Setting("approleTokenTtl", "10m", "TTL of each login's token (<= 1h)", when("credential", "approle")),
    Setting("secretIdVersion", "1", "bump to rotate the AppRole secret_id", when("credential", "approle")),
    Setting("tokenTtl", "767h", "must exceed `issuerDuration`", when("credential", "token")),
    Setting(
        "vaultMaxTokenTtl",
        "768h",
        "the Vault's max token TTL (Vault's default 768h); `tokenTtl` may not exceed it",
        when("credential", "token"),
    ),
    Setting(
        "clusters",
        None,
        "a list of clusters on the one anchor, each `{name, clusterMode: k3d|existing, ...}` with its own "
        "k3dApiPort, k3sImage, kubeconfig (secret), kubeContext, vaultClusterAddress, certManager, trustNamespace, "
        "linkerd, installGatewayApi, readyTimeout, secretIdVersion (unset: the top-level value)",
        WITH_A_CLUSTER,
        shown_default="one cluster, from the top-level keys",
    ),
    Setting(
        "installGatewayApi",
        "true",
        "`linkerd-crds` installs the Gateway API CRDs Linkerd needs; `false` if the cluster has them",
        LINKERD_INSTALLED,
    ),
    Setting(
        "certManager",
        "install",
        f"`install` (cert-manager {versions.CERT_MANAGER.version} and trust-manager "
        f"{versions.TRUST_MANAGER.version} from their charts), "
        "`existing` (the cluster runs them; nothing is installed)",
        WITH_A_CLUSTER,
    ),
    Setting(
        "trustNamespace",
        "cert-manager",
        "cert-manager's cluster resource namespace and trust-manager's trust namespace: "
        "the credential Secret and the anchor ConfigMap go there",
        WITH_A_CLUSTER,
    ),
    Setting(
        "linkerd",
        "install",
        "`install` (linkerd-crds + linkerd-control-plane), "
        "`skip` (another tool installs Linkerd; the PKI is made for it)",
        WITH_A_CLUSTER,
    ),
    Setting(
        "readyTimeout",
        "10m",
        "how long `up` waits for the ClusterIssuer and the Certificate to be Ready and the Bundle Synced (10s to 2h)",
        WITH_A_CLUSTER,
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}
DEFAULTS = {s.key: s.default for s in SETTINGS}
SECRET_KEYS = tuple(s.key for s in SETTINGS if s.secret)
PLAIN_KEYS = tuple(s.key for s in SETTINGS if not s.secret)


def unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, list(BY_KEY), n=1, cutoff=0.6)
    close += [k for k in BY_KEY if k.lower() == key.lower() and k not in close]
    hint = f"; did you mean {close[0]}?" if close else f"; known keys are {', '.join(sorted(BY_KEY))}"
    return f"{key}: is not a setting of this program{hint}"


def unused_settings(raw: Raw) -> list[str]:
    """A message for each key set where the stack's modes do not use it."""
    problems = []
    for setting in SETTINGS:
        if setting.key in raw and setting.used_when is not None and not setting.used_when(raw):
            why = setting.used_when
            problems.append(f"{setting.key}: is only used when {why.text} ({why.actual(raw)})")
    return problems


def markdown_table() -> str:
    lines = ["| key | default | accepted / meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.shown_default if s.shown_default is not None else (f"`{s.default}`" if s.default else "")
        where = f"; only when {s.used_when.text}" if s.used_when is not None else ""
        lines.append(f"| `{s.key}` | {default} | {s.doc}{where} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")

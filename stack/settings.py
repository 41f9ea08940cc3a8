"""Every setting of the program, declared once: its key, kind, default, meaning and when it applies.

One table feeds the config parser (which keys exist, how each is read and checked, which are secrets, which
a mode does not use), the "did you mean" of an unknown key, and the table of keys in docs/configuration.md
(``python -m stack.settings`` prints it; a test fails when they differ). A setting's kind (stack/kinds.py)
reads it (``Reader.get``) and says what it accepts; the checks across keys are stack/config's.

Adding a setting: one row here, plus the code that uses its value (a field of the model in
stack/config/model.py, filled by ``r.get(key)`` in stack/config/load.py, and what the program does with it).
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass

from linkerd_vault_pki import names, versions
from linkerd_vault_pki.problems import Problem
from stack.applies import (
    CERT_MANAGER_NAMESPACED,
    CREATES_VAULT,
    INSTALLS_CHARTS,
    KUBERNETES_LOGIN,
    LINKERD_INSTALLED,
    MAY_LOG_IN_WITH_KUBERNETES,
    ON_DOCKER,
    PROVIDED,
    PULLS_IMAGES,
    REVIEWED_CLUSTER,
    TO_A_VAULT_ELSEWHERE,
    WITH_A_CLUSTER,
    Raw,
    When,
    both,
    either,
    when,
)
from stack.kinds import (
    AUDIENCE,
    BOOLEAN,
    DNS_LABEL,
    DNS_NAME,
    DURATION,
    LOWER_MOUNT_PATH,
    MAX_COMMON_NAME,
    MOUNT_PATH,
    PINNED_IMAGE,
    ROLE_NAME,
    SECRET,
    STRUCTURED,
    TEXT,
    URL,
    Kind,
    Pattern,
    Whole,
    choice,
)


@dataclass(frozen=True)
class Setting:
    key: str
    default: str | None  # as written in config; None: no default (required, or optional)
    kind: Kind  # how it is read, and what it accepts (docs/configuration.md's "accepted")
    doc: str  # what it means (docs/configuration.md's "meaning")
    used_when: When | None = None  # None: every stack uses it
    shown_default: str | None = None  # what docs/configuration.md shows when the default is not a value

    @property
    def secret(self) -> bool:
        return self.kind is SECRET

    def used(self, raw: Raw) -> bool:
        """Whether a stack of these settings (the rest at their defaults) uses this one."""
        return self.used_when is None or self.used_when(with_defaults(raw))

    def why_unused(self, raw: Raw) -> str:
        """The condition under which it is used, and what the deciding setting is instead."""
        assert self.used_when is not None
        return self.used_when.explain(with_defaults(raw))


DNS_LABEL_32 = Pattern(DNS_LABEL, "a lowercase DNS label of at most 32 characters")
NAMESPACE = Pattern(DNS_LABEL, "a namespace name (a lowercase DNS label)")
LOWER_VAULT_MOUNT = Pattern(LOWER_MOUNT_PATH, "a lowercase Vault mount path such as pki or linkerd/pki")

SETTINGS: tuple[Setting, ...] = (
    Setting("clusterMode", "k3d", choice("k3d", "existing", "none"), "the cluster: made by k3d, given, or none"),
    Setting("clusterName", "pki-cluster", DNS_LABEL_32, "k3d cluster name", when("clusterMode", "k3d")),
    Setting("dockerNetwork", "pki-network", DNS_LABEL_32, "Docker network shared by k3d and Vault", ON_DOCKER),
    Setting("k3dApiPort", "6550", Whole(1024, 65535), "Kubernetes API port on 127.0.0.1", when("clusterMode", "k3d")),
    Setting(
        "k3sImage",
        versions.K3S_IMAGE,
        Pattern(
            PINNED_IMAGE,
            "a pinned container image reference (a tag or a digest, at most 255 characters) such as "
            f"{versions.K3S_IMAGE}",
        ),
        "the k3s image of the k3d cluster; Linkerd needs Kubernetes >= 1.31; changing it replaces the cluster",
        when("clusterMode", "k3d"),
    ),
    Setting("kubeconfig", None, SECRET, "required with `clusterMode: existing`", when("clusterMode", "existing")),
    Setting("kubeContext", None, TEXT, "context in `kubeconfig`", when("clusterMode", "existing")),
    Setting(
        "vaultMode", "docker", choice("docker", "external"), "the Vault: a dev container, or one given", CREATES_VAULT
    ),
    Setting(
        "vaultToken",
        None,
        SECRET,
        "required: the token Pulumi configures Vault with; in `docker` mode also the dev server's root token",
        CREATES_VAULT,
        shown_default="(generated for `dev` by `scripts/stack`)",
    ),
    Setting(
        "vaultAddress",
        None,
        URL,
        "required with `vaultMode: external`",
        both(CREATES_VAULT, when("vaultMode", "external")),
    ),
    Setting(
        "vaultClusterAddress",
        None,
        URL,
        "where the cluster's workloads reach Vault; required for `existing` + `docker` and with `vaultSide: provided`",
        shown_default="docker: container address; external: `vaultAddress`; reference: the Vault-only stack's",
    ),
    Setting(
        "vaultInsecureHttp",
        "false",
        BOOLEAN,
        "`true` accepts `http://` to a Vault that is not on this host: the token and certificates travel in clear",
        TO_A_VAULT_ELSEWHERE,
    ),
    Setting(
        "vaultHostPort",
        "8200",
        Whole(1024, 65535),
        "the dev container's port on 127.0.0.1",
        both(CREATES_VAULT, when("vaultMode", "docker")),
    ),
    Setting(
        "vaultCaBundlePem",
        None,
        TEXT,
        "PEM CA certificate(s) that verify Vault's TLS certificate, for cert-manager (the ClusterIssuer's "
        "`caBundle`); for Pulumi itself set `VAULT_CACERT` in the environment",
        TO_A_VAULT_ELSEWHERE,
    ),
    Setting(
        "vaultNamespace",
        None,
        TEXT,
        "the Vault Enterprise / OpenBao namespace holding the mount, for both Pulumi and cert-manager",
        TO_A_VAULT_ELSEWHERE,
    ),
    Setting("pkiPath", "pki", LOWER_VAULT_MOUNT, "PKI mount path", CREATES_VAULT),
    Setting("pkiMaxLeaseTtl", "2160h", DURATION, "the mount's max lease TTL", CREATES_VAULT),
    Setting(
        "anchorCommonName",
        "root.linkerd.cluster.local",
        Pattern(
            DNS_NAME,
            f"a lowercase DNS name of at most {MAX_COMMON_NAME} characters (RFC 5280's limit on a common name)",
        ),
        "the anchor's common name",
        CREATES_VAULT,
    ),
    Setting("anchorTtl", "2160h", DURATION, "must be <= `pkiMaxLeaseTtl`", CREATES_VAULT),
    Setting(
        "anchorKeyType",
        "ec",
        choice(("ec", "ECDSA P-256"), why="Linkerd accepts only ECDSA P-256 issuers and anchors"),
        "the only one: Linkerd accepts no other",
        CREATES_VAULT,
    ),
    Setting(
        "anchors",
        "[linkerd-trust-anchor]",
        STRUCTURED,
        "the anchors generated and kept in the mount, oldest first (Vault issuer names, lowercase DNS labels); "
        "all are in the trust bundle; at most two: a rotation adds one, then retires the old "
        "(docs/operations.md, rotation)",
        CREATES_VAULT,
        shown_default="`[linkerd-trust-anchor]`",
    ),
    Setting(
        "signingAnchor",
        None,
        TEXT,
        "the anchor that signs the identity issuer; one of `anchors` (of `anchorPems` with `vaultSide: provided`)",
        either(CREATES_VAULT, PROVIDED),
        shown_default="the first of `anchors`",
    ),
    Setting(
        "previousAnchorPem",
        None,
        TEXT,
        "a public certificate of an anchor from outside this mount (a mesh migrating here), kept in the bundle",
    ),
    Setting(
        "deletionProtection",
        "auto",
        choice(("auto", "on, but for the laptop's dev container (`vaultMode: docker`)"), "true", "false"),
        "Pulumi `protect` on the PKI mount and the signing anchor's key and issuer, so that no destroy, "
        'replacement or removed stack deletes the root of a live mesh (docs/operations.md, "Taking a Vault side '
        'down")',
        CREATES_VAULT,
    ),
    Setting("issuerDuration", names.ISSUER_DURATION, DURATION, "identity issuer lifetime; >= 1h, < `anchorTtl`"),
    Setting("issuerRenewBefore", names.ISSUER_RENEW_BEFORE, DURATION, "< `issuerDuration`"),
    Setting(
        "anchorExpiryLead",
        None,
        DURATION,
        "preview and up warn once the signing anchor has less life left than this (and refuse an "
        "`issuerDuration` it cannot cover any more); at least 1h",
        shown_default="a third of the signing anchor's lifetime",
    ),
    Setting(
        "prometheusRule",
        "false",
        BOOLEAN,
        "`true`: a PrometheusRule in Linkerd's namespace alerting on the identity issuer (cert-manager's and "
        "Linkerd identity's metrics) and on each anchor's expiry (written into the rule); needs the Prometheus "
        "Operator's CRDs on the cluster",
        WITH_A_CLUSTER,
    ),
    Setting(
        "restartMeshedWorkloads",
        "false",
        BOOLEAN,
        "`true`: within the add and switch phases' `up`, restart every meshed workload namespace by namespace, "
        "waiting for each rollout (after the control plane rolled; after identity took the new issuer), so "
        "each phase is one `up`; off by default: restarting a team's workloads is that team's call",
        LINKERD_INSTALLED,
    ),
    Setting(
        "rotationGates",
        "enforce",
        choice("enforce", ("override", "goes ahead with a warning of what breaks (an emergency: a leaked anchor)")),
        "a switch or retire is refused while the live cluster cannot take it "
        '(docs/operations.md, "Rotating the trust anchor")',
        WITH_A_CLUSTER,
    ),
    Setting(
        "workloadCertLifetime",
        "24h",
        DURATION,
        "Linkerd's `identity.issuer.issuanceLifetime` (its default): `retire` waits this long after the switch for "
        "pods not restarted since; 1h to 30 days",
        WITH_A_CLUSTER,
    ),
    Setting(
        "credential",
        "approle",
        choice("approle", "token", ("kubernetes", "Kubernetes auth: no secret stored anywhere")),
        'what cert-manager logs in to Vault with (README, "Which credential"); with `vaultSide: reference`, the '
        "Vault-only stack's",
        either(CREATES_VAULT, PROVIDED),
    ),
    Setting(
        "approleMount",
        "linkerd-approle",
        Pattern(MOUNT_PATH, "a Vault mount path such as approle"),
        "AppRole auth mount path (a mount of our own, so destroy removes only ours)",
        both(either(CREATES_VAULT, PROVIDED), when("credential", "approle")),
    ),
    Setting(
        "approleTokenTtl",
        "10m",
        DURATION,
        "TTL of each login's token (<= 1h)",
        both(either(CREATES_VAULT, PROVIDED), when("credential", "approle")),
    ),
    Setting(
        "secretIdVersion",
        "1",
        Whole(1, 1_000_000),
        "bump to rotate the AppRole secret_id",
        both(CREATES_VAULT, when("credential", "approle")),
    ),
    Setting(
        "tokenTtl",
        "767h",
        DURATION,
        "must exceed `issuerDuration`",
        both(either(CREATES_VAULT, PROVIDED), when("credential", "token")),
    ),
    Setting(
        "vaultMaxTokenTtl",
        "768h",
        DURATION,
        "the Vault's max token TTL (Vault's default 768h); `tokenTtl` may not exceed it",
        both(CREATES_VAULT, when("credential", "token")),
    ),
    Setting(
        "kubernetesAuthMount",
        "linkerd-kubernetes",
        Pattern(MOUNT_PATH, "a Vault mount path such as linkerd-kubernetes"),
        "Kubernetes auth mount path (a mount's config is one cluster's API server: listed clusters and consumers "
        "each get `<mount>/<name>`); with `vaultSide: provided`, the mount the security team made",
        KUBERNETES_LOGIN,
    ),
    Setting(
        "kubernetesAuthRole",
        "cert-manager",
        Pattern(ROLE_NAME, "a Vault role name such as cert-manager"),
        "the Kubernetes auth role cert-manager logs in as, in each cluster's mount",
        KUBERNETES_LOGIN,
    ),
    Setting(
        "kubernetesTokenTtl",
        "10m",
        DURATION,
        "TTL of each Kubernetes auth login's Vault token (<= 1h)",
        both(CREATES_VAULT, when("credential", "kubernetes")),
    ),
    Setting(
        "kubernetesHost",
        None,
        TEXT,
        "required with `credential: kubernetes` for an `existing` cluster (in a `clusters` entry, its own) and for a "
        "Vault-only stack's one credential: the cluster's API server as Vault reaches it, `https://host[:port]`",
        REVIEWED_CLUSTER,
        shown_default="k3d: the server container on the Docker network",
    ),
    Setting(
        "kubernetesCaCert",
        None,
        TEXT,
        "the PEM CA certificate that verifies that API server (Vault's TokenReview calls)",
        REVIEWED_CLUSTER,
        shown_default="the kubeconfig's `certificate-authority-data` (required with `clusterMode: none`)",
    ),
    Setting(
        "kubernetesApiAudience",
        "https://kubernetes.default.svc.cluster.local",
        Pattern(AUDIENCE, "a token audience such as https://kubernetes.default.svc"),
        "the cluster API server's own token audience (its `--api-audiences`, by default its service account "
        "issuer; EKS: `https://kubernetes.default.svc`): the login token carries it beside ours, so that Vault "
        'may review it with the token itself (docs/design.md, "Kubernetes auth")',
        MAY_LOG_IN_WITH_KUBERNETES,
    ),
    Setting(
        "certManagerServiceAccount",
        "cert-manager",
        Pattern(DNS_NAME, "a ServiceAccount name (a lowercase DNS name)"),
        "cert-manager's controller's ServiceAccount in `trustNamespace`: the one allowed to request the login "
        "token of the ServiceAccount Vault's role binds",
        MAY_LOG_IN_WITH_KUBERNETES,
    ),
    Setting(
        "clusters",
        None,
        STRUCTURED,
        "a list of clusters on the one anchor, each `{name, clusterMode: k3d|existing, ...}` with its own "
        "k3dApiPort, k3sImage, kubeconfig (secret), kubeContext, vaultClusterAddress, certManager, trustNamespace, "
        "linkerd, installGatewayApi, readyTimeout, secretIdVersion, certManagerServiceAccount, kubernetesApiAudience "
        "(unset: the top-level value), and with `credential: kubernetes` an `existing` entry's own kubernetesHost and "
        "kubernetesCaCert",
        both(WITH_A_CLUSTER, CREATES_VAULT),
        shown_default="one cluster, from the top-level keys",
    ),
    Setting(
        "vaultSide",
        "create",
        choice(
            ("create", "this stack makes the mount, anchors, policy and credentials"),
            ("reference", "a Vault-only stack of this project made them: `vaultStack`"),
            ("provided", "made by hand: `signPath`, `anchorPems`, the credential"),
        ),
        "where the Vault side comes from",
        WITH_A_CLUSTER,
    ),
    Setting(
        "vaultStack",
        None,
        TEXT,
        "required with `vaultSide: reference`: the Vault-only stack (`clusterMode: none`), as "
        "`organization/linkerd-vault-pki/<stack>` or `<stack>`",
        when("vaultSide", "reference"),
    ),
    Setting(
        "vaultConsumer",
        None,
        TEXT,
        "which of the Vault-only stack's `consumers` this cluster is (its own credential)",
        when("vaultSide", "reference"),
        shown_default="its one credential, if it declares no `consumers`",
    ),
    Setting(
        "signPath",
        None,
        TEXT,
        "required with `vaultSide: provided`: the path cert-manager signs at, ending in `/sign-intermediate` "
        "(`pki/issuer/<anchor>/sign-intermediate`)",
        PROVIDED,
    ),
    Setting(
        "anchorPems",
        None,
        STRUCTURED,
        "required with `vaultSide: provided`: the anchors to trust, a map of name to PEM "
        "(each a P-256 CA certificate, no key); at most two",
        PROVIDED,
    ),
    Setting(
        "approleRoleId",
        None,
        TEXT,
        "required with `vaultSide: provided` and `credential: approle`",
        both(PROVIDED, when("credential", "approle")),
    ),
    Setting(
        "approleSecretId",
        None,
        SECRET,
        "required with `vaultSide: provided` and `credential: approle`",
        both(PROVIDED, when("credential", "approle")),
    ),
    Setting(
        "issuerToken",
        None,
        SECRET,
        "required with `vaultSide: provided` and `credential: token`: the token cert-manager signs with",
        both(PROVIDED, when("credential", "token")),
    ),
    Setting(
        "consumers",
        None,
        STRUCTURED,
        "a Vault-only stack's consumers: cluster stacks, each with a credential of its own (`cert-manager-<name>`), "
        "as a list of names or of `{name, secretIdVersion}`; with `credential: kubernetes` each "
        "`{name, kubernetesHost, kubernetesCaCert, trustNamespace}` (its cluster's API server, its CA, and "
        "where its cert-manager runs)",
        when("clusterMode", "none"),
        shown_default="one credential, exported flat",
    ),
    Setting(
        "installGatewayApi",
        "true",
        BOOLEAN,
        "`linkerd-crds` installs the Gateway API CRDs Linkerd needs; `false` if the cluster has them",
        LINKERD_INSTALLED,
    ),
    Setting(
        "certManager",
        "install",
        choice(
            (
                "install",
                f"cert-manager {versions.CERT_MANAGER.version} and trust-manager {versions.TRUST_MANAGER.version} "
                "from their charts",
            ),
            ("existing", "the cluster runs them; nothing is installed"),
        ),
        "cert-manager and trust-manager",
        WITH_A_CLUSTER,
    ),
    Setting(
        "trustNamespace",
        "cert-manager",
        NAMESPACE,
        "cert-manager's cluster resource namespace and trust-manager's trust namespace: "
        "the credential Secret (or the ServiceAccount Vault's Kubernetes auth role binds) and the anchor "
        "ConfigMap go there",
        CERT_MANAGER_NAMESPACED,
    ),
    Setting(
        "linkerd",
        "install",
        choice(
            ("install", "linkerd-crds + linkerd-control-plane"),
            ("skip", "another tool installs Linkerd; the PKI is made for it"),
        ),
        "Linkerd's charts",
        WITH_A_CLUSTER,
    ),
    Setting(
        "imageRegistry",
        None,
        TEXT,
        "a registry mirror or pull-through cache, `host[:port][/prefix]` (no scheme): every image the stack makes or "
        "installs is pulled from `<imageRegistry>/<repository path>:<pinned tag>`, k3d's nodes pull through it "
        'too (README, "Air-gapped and mirrored installs")',
        PULLS_IMAGES,
        shown_default="upstream registries",
    ),
    Setting(
        "images",
        None,
        STRUCTURED,
        "single overrides, a map of upstream repository to mirror repository (no tag: the pin is kept), such as "
        "`{quay.io/jetstack/trust-manager: registry.example.com/cm/trust-manager}`",
        PULLS_IMAGES,
    ),
    Setting(
        "imagePullSecret",
        None,
        SECRET,
        'a dockerconfigjson (`{"auths": {"<host>": {"auth": ...}}}`): a Secret in each namespace '
        "the stack installs into, each chart's pull secrets, the Vault container's and k3d nodes' registry auth",
        PULLS_IMAGES,
    ),
    Setting(
        "chartRepository",
        None,
        TEXT,
        "where every chart comes from, at its pinned version: `oci://host/path`, `https://host/path`, or a local "
        "directory (`file:///srv/charts` or a path) of unpacked charts or `helm pull` archives",
        INSTALLS_CHARTS,
        shown_default="each chart's upstream",
    ),
    Setting(
        "chartRepositories",
        None,
        STRUCTURED,
        "per chart, overriding `chartRepository`: a map of chart name (`cert-manager`, `trust-manager`, "
        "`linkerd-crds`, `linkerd-control-plane`) to a repository as above",
        INSTALLS_CHARTS,
    ),
    Setting(
        "readyTimeout",
        "10m",
        DURATION,
        "how long `up` waits for the ClusterIssuer and the Certificate to be Ready and the Bundle Synced (10s to 2h)",
        WITH_A_CLUSTER,
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}
DEFAULTS = {s.key: s.default for s in SETTINGS}


def with_defaults(raw: Raw) -> dict[str, str]:
    """``raw`` over every default: what the conditions of stack/applies.py judge."""
    return {**{k: v for k, v in DEFAULTS.items() if v is not None}, **raw}


def meant(key: str) -> str | None:
    """The setting an unknown key most likely misspells, if one is close."""
    close = difflib.get_close_matches(key, list(BY_KEY), n=1, cutoff=0.6)
    close += [k for k in BY_KEY if k.lower() == key.lower() and k not in close]
    return close[0] if close else None


def unknown_key_message(key: str) -> Problem:
    close = meant(key)
    hint = f"; did you mean {close}?" if close else f"; known keys are {', '.join(sorted(BY_KEY))}"
    return Problem(key, f"is not a setting of this program{hint}")


def unused_settings(raw: Raw, only: tuple[str, ...] = ()) -> list[Problem]:
    """A message for each key set where the stack's modes do not use it (of ``only``, if given)."""
    problems = []
    for setting in SETTINGS:
        if only and setting.key not in only:
            continue
        if setting.key in raw and not setting.used(raw):
            problems.append(
                Problem(
                    setting.key,
                    f"is only used when {setting.why_unused(raw)}; remove it: scripts/stack config rm {setting.key}",
                )
            )
    return problems


def markdown_table() -> str:
    lines = ["| key | default | accepted | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.shown_default if s.shown_default is not None else (f"`{s.default}`" if s.default else "")
        where = f"; only when {s.used_when.text}" if s.used_when is not None else ""
        lines.append(f"| `{s.key}` | {default} | {s.kind.accepted()} | {s.doc}{where} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")

"""Stack configuration: read once, validated at once, frozen.

``parse`` is pure (a mapping of raw strings in, a ``StackConfig`` out) so every
rule is testable offline; ``load`` feeds it from the Pulumi runtime. Every
problem found is reported together, each naming its key and what it accepts,
and nothing is registered before the whole configuration has passed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

import pulumi

from lib import settings, versions, x509

CLUSTER_MODES = ("k3d", "existing", "none")
VAULT_SIDES = ("create", "reference", "provided")
VAULT_MODES = ("docker", "external")
CREDENTIALS = ("approle", "token")
CERT_MANAGER_MODES = ("install", "existing")
LINKERD_MODES = ("install", "skip")
ANCHOR_KEY_TYPES = ("ec",)
# The settings that decide which others apply.
MODE_KEYS = {
    "clusterMode": CLUSTER_MODES,
    "vaultSide": VAULT_SIDES,
    "vaultMode": VAULT_MODES,
    "credential": CREDENTIALS,
    "certManager": CERT_MANAGER_MODES,
    "linkerd": LINKERD_MODES,
}
BOOLEANS = {"true": True, "false": False}


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
_MOUNT_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
# A pinned image: a tag, a digest or both (an untagged name is whatever `latest` is that day). A registry
# host may carry a port. Docker caps a reference at 255 characters.
_PINNED_IMAGE = re.compile(
    r"^(?=.{1,255}$)([a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)
# RFC 5280's upper bound on a common name.
MAX_COMMON_NAME = 64
# A token or id goes into an HTTP header and a container's environment: Vault's are printable ASCII.
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")
TOKEN_KEYS = ("vaultToken", "approleSecretId", "issuerToken", "approleRoleId")
# Lowercase: Vault lowercases policy names, and the signing policy is named after the mount.
_LOWER_MOUNT_PATH = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
_DNS_NAME = re.compile(r"^(?=.{1,64}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration. A RunError ends the program without a traceback."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration:\n{lines}")


class Secret:
    """A secret config value. Its repr never shows the value."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "Secret(***)"

    def output(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.value)


@dataclass(frozen=True)
class Duration:
    """A duration as written in config (``48h``) and in whole seconds."""

    text: str
    seconds: int

    @property
    def vault_ttl(self) -> str:
        """As Vault takes a TTL: whole seconds."""
        return f"{self.seconds}s"


@dataclass(frozen=True)
class ClusterConfig:
    mode: str
    name: str
    network: str
    api_port: int
    kubeconfig: Secret | None
    context: str | None
    k3s_image: str = versions.K3S_IMAGE


@dataclass(frozen=True)
class VaultConfig:
    mode: str
    token: Secret
    address: str | None
    cluster_address: str | None
    host_port: int
    pki_path: str
    max_lease_ttl: Duration
    ca_bundle_pem: str | None = None  # verifies an external Vault's TLS certificate
    namespace: str | None = None  # Vault Enterprise / OpenBao namespace


DEFAULT_ANCHOR = "linkerd-trust-anchor"


@dataclass(frozen=True)
class PkiConfig:
    anchor_common_name: str
    anchor_ttl: Duration
    anchor_key_type: str
    anchor_key_bits: int
    previous_anchor_pem: str | None
    issuer_duration: Duration
    issuer_renew_before: Duration
    # The anchors Vault holds in the mount (issuer names, oldest first), all in the trust bundle,
    # and the one that signs the identity issuer. A rotation is a change of these, one phase per `up`.
    anchors: tuple[str, ...] = (DEFAULT_ANCHOR,)
    signing_anchor: str = DEFAULT_ANCHOR


@dataclass(frozen=True)
class CredentialConfig:
    kind: str
    token_ttl: Duration
    approle_mount: str
    approle_role: str
    approle_token_ttl: Duration
    secret_id_version: int = 1  # the top-level one: a listed cluster has its own


@dataclass(frozen=True)
class CertManagerConfig:
    install: bool  # False: the cluster runs cert-manager and trust-manager already
    # How long `up` waits for the ClusterIssuer and the Certificate to be Ready, the Bundle Synced.
    ready_timeout: Duration = Duration("10m", 600)
    # cert-manager's cluster resource namespace (where a ClusterIssuer reads its Secret) and
    # trust-manager's trust namespace (where a Bundle reads its sources): one namespace.
    namespace: str = "cert-manager"


@dataclass(frozen=True)
class LinkerdConfig:
    install_gateway_api: bool
    install: bool = True  # False: another tool (Argo CD, Flux, the linkerd CLI) installs Linkerd


@dataclass(frozen=True)
class ClusterTarget:
    """One cluster the PKI serves: its own provider, Vault credential, identity issuer and bundle."""

    key: str  # "" for the stack's one cluster (top-level keys); the entry's name for a listed cluster
    cluster: ClusterConfig
    cert_manager: CertManagerConfig
    linkerd: LinkerdConfig
    vault_cluster_address: str | None  # None: the Vault container's or the external Vault's address
    secret_id_version: int = 1


@dataclass(frozen=True)
class VaultSideConfig:
    """Where the Vault side comes from: made by this stack, read from a Vault-only stack, or handed over."""

    source: str = "create"  # create | reference | provided
    stack: str | None = None  # reference: the Vault-only stack
    consumer: str | None = None  # reference: which of its consumers this cluster is (None: its one credential)
    sign_path: str | None = None  # provided
    anchor_pems: tuple[tuple[str, str], ...] = ()  # provided: (name, PEM), in the order given
    role_id: str | None = None  # provided, approle
    secret_id: Secret | None = None  # provided, approle
    token: Secret | None = None  # provided, token

    @property
    def creates(self) -> bool:
        return self.source == "create"


@dataclass(frozen=True)
class Consumer:
    """A cluster stack that consumes a Vault-only stack, with a credential of its own."""

    name: str
    secret_id_version: int = 1


@dataclass(frozen=True)
class StackConfig:
    cluster: ClusterConfig
    vault: VaultConfig
    pki: PkiConfig
    credential: CredentialConfig
    linkerd: LinkerdConfig
    cert_manager: CertManagerConfig = CertManagerConfig(install=True)
    warnings: tuple[str, ...] = ()  # nothing wrong yet, but soon (a certificate about to expire)
    # Every cluster on the anchor: the top-level one, or the `clusters` list; none with clusterMode none.
    clusters: tuple[ClusterTarget, ...] = ()
    vault_side: VaultSideConfig = VaultSideConfig()
    consumers: tuple[Consumer, ...] = ()  # a Vault-only stack's declared consumers

    @property
    def listed(self) -> bool:
        """True when the clusters come from the `clusters` list (their resources and outputs are named)."""
        return any(t.key for t in self.clusters)

    @property
    def needs_docker_network(self) -> bool:
        return any(t.cluster.mode == "k3d" for t in self.clusters) or self.vault.mode == "docker"

    @property
    def credential_keys(self) -> dict[str, int]:
        """A credential for each consumer of the Vault side: key ("" for the one) -> secret_id version."""
        if self.consumers:
            return {c.name: c.secret_id_version for c in self.consumers}
        return {t.key: t.secret_id_version for t in self.clusters} or {"": self.credential.secret_id_version}


class _Reader:
    """Reads raw values, recording every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str | None], secret_keys: set[str]):
        self.problems: list[str] = []
        self.failed: set[str] = set()  # the keys a problem was reported for
        self.raw = {}
        for key, value in raw.items():
            if value is None:
                continue
            if str(value).strip() == "" and key in settings.BY_KEY:
                default = settings.BY_KEY[key].default
                self.fail(
                    f"{key}: is empty; remove it (`pulumi config rm {key}`)"
                    + (f" for the default, {default}" if default else "")
                    + " or give it a value"
                )
                continue
            self.raw[key] = value
        self.secret_keys = secret_keys

    undecided = False  # a mode key is bad: what is required is not known

    def fail(self, message: str) -> None:
        self.problems.append(message)
        self.failed.add(message.split(":", 1)[0].rsplit(".", 1)[-1])

    def sound(self, *keys: str) -> bool:
        """None of ``keys`` failed: a check across them judges values somebody set, not stand-in defaults."""
        return not self.failed.intersection(keys)

    def require(self, message: str) -> None:
        """A key the modes require is missing: a problem only once the modes are known."""
        if not self.undecided:
            self.fail(message)

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.raw.get(key, default)

    def choice(self, key: str, choices: tuple[str, ...], default: str, why: str = "") -> str:
        value = self.raw.get(key, default)
        if value not in choices:
            self.fail(f"{key}: {value!r} is not one of {', '.join(choices)}" + (f" ({why})" if why else ""))
            return default
        return value

    def duration(self, key: str, default: str) -> Duration:
        text = self.raw.get(key, default)
        parsed = parse_duration(text)
        if parsed is None:
            self.fail(
                f"{key}: {text!r} is not a duration; write whole hours, minutes and "
                "seconds such as 48h, 90m, 1h30m or 3600s"
            )
            return parse_duration(default)  # type: ignore[return-value]
        if parsed.seconds > GO_MAX_DURATION_SECONDS:
            self.fail(
                f"{key}: {text} is longer than Go's largest duration (2562047h), which Vault and cert-manager use"
            )
            return parse_duration(default)  # type: ignore[return-value]
        return parsed

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        text = self.raw.get(key, str(default))
        try:
            value = int(text)
        except ValueError:
            self.fail(f"{key}: {text!r} is not a whole number from {low} to {high}")
            return default
        if not low <= value <= high:
            self.fail(f"{key}: {value} is not a whole number from {low} to {high}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        text = self.raw.get(key)
        if text is None:
            return default
        if str(text).lower() not in BOOLEANS:
            self.fail(f"{key}: {text!r} is not one of true, false")
            return default
        return BOOLEANS[str(text).lower()]

    def pattern(self, key: str, default: str, regex: re.Pattern[str], what: str) -> str:
        value = self.raw.get(key, default)
        if not regex.match(value):
            self.fail(f"{key}: {value!r} is not {what}")
            return default
        return value

    def url(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        problem = address_problem(value)
        if problem:
            self.fail(
                f"{key}: {value!r} {problem}; write scheme, host and optional port only, "
                "such as https://vault.example.com or http://10.0.0.5:8200"
            )
            return None
        return value.rstrip("/")

    def token_problem(self, key: str, value: str) -> bool:
        if key in TOKEN_KEYS and not _TOKEN.match(value):
            self.fail(
                f"{key}: is not printable ASCII of at most 4096 characters (it holds a space, newline, NUL or "
                "other character Vault's tokens and ids never hold); it goes into an HTTP header and a container's "
                "environment: give the value alone (`printf %s ... | pulumi config set --secret`)"
            )
            return True
        return False

    def secret(self, key: str) -> Secret | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if self.token_problem(key, str(value)):
            return None
        if key not in self.secret_keys:
            self.fail(
                f"{key}: is stored in plain text; set it with "
                f"`pulumi config set --secret {key} ...` (it must stay a Pulumi secret)"
            )
        return Secret(value)


def kubeconfig_problem(text: str, context: str | None) -> str | None:
    """What keeps ``text`` from being a kubeconfig that holds ``context`` (its contents are never echoed)."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return "kubeconfig: is not YAML; give the file `kubectl config view --raw` prints"
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config" or not doc.get("clusters"):
        return "kubeconfig: is not a kubeconfig (kind Config with clusters, users and contexts)"
    contexts = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    if context is not None and context not in contexts:
        known = ", ".join(map(str, contexts)) or "none"
        return f"kubeContext: {context!r} is not a context of the kubeconfig; it has {known}"
    if context is None and not doc.get("current-context"):
        return "kubeContext: is needed: the kubeconfig has no current-context"
    return None


def address_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a Vault address, in our words (never urllib's exception)."""
    if any(c.isspace() for c in value):
        return "contains a space"
    try:
        parsed = urlparse(value)
        port = parsed.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        return "is not a URL (a bracket, port or character is misplaced)"
    if parsed.scheme not in ("http", "https"):
        return "does not start with http:// or https://"
    if not parsed.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    if parsed.username is not None or parsed.password is not None:
        return "holds a user or password (give the token as the secret vaultToken)"
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or value.endswith(("?", "#")):
        return "has a path, query or fragment"
    return None


def is_loopback(address: str) -> bool:
    host = urlparse(address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Go's time.Duration (cert-manager's, Vault's) holds at most ~292 years.
GO_MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
# cert-manager refuses a renewBefore under 5 minutes.
CERT_MANAGER_MIN_RENEW_BEFORE = 300
# Paths Vault keeps for itself: a mount cannot take them.
RESERVED_MOUNTS = ("sys", "auth", "cubbyhole", "identity")
DOCKER_RESERVED_NETWORKS = ("bridge", "host", "none")


def parse_duration(text: str) -> Duration | None:
    match = _DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    return Duration(text=text.strip(), seconds=total) if total > 0 else None


# Other namespaces' keys that look like ours: they configure a default provider this
# program never uses (it makes its own), so setting them does nothing.
LOOKALIKES = {
    "vault:address": "vaultAddress",
    "vault:token": "vaultToken",
    "vault:namespace": "vaultNamespace",
    "vault:caCertFile": "vaultCaBundlePem",
    "kubernetes:kubeconfig": "kubeconfig",
    "kubernetes:context": "kubeContext",
}


def foreign_key_message(full_key: str) -> str:
    namespace, _, key = full_key.partition(":")
    ours = LOOKALIKES.get(full_key) or (key if key in settings.BY_KEY else None)
    if namespace in ("vault", "kubernetes"):
        return (
            f"{full_key}: configures the default {namespace} provider, which this program does not use; "
            f"set {ours} (in this project's namespace) instead"
        )
    return f"{full_key}: is in namespace {namespace}, not this project's; did you mean {ours}?"


def foreign_lookalikes(full_keys: Iterable[str], project: str) -> list[str]:
    """Keys of other namespaces that someone meant for this program."""
    found = []
    for full_key in full_keys:
        namespace, _, key = full_key.partition(":")
        if namespace != project and (full_key in LOOKALIKES or key in settings.BY_KEY):
            found.append(full_key)
    return found


def parse(
    raw: Mapping[str, str | None],
    secret_keys: Iterable[str] = (),
    foreign: Iterable[str] = (),
    now: datetime | None = None,
) -> StackConfig:
    """Validate raw config values (keys without the project prefix).

    ``foreign``: look-alike keys of other namespaces; ``now``: the time certificates are judged at.
    """
    r = _Reader(raw, set(secret_keys))

    for key in sorted(set(r.raw) - set(settings.BY_KEY)):
        r.fail(settings.unknown_key_message(key))
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
        for problem in settings.unused_settings(r.raw):
            r.fail(problem)
            r.raw.pop(problem.split(":", 1)[0], None)

    side = r.choice("vaultSide", VAULT_SIDES, "create")
    creates = side == "create"
    # A cluster-only stack runs no Vault of its own and configures none: "none" stands for that below.
    vault_mode = r.choice("vaultMode", VAULT_MODES, "docker") if creates else "none"
    token = r.secret("vaultToken")
    if token is None and creates and r.sound("vaultToken"):
        r.require(
            "vaultToken: is required: the token Pulumi uses to configure Vault "
            "(in docker mode also the dev server's root token); set it with "
            "`pulumi config set --secret vaultToken ...` (scripts/stack generates one for the dev stack)"
        )
    address = r.url("vaultAddress")
    if vault_mode == "external" and address is None and "vaultAddress" not in r.raw:
        r.require("vaultAddress: is required when vaultMode is external, such as https://vault.example.com")
    insecure_http = r.boolean("vaultInsecureHttp", False)
    if vault_mode != "docker" and not insecure_http:
        _check_plain_http(r, "vaultAddress", address)
    ca_bundle = r.text("vaultCaBundlePem")
    if ca_bundle is not None and (problem := x509.check_ca_bundle_pem(ca_bundle, now)):
        r.fail(f"vaultCaBundlePem: {problem}")
    namespace = r.text("vaultNamespace")
    if namespace is not None and not _MOUNT_PATH.match(namespace):
        r.fail(f"vaultNamespace: {namespace!r} is not a Vault namespace path such as team-a or team-a/prod")
    # One Docker network for the stack: the Vault container's and every k3d cluster's.
    network = r.pattern("dockerNetwork", "pki-network", _DNS_LABEL, "a lowercase DNS label of at most 32 characters")
    if network in DOCKER_RESERVED_NETWORKS:
        r.fail(f"dockerNetwork: {network} is one of Docker's own networks; name a network of this stack's own")
    if "clusters" in r.raw:
        targets = _listed_clusters(r, vault_mode, address, insecure_http, network)
        top = targets[0] if targets else None
    else:
        top = _cluster_target(r, "", vault_mode, address, insecure_http, network)
        targets = (top,) if top.cluster.mode != "none" else ()
    vault = VaultConfig(
        mode=vault_mode,
        token=token or Secret(""),
        address=address,
        # Listed clusters may each say how they reach Vault; the top-level value (every entry's default)
        # is also where the mount's CA and CRL URLs point.
        cluster_address=top.vault_cluster_address if top and not top.key else r.url("vaultClusterAddress"),
        host_port=r.integer("vaultHostPort", 8200, 1024, 65535),
        pki_path=r.pattern(
            "pkiPath", "pki", _LOWER_MOUNT_PATH, "a lowercase Vault mount path such as pki or linkerd/pki"
        ),
        max_lease_ttl=r.duration("pkiMaxLeaseTtl", "2160h"),
        ca_bundle_pem=ca_bundle,
        namespace=namespace,
    )

    previous = r.text("previousAnchorPem")
    if previous is not None:
        problem = x509.check_anchor_pem(previous, now)
        if problem:
            r.fail(f"previousAnchorPem: {problem}")
    key_type = r.choice(
        "anchorKeyType", ANCHOR_KEY_TYPES, "ec", why="Linkerd accepts only ECDSA P-256 issuers and anchors"
    )
    vault_side = _vault_side(r, side, now)
    if side == "provided":
        anchors = tuple(name for name, _ in vault_side.anchor_pems) or (DEFAULT_ANCHOR,)
        signing = r.raw.get("signingAnchor", anchors[0])
        if signing not in anchors:
            r.fail(f"signingAnchor: {signing!r} is not one of anchorPems ({', '.join(anchors)})")
            signing = anchors[0]
    else:
        anchors, signing = _anchors(r)
    pki = PkiConfig(
        anchor_common_name=r.pattern(
            "anchorCommonName",
            "root.linkerd.cluster.local",
            _DNS_NAME,
            f"a lowercase DNS name of at most {MAX_COMMON_NAME} characters (RFC 5280's limit on a common name)",
        ),
        anchor_ttl=r.duration("anchorTtl", "2160h"),
        anchor_key_type=key_type,
        anchor_key_bits=256,
        previous_anchor_pem=previous,
        issuer_duration=r.duration("issuerDuration", "48h"),
        issuer_renew_before=r.duration("issuerRenewBefore", "25h"),
        anchors=anchors,
        signing_anchor=signing,
    )

    credential = CredentialConfig(
        kind=r.choice("credential", CREDENTIALS, "approle"),
        token_ttl=r.duration("tokenTtl", "767h"),
        approle_mount=r.pattern("approleMount", "linkerd-approle", _MOUNT_PATH, "a Vault mount path such as approle"),
        approle_role="cert-manager",
        approle_token_ttl=r.duration("approleTokenTtl", "10m"),
        secret_id_version=top.secret_id_version if top and not top.key else 1,
    )

    _check_durations(r, vault, pki, credential, creates)
    for key, path, reserved in (
        ("pkiPath", vault.pki_path, RESERVED_MOUNTS),
        ("approleMount", credential.approle_mount, (*RESERVED_MOUNTS, "token")),
    ):
        if path.split("/")[0].lower() in reserved:
            r.fail(f"{key}: {path} is under a path Vault keeps for itself ({', '.join(reserved)}); choose another")
    _check_ports(r, vault, targets)
    consumers = _consumers(r, credential.kind) if cluster_mode_of(r) == "none" else ()
    if credential.kind == "token" and creates:
        max_ttl = r.duration("vaultMaxTokenTtl", "768h")
        if r.sound("tokenTtl", "vaultMaxTokenTtl") and credential.token_ttl.seconds > max_ttl.seconds:
            r.fail(
                f"tokenTtl: {credential.token_ttl.text} is longer than the Vault's max token TTL "
                f"{max_ttl.text} (vaultMaxTokenTtl); Vault would cut it short"
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
    )


def _check_plain_http(r: _Reader, key: str, value: str | None) -> None:
    if value and value.startswith("http://") and not is_loopback(value):
        r.fail(
            f"{key}: {value} is plain http to another host: the Vault token and the certificates "
            "would travel in clear; use https://, or set vaultInsecureHttp to true to accept that"
        )


def _cluster_target(
    r: _Reader, key: str, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str
) -> ClusterTarget:
    """One cluster's settings, from the top-level keys (``key`` "") or a `clusters` entry's reader."""
    mode = r.choice("clusterMode", CLUSTER_MODES if not key else ("k3d", "existing"), "k3d")
    cluster = ClusterConfig(
        mode=mode,
        name=key
        or r.pattern("clusterName", "pki-cluster", _DNS_LABEL, "a lowercase DNS label of at most 32 characters"),
        network=network,
        api_port=r.integer("k3dApiPort", 6550, 1024, 65535),
        kubeconfig=r.secret("kubeconfig"),
        context=r.text("kubeContext"),
        k3s_image=r.pattern(
            "k3sImage",
            versions.K3S_IMAGE,
            _PINNED_IMAGE,
            f"a pinned container image reference (a tag or a digest, at most 255 characters) such as "
            f"{versions.K3S_IMAGE}",
        ),
    )
    if cluster.kubeconfig is not None and (problem := kubeconfig_problem(cluster.kubeconfig.value, cluster.context)):
        r.fail(problem)
    if mode == "existing" and cluster.kubeconfig is None:
        r.require(
            "kubeconfig: is required when clusterMode is existing; set it with "
            "`pulumi config set --secret kubeconfig < ~/.kube/config` (and kubeContext to pick a context)"
        )

    cluster_address = r.url("vaultClusterAddress")
    if vault_mode == "docker" and mode == "existing" and cluster_address is None and "vaultClusterAddress" not in r.raw:
        r.require(
            "vaultClusterAddress: is required when clusterMode is existing and vaultMode is docker: "
            "say how the cluster reaches the Vault container, such as http://192.168.1.20:8200"
        )
    if vault_mode != "docker" and not insecure_http:
        _check_plain_http(r, "vaultClusterAddress", cluster_address)
    reach = cluster_address or (vault_address if vault_mode == "external" else None)
    if reach and is_loopback(reach) and mode == "k3d":
        where = "vaultClusterAddress" if cluster_address else "vaultAddress"
        r.fail(
            f"{where}: {reach} is this host's loopback, which k3d's nodes (containers) cannot reach; "
            "set vaultClusterAddress to an address the cluster reaches"
        )
    if reach and is_loopback(reach) and mode == "existing" and cluster_address is None:
        r.fail(
            f"vaultAddress: {reach} is this host's loopback, which a cluster's pods cannot reach; set "
            "vaultClusterAddress to an address the cluster reaches (or to this one, if the cluster runs on this host)"
        )

    linkerd = LinkerdConfig(
        install_gateway_api=r.boolean("installGatewayApi", True),
        install=r.choice("linkerd", LINKERD_MODES, "install") == "install",
    )
    cert_manager = CertManagerConfig(
        install=r.choice("certManager", CERT_MANAGER_MODES, "install") == "install",
        namespace=r.pattern("trustNamespace", "cert-manager", _DNS_LABEL, "a namespace name (a lowercase DNS label)"),
        ready_timeout=r.duration("readyTimeout", "10m"),
    )
    if r.sound("readyTimeout") and not 10 <= cert_manager.ready_timeout.seconds <= 7200:
        r.fail(f"readyTimeout: {cert_manager.ready_timeout.text} is not from 10s to 2h")
    return ClusterTarget(
        key=key,
        cluster=cluster,
        cert_manager=cert_manager,
        linkerd=linkerd,
        vault_cluster_address=cluster_address,
        secret_id_version=r.integer("secretIdVersion", 1, 1, 1_000_000),
    )


# What a `clusters` entry may set; every other cluster setting is the stack's (top-level) one.
CLUSTER_ENTRY_KEYS = (
    "name",
    "clusterMode",
    "k3dApiPort",
    "k3sImage",
    "kubeconfig",
    "kubeContext",
    "vaultClusterAddress",
    "certManager",
    "trustNamespace",
    "linkerd",
    "installGatewayApi",
    "readyTimeout",
    "secretIdVersion",
)
MAX_CLUSTERS = 200


class _EntryReader(_Reader):
    """A `clusters` entry over the top-level keys: its problems name ``clusters[i].key``."""

    def __init__(self, entry: dict[str, str], inherited: Mapping[str, str], label: str, secret: bool):
        super().__init__({**inherited, **entry}, {"kubeconfig"} if secret else set())
        self.entry = entry
        self.inherited = set(inherited) - set(entry)
        self.label = label

    def fail(self, message: str) -> None:
        # A problem of a top-level value the entry inherits is the top-level key's (reported once).
        key = message.split(":", 1)[0]
        self.failed.add(key)
        self.problems.append(message if key in self.inherited else f"{self.label}.{message}")

    def secret(self, key: str) -> Secret | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if key in self.entry and key not in self.secret_keys:
            self.problems.append(
                f"{self.label}.{key}: is stored in plain text; set it with "
                f"`pulumi config set --secret --path '{self.label}.{key}' ...` (it must stay a Pulumi secret)"
            )
        return Secret(value)


def _listed_clusters(
    r: _Reader, vault_mode: str, vault_address: str | None, insecure_http: bool, network: str
) -> tuple[ClusterTarget, ...]:
    """The `clusters` list: each entry a cluster of its own, the top-level keys its defaults."""
    entries = _structured(r, "clusters")
    if entries is None and "clusters" in r.raw and r.sound("clusters"):
        # A bare `clusters:` in a stack file: YAML's null.
        r.fail("clusters: is empty; list the clusters, or remove the key for the stack's one cluster")
    if entries is None:
        return ()
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        r.fail(
            "clusters: is not a list of clusters; give one entry per cluster, such as "
            "[{name: east, clusterMode: k3d, k3dApiPort: 6551}, {name: west, clusterMode: k3d, k3dApiPort: 6552}]"
        )
        return ()
    if len(entries) > MAX_CLUSTERS:
        r.fail(f"clusters: lists {len(entries)} clusters; at most {MAX_CLUSTERS}")
        return ()
    if "clusterName" in r.raw:
        r.fail("clusterName: is not used when clusters are listed (each entry has its own name); remove it")
    inherited = {k: v for k, v in r.raw.items() if k in CLUSTER_ENTRY_KEYS}
    targets: list[ClusterTarget] = []
    seen: set[str] = set()
    for i, raw_entry in enumerate(entries):
        label = f"clusters[{i}]"
        entry = {str(k): _scalar(v) for k, v in raw_entry.items()}
        for key in sorted(set(entry) - set(CLUSTER_ENTRY_KEYS)):
            close = difflib.get_close_matches(key, CLUSTER_ENTRY_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"an entry takes {', '.join(CLUSTER_ENTRY_KEYS)}"
            r.fail(f"{label}.{key}: is not a setting of a cluster entry; {hint}")
        name = entry.get("name")
        if name is None or not _DNS_LABEL.match(name):
            r.fail(
                f"{label}.name: {name!r} is not a lowercase DNS label of at most 32 characters (each entry needs one)"
            )
            continue
        if name in seen:
            r.fail(f"{label}.name: {name} is listed twice; each cluster needs a name of its own")
            continue
        seen.add(name)
        sub = _EntryReader(
            {k: v for k, v in entry.items() if k in CLUSTER_ENTRY_KEYS and k != "name"},
            inherited,
            label,
            secret="clusters" in r.secret_keys,
        )
        # Whether an entry's key is used depends on the entry's own modes and the stack's (credential, ...).
        for problem in settings.unused_settings({**r.raw, **sub.raw}):
            key = problem.split(":", 1)[0]
            if key in sub.entry:
                sub.fail(problem)
        targets.append(_cluster_target(sub, name, vault_mode, vault_address, insecure_http, network))
        r.problems.extend(sub.problems)
        r.failed |= sub.failed
    return tuple(targets)


def _structured(r: _Reader, key: str):
    """A structured config value: a list or object in Pulumi.<stack>.yaml or set with `--path` (the engine
    hands it over as JSON), or YAML/JSON text set as a string (`[a1, a2]`); None when unreadable."""
    import yaml

    value = r.raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        r.fail(f"{key}: is not a list; write it as YAML in Pulumi.<stack>.yaml or set entries with `--path`")
        return None


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


# A Vault issuer name that is also a Kubernetes name: `vault-<anchor>` is the ClusterIssuer.
_ANCHOR_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
RESERVED_ANCHOR_NAMES = ("default", "previous-anchor")  # Vault's name for the default issuer; previousAnchorPem's key
MAX_ANCHORS = 2  # a rotation holds two anchors: the one that signs and the one coming or going


def _anchors(r: _Reader) -> tuple[tuple[str, ...], str]:
    """The anchors the mount holds (oldest first) and the signing one; see lib/rotation.py for the phases."""
    default = (DEFAULT_ANCHOR,)
    text = r.raw.get("anchors")
    if text is None:
        names: list = list(default)
    elif isinstance(text, str) and not text.lstrip().startswith(("[", "{")):
        names = [n.strip() for n in text.split(",")]
    else:
        names = _structured(r, "anchors")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            r.fail(
                "anchors: is not a list of anchor names, such as [anchor-2026-11] or [anchor-2026-11, anchor-2027-02]"
            )
            return default, DEFAULT_ANCHOR
    bad = [n for n in names if not _ANCHOR_NAME.match(n) or n in RESERVED_ANCHOR_NAMES]
    if bad:
        r.fail(
            f"anchors: {', '.join(map(repr, bad))} is not an anchor name: a lowercase DNS label of at most 40 "
            "characters, not `default` or `previous-anchor` (it names the Vault issuer and key, the ClusterIssuer "
            "vault-<name> and the bundle source <name>.crt)"
        )
        return default, DEFAULT_ANCHOR
    if not names:
        r.fail("anchors: is empty; the mount needs an anchor (the default is [linkerd-trust-anchor])")
        return default, DEFAULT_ANCHOR
    if len(set(names)) != len(names):
        r.fail(f"anchors: lists a name twice ({', '.join(names)})")
        return default, DEFAULT_ANCHOR
    if len(names) > MAX_ANCHORS:
        r.fail(
            f"anchors: lists {len(names)} anchors; a rotation holds two at most (the signing one and the one "
            "being added or retired): finish one rotation before starting the next"
        )
        return default, DEFAULT_ANCHOR
    signing = r.raw.get("signingAnchor", names[0])
    if signing not in names:
        r.fail(
            f"signingAnchor: {signing!r} is not one of anchors ({', '.join(names)}); an anchor signs only "
            "while it is in the trust bundle: add it to anchors first"
        )
        return tuple(names), names[0]
    return tuple(names), signing


def _check_ports(r: _Reader, vault: VaultConfig, targets: tuple[ClusterTarget, ...]) -> None:
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
                f"k3dApiPort: {t.cluster.api_port}{of} is also {taken[t.cluster.api_port]}; each k3d "
                "cluster's API and Vault need a port of their own on 127.0.0.1"
            )
        taken.setdefault(t.cluster.api_port, f"the k3dApiPort of cluster {t.key}")


def _check_durations(r: _Reader, vault: VaultConfig, pki: PkiConfig, cred: CredentialConfig, creates: bool) -> None:
    """The lifetimes must nest: renewBefore < issuer < anchor <= mount max TTL (the last two where ours)."""
    if creates and r.sound("anchorTtl", "pkiMaxLeaseTtl") and pki.anchor_ttl.seconds > vault.max_lease_ttl.seconds:
        r.fail(
            f"anchorTtl: {pki.anchor_ttl.text} is longer than pkiMaxLeaseTtl "
            f"{vault.max_lease_ttl.text}; Vault would cut the anchor short"
        )
    if creates and r.sound("issuerDuration", "anchorTtl") and pki.issuer_duration.seconds >= pki.anchor_ttl.seconds:
        r.fail(
            f"issuerDuration: {pki.issuer_duration.text} must be shorter than anchorTtl "
            f"{pki.anchor_ttl.text}; an issuer cannot outlive the anchor that signs it"
        )
    if r.sound("issuerDuration") and pki.issuer_duration.seconds < 3600:
        r.fail(f"issuerDuration: {pki.issuer_duration.text} is shorter than 1h, cert-manager's minimum")
    if r.sound("issuerRenewBefore") and pki.issuer_renew_before.seconds < CERT_MANAGER_MIN_RENEW_BEFORE:
        r.fail(f"issuerRenewBefore: {pki.issuer_renew_before.text} is shorter than 5m, cert-manager's minimum")
    if (
        r.sound("issuerRenewBefore", "issuerDuration")
        and pki.issuer_renew_before.seconds >= pki.issuer_duration.seconds
    ):
        r.fail(
            f"issuerRenewBefore: {pki.issuer_renew_before.text} must be shorter than "
            f"issuerDuration {pki.issuer_duration.text}"
        )
    if (
        cred.kind == "token"
        and r.sound("tokenTtl", "issuerDuration")
        and cred.token_ttl.seconds <= pki.issuer_duration.seconds
    ):
        r.fail(
            f"tokenTtl: {cred.token_ttl.text} must be longer than issuerDuration "
            f"{pki.issuer_duration.text}, or the credential dies before the first renewal"
        )
    if r.sound("approleTokenTtl") and cred.approle_token_ttl.seconds > 3600:
        r.fail(
            f"approleTokenTtl: {cred.approle_token_ttl.text} is longer than 1h; cert-manager "
            "logs in for each signing, so keep its tokens short-lived"
        )


def cluster_mode_of(r: _Reader) -> str:
    return r.raw.get("clusterMode", "k3d")


# organization/project/stack; Pulumi caps each name at 100 characters.
_STACK_NAME = re.compile(r"^([A-Za-z0-9_.-]{1,100}/){0,2}[A-Za-z0-9_.-]{1,100}$")
_SIGN_PATH = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*/sign-intermediate$")


def _vault_side(r: _Reader, side: str, now: datetime | None) -> VaultSideConfig:
    """What a cluster-only stack consumes: a Vault-only stack's name, or the hand-made PKI's facts."""
    if side == "reference":
        stack = r.text("vaultStack")
        if stack is None:
            r.require(
                "vaultStack: is required when vaultSide is reference: the Vault-only stack of this project "
                "(clusterMode none) that made the Vault side, such as organization/linkerd-vault-pki/pki"
            )
        elif not _STACK_NAME.match(stack):
            r.fail(f"vaultStack: {stack!r} is not a stack name such as pki or organization/linkerd-vault-pki/pki")
        consumer = r.text("vaultConsumer")
        if consumer is not None and not _DNS_LABEL.match(consumer):
            r.fail(f"vaultConsumer: {consumer!r} is not a consumer name (a lowercase DNS label)")
        return VaultSideConfig(source=side, stack=stack, consumer=consumer)
    if side != "provided":
        return VaultSideConfig(source=side)
    sign_path = r.text("signPath")
    if sign_path is None:
        r.require(
            "signPath: is required when vaultSide is provided: the path cert-manager signs the identity issuer "
            "at, such as pki/issuer/linkerd-trust-anchor/sign-intermediate"
        )
    elif not _SIGN_PATH.match(sign_path.strip("/")) or sign_path.strip("/") == "sign-intermediate":
        r.fail(
            f"signPath: {sign_path!r} is not a PKI sign path ending in /sign-intermediate, such as "
            "pki/issuer/linkerd-trust-anchor/sign-intermediate: Linkerd's identity issuer is a CA, and Vault "
            "signs a CA only there (sign or issue paths make leaf certificates)"
        )
        sign_path = None
    if "vaultClusterAddress" not in r.raw:
        r.require(
            "vaultClusterAddress: is required when vaultSide is provided: the address the cluster's cert-manager "
            "reaches Vault at, such as https://vault.example.com"
        )
    pems = _anchor_pems(r, now)
    kind = r.raw.get("credential", "approle")
    role_id = secret_id = token = None
    if kind == "approle":
        role_id = r.text("approleRoleId")
        if role_id is not None and r.token_problem("approleRoleId", role_id):
            role_id = None
        secret_id = r.secret("approleSecretId")
        for key, value in (("approleRoleId", role_id), ("approleSecretId", secret_id)):
            if value is None and r.sound(key):
                how = "--secret " if key == "approleSecretId" else ""
                r.require(
                    f"{key}: is required when vaultSide is provided and credential is approle: set it with "
                    f"`pulumi config set {how}{key} ...` (the security team hands it over)"
                )
    elif kind == "token":
        token = r.secret("issuerToken")
        if token is None and r.sound("issuerToken"):
            r.require(
                "issuerToken: is required when vaultSide is provided and credential is token: the token "
                "cert-manager signs with; set it with `pulumi config set --secret issuerToken ...`"
            )
    return VaultSideConfig(
        source=side,
        sign_path=sign_path.strip("/") if sign_path else None,
        anchor_pems=pems,
        role_id=role_id,
        secret_id=secret_id,
        token=token,
    )


def _anchor_pems(r: _Reader, now: datetime | None) -> tuple[tuple[str, str], ...]:
    value = _structured(r, "anchorPems") if "anchorPems" in r.raw else None
    if "anchorPems" not in r.raw:
        r.require(
            "anchorPems: is required when vaultSide is provided: the trust anchors' public certificates as a "
            "map of name to PEM, such as {linkerd-trust-anchor: '-----BEGIN CERTIFICATE-----...'}"
        )
        return ()
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        r.fail("anchorPems: is not a map of anchor name to PEM certificate, such as {linkerd-trust-anchor: <PEM>}")
        return ()
    if len(value) > MAX_ANCHORS:
        r.fail(f"anchorPems: lists {len(value)} anchors; a rotation holds two at most")
        return ()
    found = []
    for name, pem in value.items():
        name = str(name)
        if not _ANCHOR_NAME.match(name) or name in RESERVED_ANCHOR_NAMES:
            r.fail(
                f"anchorPems: {name!r} is not an anchor name: a lowercase DNS label of at most 40 characters, "
                "not `default` or `previous-anchor`"
            )
            continue
        if problem := x509.check_anchor_pem(pem, now):
            r.fail(f"anchorPems.{name}: {problem}")
            continue
        found.append((name, pem))
    return tuple(found)


def _consumers(r: _Reader, credential: str) -> tuple[Consumer, ...]:
    """A Vault-only stack's consumers: each a credential of its own, revocable alone."""
    if "consumers" not in r.raw:
        return ()
    entries = _structured(r, "consumers")
    if not isinstance(entries, list) or not entries:
        r.fail("consumers: is not a list of consumer names, such as [east, west] or [{name: east, secretIdVersion: 2}]")
        return ()
    found: list[Consumer] = []
    for i, entry in enumerate(entries):
        item = entry if isinstance(entry, dict) else {"name": entry}
        name = _scalar(item.get("name"))
        unknown = sorted(set(map(str, item)) - {"name", "secretIdVersion"})
        if unknown:
            r.fail(
                f"consumers[{i}].{unknown[0]}: is not a setting of a consumer; a consumer takes name, secretIdVersion"
            )
            continue
        if not _DNS_LABEL.match(name):
            r.fail(f"consumers[{i}].name: {name!r} is not a lowercase DNS label of at most 32 characters")
            continue
        if any(c.name == name for c in found):
            r.fail(f"consumers[{i}].name: {name} is listed twice; each consumer needs a name of its own")
            continue
        version = 1
        if "secretIdVersion" in item:
            if credential != "approle":
                r.fail(f"consumers[{i}].secretIdVersion: is only used when credential is approle (it is {credential})")
                continue
            text = _scalar(item["secretIdVersion"])
            if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
                r.fail(f"consumers[{i}].secretIdVersion: {text!r} is not a whole number from 1 to 1000000")
                continue
            version = int(text)
        found.append(Consumer(name, version))
    if len(found) > MAX_CLUSTERS:
        r.fail(f"consumers: lists {len(found)} consumers; at most {MAX_CLUSTERS}")
    return tuple(found)


def load() -> StackConfig:
    """Read this project's config from the Pulumi runtime and validate it."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{pulumi.get_project()}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {k[len(prefix) :]: str(v) for k, v in everything.items() if k.startswith(prefix)}
    env_secrets = set(runtime_config.get_config_secret_keys_env())
    secret = {k for k in raw if runtime_config.is_config_secret(prefix + k) or prefix + k in env_secrets}
    return parse(raw, secret, foreign_lookalikes(everything, pulumi.get_project()))

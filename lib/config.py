"""Stack configuration: read once, validated at once, frozen.

``parse`` is pure (a mapping of raw strings in, a ``StackConfig`` out) so every
rule is testable offline; ``load`` feeds it from the Pulumi runtime. Every
problem found is reported together, each naming its key and what it accepts,
and nothing is registered before the whole configuration has passed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

import pulumi

from lib import settings, versions, x509

CLUSTER_MODES = ("k3d", "existing", "none")
VAULT_MODES = ("docker", "external")
CREDENTIALS = ("approle", "token")
CERT_MANAGER_MODES = ("install", "existing")
LINKERD_MODES = ("install", "skip")
ANCHOR_KEY_TYPES = ("ec",)
BOOLEANS = {"true": True, "false": False}

# Every key this program reads, and which are secrets: from the table of settings.
PLAIN_KEYS = settings.PLAIN_KEYS
SECRET_KEYS = settings.SECRET_KEYS

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
_MOUNT_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
# Lowercase: Vault lowercases policy names, and the signing policy is named after the mount.
_LOWER_MOUNT_PATH = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


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


@dataclass(frozen=True)
class PkiConfig:
    anchor_common_name: str
    anchor_ttl: Duration
    anchor_key_type: str
    anchor_key_bits: int
    previous_anchor_pem: str | None
    issuer_duration: Duration
    issuer_renew_before: Duration


@dataclass(frozen=True)
class CredentialConfig:
    kind: str
    token_ttl: Duration
    approle_mount: str
    approle_role: str
    approle_token_ttl: Duration
    secret_id_version: int


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
class StackConfig:
    cluster: ClusterConfig
    vault: VaultConfig
    pki: PkiConfig
    credential: CredentialConfig
    linkerd: LinkerdConfig
    cert_manager: CertManagerConfig = CertManagerConfig(install=True)
    warnings: tuple[str, ...] = ()  # nothing wrong yet, but soon (a certificate about to expire)

    @property
    def has_cluster(self) -> bool:
        return self.cluster.mode != "none"

    @property
    def needs_docker_network(self) -> bool:
        return self.cluster.mode == "k3d" or self.vault.mode == "docker"


class _Reader:
    """Reads raw values, recording every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str | None], secret_keys: set[str]):
        self.problems: list[str] = []
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

    def fail(self, message: str) -> None:
        self.problems.append(message)

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

    def secret(self, key: str) -> Secret | None:
        value = self.raw.get(key)
        if value is None:
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
    # A setting the chosen modes do not use is refused, never silently ignored.
    for problem in settings.unused_settings(r.raw):
        r.fail(problem)

    cluster = ClusterConfig(
        mode=r.choice("clusterMode", CLUSTER_MODES, "k3d"),
        name=r.pattern("clusterName", "pki-cluster", _DNS_LABEL, "a lowercase DNS label of at most 32 characters"),
        network=r.pattern("dockerNetwork", "pki-network", _DNS_LABEL, "a lowercase DNS label of at most 32 characters"),
        api_port=r.integer("k3dApiPort", 6550, 1024, 65535),
        kubeconfig=r.secret("kubeconfig"),
        context=r.text("kubeContext"),
        k3s_image=r.pattern(
            "k3sImage", versions.K3S_IMAGE, _IMAGE, f"a container image reference such as {versions.K3S_IMAGE}"
        ),
    )
    if cluster.network in DOCKER_RESERVED_NETWORKS:
        r.fail(f"dockerNetwork: {cluster.network} is one of Docker's own networks; name a network of this stack's own")
    if cluster.kubeconfig is not None and (problem := kubeconfig_problem(cluster.kubeconfig.value, cluster.context)):
        r.fail(problem)
    if cluster.mode == "existing" and cluster.kubeconfig is None:
        r.fail(
            "kubeconfig: is required when clusterMode is existing; set it with "
            "`pulumi config set --secret kubeconfig < ~/.kube/config` (and kubeContext to pick a context)"
        )

    vault_mode = r.choice("vaultMode", VAULT_MODES, "docker")
    token = r.secret("vaultToken")
    if token is None:
        r.fail(
            "vaultToken: is required: the token Pulumi uses to configure Vault "
            "(in docker mode also the dev server's root token); set it with "
            "`pulumi config set --secret vaultToken ...` (scripts/stack generates one for the dev stack)"
        )
    address = r.url("vaultAddress")
    cluster_address = r.url("vaultClusterAddress")
    if vault_mode == "external" and address is None and "vaultAddress" not in r.raw:
        r.fail("vaultAddress: is required when vaultMode is external, such as https://vault.example.com")
    if (
        vault_mode == "docker"
        and cluster.mode == "existing"
        and cluster_address is None
        and "vaultClusterAddress" not in r.raw
    ):
        r.fail(
            "vaultClusterAddress: is required when clusterMode is existing and vaultMode is docker: "
            "say how the cluster reaches the Vault container, such as http://192.168.1.20:8200"
        )
    insecure_http = r.boolean("vaultInsecureHttp", False)
    if vault_mode == "external" and not insecure_http:
        for key, value in (("vaultAddress", address), ("vaultClusterAddress", cluster_address)):
            if value and value.startswith("http://") and not is_loopback(value):
                r.fail(
                    f"{key}: {value} is plain http to another host: the Vault token and the certificates "
                    "would travel in clear; use https://, or set vaultInsecureHttp to true to accept that"
                )
    reach = cluster_address or (address if vault_mode == "external" else None)
    if reach and is_loopback(reach) and cluster.mode == "k3d":
        key = "vaultClusterAddress" if cluster_address else "vaultAddress"
        r.fail(
            f"{key}: {reach} is this host's loopback, which k3d's nodes (containers) cannot reach; "
            "set vaultClusterAddress to an address the cluster reaches"
        )
    if reach and is_loopback(reach) and cluster.mode == "existing" and cluster_address is None:
        r.fail(
            f"vaultAddress: {reach} is this host's loopback, which a cluster's pods cannot reach; set "
            "vaultClusterAddress to an address the cluster reaches (or to this one, if the cluster runs on this host)"
        )
    ca_bundle = r.text("vaultCaBundlePem")
    if ca_bundle is not None and (problem := x509.check_ca_bundle_pem(ca_bundle, now)):
        r.fail(f"vaultCaBundlePem: {problem}")
    namespace = r.text("vaultNamespace")
    if namespace is not None and not _MOUNT_PATH.match(namespace):
        r.fail(f"vaultNamespace: {namespace!r} is not a Vault namespace path such as team-a or team-a/prod")
    vault = VaultConfig(
        mode=vault_mode,
        token=token or Secret(""),
        address=address,
        cluster_address=cluster_address,
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
    pki = PkiConfig(
        anchor_common_name=r.pattern(
            "anchorCommonName", "root.linkerd.cluster.local", _DNS_NAME, "a lowercase DNS name"
        ),
        anchor_ttl=r.duration("anchorTtl", "2160h"),
        anchor_key_type=key_type,
        anchor_key_bits=256,
        previous_anchor_pem=previous,
        issuer_duration=r.duration("issuerDuration", "48h"),
        issuer_renew_before=r.duration("issuerRenewBefore", "25h"),
    )

    credential = CredentialConfig(
        kind=r.choice("credential", CREDENTIALS, "approle"),
        token_ttl=r.duration("tokenTtl", "767h"),
        approle_mount=r.pattern("approleMount", "linkerd-approle", _MOUNT_PATH, "a Vault mount path such as approle"),
        approle_role="cert-manager",
        approle_token_ttl=r.duration("approleTokenTtl", "10m"),
        secret_id_version=r.integer("secretIdVersion", 1, 1, 1_000_000),
    )

    _check_durations(r, vault, pki, credential)
    for key, path, reserved in (
        ("pkiPath", vault.pki_path, RESERVED_MOUNTS),
        ("approleMount", credential.approle_mount, (*RESERVED_MOUNTS, "token")),
    ):
        if path.split("/")[0].lower() in reserved:
            r.fail(f"{key}: {path} is under a path Vault keeps for itself ({', '.join(reserved)}); choose another")
    if cluster.mode == "k3d" and vault.mode == "docker" and cluster.api_port == vault.host_port:
        r.fail(
            f"k3dApiPort: {cluster.api_port} is also vaultHostPort; the Kubernetes API and Vault need a port each "
            "on 127.0.0.1"
        )
    if credential.kind == "token":
        max_ttl = r.duration("vaultMaxTokenTtl", "768h")
        if credential.token_ttl.seconds > max_ttl.seconds:
            r.fail(
                f"tokenTtl: {credential.token_ttl.text} is longer than the Vault's max token TTL "
                f"{max_ttl.text} (vaultMaxTokenTtl); Vault would cut it short"
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
    if not 10 <= cert_manager.ready_timeout.seconds <= 7200:
        r.fail(f"readyTimeout: {cert_manager.ready_timeout.text} is not from 10s to 2h")

    if r.problems:
        raise ConfigError(r.problems)
    warnings = tuple(
        f"{key}: {soon}"
        for key, pem in (("previousAnchorPem", previous), ("vaultCaBundlePem", ca_bundle))
        if pem
        for soon in x509.expiring_soon(pem, now)
    )
    return StackConfig(
        cluster=cluster,
        vault=vault,
        pki=pki,
        credential=credential,
        linkerd=linkerd,
        cert_manager=cert_manager,
        warnings=warnings,
    )


def _check_durations(r: _Reader, vault: VaultConfig, pki: PkiConfig, cred: CredentialConfig) -> None:
    """The lifetimes must nest: renewBefore < issuer < anchor <= mount max TTL."""
    if pki.anchor_ttl.seconds > vault.max_lease_ttl.seconds:
        r.fail(
            f"anchorTtl: {pki.anchor_ttl.text} is longer than pkiMaxLeaseTtl "
            f"{vault.max_lease_ttl.text}; Vault would cut the anchor short"
        )
    if pki.issuer_duration.seconds >= pki.anchor_ttl.seconds:
        r.fail(
            f"issuerDuration: {pki.issuer_duration.text} must be shorter than anchorTtl "
            f"{pki.anchor_ttl.text}; an issuer cannot outlive the anchor that signs it"
        )
    if pki.issuer_duration.seconds < 3600:
        r.fail(f"issuerDuration: {pki.issuer_duration.text} is shorter than 1h, cert-manager's minimum")
    if pki.issuer_renew_before.seconds < CERT_MANAGER_MIN_RENEW_BEFORE:
        r.fail(f"issuerRenewBefore: {pki.issuer_renew_before.text} is shorter than 5m, cert-manager's minimum")
    if pki.issuer_renew_before.seconds >= pki.issuer_duration.seconds:
        r.fail(
            f"issuerRenewBefore: {pki.issuer_renew_before.text} must be shorter than "
            f"issuerDuration {pki.issuer_duration.text}"
        )
    if cred.kind == "token" and cred.token_ttl.seconds <= pki.issuer_duration.seconds:
        r.fail(
            f"tokenTtl: {cred.token_ttl.text} must be longer than issuerDuration "
            f"{pki.issuer_duration.text}, or the credential dies before the first renewal"
        )
    if cred.approle_token_ttl.seconds > 3600:
        r.fail(
            f"approleTokenTtl: {cred.approle_token_ttl.text} is longer than 1h; cert-manager "
            "logs in for each signing, so keep its tokens short-lived"
        )


def load() -> StackConfig:
    """Read this project's config from the Pulumi runtime and validate it."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{pulumi.get_project()}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {k[len(prefix) :]: str(v) for k, v in everything.items() if k.startswith(prefix)}
    env_secrets = set(runtime_config.get_config_secret_keys_env())
    secret = {k for k in raw if runtime_config.is_config_secret(prefix + k) or prefix + k in env_secrets}
    return parse(raw, secret, foreign_lookalikes(everything, pulumi.get_project()))

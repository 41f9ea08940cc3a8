"""The guardrails a pull request must not break, as plain functions over resource properties.

Each rule takes what the engine shows a policy pack (a resource's type and
input properties, or every resource of the stack) and returns its violations,
each saying what to do instead. ``__main__.py`` turns them into a CrossGuard
policy pack; the unit tests run them on the program as it renders under mocks
in every mode, and on programs broken on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from linkerd_vault_pki import images
from linkerd_vault_pki.values import DURATION

Props = Mapping[str, Any]

VAULT_POLICY = "vault:index/policy:Policy"
ROOT_CERT = "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert"
PKI_KEY = "vault:pkiSecret/secretBackendKey:SecretBackendKey"
MOUNT = "vault:index/mount:Mount"
TOKEN = "vault:index/token:Token"
KUBERNETES_ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
BUNDLE = "kubernetes:trust.cert-manager.io/v1alpha1:Bundle"
RELEASE = "kubernetes:helm.sh/v3:Release"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:local:Command"

_PATH_BLOCK = re.compile(r'path\s+"([^"]*)"\s*\{([^}]*)\}', re.S)
_CAPABILITIES = re.compile(r"capabilities\s*=\s*\[([^\]]*)\]")
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Props
    protect: bool = False  # the resource option, as the engine shows it to a stack policy


def seconds(value: Any) -> int | None:
    """A Go/Vault duration (``48h``, ``1h30m``, ``3600s``) or a number of seconds, in seconds."""
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return int(value)
    match = DURATION.match(value)  # the project's one grammar (linkerd_vault_pki.values)
    if not match or not any(match.groups()):
        return None
    hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + secs


def vault_policy_least_privilege(props: Props) -> list[str]:
    text = str(props.get("policy") or "")
    blocks = _PATH_BLOCK.findall(text)
    if not blocks:
        return ["the Vault policy grants no path; it must grant update on one sign-intermediate path"]
    found = []
    for path, body in blocks:
        capabilities = sorted(
            c.strip().strip('"') for m in _CAPABILITIES.findall(body) for c in m.split(",") if c.strip()
        )
        if any(ch in path for ch in "*+"):
            found.append(f'path "{path}" is a glob; name the one sign-intermediate path instead')
        if not path.endswith("/sign-intermediate"):
            found.append(f'path "{path}" is not a sign-intermediate path; cert-manager needs nothing else')
        if capabilities != ["update"]:
            found.append(f'path "{path}" grants {capabilities}; grant exactly ["update"] (no sudo, no read, no list)')
    return found


def anchor_generated_in_vault(props: Props) -> list[str]:
    """The anchor is signed inside Vault with a key generated there: type internal, or existing with a
    key_ref to a key of the mount (whose own rule, ``anchor_key_generated_in_vault``, says it is internal)."""
    found = []
    kind = props.get("type")
    if kind not in ("internal", "existing") or (kind == "existing" and not props.get("keyRef")):
        found.append(
            "the anchor must be generated inside Vault (type internal, or existing with a keyRef to a key "
            "generated in the mount): its key must never leave Vault"
        )
    if props.get("keyType") != "ec" or props.get("keyBits") not in (None, 256):
        found.append("the anchor must be ECDSA P-256 (keyType ec, keyBits 256): Linkerd accepts no other")
    return found


def anchor_key_generated_in_vault(props: Props) -> list[str]:
    found = []
    if props.get("type") != "internal":
        found.append("a PKI key must be generated inside Vault (type internal): it must never leave Vault")
    if props.get("keyType") != "ec" or props.get("keyBits") not in (None, 256):
        found.append("a PKI key must be ECDSA P-256 (keyType ec, keyBits 256): Linkerd accepts no other")
    return found


def identity_issuer_certificate(props: Props) -> list[str]:
    spec = props.get("spec") or {}
    found = []
    if spec.get("isCA") is not True:
        found.append("the identity issuer must be a CA (isCA: true): it signs the proxies' certificates")
    key = spec.get("privateKey") or {}
    if key.get("algorithm") != "ECDSA" or key.get("size") not in (None, 256):
        found.append("the identity issuer must be ECDSA P-256 (privateKey algorithm ECDSA, size 256)")
    renew = seconds(spec.get("renewBefore"))
    if renew is None or renew < 300:
        found.append("renewBefore must be at least 5m (cert-manager's minimum)")
    return found


def bundle_targets_labelled_namespaces(props: Props) -> list[str]:
    spec = props.get("spec") or {}
    found = []
    selector = ((spec.get("target") or {}).get("namespaceSelector") or {}).get("matchLabels") or {}
    if not selector:
        found.append("the trust Bundle must target namespaces by label (namespaceSelector.matchLabels); "
                     "without it trust-manager writes the bundle into every namespace")  # fmt: skip
    for source in spec.get("sources") or []:
        if "secret" in source:
            found.append("a trust Bundle source is a Secret; take the anchor's public certificate from a ConfigMap "
                         "(a Secret, such as the issuer's, holds a private key)")  # fmt: skip
        if "PRIVATE KEY" in str(source.get("inLine", "")):
            found.append("a trust Bundle source holds a private key")
    return found


def helm_release_pinned(props: Props) -> list[str]:
    version = str(props.get("version") or "")
    if not _EXACT_VERSION.match(version):
        return [f"chart {props.get('chart')} is not pinned to an exact version ({version or 'none'}); pin one"]
    return []


def token_expires(props: Props) -> list[str]:
    if props.get("period") or seconds(props.get("ttl")) in (None, 0):
        return ["the Vault token has no fixed lifetime; give it a ttl (and export when it ends), or use AppRole"]
    return []


# A login's token lives this long at most: cert-manager logs in for each signing.
MAX_LOGIN_TTL_SECONDS = 3600


def kubernetes_role_binds_one_service_account(props: Props) -> list[str]:
    """A Kubernetes auth role is one ServiceAccount's, in one namespace, for one audience, with short tokens."""
    found = []
    for key, what in (
        ("boundServiceAccountNames", "ServiceAccount name"),
        ("boundServiceAccountNamespaces", "namespace"),
    ):
        bound = list(props.get(key) or [])
        if len(bound) != 1 or any(not isinstance(b, str) or "*" in b or not b for b in bound):
            found.append(f"the role binds {bound or 'no'} {what}s; bind exactly one (no wildcard)")
    if props.get("boundServiceAccountNamespaceSelector"):
        found.append("the role binds namespaces by label selector; bind exactly one namespace by name")
    if not props.get("audience"):
        found.append("the role checks no audience; require the one the ClusterIssuer's serviceAccountRef asks for")
    for key in ("tokenTtl", "tokenMaxTtl"):
        ttl = seconds(props.get(key))
        if ttl is None or not 0 < ttl <= MAX_LOGIN_TTL_SECONDS:
            found.append(f"the role's {key} ({props.get(key)}) is not bounded: give 1s to {MAX_LOGIN_TTL_SECONDS}s")
    if props.get("tokenPeriod"):
        found.append("the role issues periodic tokens, which never expire while renewed; remove tokenPeriod")
    return found


@dataclass(frozen=True)
class Rule:
    """One guardrail: the resource type it reads, its name and description in the pack, and its check."""

    type: str
    name: str
    description: str
    check: Callable[[Props], list[str]]
    advisory: bool = False  # reported, but does not fail the preview


# The one table of rules: the policy pack (__main__.py) and the unit tests both read it.
RULES = (
    Rule(
        VAULT_POLICY,
        "vault-policy-least-privilege",
        "A Vault policy grants only update on a sign-intermediate path",
        vault_policy_least_privilege,
    ),
    Rule(
        ROOT_CERT,
        "anchor-generated-in-vault",
        "The trust anchor is generated inside Vault, ECDSA P-256",
        anchor_generated_in_vault,
    ),
    Rule(
        PKI_KEY,
        "anchor-key-generated-in-vault",
        "A PKI key is generated inside Vault, ECDSA P-256",
        anchor_key_generated_in_vault,
    ),
    Rule(
        CERTIFICATE,
        "identity-issuer-certificate",
        "The identity issuer is a P-256 CA, renewed >= 5m before expiry",
        identity_issuer_certificate,
    ),
    Rule(
        BUNDLE,
        "trust-bundle-labelled-targets",
        "The trust bundle targets labelled namespaces, from no Secret",
        bundle_targets_labelled_namespaces,
    ),
    Rule(RELEASE, "helm-release-pinned", "Every Helm release pins an exact chart version", helm_release_pinned),
    Rule(
        KUBERNETES_ROLE,
        "kubernetes-role-binds-one-service-account",
        "A Kubernetes auth role binds exactly one ServiceAccount and namespace, with bounded token TTLs",
        kubernetes_role_binds_one_service_account,
    ),
    Rule(TOKEN, "vault-token-expires", "A Vault token credential has a fixed lifetime", token_expires, advisory=True),
)
RESOURCE_RULES = {rule.type: rule.check for rule in RULES}
STACK_RULE = (
    "lifetimes-nest",
    "The anchor fits its mount's max TTL; the issuer is shorter-lived than the anchor",
)


def lifetimes_nest(resources: Iterable[Resource]) -> list[str]:
    """The anchor lives no longer than its mount allows, the issuer shorter than the anchor."""
    resources = list(resources)
    mounts = {r.props.get("path"): seconds(r.props.get("maxLeaseTtlSeconds")) for r in resources if r.type == MOUNT}
    anchors = [r for r in resources if r.type == ROOT_CERT]
    found = []
    for anchor in anchors:
        ttl, limit = seconds(anchor.props.get("ttl")), mounts.get(anchor.props.get("backend"))
        if ttl is not None and limit is not None and ttl > limit:
            found.append(f"the anchor's ttl ({ttl}s) exceeds its mount's max lease TTL ({limit}s)")
    shortest_anchor = min((seconds(a.props.get("ttl")) or 0 for a in anchors), default=None)
    for cert in (r for r in resources if r.type == CERTIFICATE):
        duration = seconds((cert.props.get("spec") or {}).get("duration"))
        if shortest_anchor and duration is not None and duration >= shortest_anchor:
            found.append(
                f"the identity issuer ({duration}s) must be shorter-lived than the anchor ({shortest_anchor}s)"
            )
    return found


# With a mirror, what must name it: each pinned chart's image keys, k3d's node and helper images, the Vault
# container's image; from the package's one table of images (linkerd_vault_pki.images).
CHART_IMAGE_KEYS: dict[str, tuple[str, ...]] = {}
for _image in images.images():
    if _image.chart:
        _key = _image.key if _image.style == "value" else f"{_image.key}.{_image.style}"
        CHART_IMAGE_KEYS[_image.chart] = (*CHART_IMAGE_KEYS.get(_image.chart, ()), _key)
K3D_IMAGE_VARIABLES = tuple(images.K3D_HELPERS)
MIRROR_RULE = (
    "pulls-from-the-mirror",
    "With a mirror configured (imageRegistries, chartRepositories), every image and chart comes from it",
)
_K3S_IMAGE = re.compile(r"--image\s+'?([^\s']+)")


def _under(reference: str, allowed: Iterable[str]) -> bool:
    ref = reference.removeprefix("oci://")
    return any(
        ref == a.removeprefix("oci://") or ref.startswith(a.removeprefix("oci://").rstrip("/") + "/") for a in allowed
    )


def _value(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def pulls_from_the_mirror(resources: Iterable[Resource], config: Mapping[str, Any]) -> list[str]:
    """Every image and chart the program pulls is under one of the configured mirrors (nothing, unconfigured)."""
    registries, repositories = list(config.get("imageRegistries") or []), list(config.get("chartRepositories") or [])
    found = []
    for r in resources:
        pulled: list[tuple[str, Any]] = []
        if r.type == RELEASE and registries:
            chart = r.props.get("name") or ""
            for key in CHART_IMAGE_KEYS.get(str(chart), ()):
                pulled.append((f"values {key} of {chart}", _value(r.props.get("values") or {}, key)))
        if r.type == REMOTE_IMAGE and registries:
            pulled.append(("the image", r.props.get("name")))
        if r.type == COMMAND and registries and "k3d cluster create" in str(r.props.get("create") or ""):
            match = _K3S_IMAGE.search(str(r.props.get("create")))
            pulled.append(("k3d's node image", match.group(1) if match else None))
            env = r.props.get("environment") or {}
            pulled.extend((f"k3d's {v}", env.get(v)) for v in K3D_IMAGE_VARIABLES)
            if "--registry-config" not in str(r.props.get("create")):
                found.append(f"{r.name}: k3d's nodes do not pull through the mirror (no --registry-config)")
        for what, image in pulled:
            if not isinstance(image, str) or not _under(image, registries):
                found.append(
                    f"{r.name}: {what} is {image or 'the upstream default'}, not under {', '.join(registries)}"
                )
        if r.type == RELEASE and repositories:
            opts = r.props.get("repositoryOpts") or {}
            where = opts.get("repo") or str(r.props.get("chart") or "")
            if not _under(where, repositories):
                found.append(
                    f"{r.name}: chart {r.props.get('chart')} comes from {where}, not under {', '.join(repositories)}"
                )
    return found


CONTAINER = "docker:index/container:Container"
_SIGN_PATH = re.compile(r'path\s+"[^"]*/issuer/([^/"]+)/sign-intermediate"')
ROOT_RULES = (
    (
        "root-of-trust-protected",
        "Outside the laptop, the PKI mount and the signing anchor's key and issuer are protected",
    ),
    (
        "no-token-outside-the-laptop",
        "Outside the laptop, cert-manager logs in with AppRole or Kubernetes auth, not a token",
    ),
    ("signing-anchor-life", "The signing anchor has more than a third of its lifetime left"),
)


def on_the_laptop(resources: Iterable[Resource]) -> bool:
    """The laptop stack runs Vault in a dev container (its one Docker container): throwaway by design."""
    return any(r.type == CONTAINER for r in resources)


def signing_anchor(resources: Iterable[Resource]) -> str | None:
    """The anchor the signing policy names (``<mount>/issuer/<anchor>/sign-intermediate``)."""
    for r in resources:
        if r.type == VAULT_POLICY and (match := _SIGN_PATH.search(str(r.props.get("policy") or ""))):
            return match.group(1)
    return None


def root_of_trust_protected(resources: Iterable[Resource]) -> list[str]:
    """Nothing deletes the root by accident: the mount and the signing anchor carry Pulumi's protect."""
    resources = list(resources)
    if on_the_laptop(resources):
        return []
    signing = signing_anchor(resources)
    found = []
    for r in resources:
        guarded = r.type == MOUNT and r.props.get("type") == "pki"
        guarded |= r.type == ROOT_CERT and r.props.get("issuerName") == signing
        guarded |= r.type == PKI_KEY and r.props.get("keyName") == signing
        if guarded and not r.protect:
            found.append(
                f"{r.name} is not protected: a destroy, a removed stack or a planned replacement would delete the "
                "trust anchor of a live mesh; set deletionProtection (auto or true)"
            )
    return found


def no_token_outside_the_laptop(resources: Iterable[Resource]) -> list[str]:
    resources = list(resources)
    if on_the_laptop(resources):
        return []
    return [
        f"{r.name}: a token credential is a long-lived secret in Pulumi state and in the cluster; prefer "
        "credential approle or kubernetes (no secret stored at all)"
        for r in resources
        if r.type == TOKEN
    ]


def signing_anchor_life(resources: Iterable[Resource], now: Any = None) -> list[str]:
    """The signing anchor (its certificate, as the preview shows a resource that exists) is not past two thirds
    of its life: past that, the rotation should be under way (docs/operations.md, "Rotating the trust anchor")."""
    import datetime as dt

    from cryptography import x509

    resources = list(resources)
    signing = signing_anchor(resources)
    now = now or dt.datetime.now(dt.UTC)
    found = []
    for r in resources:
        pem = r.props.get("certificate")
        if r.type != ROOT_CERT or r.props.get("issuerName") != signing or not isinstance(pem, str) or not pem:
            continue
        cert = x509.load_pem_x509_certificate(pem.encode())
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        left = cert.not_valid_after_utc - now
        if left < lifetime / 3:
            found.append(
                f"{r.name}: the signing anchor {signing} expires at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, "
                f"with less than a third of its lifetime left; rotate it (add, switch, retire)"
            )
    return found


def violations(resources: Iterable[Resource], config: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Every rule over a whole program: resource name -> what is wrong (the stack rules under "stack");
    ``config``: the mirror rule's (what the pack is configured with)."""
    resources = list(resources)
    found: dict[str, list[str]] = {}
    for r in resources:
        rule = RESOURCE_RULES.get(r.type)
        if rule and (problems := rule(r.props)):
            found[r.name] = problems
    problems = lifetimes_nest(resources) + pulls_from_the_mirror(resources, config or {})
    problems += root_of_trust_protected(resources) + signing_anchor_life(resources)
    if problems:
        found["stack"] = problems
    return found

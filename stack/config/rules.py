"""The value rules: what a well-formed address, duration, name or image is, the limits of the systems
downstream, and the checks across keys."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlparse

from linkerd_vault_pki.problems import Problem
from stack import settings

# A token or id goes into an HTTP header and a container's environment: Vault's are printable ASCII.
TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")


TOKEN_KEYS = ("vaultToken", "approleSecretId", "issuerToken", "approleRoleId")


def kubeconfig_problem(text: str, context: str | None) -> Problem | None:
    """What keeps ``text`` from being a kubeconfig that holds ``context`` (its contents are never echoed)."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return Problem("kubeconfig", "is not YAML; give the file `kubectl config view --raw` prints")
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config" or not doc.get("clusters"):
        return Problem("kubeconfig", "is not a kubeconfig (kind Config with clusters, users and contexts)")
    contexts = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    if context is not None and context not in contexts:
        known = ", ".join(map(str, contexts)) or "none"
        return Problem("kubeContext", f"{context!r} is not a context of the kubeconfig; it has {known}")
    if context is None and not doc.get("current-context"):
        return Problem("kubeContext", "is needed: the kubeconfig has no current-context")
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


def foreign_key_message(full_key: str) -> Problem:
    namespace, _, key = full_key.partition(":")
    ours = LOOKALIKES.get(full_key) or (key if key in settings.BY_KEY else None)
    if namespace in ("vault", "kubernetes"):
        return Problem(
            full_key,
            f"configures the default {namespace} provider, which this program does not use; "
            f"set {ours} (in this project's namespace) instead",
        )
    return Problem(full_key, f"is in namespace {namespace}, not this project's; did you mean {ours}?")


def foreign_lookalikes(full_keys: Iterable[str], project: str) -> list[str]:
    """Keys of other namespaces that someone meant for this program."""
    found = []
    for full_key in full_keys:
        namespace, _, key = full_key.partition(":")
        if namespace != project and (full_key in LOOKALIKES or key in settings.BY_KEY):
            found.append(full_key)
    return found


# A Vault issuer name that is also a Kubernetes name: `vault-<anchor>` is the ClusterIssuer.
ANCHOR_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


RESERVED_ANCHOR_NAMES = ("default", "previous-anchor")  # Vault's name for the default issuer; previousAnchorPem's key


MAX_ANCHORS = 2  # a rotation holds two anchors: the one that signs and the one coming or going


# organization/project/stack; Pulumi caps each name at 100 characters.
STACK_NAME = re.compile(r"^([A-Za-z0-9_.-]{1,100}/){0,2}[A-Za-z0-9_.-]{1,100}$")


SIGN_PATH = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*/sign-intermediate$")

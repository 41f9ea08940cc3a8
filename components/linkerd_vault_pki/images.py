"""Every image the stack pulls, at the pins, and how a mirror renames them.

One table (``images()``) of what the stack makes or installs pulls: the Vault
dev container, k3d's nodes and helpers, and each pinned chart's images with the
values key that sets it. A mirror (``imageRegistry``) keeps each image's
repository path and pinned tag and replaces its registry:
``quay.io/jetstack/cert-manager-controller`` becomes
``<imageRegistry>/jetstack/cert-manager-controller``; ``hashicorp/vault`` (Docker
Hub) becomes ``<imageRegistry>/hashicorp/vault``. ``images`` overrides single
repositories for a mirror whose paths differ. README, "Air-gapped and mirrored
installs", prints the table (``python -m linkerd_vault_pki.images``; a test keeps it current).
No provider SDK is imported here: config and the docs read it too.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from linkerd_vault_pki import versions

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class Image:
    """One image the stack pulls: its upstream repository (registry included), its pinned tag, who pulls it."""

    repository: str
    tag: str
    pulled_by: str
    chart: str | None = None  # the chart whose values set it
    key: str | None = None  # the values key (dotted) that names it
    style: str = "repository"  # how that key names it: "repository" (<key>.repository), "name" (<key>.name), "value"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def upstream(repository: str) -> str:
    """A repository with its registry spelled out: ``hashicorp/vault`` -> ``docker.io/hashicorp/vault``."""
    first, _, rest = repository.partition("/")
    if not rest:
        return f"{DOCKER_HUB}/library/{repository}"
    if "." in first or ":" in first or first == "localhost":
        return repository
    return f"{DOCKER_HUB}/{repository}"


def split_reference(reference: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@sha256:...`` -> (repo, the rest as written, with its ``:`` or ``@``)."""
    if "@" in reference:
        repo, digest = reference.split("@", 1)
        return repo, f"@{digest}"
    head, _, last = reference.rpartition("/")
    if ":" in last:
        name, tag = last.rsplit(":", 1)
        return (f"{head}/{name}" if head else name), f":{tag}"
    return reference, ""


CERT_MANAGER_IMAGES = (
    ("image", "cert-manager-controller", "the controller"),
    ("webhook.image", "cert-manager-webhook", "the webhook"),
    ("cainjector.image", "cert-manager-cainjector", "the CA injector"),
    ("acmesolver.image", "cert-manager-acmesolver", "ACME HTTP-01 solver pods (never started here: no ACME issuer)"),
    ("startupapicheck.image", "cert-manager-startupapicheck", "the post-install check job"),
)
LINKERD_IMAGES = (
    ("controllerImage", "value", "linkerd/controller", "identity, destination and the proxy injector"),
    ("proxy.image", "name", "linkerd/proxy", "every meshed pod's proxy (injected by Linkerd)"),
    ("debugContainer.image", "name", "linkerd/debug", "the debug sidecar, when a pod asks for one"),
)
# Image keys of the pinned charts the program turns off instead of moving: what they would pull is unused.
DISABLED = {
    ("trust-manager", "defaultPackageImage"): (
        {"defaultPackage": {"enabled": False}},
        "trust-manager's default CA package feeds `useDefaultCAs` Bundle sources, which this stack never uses",
    ),
}


# k3d's helper images, by the environment variable that names them to k3d; tagged with k3d's version, no "v".
K3D_HELPERS = {
    "K3D_IMAGE_LOADBALANCER": Image(
        "ghcr.io/k3d-io/k3d-proxy", versions.K3D_VERSION.lstrip("v"), "k3d's load balancer node"
    ),
    "K3D_IMAGE_TOOLS": Image("ghcr.io/k3d-io/k3d-tools", versions.K3D_VERSION.lstrip("v"), "k3d's helper container"),
}


def images() -> tuple[Image, ...]:
    """Every image the stack makes or installs pulls, upstream names, in the order of the README's table."""
    k3s_repo, k3s_tag = split_reference(versions.K3S_IMAGE)
    fixed = (
        Image(upstream("hashicorp/vault"), versions.VAULT_VERSION, "the Vault dev container (Docker)"),
        Image(upstream(k3s_repo), k3s_tag.lstrip(":@"), "k3d's server node (`k3sImage`)"),
        *K3D_HELPERS.values(),
    )
    cert_manager = tuple(
        Image(f"quay.io/jetstack/{name}", versions.CERT_MANAGER.version, f"cert-manager: {what}", "cert-manager", key)
        for key, name, what in CERT_MANAGER_IMAGES
    )
    trust_manager = (
        Image(
            "quay.io/jetstack/trust-manager", versions.TRUST_MANAGER.version, "trust-manager", "trust-manager", "image"
        ),
    )
    linkerd = tuple(
        Image(f"cr.l5d.io/{name}", versions.LINKERD_VERSION, f"Linkerd: {what}", "linkerd-control-plane", key, style)
        for key, style, name, what in LINKERD_IMAGES
    )
    return fixed + cert_manager + trust_manager + linkerd


def chart_images(chart: str) -> tuple[Image, ...]:
    return tuple(i for i in images() if i.chart == chart)


@dataclass(frozen=True)
class Mirror:
    """Where the stack pulls from: upstream (no registry, no override), or a mirror and single overrides."""

    registry: str | None = None  # host[:port][/prefix]
    overrides: dict[str, str] = field(default_factory=dict)  # upstream repository -> mirror repository

    @property
    def active(self) -> bool:
        return bool(self.registry or self.overrides)

    def repository(self, repository: str) -> str:
        """``repository`` as the stack pulls it: moved to the mirror, overridden, or as written (no mirror)."""
        full = upstream(repository)
        if full in self.overrides:
            return self.overrides[full]
        if not self.registry:
            return repository
        return f"{self.registry}/{full.split('/', 1)[1]}"

    def reference(self, reference: str) -> str:
        """A whole reference (``repo:tag`` or ``repo@digest``), its tag or digest kept."""
        repo, rest = split_reference(reference)
        return f"{self.repository(repo)}{rest}"

    def chart_values(self, chart: str) -> dict[str, Any]:
        """The values that move every image of ``chart`` (nothing without a mirror: the chart's own names)."""
        values: dict[str, Any] = {}
        for (owner, _key), (off, _why) in DISABLED.items():
            if owner == chart:
                deep_merge(values, off)
        if not self.active:
            return values
        for image in chart_images(chart):
            assert image.key is not None
            moved = self.repository(image.repository)
            if image.style == "value":
                deep_merge(values, nest(image.key, moved))
            else:
                deep_merge(values, nest(f"{image.key}.{image.style}", moved))
        return values


def nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def deep_merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value
    return into


def registry_auths(dockerconfigjson: str) -> dict[str, tuple[str, str]] | None:
    """``{host: (username, password)}`` of a dockerconfigjson; None when it is not one (never says why in words
    that would echo it)."""
    try:
        doc = json.loads(dockerconfigjson)
    except (ValueError, TypeError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict) or not auths:
        return None
    found = {}
    for host, entry in auths.items():
        if not isinstance(entry, dict) or not isinstance(host, str) or not host:
            return None
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if not sep:
                return None
        elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            user, password = entry["username"], entry["password"]
        else:
            return None
        found[host.removeprefix("https://").removeprefix("http://").rstrip("/")] = (user, password)
    return found


def k3s_registries(mirror: Mirror, auths: dict[str, tuple[str, str]] | None) -> dict[str, Any]:
    """k3s's registries.yaml (what `k3d cluster create --registry-config` hands its nodes): containerd pulls
    every image, whichever registry a pod names, through the mirror; with the pull secret's credentials."""
    doc: dict[str, Any] = {}
    if mirror.registry:
        host, _, prefix = mirror.registry.partition("/")
        everything: dict[str, Any] = {"endpoint": [f"https://{host}"]}
        if prefix:
            # containerd asks the endpoint for <prefix>/<path>: the layout the program's own names use.
            everything["rewrite"] = {"^(.*)$": f"{prefix}/$1"}
        # "*": every registry a pod names; the mirror's own host as written (already moved: no rewrite again).
        doc["mirrors"] = {"*": everything, host: {"endpoint": [f"https://{host}"]}}
    if auths:
        doc["configs"] = {h: {"auth": {"username": u, "password": p}} for h, (u, p) in sorted(auths.items())}
    return doc


def markdown_table() -> str:
    lines = ["| image (upstream) | tag | pulled by | set by |", "|---|---|---|---|"]
    for image in images():
        where = f"`{image.chart}` values `{image.key}`" if image.chart else "the program"
        lines.append(f"| `{image.repository}` | `{image.tag}` | {image.pulled_by} | {where} |")
    for (chart, key), (_off, why) in DISABLED.items():
        lines.append(f"| (`{chart}` values `{key}`) | - | not pulled: turned off, {why} | |")
    return "\n".join(lines)


def charts_table() -> str:
    lines = ["| chart | version | upstream |", "|---|---|---|"]
    for pin in (versions.CERT_MANAGER, versions.TRUST_MANAGER, versions.LINKERD_CRDS, versions.LINKERD_CONTROL_PLANE):
        where = pin.chart.rsplit("/", 1)[0] if pin.chart.startswith("oci://") else pin.repo
        lines.append(f"| `{pin.name}` | `{pin.version}` | `{where}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n\n" + charts_table() + "\n")

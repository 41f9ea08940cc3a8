"""Where images and charts come from: `imageRegistry`, `images`, `imagePullSecret`, `chartRepository`,
`chartRepositories` (README, "Air-gapped and mirrored installs")."""

from __future__ import annotations

import re
from pathlib import Path

from linkerd_vault_pki import charts, images
from linkerd_vault_pki.pulls import Pulls
from stack.config.model import ClusterTarget
from stack.config.reader import Reader

# host[:port][/prefix]: a host with a dot or a port (or localhost), so that no one reads it as a Docker Hub user.
_HOST = r"(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)(:[0-9]{1,5})?"
_PATH = r"(/[a-z0-9]+([._-][a-z0-9]+)*)"
_REGISTRY = re.compile(rf"^(?=.{{1,255}}$){_HOST}{_PATH}*$")
_REPOSITORY = re.compile(rf"^(?=.{{1,255}}$){_HOST}{_PATH}+$")


_PORT = re.compile(r"^[^/]*:([0-9]+)(/|$)")


def _port_in_range(reference: str) -> bool:
    """A registry's port, where it has one, is a TCP port: 1 to 65535."""
    found = _PORT.match(reference)
    return found is None or 1 <= int(found.group(1)) <= 65535


def read_mirror(r: Reader, targets: tuple[ClusterTarget, ...], k3s_images: set[str], base: Path) -> Pulls:
    registry = r.get("imageRegistry")
    if registry is not None and not _REGISTRY.match(registry):
        r.fail(
            "imageRegistry",
            f"{registry!r} is not a registry as host[:port][/prefix], such as registry.example.com or "
            "mirror.example.com:5000/upstream (no scheme, a host with a dot or a port, lowercase)",
        )
        registry = None
    elif registry is not None and not _port_in_range(registry):
        r.fail("imageRegistry", f"{registry!r} has a port out of range: a port is 1 to 65535")
        registry = None
    overrides = _overrides(r, k3s_images)
    secret = r.get("imagePullSecret")
    if secret is not None and images.registry_auths(secret.value) is None:
        r.fail(
            "imagePullSecret",
            'is not a dockerconfigjson: {"auths": {"<registry host>": {"auth": "<base64 of user:password>"}}} (or '
            '"username" and "password"), as `kubectl create secret docker-registry ... --dry-run=client -o '
            "jsonpath='{.data.\\.dockerconfigjson}' | base64 -d` prints",
        )
        secret = None
    installed = _installed_charts(targets)
    sources = {}
    repository = r.get("chartRepository")
    per_chart = _per_chart(r)
    for name in installed:
        pin = charts.PINS[name]
        key, repo = ("chartRepositories", per_chart[name]) if name in per_chart else ("chartRepository", repository)
        if repo is None:
            continue
        found, problem = charts.source(pin, repo, base)
        if problem:
            label = f"{key}.{name}" if key == "chartRepositories" else key
            if label not in r.failed:
                r.fail(label, problem)
            continue
        sources[name] = found
    return Pulls(
        images=images.Mirror(registry, overrides),
        pull_secret=secret,
        charts=sources,
    )


def _overrides(r: Reader, k3s_images: set[str]) -> dict[str, str]:
    if "images" not in r.raw:
        return {}
    value = r.structured("images")
    if not isinstance(value, dict) or not value:
        r.fail(
            "images",
            "is not a map of upstream repository to mirror repository, such as "
            "{quay.io/jetstack/trust-manager: registry.example.com/cm/trust-manager}",
        )
        return {}
    known = {i.repository for i in images.images()} | {
        images.upstream(images.split_reference(k)[0]) for k in k3s_images
    }
    found = {}
    for upstream, mirror in value.items():
        name = images.upstream(str(upstream))
        if name not in known:
            r.fail(
                f"images.{upstream}",
                f"is not an image this stack pulls; it pulls {', '.join(sorted(known))} (no tag)",
            )
            continue
        if not isinstance(mirror, str) or not _REPOSITORY.match(mirror) or not _port_in_range(mirror):
            r.fail(
                f"images.{upstream}",
                f"{mirror!r} is not a repository as host[:port]/path with no tag or digest (the pinned tag is kept), "
                "such as registry.example.com/cm/trust-manager",
            )
            continue
        found[name] = mirror
    return found


def _per_chart(r: Reader) -> dict[str, str]:
    if "chartRepositories" not in r.raw:
        return {}
    value = r.structured("chartRepositories")
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        r.fail("chartRepositories", "is not a map of chart name to repository, such as {linkerd-crds: /srv/charts}")
        return {}
    unknown = sorted(str(k) for k in value if k not in charts.PINS)
    if unknown:
        r.fail(
            f"chartRepositories.{unknown[0]}",
            f"is not a chart this stack installs; it installs {', '.join(charts.PINS)}",
        )
    return {str(k): v for k, v in value.items() if k in charts.PINS}


def _installed_charts(targets: tuple[ClusterTarget, ...]) -> list[str]:
    """The charts some cluster of the stack installs, in the order of linkerd_vault_pki/charts.py."""
    wanted = set()
    for target in targets:
        if target.cert_manager.install:
            wanted |= {"cert-manager", "trust-manager"}
        if target.linkerd.install:
            wanted |= {"linkerd-crds", "linkerd-control-plane"}
    return [name for name in charts.PINS if name in wanted]

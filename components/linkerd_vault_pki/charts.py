"""Where each pinned chart comes from: upstream, an OCI or HTTP mirror, or a local directory.

The versions never change (``versions.py``); only the place does. A local
directory (``file:///srv/charts`` or a path) holds each chart the stack installs
unpacked, as ``helm pull --untar`` leaves it (``<dir>/<name>/Chart.yaml``), at the
pinned version; anything else is refused before any resource is registered. No
provider SDK is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from linkerd_vault_pki import versions

PINS = {
    pin.name: pin
    for pin in (versions.CERT_MANAGER, versions.TRUST_MANAGER, versions.LINKERD_CRDS, versions.LINKERD_CONTROL_PLANE)
}


@dataclass(frozen=True)
class ChartSource:
    """What a Helm release is given for one chart: ``chart`` (a name, an OCI reference or a local path), the
    version (None for a local chart: its Chart.yaml is the pin, checked), the HTTP repository if any."""

    chart: str
    version: str | None
    repo: str | None


def upstream(pin: versions.ChartPin) -> ChartSource:
    return ChartSource(pin.chart, pin.version, pin.repo)


def kind_of(repository: str) -> str | None:
    """oci, http, local, or None when ``repository`` is none of them."""
    parsed = urlparse(repository)
    if parsed.scheme == "oci" and parsed.netloc:
        return "oci"
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return "http"
    if parsed.scheme == "file" and parsed.path:
        return "local"
    if not parsed.scheme and repository and repository.isprintable() and not any(c.isspace() for c in repository):
        return "local"
    return None


def local_directory(repository: str, base: Path) -> Path:
    path = Path(urlparse(repository).path if repository.startswith("file://") else repository)
    return path if path.is_absolute() else (base / path).resolve()


def source(pin: versions.ChartPin, repository: str, base: Path) -> tuple[ChartSource | None, str | None]:
    """``pin`` from ``repository``, or why it cannot come from there (without the key: the caller names it)."""
    kind = kind_of(repository)
    if kind == "oci":
        return ChartSource(f"{repository.rstrip('/')}/{pin.name}", pin.version, None), None
    if kind == "http":
        return ChartSource(pin.name, pin.version, repository.rstrip("/")), None
    if kind != "local":
        return None, (
            f"{repository!r} is not a chart repository: give oci://host/path, https://host/path, or a local "
            "directory (file:///srv/charts or a path)"
        )
    try:
        directory = local_directory(repository, base)
        if not directory.is_dir():
            return None, f"{directory} is not a directory"
    except (OSError, ValueError):  # a name the file system refuses (too long, a NUL)
        return None, f"{repository!r} is not a directory this machine can read"
    found = directory / pin.name
    if not (found / "Chart.yaml").is_file():
        return None, (
            f"{directory} has no {pin.name} chart ({pin.name}/Chart.yaml); `helm pull {pin.chart} --version "
            f"{pin.version}{' --repo ' + pin.repo if pin.repo else ''} --untar --untardir {directory}` puts it there"
        )
    text = (found / "Chart.yaml").read_text(errors="replace")
    problem = _chart_yaml_problem(text, pin)
    if problem:
        return None, f"{found}: {problem}"
    return ChartSource(str(found), None, None), None


def _chart_yaml_problem(text: str, pin: versions.ChartPin) -> str | None:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return "Chart.yaml is not YAML"
    if not isinstance(doc, dict):
        return "Chart.yaml is not a chart's metadata"
    if doc.get("name") != pin.name:
        return f"Chart.yaml names chart {doc.get('name')!r}, not {pin.name}"
    if str(doc.get("version")) != pin.version:
        return f"Chart.yaml is version {doc.get('version')!r}, not the pinned {pin.version}"
    return None

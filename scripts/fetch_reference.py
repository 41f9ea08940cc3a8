"""Download the upstream reference files the tests check against, at the versions pinned in
linkerd_vault_pki/versions.py.

The L1 tests read cert-manager's, trust-manager's and Linkerd's CRDs and chart
values at the pinned tags; L2.5 installs the CRDs into its API server. They are
upstream's files, never committed here. Where `../shared/reference/` is not
beside the checkout (a fresh clone, the GitHub workflow), this fetches them
from the upstream repositories and prints the `LVP_REFERENCE_DIR=...` line to
point the tests at them.

Usage: python -m scripts.fetch_reference [DEST]   (default ~/.cache/linkerd-vault-pki/reference)
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from linkerd_vault_pki import versions

RAW = "https://raw.githubusercontent.com"
CERT_MANAGER_CRDS = (
    "acme.cert-manager.io_challenges",
    "acme.cert-manager.io_orders",
    "cert-manager.io_certificaterequests",
    "cert-manager.io_certificates",
    "cert-manager.io_clusterissuers",
    "cert-manager.io_issuers",
)
TRUST_MANAGER_CRDS = ("trust-manager.io_clusterbundles", "trust.cert-manager.io_bundles")
CHART_FILES = ("Chart.yaml", "values.yaml", "values.schema.json")


def linkerd_tag() -> str:
    year, month, patch = versions.LINKERD_CONTROL_PLANE.version.split(".")
    return f"edge-{int(year) % 100}.{int(month)}.{int(patch)}"


def files() -> dict[str, str]:
    """Each file's place under the reference folder -> its upstream URL."""
    cm, tm, linkerd = versions.CERT_MANAGER.version, versions.TRUST_MANAGER.version, linkerd_tag()
    wanted = {}
    for crd in CERT_MANAGER_CRDS:
        wanted[f"cert-manager-{cm}/crds/{crd}.yaml"] = f"{RAW}/cert-manager/cert-manager/{cm}/deploy/crds/{crd}.yaml"
    for crd in TRUST_MANAGER_CRDS:
        wanted[f"trust-manager-{tm}/crds/{crd}.yaml"] = f"{RAW}/cert-manager/trust-manager/{tm}/deploy/crds/{crd}.yaml"
    for name in CHART_FILES:
        wanted[f"cert-manager-{cm}/chart/{name}"] = (
            f"{RAW}/cert-manager/cert-manager/{cm}/deploy/charts/cert-manager/{name}"
        )
        wanted[f"trust-manager-{tm}/chart/{name}"] = (
            f"{RAW}/cert-manager/trust-manager/{tm}/deploy/charts/trust-manager/{name}"
        )
    for chart in (versions.LINKERD_CRDS.chart, versions.LINKERD_CONTROL_PLANE.chart):
        for name in ("Chart.yaml", "values.yaml"):
            wanted[f"linkerd-{linkerd}/{chart}/{name}"] = f"{RAW}/linkerd/linkerd2/{linkerd}/charts/{chart}/{name}"
    return wanted


def fetch(dest: Path, opener=urllib.request.urlopen) -> None:
    for place, url in files().items():
        target = dest / place
        if target.is_file() and target.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with opener(url, timeout=60) as response:
            data = response.read()
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
        print(f"fetched {place}", file=sys.stderr)


def main(argv: list[str]) -> int:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "linkerd-vault-pki" / "reference"
    dest = Path(argv[0]) if argv else default
    try:
        fetch(dest)
    except OSError as exc:
        print(f"fetch_reference: {exc} (this needs access to raw.githubusercontent.com)", file=sys.stderr)
        return 2
    print(f"LVP_REFERENCE_DIR={dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

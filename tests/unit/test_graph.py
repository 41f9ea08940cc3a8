"""docs/design.md's picture of the graph is the program's graph (scripts/graph.py)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
graph = load_script("graph")


def test_the_readme_picture_is_current():
    readme = (ROOT / "docs" / "design.md").read_text()
    assert graph.readme_block(readme) == graph.mermaid(), "docs/design.md's graph is stale: scripts/graph.py --write"


def test_the_picture_shows_the_waits_that_matter():
    diagram = graph.mermaid()
    # The issuer is signed only once cert-manager holds the credential; Linkerd starts only after the issuer
    # and the bundle; the anchor reaches the bundle through its ConfigMap.
    for edge in (
        "identity_issuer_vault_credential ==> identity_issuer_cluster_issuer",
        "identity_issuer_cluster_issuer ==> identity_issuer_certificate",
        "identity_issuer_certificate ==> linkerd_control_plane",
        "trust_bundle_bundle --> linkerd_control_plane",
        "linkerd_pki_anchor_linkerd_trust_anchor --> trust_bundle_anchors",
        "linkerd_pki_anchor_key_linkerd_trust_anchor --> linkerd_pki_anchor_linkerd_trust_anchor",
        "linkerd_pki_default_issuer --> identity_issuer_cluster_issuer",
        "linkerd_crds --> linkerd_control_plane",
    ):
        assert edge in diagram, edge
    # The CRDs wait for no part of the PKI: only the namespace and the cluster.
    assert "identity_issuer_certificate ==> linkerd_crds" not in diagram
    assert "trust_bundle_bundle --> linkerd_crds" not in diagram
    assert diagram.count("==>") >= 5  # a critical path, drawn thick

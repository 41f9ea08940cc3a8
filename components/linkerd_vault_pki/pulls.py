"""Where the stack pulls images and charts from: upstream, or a mirror (README, "Air-gapped and mirrored installs").

What the cert-manager, Linkerd and k3d components take; the stack's config (``imageRegistry``, ``images``,
``imagePullSecret``, ``chartRepository``, ``chartRepositories``) makes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linkerd_vault_pki import versions
from linkerd_vault_pki.charts import ChartSource
from linkerd_vault_pki.charts import upstream as upstream_chart
from linkerd_vault_pki.images import Mirror, registry_auths
from linkerd_vault_pki.values import Secret


@dataclass(frozen=True)
class Pulls:
    """Where images and charts come from (README, "Air-gapped and mirrored installs")."""

    images: Mirror = field(default_factory=Mirror)
    pull_secret: Secret | None = None  # a dockerconfigjson, for every namespace we install into and the nodes
    charts: dict[str, ChartSource] = field(default_factory=dict)  # chart name -> where it comes from, if moved

    def chart(self, pin: versions.ChartPin) -> ChartSource:
        return self.charts.get(pin.name) or upstream_chart(pin)

    @property
    def configures_nodes(self) -> bool:
        """Whether a k3d cluster's nodes get a registry config: a mirror to pull through, or credentials."""
        return self.images.active or self.pull_secret is not None

    def registry_auths(self) -> dict[str, tuple[str, str]]:
        """The pull secret's credentials by registry host (secret: never log or export them in plain)."""
        return (registry_auths(self.pull_secret.value) or {}) if self.pull_secret else {}

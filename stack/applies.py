"""When a setting applies: conditions over a stack's raw settings, each able to say why it does not hold.

A setting the stack's modes do not use is refused, never ignored (stack/settings.py): these are the modes'
conditions, composed (``both``, ``either``) and named after what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Raw = Mapping[str, str]


@dataclass(frozen=True)
class When:
    """The settings under which a key is used; elsewhere setting it is refused (never silently ignored)."""

    text: str  # "clusterMode is k3d"
    test: Callable[[Raw], bool]
    actual: Callable[[Raw], str]  # what the deciding setting is instead, for the message

    def __call__(self, raw: Raw) -> bool:
        return self.test(raw)

    def explain(self, raw: Raw) -> str:
        """Why the key is not used under ``raw``: the condition that fails, and what decides it instead."""
        return f"{self.text} ({self.actual(raw)})"


@dataclass(frozen=True)
class Both(When):
    first: When | None = None
    second: When | None = None

    def explain(self, raw: Raw) -> str:
        assert self.first is not None and self.second is not None
        return self.first.explain(raw) if not self.first(raw) else self.second.explain(raw)


def _mode(raw: Raw, key: str) -> str:
    return raw[key]  # judged over every default (stack/settings.py, ``with_defaults``)


def when(key: str, *values: str) -> When:
    return When(
        f"{key} is {' or '.join(values)}",
        lambda raw: _mode(raw, key) in values,
        lambda raw: f"it is {_mode(raw, key)}",
    )


def both(a: When, b: When) -> When:
    return Both(f"{a.text} and {b.text}", lambda raw: a(raw) and b(raw), lambda raw: "", a, b)


def either(a: When, b: When) -> When:
    return When(f"{a.text} or {b.text}", lambda raw: a(raw) or b(raw), lambda raw: f"{a.actual(raw)}; {b.actual(raw)}")


# Where the Vault side comes from (docs/design.md, "Where the Vault side comes from"): only a stack that
# makes it reads the keys that make it.
CREATES_VAULT = when("vaultSide", "create")
PROVIDED = when("vaultSide", "provided")
CONSUMES_VAULT = when("vaultSide", "reference", "provided")
# Keys of how cert-manager reaches a Vault that is not the laptop's dev container.
TO_A_VAULT_ELSEWHERE = When(
    "vaultMode is external or vaultSide is reference or provided",
    lambda raw: _mode(raw, "vaultSide") != "create" or _mode(raw, "vaultMode") == "external",
    lambda raw: f"vaultMode is {_mode(raw, 'vaultMode')}",
)
WITH_A_CLUSTER = When(
    "clusterMode is k3d or existing",
    lambda raw: _mode(raw, "clusterMode") != "none",
    lambda raw: "it is none",
)
ON_DOCKER = When(
    "clusterMode is k3d or vaultMode is docker",
    lambda raw: (
        _mode(raw, "clusterMode") == "k3d"
        or (_mode(raw, "vaultMode") == "docker" and _mode(raw, "vaultSide") == "create")
    ),
    lambda raw: f"clusterMode is {_mode(raw, 'clusterMode')}, vaultMode is {_mode(raw, 'vaultMode')}",
)
LINKERD_INSTALLED = When(
    "linkerd is install",
    lambda raw: _mode(raw, "clusterMode") != "none" and _mode(raw, "linkerd") == "install",
    lambda raw: "clusterMode is none" if _mode(raw, "clusterMode") == "none" else "it is skip",
)
# Kubernetes auth (credential kubernetes): the keys of the login a stack makes or is handed, and of the
# cluster Vault reviews tokens against when this stack makes the Vault side and no k3d cluster says it.
KUBERNETES_LOGIN = both(either(CREATES_VAULT, PROVIDED), when("credential", "kubernetes"))
REVIEWED_CLUSTER = both(both(CREATES_VAULT, when("credential", "kubernetes")), when("clusterMode", "existing", "none"))
# cert-manager's ServiceAccount on a cluster whose credential may be Kubernetes auth (a referenced Vault-only
# stack's credential is that stack's: its kind is known only once read).
MAY_LOG_IN_WITH_KUBERNETES = When(
    "clusterMode is k3d or existing and credential is kubernetes (or vaultSide is reference)",
    lambda raw: (
        _mode(raw, "clusterMode") != "none"
        and (_mode(raw, "vaultSide") == "reference" or _mode(raw, "credential") == "kubernetes")
    ),
    lambda raw: f"clusterMode is {_mode(raw, 'clusterMode')}, credential is {_mode(raw, 'credential')}",
)
# Where cert-manager runs on a cluster: this stack's, or (Kubernetes auth) a Vault-only stack's one consumer.
CERT_MANAGER_NAMESPACED = When(
    "clusterMode is k3d or existing, or credential is kubernetes",
    lambda raw: WITH_A_CLUSTER(raw) or REVIEWED_CLUSTER(raw),
    lambda raw: f"clusterMode is {_mode(raw, 'clusterMode')}, credential is {_mode(raw, 'credential')}",
)
# Whether the stack pulls images (the Vault container, k3d, or a chart it installs) and installs charts.
INSTALLS_CHARTS = When(
    "clusterMode is k3d or existing and certManager or linkerd is install",
    lambda raw: (
        _mode(raw, "clusterMode") != "none"
        and (_mode(raw, "certManager") == "install" or _mode(raw, "linkerd") == "install")
    ),
    lambda raw: (
        "clusterMode is none"
        if _mode(raw, "clusterMode") == "none"
        else f"certManager is {_mode(raw, 'certManager')}, linkerd is {_mode(raw, 'linkerd')}"
    ),
)
PULLS_IMAGES = When(
    "the stack runs a Docker container or k3d, or installs a chart",
    lambda raw: ON_DOCKER(raw) or INSTALLS_CHARTS(raw),
    lambda raw: f"{ON_DOCKER.actual(raw)}; {INSTALLS_CHARTS.actual(raw)}",
)

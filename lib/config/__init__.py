"""Stack configuration: read once, validated at once, frozen.

``parse`` is pure (a mapping of raw strings in, a ``StackConfig`` out) so every
rule is testable offline; ``load`` feeds it from the Pulumi runtime. Every
problem found is reported together, each naming its key and what it accepts,
and nothing is registered before the whole configuration has passed.

The parts: ``model`` (the typed config and its error), ``reader`` (raw values,
every problem recorded), ``rules`` (what a good value is, checks across keys),
``clusters`` (the clusters and consumers), ``sides`` (where the Vault side comes
from, the anchors), ``load`` (parse and load).
"""

from lib import versions
from lib.config.clusters import (
    CLUSTER_ENTRY_KEYS,
    MAX_CLUSTERS,
)
from lib.config.load import (
    cluster_mode_of,
    load,
    parse,
)
from lib.config.model import (
    ANCHOR_KEY_TYPES,
    BOOLEANS,
    CERT_MANAGER_MODES,
    CLUSTER_MODES,
    CREDENTIALS,
    DEFAULT_ANCHOR,
    LINKERD_MODES,
    MODE_KEYS,
    VAULT_MODES,
    VAULT_SIDES,
    CertManagerConfig,
    ClusterConfig,
    ClusterTarget,
    ConfigError,
    Consumer,
    CredentialConfig,
    Duration,
    LinkerdConfig,
    MirrorConfig,
    PkiConfig,
    Secret,
    StackConfig,
    VaultConfig,
    VaultSideConfig,
)
from lib.config.rules import (
    CERT_MANAGER_MIN_RENEW_BEFORE,
    DOCKER_RESERVED_NETWORKS,
    GO_MAX_DURATION_SECONDS,
    LOOKALIKES,
    MAX_ANCHORS,
    MAX_COMMON_NAME,
    RESERVED_ANCHOR_NAMES,
    RESERVED_MOUNTS,
    TOKEN_KEYS,
    address_problem,
    foreign_key_message,
    foreign_lookalikes,
    is_loopback,
    kubeconfig_problem,
    parse_duration,
)

__all__ = [
    "ANCHOR_KEY_TYPES",
    "BOOLEANS",
    "CERT_MANAGER_MIN_RENEW_BEFORE",
    "CERT_MANAGER_MODES",
    "CLUSTER_ENTRY_KEYS",
    "CLUSTER_MODES",
    "CREDENTIALS",
    "DEFAULT_ANCHOR",
    "DOCKER_RESERVED_NETWORKS",
    "GO_MAX_DURATION_SECONDS",
    "LINKERD_MODES",
    "LOOKALIKES",
    "MAX_ANCHORS",
    "MAX_CLUSTERS",
    "MAX_COMMON_NAME",
    "MODE_KEYS",
    "RESERVED_ANCHOR_NAMES",
    "RESERVED_MOUNTS",
    "TOKEN_KEYS",
    "VAULT_MODES",
    "VAULT_SIDES",
    "CertManagerConfig",
    "ClusterConfig",
    "ClusterTarget",
    "ConfigError",
    "Consumer",
    "CredentialConfig",
    "Duration",
    "LinkerdConfig",
    "MirrorConfig",
    "PkiConfig",
    "Secret",
    "StackConfig",
    "VaultConfig",
    "VaultSideConfig",
    "address_problem",
    "cluster_mode_of",
    "foreign_key_message",
    "foreign_lookalikes",
    "is_loopback",
    "kubeconfig_problem",
    "load",
    "parse",
    "parse_duration",
    "versions",
]

"""Stack configuration: read once, validated at once, frozen.

``parse`` is pure (a mapping of raw strings in, a ``StackConfig`` out) so every
rule is testable offline; ``load`` feeds it from the Pulumi runtime. Every
problem found is reported together, each naming its key and what it accepts,
and nothing is registered before the whole configuration has passed.

The parts: ``model`` (the typed config and its error), ``reader`` (raw values,
every problem recorded), ``rules`` (what a good value is), ``across`` (checks
across keys), ``clusters`` (the clusters and consumers), ``sides`` (where the
Vault side comes from, the anchors), ``load`` (parse and load). What the rest of
the project uses is named here; the parts' other names are the parts' own.
"""

from linkerd_vault_pki.values import parse_duration
from stack.config.load import load, parse
from stack.config.model import (
    ClusterTarget,
    ConfigError,
    PkiConfig,
    StackConfig,
)
from stack.config.rules import foreign_lookalikes

__all__ = [
    "ClusterTarget",
    "ConfigError",
    "PkiConfig",
    "StackConfig",
    "foreign_lookalikes",
    "load",
    "parse",
    "parse_duration",
]

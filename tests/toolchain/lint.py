"""The linters of what never runs here: actionlint for the GitHub workflows (shellcheck, Debian's, for their scripts),
and promtool for the expiry alerts' rules (linkerd_vault_pki/alerts.py), which only a cluster's Prometheus evaluates.

Both are built from their served Go modules into the engine cache, like the other pieces; shellcheck is
installed by `scripts/test` with apt where it is missing (the version linkerd_vault_pki/versions.py pins).
"""

from __future__ import annotations

from pathlib import Path

from linkerd_vault_pki import versions
from tests.toolchain.build import PINS, Log, Piece, _stderr_log, cache_dir, ensure_built, served_command

LINT_PIECES = (
    Piece(
        "actionlint",
        versions.ACTIONLINT_VERSION,
        PINS / "actionlint",
        served_command(
            "actionlint",
            f"actionlint {versions.ACTIONLINT_VERSION}",
            "github.com/rhysd/actionlint/cmd/actionlint",
            "actionlint",
            "github.com/rhysd/actionlint.version",
            versions.ACTIONLINT_VERSION,
        ),
    ),
    Piece(
        "promtool",
        versions.PROMETHEUS_MODULE_VERSION,
        PINS / "promtool",
        served_command(
            "promtool",
            f"promtool (Prometheus {versions.PROMETHEUS_MODULE_VERSION})",
            "github.com/prometheus/prometheus/cmd/promtool",
            "promtool",
        ),
    ),
)


def lint_binaries(log: Log = _stderr_log) -> dict[str, Path]:
    """actionlint and promtool, built once into the engine cache: name -> path."""
    cache = cache_dir()
    for line in ensure_built(cache, LINT_PIECES, log):
        log(line)
    return {piece.name: cache / "bin" / piece.name for piece in LINT_PIECES}

"""The real Pulumi engine for integration tests.

A machine with a `pulumi` CLI on PATH uses it. Elsewhere the CLI is built from
the Go module proxy, at the version pinned in engine/go.mod (with go.sum), into
a cache outside the repository, and reused on later runs. Inline programs of
the Automation API need no Python language host: the test process serves the
program to the engine itself.

The engine never downloads anything: automatic plugin acquisition and the
update check are off, state goes to a temporary file:// backend, secrets to a
passphrase provider.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent / "engine"
CLI_PACKAGE = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
VERSION_SYMBOL = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
MIN_VERSION = (3, 170, 0)


class EngineUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Engine:
    pulumi: Path
    version: str
    built_seconds: float | None  # None when found, not built, in this run

    def env(self, backend_dir: Path) -> dict[str, str]:
        return {
            "PATH": f"{self.pulumi.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(backend_dir / "home"),
            "PULUMI_BACKEND_URL": f"file://{backend_dir}",
            "PULUMI_CONFIG_PASSPHRASE": "integration-tests-only",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def command(self):
        """The Automation API's handle on this CLI (it expects <root>/bin/pulumi)."""
        from pulumi import automation as auto

        if self.pulumi.parent.name == "bin":
            return auto.PulumiCommand(root=str(self.pulumi.parent.parent))
        return auto.PulumiCommand()


def pinned_version() -> str:
    match = re.search(r"github\.com/pulumi/pulumi/pkg/v3 (v\S+)", (MODULE_DIR / "go.mod").read_text())
    if not match:
        raise EngineUnavailable(f"no github.com/pulumi/pulumi/pkg/v3 requirement in {MODULE_DIR / 'go.mod'}")
    return match.group(1)


def cache_dir() -> Path:
    base = os.environ.get("LVP_ENGINE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "linkerd-vault-pki", "engine"
    )
    return Path(base)


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    text = out.stdout.strip()
    return text if re.match(r"^v\d+\.\d+\.\d+", text) else None


def _usable(version: str | None) -> bool:
    if not version:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    return parts >= MIN_VERSION


def find_or_build(log=print) -> Engine:
    on_path = shutil.which("pulumi")
    if on_path and _usable(version := _version_of(Path(on_path))):
        return Engine(Path(on_path), version, None)

    version = pinned_version()
    target = cache_dir() / f"pulumi-{version}" / "bin" / "pulumi"
    if _version_of(target) == version:
        return Engine(target, version, None)

    go = shutil.which("go")
    if go is None:
        raise EngineUnavailable("no `pulumi` on PATH and no Go toolchain to build it (install Go >= 1.26)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"pulumi.partial-{os.getpid()}")
    log(f"building the Pulumi CLI {version} from the Go module proxy into {target.parent} (once)")
    started = time.monotonic()
    result = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", f"-X {VERSION_SYMBOL}={version}", "-o", str(partial), CLI_PACKAGE],
        cwd=MODULE_DIR,
        env={**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=3000,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise EngineUnavailable(f"building the Pulumi CLI failed:\n{result.stderr[-4000:]}")
    partial.replace(target)
    built = time.monotonic() - started
    if _version_of(target) != version:
        raise EngineUnavailable(f"the CLI built at {target} does not report {version}")
    return Engine(target, version, built)

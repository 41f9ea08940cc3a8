"""The Pulumi engine this project runs on: found on PATH, or built from the Go module proxy.

A machine with a ``pulumi`` CLI on PATH uses it as it is: that CLI fetches the
provider plugins the Python SDKs pin (pulumi-vault 7.11.0, ...) and the Python
language host, as on any machine with internet. A machine without one (the
development machines and CI reach the package registries, no Pulumi download
site) gets what the registries serve, built here once into a cache outside the
repository:

- ``pulumi``: the CLI, from the module ``github.com/pulumi/pulumi/pkg/v3``;
- ``pulumi-resource-kubernetes``: the provider, from
  ``github.com/pulumi/pulumi-kubernetes/provider/v4``.

What no registry serves is not built at all: the pulumi-vault, Docker and
Command provider plugins and the Python language host (so no project directory
runs here, only inline programs through the Automation API). Those run where an
installed Pulumi fetches its plugins: a user's machine and the L3 workflow.

``CLUSTER_PIECES`` are the L2.5 tests' local cluster: etcd, kube-apiserver,
kube-controller-manager, kubectl, trust-manager (each a served module's
command, or a few lines of ``main`` of ours over its packages) and
cert-manager's controller (a ``main`` of ours over the served root module).

The build machinery is ``tests/toolchain/build.py``; the L2.5 cluster's pieces are
``tests/toolchain/cluster.py``; this module is the engine's pieces, how the engine is
found or built, and the command line.

Nothing here downloads a Pulumi plugin or talks to a Pulumi service:
``Engine.env`` turns plugin acquisition and the update check off.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from linkerd_vault_pki import versions
from scripts import prerequisites
from tests.toolchain.build import (
    PINS,
    EngineUnavailable,
    Log,
    Piece,
    Step,
    _copy_module,
    _go,
    _go_env,
    _module_dir,
    _stderr_log,
    cache_dir,
    ensure_built,
    served_command,
)
from tests.toolchain.cluster import (  # noqa: F401 (re-exported)
    CERT_MANAGER_VERSION,
    CLUSTER_PIECES,
    ETCD_VERSION,
    KUBERNETES_VERSION,
    TRUST_MANAGER_VERSION,
    cluster_binaries,
)

PULUMI_VERSION = versions.PULUMI_CLI_VERSION
MIN_PULUMI = prerequisites.MIN_PULUMI_CLI
# The provider plugin is the version of the Python SDK that drives it.
KUBERNETES_PROVIDER_VERSION = versions.sdk_pins()["pulumi-kubernetes"]


PULUMI_VERSION_SYMBOL = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"


def _build_cli(work: Path, bin_dir: Path, step: Step) -> None:
    _copy_module("pulumi", work)
    (work / "tools.go").write_text((PINS / "pulumi" / "tools.go").read_text())
    step.go_build(
        f"the Pulumi CLI {PULUMI_VERSION}", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", bin_dir / "pulumi", work,
        PULUMI_VERSION_SYMBOL, PULUMI_VERSION,
    )  # fmt: skip


def _build_kubernetes_provider(work: Path, bin_dir: Path, step: Step) -> None:
    """pulumi-resource-kubernetes: the provider module's command, built against sdk/v4 from the proxy."""
    version = KUBERNETES_PROVIDER_VERSION
    _copy_module("pulumi-kubernetes", work)
    shutil.copyfile(PINS / "pulumi-kubernetes" / "tools.go", work / "tools.go")
    provider = _module_dir("github.com/pulumi/pulumi-kubernetes/provider/v4", work)
    command = work / "cmd" / "pulumi-resource-kubernetes"
    command.mkdir(parents=True)
    for name in ("main.go", "generate.go", "schema.json", "terraform-mapping.json"):
        shutil.copyfile(provider / "cmd" / "pulumi-resource-kubernetes" / name, command / name)
        (command / name).chmod(0o644)
    step.run("embedding the schema", [_go(), "run", "./generate.go"], command, {**_go_env(), "VERSION": version})
    step.go_build(
        f"pulumi-resource-kubernetes {version}", "./cmd/pulumi-resource-kubernetes",
        bin_dir / "pulumi-resource-kubernetes", work,
        "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version", version,
    )  # fmt: skip


PIECES = (
    Piece("pulumi", PULUMI_VERSION, PINS / "pulumi", _build_cli),
    Piece(
        "pulumi-resource-kubernetes",
        KUBERNETES_PROVIDER_VERSION,
        PINS / "pulumi-kubernetes",
        _build_kubernetes_provider,
    ),
)


# Pulumi YAML's language host: the other language the tests run the package's components from.
LANGUAGE_PIECES = (
    Piece(
        "pulumi-language-yaml",
        versions.PULUMI_YAML_VERSION,
        PINS / "pulumi-yaml",
        served_command(
            "pulumi-yaml",
            f"pulumi-language-yaml {versions.PULUMI_YAML_VERSION}",
            "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml",
            "pulumi-language-yaml",
            "github.com/pulumi/pulumi-yaml/pkg/version.Version",
            versions.PULUMI_YAML_VERSION,
        ),
    ),
)


def yaml_language_host(log: Log = _stderr_log) -> Path:
    """pulumi-language-yaml, built once into the engine cache (the engine finds it on PATH beside the CLI)."""
    cache = cache_dir()
    for line in ensure_built(cache, LANGUAGE_PIECES, log):
        log(line)
    return cache / "bin" / "pulumi-language-yaml"


def file_backend_url(directory: Path | str) -> str:
    """A file:// backend that writes no metadata files beside the state.

    The blob library under Pulumi's file backend rewrites a state file's ``.attrs`` metadata in place (truncate,
    then write), so a program reading its stack's last outputs while the engine saves state can find it empty
    ("failed to load checkpoint: EOF"). Pulumi needs none of that metadata: ``metadata=skip`` writes none.
    """
    return f"file://{directory}?metadata=skip"


@dataclass(frozen=True)
class Engine:
    bin_dir: Path  # prepended to PATH: the CLI, and the plugins it finds there
    pulumi: Path
    version: str
    report: tuple[str, ...]  # per piece: found, cached, or built in N s
    built: bool  # True when the CLI is ours (built here), False when it was on PATH

    def env(self, backend_dir: Path | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        if self.built:
            # Plugins come from PATH only: a missing one is an error, never a download.
            env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        if backend_dir is not None:
            # A home of the backend's own, unless LVP_PULUMI_HOME names one to share (the L3 workflow's: the
            # plugins the installed CLI fetched, downloaded once for every test stack, not once each).
            env["PULUMI_HOME"] = os.environ.get("LVP_PULUMI_HOME") or str(backend_dir / "home")
            env["PULUMI_BACKEND_URL"] = file_backend_url(backend_dir)
            env["PULUMI_CONFIG_PASSPHRASE"] = "integration-tests-only"
        return env

    def command(self):
        """The Automation API's handle on this CLI (it expects <root>/bin/pulumi)."""
        from pulumi import automation as auto

        if self.pulumi.parent.name == "bin":
            return auto.PulumiCommand(root=str(self.pulumi.parent.parent))
        return auto.PulumiCommand()


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    text = out.stdout.strip()
    return text if re.match(r"^v\d+\.\d+\.\d+", text) else None


def usable_version(version: str | None) -> bool:
    if not version:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    return parts >= MIN_PULUMI


def _on_path() -> Engine | None:
    found = shutil.which("pulumi")
    if os.environ.get("LVP_ENGINE", "auto") == "build" or not found:
        return None
    path = Path(found)
    version = _version_of(path)
    if not usable_version(version):
        return None
    return Engine(path.parent, path, version or "", (f"pulumi {version}: found at {path}",), built=False)


def find_or_build(log: Log = _stderr_log) -> Engine:
    """The engine on PATH if there is one, else the cached build, else a build now."""
    found = _on_path()
    if found is not None:
        return found
    cache = cache_dir()
    report = ensure_built(cache, PIECES, log)
    pulumi = cache / "bin" / "pulumi"
    version = _version_of(pulumi)
    if version != PULUMI_VERSION:
        raise EngineUnavailable(f"the CLI at {pulumi} reports {version!r}, not {PULUMI_VERSION}")
    return Engine(cache / "bin", pulumi, version, tuple(report), built=True)


def main(argv: list[str]) -> int:
    """``python -m tests.toolchain.engine [--cluster | --lint | --yaml]``: find or build the test suite's engine.

    Without flags, say per piece what was found, reused or built. With ``--cluster``, build the L2.5 tests'
    local cluster programs; with ``--lint``, the workflow and rule linters; with ``--yaml``, Pulumi YAML's
    language host. Progress and errors go to stderr.
    It is the tests' engine only: scripts/stack runs the Pulumi CLI on PATH and never builds (the engine built
    here has no Python language host and no Vault, Docker or Command plugin to run the program with).
    """
    try:
        if argv[:1] == ["--lint"]:
            from tests.toolchain.lint import lint_binaries

            for name, path in lint_binaries().items():
                print(f"{name}: {path}")
            return 0
        if argv[:1] == ["--yaml"]:
            print(f"pulumi-language-yaml: {yaml_language_host()}")
            return 0
        if argv[:1] == ["--cluster"]:
            for name, path in cluster_binaries().items():
                print(f"{name}: {path}")
            return 0
        engine = find_or_build()
    except EngineUnavailable as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 2
    for line in engine.report:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The L2.5 tests' local cluster: a real API server and the controllers that act on what the program applies.

No kubelet, so no pods: etcd, kube-apiserver, kube-controller-manager and kubectl (a few lines of main of
ours over k8s.io/kubernetes, etcd and kubectl), trust-manager (its served command) and cert-manager's
controllers (a main of ours over its served root module), built once into the engine cache.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from linkerd_vault_pki import versions
from tests.toolchain.build import (
    PINS,
    Log,
    Piece,
    Step,
    _copy_module,
    _stderr_log,
    cache_dir,
    ensure_built,
    served_command,
)

KUBERNETES_VERSION = versions.KUBERNETES_VERSION
ETCD_VERSION = versions.ETCD_VERSION
# The L2.5 controllers are the versions of the charts the program installs.
CERT_MANAGER_VERSION = versions.CERT_MANAGER.version
TRUST_MANAGER_VERSION = versions.TRUST_MANAGER.version


def _kube_command(name: str) -> Callable[[Path, Path, Step], None]:
    """etcd, kube-apiserver or kube-controller-manager: a few-line main over the upstream package."""

    def build(work: Path, bin_dir: Path, step: Step) -> None:
        _copy_module("kube", work)
        shutil.copytree(PINS / "kube" / "cmd" / name, work / "cmd" / name)
        step.go_build(name, f"./cmd/{name}", bin_dir / name, work)

    return build


def _build_cert_manager(work: Path, bin_dir: Path, step: Step) -> None:
    """cert-manager's controller: a main of our own over the served root module's controllers."""
    _copy_module("cert-manager", work)
    shutil.copytree(PINS / "cert-manager" / "cmd", work / "cmd")
    step.go_build(
        f"the cert-manager controller {CERT_MANAGER_VERSION}", "./cmd/cert-manager-controller",
        bin_dir / "cert-manager-controller", work,
    )  # fmt: skip


# The local cluster of the L2.5 tests: a real API server and the controllers that act on what
# the program applies. No kubelet, so no pods: cert-manager and trust-manager run as processes.
CLUSTER_PIECES = (
    Piece("etcd", ETCD_VERSION, PINS / "kube", _kube_command("etcd")),
    Piece("kube-apiserver", KUBERNETES_VERSION, PINS / "kube", _kube_command("kube-apiserver")),
    Piece("kube-controller-manager", KUBERNETES_VERSION, PINS / "kube", _kube_command("kube-controller-manager")),
    Piece("kubectl", KUBERNETES_VERSION, PINS / "kube", _kube_command("kubectl")),
    Piece("cert-manager-controller", CERT_MANAGER_VERSION, PINS / "cert-manager", _build_cert_manager),
    Piece(
        "trust-manager",
        TRUST_MANAGER_VERSION,
        PINS / "trust-manager",
        served_command(
            "trust-manager",
            f"trust-manager {TRUST_MANAGER_VERSION}",
            "github.com/cert-manager/trust-manager/cmd/trust-manager",
            "trust-manager",
        ),
    ),  # fmt: skip,
)


def cluster_binaries(log: Log = _stderr_log) -> dict[str, Path]:
    """The L2.5 cluster's programs, built once into the engine cache: name -> path."""
    cache = cache_dir()
    for line in ensure_built(cache, CLUSTER_PIECES, log):
        log(line)
    return {piece.name: cache / "bin" / piece.name for piece in CLUSTER_PIECES}

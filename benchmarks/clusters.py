"""Benchmark: what each cluster on the one anchor costs a `pulumi preview` / `up`, as whole processes.

Each case is the program evaluated under the test harness's mocks (config parsed,
every resource registered, outputs resolved) in a fresh Python process, for 1, 10
and 50 listed clusters (existing clusters, external Vault, cert-manager and
Linkerd installed on each). Prints the median wall time, resources registered,
peak memory, and the cost per added cluster; asserts nothing. The engine's own
per-resource work (diffs, provider calls) comes on top, and scales with the
resource count printed.

Run: .venv/bin/python -m benchmarks.clusters [rounds]   (default 5)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 50)

PROGRAM = """
import json, resource, sys
from tests.harness import EXISTING_KUBECONFIG, cfg, render
n = int(sys.argv[1])
entries = [{"name": f"c{i}", "clusterMode": "existing", "kubeconfig": EXISTING_KUBECONFIG} for i in range(n)]
rendered = render(cfg(vaultMode="external", vaultAddress="https://vault.example.com", clusters=json.dumps(entries)))
assert len(rendered.outputs["clusters"]) == n
print(json.dumps({"resources": len(rendered.resources),
                  "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_once(n: int) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(n)], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - started, json.loads(out.strip().splitlines()[-1])


def main(rounds: int = 5) -> None:
    for n in SIZES:  # warm the file cache once
        run_once(n)
    times: dict[int, list[float]] = {n: [] for n in SIZES}
    facts: dict[int, dict] = {}
    for _ in range(rounds):
        for n in SIZES:
            seconds, facts[n] = run_once(n)
            times[n].append(seconds)
    medians = {n: statistics.median(v) for n, v in times.items()}
    print(f"{'clusters':>8} {'median s':>9} {'min s':>7} {'resources':>10} {'peak MiB':>9} {'ms/cluster*':>12}")
    for n in SIZES:
        per = (medians[n] - medians[SIZES[0]]) / (n - SIZES[0]) * 1000 if n != SIZES[0] else float("nan")
        print(
            f"{n:>8} {medians[n]:9.3f} {min(times[n]):7.3f} {facts[n]['resources']:>10} "
            f"{facts[n]['max_rss_mib']:9.1f} {per:12.1f}"
        )
    print("* the added time per cluster over the 1-cluster case; flat when it barely moves between 10 and 50")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

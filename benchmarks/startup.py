"""Benchmark: how long the program takes to start, as whole processes, against bare `import pulumi`.

Every `pulumi preview` and `up` starts a fresh Python process that imports the
SDKs and evaluates the program, so that is what is timed: each case runs as its
own process, the cases interleaved round by round so that the machine's load
hits them alike. Prints medians and the two ratios; asserts nothing.

Run: .venv/bin/python -m benchmarks.startup [rounds]   (default 7)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "import pulumi": "import pulumi",
    "dev program (k3d + Vault container)": ("from tests.harness import cfg, render; render(cfg())"),
    "Vault side only": (
        "from tests.harness import cfg, render; "
        "render(cfg(clusterMode='none', vaultMode='external', vaultAddress='https://vault.example.com'))"
    ),
}


def run_once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(rounds: int = 7) -> None:
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for code in CASES.values():  # warm the file cache once
        run_once(code)
    for _ in range(rounds):
        for name, code in CASES.items():
            times[name].append(run_once(code))
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["import pulumi"]
    print(f"{'case':40} {'median s':>9} {'min s':>7} {'x import pulumi':>16}")
    for name, values in times.items():
        print(f"{name:40} {medians[name]:9.3f} {min(values):7.3f} {medians[name] / floor:16.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)

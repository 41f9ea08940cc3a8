"""Benchmark: evaluation time and memory of the whole program under mocks, per mode.

Run: .venv/bin/python -m benchmarks.program [rounds]. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

from tests.harness import MODES, cfg, mode_stacks, render


def main(rounds: int = 20) -> None:
    cold_start = time.perf_counter()
    render(cfg())
    print(f"first evaluation (imports, runtime set-up): {(time.perf_counter() - cold_start) * 1000:.0f} ms")
    modes = {**MODES, "k3d+docker (token)": {"credential": "token"}}
    print(f"{'mode':26} {'resources':>9} {'custom':>6} {'median ms':>9} {'p90 ms':>7} {'peak MiB':>8}")
    for name, overrides in modes.items():
        config = cfg(**overrides)
        stacks = mode_stacks(name)  # the Vault-only stack a cluster-only stack reads
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            rendered = render(config, stacks=stacks)
            times.append((time.perf_counter() - started) * 1000)
        tracemalloc.start()
        render(config, stacks=stacks)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        custom = [r for r in rendered.resources if not r.type.startswith(("linkerd-vault-pki:", "pulumi:providers:"))]
        times.sort()
        p90 = times[int(0.9 * (len(times) - 1))]
        print(
            f"{name:26} {len(rendered.resources):9} {len(custom):6} {statistics.median(times):9.1f} "
            f"{p90:7.1f} {peak / 2**20:8.1f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

"""Benchmark: how long each piece of the toolchain takes to build, cold and cached.

With ``--cold`` the build runs as a new machine's would: in a child process whose HOME is a new empty
folder, so Go's module and build caches and the engine cache all start empty (expect 15-25 minutes on
2 cores, and a few GB of disk under that folder, removed afterwards). Without it, the pieces are found in
this machine's cache (or built there, if missing). Either way the same build runs a second time, which is
the cached figure. Prints one line a piece; asserts nothing.

Run: .venv/bin/python -m benchmarks.toolchain [--cold]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(env: dict[str, str]) -> tuple[float, dict[str, str]]:
    """Both builds (the engine, the L2.5 cluster) in a child process: wall seconds, and each piece's report."""
    started = time.monotonic()
    report: dict[str, str] = {}
    for flag in ([], ["--cluster"]):
        out = subprocess.run(
            [sys.executable, "-m", "tests.toolchain.engine", *flag], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            sys.exit(f"the build failed:\n{out.stderr[-3000:]}")
        for line in (out.stdout + out.stderr).splitlines():
            # "<piece> <version>: built in 185s" / ": cached in <dir>"
            if m := re.match(r"^(?:\[engine\] )?([\w.-]+) (v?[\w.-]+): (built in \S+|cached)", line):
                report.setdefault(f"{m.group(1)} {m.group(2)}", m.group(3))
    return time.monotonic() - started, report


def main(cold: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="lvp-cold-home-")) if cold else None
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
        for var in ("GOMODCACHE", "GOCACHE", "GOPATH", "XDG_CACHE_HOME", "LVP_ENGINE_CACHE"):
            env.pop(var, None)
        env["LVP_ENGINE"] = "build"  # a `pulumi` on PATH would be used as it is: build ours
    try:
        first_seconds, first = build(env)
        second_seconds, second = build(env)
    finally:
        if home is not None:
            subprocess.run(["chmod", "-R", "u+w", str(home)], check=False)  # Go's module cache is read-only
            shutil.rmtree(home, ignore_errors=True)
    print(f"toolchain build ({'cold: empty HOME' if cold else 'this machine'}), then again (cached):")
    width = max(len(k) for k in first)
    for piece, result in first.items():
        print(f"  {piece:<{width}}  {result:<16}  then {second.get(piece, '?')}")
    print(f"  {'all, wall':<{width}}  {first_seconds:.0f} s            then {second_seconds:.1f} s")


if __name__ == "__main__":
    main("--cold" in sys.argv[1:])

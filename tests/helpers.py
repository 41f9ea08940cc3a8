"""What the tests share: the scripts in scripts/ loaded as modules, and a fake PATH to run them against.

One module, imported by the tests that need it; no test file imports another.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from lib import versions

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# A Pulumi CLI on PATH that says its version, as the real one does.
PULUMI = f'echo "{versions.PULUMI_CLI_VERSION}"'


def fake_bin(tmp_path: Path, **tools: str) -> str:
    """A PATH holding python3, dirname, sed and cat, plus fake tools given as shell bodies."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("dirname", "sed", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    return str(bin_dir)


def run_stack(path: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": path,
        "HOME": os.environ.get("HOME", "/tmp"),
        "LVP_STACK": "dev",
        # An empty engine cache: what this machine built earlier must not count.
        "LVP_ENGINE_CACHE": str(Path(path).parent / "engine-cache"),
    }
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "stack"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

"""Stacks of this program under the real engine: the Automation API, a file:// backend, a passphrase.

``program.run(config.load())`` runs inline, in the test process, exactly as
``__main__.py`` runs it; the engine loads the real provider plugins from PATH.
Each stack has its own state folder and is destroyed and removed by the
fixture that made it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stack import config, program
from tests.toolchain.engine import Engine

PROJECT = "linkerd-vault-pki"
ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def inline_program() -> None:
    program.run(config.load())


@dataclass
class Stack:
    """A stack of the project, and the CLI on its state for what the Automation API does differently."""

    stack: Any  # pulumi.automation.Stack
    engine: Engine
    env: dict[str, str]
    work_dir: Path
    vault_side: Any = None  # L2.5: the Vault side this cluster-only stack consumes (tests/integration/cluster_only.py)

    @property
    def name(self) -> str:
        return self.stack.name

    def configure(self, settings: Mapping[str, str], secrets: Mapping[str, str] | None = None) -> None:
        from pulumi import automation as auto

        for key, value in settings.items():
            self.stack.set_config(key, auto.ConfigValue(value))
        for key, value in (secrets or {}).items():
            self.stack.set_config(key, auto.ConfigValue(value, secret=True))

    def up(self) -> dict[str, Any]:
        """`pulumi up`; the stack outputs with secrets revealed."""
        result = self.stack.up(on_output=lambda _line: None)
        return {key: out.value for key, out in result.outputs.items()}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The CLI itself on this stack, as a user runs it (the Automation API adds flags of its own)."""
        result = subprocess.run(
            [str(self.engine.pulumi), *args, "--stack", self.name],
            cwd=self.work_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def resources(self) -> list[dict[str, Any]]:
        """The resources in state, from a plain `pulumi stack export` (no --show-secrets)."""
        return json.loads(self.cli("stack", "export").stdout)["deployment"].get("resources") or []


@contextlib.contextmanager
def new_stack(
    engine: Engine, tmp: Path, prefix: str = "l2", program: Callable[[], None] = inline_program
) -> Iterator[Stack]:
    """A fresh stack on the file:// backend in ``tmp`` (shared by the stacks made in one ``tmp``); destroyed
    (if anything is left) and removed afterwards."""
    from pulumi import automation as auto

    backend = tmp / "state"
    backend.mkdir(parents=True, exist_ok=True)
    env = engine.env(backend)
    # The project file as the engine reads it: the repository's project-level config (disable-default-providers),
    # this test's backend. The Automation API's ProjectSettings cannot carry config, so it is written here.
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    (tmp / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": PROJECT,
                "runtime": "python",
                "backend": {"url": env["PULUMI_BACKEND_URL"]},
                "config": project["config"],
            }
        )
    )
    opts = auto.LocalWorkspaceOptions(work_dir=str(tmp), pulumi_command=engine.command(), env_vars=env)
    created = auto.create_stack(stack_name=f"{prefix}-{next(_names)}", project_name=PROJECT, program=program, opts=opts)
    stack = Stack(created, engine, env, tmp)
    try:
        yield stack
    finally:
        # The test's server may be gone already; the state folder goes with tmp.
        with contextlib.suppress(auto.CommandError):
            created.destroy(on_output=lambda _line: None)
        created.workspace.remove_stack(created.name, force=True)

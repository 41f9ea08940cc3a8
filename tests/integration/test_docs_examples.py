"""The docs' examples, pasted in order on fresh stacks, hold: each `config set` through scripts/stack and the
real Pulumi CLI (the engine built here) on a file backend, and at each `check`, `preview` or `up` the stack as
configured so far passes `scripts/stack check` (what can run without Vault, Docker or a cluster).

What stands in for a reader's own files: the kubeconfigs under ~/.kube, `internal-ca.pem` and `secret-id.txt`
are made here; `vault print token` prints a test token; the PEM the docs elide (`MIIB...`) is a real one made at
run time. Nothing else of an example is changed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.harness import ANCHOR_PEM, CLUSTER_CA_PEM, EXISTING_KUBECONFIG
from tests.helpers import NO_NETWORK, ROOT, fake_bin

EXAMPLES = (ROOT / "docs" / "configuration.md", ROOT / "docs" / "operations.md")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks():
    for doc in EXAMPLES:
        for m in FENCE.finditer(doc.read_text()):
            yield doc.name, m.group(1), m.group(2)


class Reader:
    """A reader at a shell in a copy of the project, running the examples' lines one by one."""

    def __init__(self, tmp_path: Path, engine):
        self.root = tmp_path / "project"
        for folder in ("scripts", "stack", "components"):
            shutil.copytree(ROOT / folder, self.root / folder, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "requirements.txt", "pyproject.toml"):
            shutil.copyfile(ROOT / name, self.root / name)
        (self.root / ".venv").symlink_to(ROOT / ".venv")
        home = tmp_path / "home"
        (home / ".kube").mkdir(parents=True)
        for name, context in (("prod", "prod-admin"), ("east", None), ("north", None)):
            doc = yaml.safe_load(EXISTING_KUBECONFIG)
            if context:
                doc["contexts"][0]["name"] = context
            (home / ".kube" / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        (self.root / "internal-ca.pem").write_text(CLUSTER_CA_PEM)
        (self.root / "secret-id.txt").write_text("c0ffee00-secret-id")
        self.env = {
            **os.environ,
            **engine.env(tmp_path / "backend"),
            "HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}?metadata=skip",
        }
        self.env.pop("LVP_STACK", None)
        # `check` as a pull request's CI runs it: no `pulumi` on PATH, every network connection refused.
        guard = tmp_path / "no-network"
        guard.mkdir()
        (guard / "sitecustomize.py").write_text(NO_NETWORK)
        (tmp_path / "offline").mkdir()
        self.offline = {"PATH": fake_bin(tmp_path / "offline"), "HOME": str(home), "PYTHONPATH": str(guard)}
        self.checked: list[str] = []

    def stack(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        offline = {**self.offline, "LVP_STACK": self.env.get("LVP_STACK", "dev")}
        return subprocess.run(
            ["/bin/bash", "scripts/stack", *args],
            cwd=self.root,
            env=offline if args[0] == "check" else self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def run_line(self, line: str, where: str) -> None:
        for command in line.split(" && "):  # no example quotes an &&
            self.run_command(shlex.split(command, comments=True), f"{where}: {line.strip()}")

    def run_command(self, words: list[str], where: str) -> None:
        if not words:
            return
        if words[0] == "export" and words[1].startswith("LVP_STACK="):
            self.env["LVP_STACK"] = words[1].split("=", 1)[1]
            return
        stdin = None
        if "|" in words:
            source, words = words[: words.index("|")], words[words.index("|") + 1 :]
            assert source == ["vault", "print", "token"], where
            stdin = "hvs.docs-example-token"
        if "<" in words:
            name = words[-1]
            path = Path(self.env["HOME"]) / name[2:] if name.startswith("~/") else self.root / name
            stdin, words = path.read_text(), words[:-2]
        if words[0] != "scripts/stack":
            return  # kubectl, cmctl, linkerd: the cluster's, not the config's
        verb = words[1]
        if verb == "config" and words[2] in ("set", "rm"):
            result = self.stack(*words[1:], stdin=stdin)
            assert result.returncode == 0, f"{where}\n{result.stderr}"
        elif verb in ("check", "preview", "up"):
            stack = self.env.get("LVP_STACK", "dev")
            result = self.stack("check")
            assert result.returncode == 0, f"{where} (stack {stack})\n{result.stderr}\n{result.stdout}"
            self.checked.append(stack)

    def merge_yaml(self, text: str, where: str) -> None:
        first = text.splitlines()[0]
        m = re.match(r"# (Pulumi\.([\w-]+)\.yaml)", first)
        stack = m.group(2) if m else f"{Path(where).stem}-example"
        path = self.root / f"Pulumi.{stack}.yaml"
        body = ANCHOR_PEM.strip().splitlines()[1:-1]  # the elided PEM, at the docs' indentation
        text = re.sub(r"^( *)MIIB\.\.\.$", lambda m: "\n".join(m.group(1) + b for b in body), text, flags=re.M)
        doc = yaml.safe_load(text)
        existing = yaml.safe_load(path.read_text()) if path.exists() else {}
        existing.setdefault("config", {}).update(doc.get("config") or {})
        path.write_text(yaml.safe_dump(existing))
        if not m:  # a whole stack file of its own: it must pass as written
            self.env["LVP_STACK"] = stack
            self.run_command(["scripts/stack", "check"], where)
            del self.env["LVP_STACK"]


def test_the_configuration_and_operations_examples_pass_in_order(tmp_path, engine):
    reader = Reader(tmp_path, engine)
    read = None
    for doc, language, body in blocks():
        if doc != read:  # each page read in a shell of its own: LVP_STACK as a new shell has it
            reader.env.pop("LVP_STACK", None)
            read = doc
        if language == "yaml" and body.lstrip().startswith(("config:", "# Pulumi.")):
            reader.merge_yaml(body, doc)
        elif language == "sh" and "scripts/stack config" in body:
            for line in body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    reader.run_line(line, doc)
    print(f"stacks checked after the examples' steps: {reader.checked}")
    # Every stack the examples make was checked at least once: prod, pki, east, north, dev, the listed clusters.
    assert {"prod", "pki", "east", "north", "dev", "operations-example"} <= set(reader.checked), reader.checked

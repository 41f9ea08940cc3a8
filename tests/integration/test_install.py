"""`pip install` of a clean clone into a fresh virtualenv, and another team's program on what it installed.

The clone is a clean clone of this repository itself (its committed HEAD: what a user gets). A wheel is built from
it (with the setuptools requirements-dev.txt pins, no network), and pip installs that wheel as a user would,
with no index: the pinned dependencies it asks for are offered by the project's own ``.venv`` (a path file in
the fresh virtualenv, standing in for PyPI, which a test may not reach), so pip resolves the package's
requirements against exactly those versions, and the package itself comes from the clone alone.
Then the README's program, outside the repository, runs on the installed package under the SDK's mocks (the
test's recording mocks, ``tests/harness.py``), and every resource it registers must go through a provider it
made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

RUN_THEIR_PROGRAM = textwrap.dedent(
    """
    import json, runpy, sys
    import pulumi
    import linkerd_vault_pki
    from tests.harness import render_program
    from tests.unit.test_library import CONFIG

    pulumi.runtime.set_all_config(
        {f"linkerd-vault-pki:{k}": v for k, v in CONFIG.items()},
        secret_keys=["linkerd-vault-pki:vaultToken", "linkerd-vault-pki:kubeconfig"],
    )
    rendered = render_program(lambda: runpy.run_path(sys.argv[1], run_name="__main__"))
    print(json.dumps({
        "package": linkerd_vault_pki.__file__,
        "resources": [[r.type, r.name, r.provider] for r in rendered.resources],
        "outputs": sorted(rendered.outputs),
    }))
    """
)


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_clean_clone_installs_and_another_teams_program_runs_on_it(tmp_path):
    clone = tmp_path / "clone"
    run("git", "clone", "--quiet", ROOT, clone)
    fresh = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", fresh)
    python = fresh / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # The pinned dependencies, as the project's .venv holds them: the only "index" this install may use.
    (site / "offered-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
        "--wheel-dir", wheels, clone)  # fmt: skip
    [wheel] = wheels.glob("linkerd_vault_pki-*.whl")
    run(python, "-m", "pip", "install", "--quiet", "--no-index", wheel)

    installed = run(python, "-m", "pip", "show", "--files", "linkerd-vault-pki").stdout
    assert "Location: " + str(site) in installed
    assert "linkerd_vault_pki/provider.py" in installed and "linkerd_vault_pki/py.typed" in installed
    # What ships is the package alone: nothing of the stack program, the scripts or the tests.
    assert not [line for line in installed.splitlines() if line.strip().startswith(("stack/", "scripts/", "tests/"))]
    requires = run(python, "-c", "import importlib.metadata as m; print(m.requires('linkerd-vault-pki'))").stdout
    assert "pulumi==" in requires and "pulumi-kubernetes==" in requires

    # Their program: the README's, in a folder of its own outside the repository.
    from tests.unit.test_library import readme_program

    program = tmp_path / "platform" / "__main__.py"
    program.parent.mkdir()
    program.write_text(readme_program())
    runner = tmp_path / "run_their_program.py"
    runner.write_text(RUN_THEIR_PROGRAM)
    # The test's mocks come from the repository (PYTHONPATH); the package from the fresh install.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    report = json.loads(run(python, runner, program, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1])

    assert report["package"].startswith(str(site)), report["package"]
    assert report["outputs"] == ["issuer", "rootsDigest"]
    made = [(t, n, p) for t, n, p in report["resources"] if not t.startswith(("linkerd-vault-pki:", "pulumi:"))]
    assert len(made) >= 15
    for type_, name, provider in made:
        used = provider.rpartition("::")[0].rsplit("::", 1)[-1] if provider else None
        assert used == ("corp-vault" if type_.startswith("vault:") else "corp-cluster"), (type_, name, provider)

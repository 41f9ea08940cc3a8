"""The policy pack's config for a stack with a mirror: what `pulls-from-the-mirror` holds images and charts to.

Usage: python -m scripts.policy_config CONFIG_JSON > pack-config.json
CONFIG_JSON is what `pulumi config --json` prints for the stack (no secret is read: the settings used are plain).
Prints {} when the stack sets no mirror. `scripts/stack` runs it for `--policy-pack`; README, "Air-gapped and
mirrored installs".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from linkerd_vault_pki.charts import kind_of, local_directory

ROOT = Path(__file__).resolve().parents[1]

PROJECT = "linkerd-vault-pki"
RULE = "pulls-from-the-mirror"


def structured(value):
    return yaml.safe_load(value) if isinstance(value, str) else value


def pack_config(config: dict, base: Path = ROOT) -> dict:
    def setting(key: str):
        entry = config.get(f"{PROJECT}:{key}")
        return None if entry is None else entry.get("value", entry.get("objectValue"))

    registries = [setting("imageRegistry")] if setting("imageRegistry") else []
    registries += list((structured(setting("images")) or {}).values())
    repositories = [setting("chartRepository")] if setting("chartRepository") else []
    repositories += list((structured(setting("chartRepositories")) or {}).values())
    # A local directory is checked as the absolute path the program resolves it to.
    repositories = [str(local_directory(r, base)) if kind_of(r) == "local" else r for r in repositories]
    if not registries and not repositories:
        return {}
    return {RULE: {"imageRegistries": registries, "chartRepositories": repositories}}


if __name__ == "__main__":
    json.dump(pack_config(json.loads(Path(sys.argv[1]).read_text())), sys.stdout)

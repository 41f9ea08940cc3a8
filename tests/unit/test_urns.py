"""What a deployed stack knows its resources by does not change under it.

A resource's URN is its type token, its parents' type tokens and its name: change any, and the next `up` of a
deployed stack deletes the resource and makes another (for the anchor, a new root of trust). This test holds
every mode's URNs, and a stack of listed clusters', to the record in ``urns.json``, taken from the program as
deployed stacks have it. A change that moves code must leave it as it is (or give the moved resource an alias);
a new resource is added to the record on purpose: ``python -m tests.unit.test_urns --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.harness import EXISTING_KUBECONFIG, MODES, cfg, render, render_mode

RECORD = Path(__file__).with_name("urns.json")
LISTED = [
    {"name": "east", "clusterMode": "k3d", "k3dApiPort": 6551},
    {
        "name": "prod",
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultClusterAddress": "http://192.168.1.20:8200",
    },
]


def rendered() -> dict[str, list]:
    found = {mode: render_mode(mode).resources for mode in MODES}
    found["listed clusters"] = render(cfg(clusters=json.dumps(LISTED))).resources
    return found


def current() -> dict[str, list[str]]:
    return {mode: sorted(r.urn for r in resources) for mode, resources in rendered().items()}


def test_every_resource_keeps_its_urn_or_an_alias_of_it():
    """A resource that moved (a new parent, a new name) carries its recorded URN as an alias, which the engine
    follows: the deployed resource is kept, not replaced. Anything else that left the record would be replaced."""
    record = json.loads(RECORD.read_text())
    now = rendered()
    assert sorted(now) == sorted(record)
    for mode, urns in record.items():
        moved = {alias: r.urn for r in now[mode] for alias in r.aliases}
        gone = sorted(set(urns) - {r.urn for r in now[mode]} - set(moved))
        new = sorted({r.urn for r in now[mode]} - set(urns) - {moved[u] for u in urns if u in moved})
        assert (gone, new) == ([], []), f"{mode}: a deployed stack would replace {gone} with {new}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        RECORD.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")

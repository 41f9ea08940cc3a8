"""The resource graph of the dev stack as a Mermaid diagram, rendered from the program under mocks.

Components are boxes around their resources; an arrow A --> B means B waits
for A (through data or an explicit dependency), with arrows implied by longer
paths left out; the longest chain of waits, the critical path of an `up`, is
drawn thick. docs/design.md holds the diagram between two markers, and a test
fails when it is stale.

Usage: .venv/bin/python -m scripts.graph [--write]   (--write updates docs/design.md)
"""

from __future__ import annotations

import itertools
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BEGIN, END = "<!-- graph:begin (scripts/graph.py --write) -->", "<!-- graph:end -->"


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def mermaid() -> str:
    from tests.harness import cfg, render

    rendered = render(cfg())
    resources = [r for r in rendered.resources if not r.type.startswith(("pulumi:providers:", "linkerd-vault-pki:"))]
    by_urn = {r.urn: r for r in resources}
    components = {r.urn: r for r in rendered.resources if r.type.startswith("linkerd-vault-pki:")}

    # What each resource waits for, directly: its resource dependencies, a component's standing for its children.
    children = {urn: [r.urn for r in resources if r.parent == urn] for urn in components}

    def expand(urn: str) -> list[str]:
        return [urn] if urn in by_urn else [c for child in children.get(urn, []) for c in expand(child)]

    # A resource also waits for its provider, and so for what the provider is configured from.
    providers = {r.urn: r for r in rendered.resources if r.type.startswith("pulumi:providers:")}

    def provider_deps(r) -> list[str]:
        provider = providers.get((r.provider or "").rsplit("::", 1)[0])
        return list(provider.dependencies) if provider else []

    waits = {
        r.urn: sorted({d for dep in (*r.dependencies, *provider_deps(r)) for d in expand(dep)} - {r.urn})
        for r in resources
    }

    @cache
    def reach(urn: str) -> frozenset[str]:
        return frozenset(d for dep in waits[urn] for d in (dep, *reach(dep)))

    direct = {urn: [d for d in deps if not any(d in reach(o) for o in deps if o != d)] for urn, deps in waits.items()}

    @cache
    def chain(urn: str) -> tuple[str, ...]:
        longest = max((chain(d) for d in direct[urn]), key=len, default=())
        return (*longest, urn)

    critical = max((chain(u) for u in sorted(by_urn, key=lambda u: by_urn[u].name)), key=len)
    critical_edges = set(itertools.pairwise(critical))

    lines = ["```mermaid", "flowchart LR"]
    # Sorted by name: registration order varies from run to run (the program is asynchronous).
    for urn, component in sorted(components.items(), key=lambda item: item[1].name):
        members = sorted((r for r in resources if r.parent == urn), key=lambda r: r.name)
        if not members:
            continue
        lines.append(f'  subgraph {_node_id(component.name)}["{component.type.rsplit(":", 1)[-1]} {component.name}"]')
        lines += [f'    {_node_id(r.name)}["{r.type.rsplit(":", 1)[-1]}<br/>{r.name}"]' for r in members]
        lines.append("  end")
    for r in sorted(resources, key=lambda r: r.name):
        if r.parent not in components:
            lines.append(f'  {_node_id(r.name)}["{r.type.rsplit(":", 1)[-1]}<br/>{r.name}"]')
    for urn in sorted(direct, key=lambda u: by_urn[u].name):
        for dep in sorted(direct[urn], key=lambda u: by_urn[u].name):
            arrow = "==>" if (dep, urn) in critical_edges else "-->"
            lines.append(f"  {_node_id(by_urn[dep].name)} {arrow} {_node_id(by_urn[urn].name)}")
    lines.append("```")
    return "\n".join(lines)


def readme_block(readme: str) -> str:
    return readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip("\n")


def main(argv: list[str]) -> int:
    diagram = mermaid()
    if argv[:1] == ["--write"]:
        path = ROOT / "docs" / "design.md"
        text = path.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        path.write_text(text[:start] + "\n" + diagram + "\n" + text[end:])
    else:
        print(diagram)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

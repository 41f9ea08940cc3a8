"""The program's modules import in one direction: no cycle, deferred or type-only imports included.

A cycle broken by an import inside a function, or hidden under ``TYPE_CHECKING``, is still two modules that
each need the other: it is counted here as any other. Read from the source (ast), not by importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each package of ours and where its source is: the library (what pip installs), the stack program, the pack.
PACKAGES = {
    "linkerd_vault_pki": ROOT / "components" / "linkerd_vault_pki",
    "stack": ROOT / "stack",
    "policy": ROOT / "policy",
}


def modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES.values():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder.parent).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_ours_imports_one_that_imports_it():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert sum(len(targets) for targets in graph.values()) > 50  # the graph was read
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_private_name_is_used_outside_its_module():
    """A name with a leading underscore is its module's own: another module of ours that needs it gets a public
    name to import (tests may look inside; the program may not)."""
    known = modules()
    crossings = []
    for folder in (*PACKAGES.values(), ROOT / "scripts"):
        for path in folder.rglob("*.py"):
            tree = ast.parse(path.read_text())
            ours = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in known:
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            crossings.append(f"{path.relative_to(ROOT)}: {node.module}.{alias.name}")
                        ours.add(alias.asname or alias.name)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in ours
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                ):
                    crossings.append(f"{path.relative_to(ROOT)}: {node.value.id}.{node.attr}")
    assert crossings == []


def test_the_library_imports_nothing_of_the_repository():
    """What pip installs stands alone: no module of ``linkerd_vault_pki`` imports the stack program (which reads
    the stack's config), the policy pack or the scripts. A component takes plain values and the library's value
    types (values.py, pulls.py, vault_access.py), which a program of another team builds without any config."""
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert any(t.startswith("linkerd_vault_pki.") for t in graph["stack.program"])  # the graph was read
    found = [
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.startswith("linkerd_vault_pki")
        for target in targets
        if not target.startswith("linkerd_vault_pki")
    ]
    assert found == []


def test_the_packages_public_names_resolve_and_are_the_ones_type_checkers_see():
    """``linkerd_vault_pki`` resolves its public names on first use; its TYPE_CHECKING imports name the same ones,
    each from the module it resolves it from."""
    import importlib

    import linkerd_vault_pki

    tree = ast.parse((PACKAGES["linkerd_vault_pki"] / "__init__.py").read_text())
    [block] = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"]
    seen = {a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assert sorted(seen) == linkerd_vault_pki.__all__
    for name, module in seen.items():
        assert getattr(linkerd_vault_pki, name) is getattr(importlib.import_module(module), name), name

"""The package's layers, read from its source with `ast` (nothing is imported).

A cycle between modules works until someone moves an import to module level
(or a lazy import runs first), then fails at start with a half-initialised
module. Imports inside functions count: they are cycles that only wait for it.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "quantshift"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """Modules of the package that one import statement loads."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = set()
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in modules:      # from . import alpaca_client
            found.add(sub)
        elif target in modules:  # from .venue import VenueError
            found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    sources = _sources()
    modules = set(sources)
    graph = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(tree):  # every statement, function bodies included
            edges |= _imported(node, module, is_package, modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of the graph as closed paths: within each strongly connected
    component (Tarjan), the shortest cycle through each module, without repeats."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles: list[list[str]] = []
    for comp in components:
        for start in sorted(comp):
            c = _shortest_cycle(graph, comp, start)
            i = c.index(min(c[:-1]))
            c = c[i:-1] + c[:i] + [c[i]]  # the same cycle always starts at its first module
            if c not in cycles:
                cycles.append(c)
    return cycles


def _shortest_cycle(graph: dict[str, set[str]], comp: set[str], start: str) -> list[str]:
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & comp):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def _imports_of(prefix: str) -> dict[str, set[str]]:
    graph = import_graph()
    return {m: deps for m, deps in graph.items() if m == prefix or m.startswith(prefix + ".")}


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycle(s):\n" + "\n".join("  " + " -> ".join(c) for c in cycles)


def test_the_cycle_finder_names_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "quantshift.venues.alpaca_client" in graph["quantshift.brokers.alpaca_broker"]  # inside __init__
    assert "quantshift.marketdata.alpaca_bars" in graph["quantshift.marketdata.remote"]    # inside a function


def test_venues_import_neither_brokers_nor_market_data():
    for module, deps in _imports_of("quantshift.venues").items():
        bad = sorted(d for d in deps if d.startswith(("quantshift.brokers", "quantshift.marketdata")))
        assert not bad, f"{module} imports {bad}"


def test_store_imports_nothing_else_from_the_package():
    for module, deps in _imports_of("quantshift.store").items():
        bad = sorted(d for d in deps if not d.startswith("quantshift.store"))
        assert not bad, f"{module} imports {bad}"


def test_failover_never_imports_a_broker():
    for module, deps in _imports_of("quantshift.failover").items():
        bad = sorted(d for d in deps if d.startswith(("quantshift.brokers", "quantshift.venues")))
        assert not bad, f"{module} imports {bad}"
